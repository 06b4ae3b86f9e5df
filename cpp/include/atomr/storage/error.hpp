#pragma once

#include "atomr/error.hpp"

#include <string>

namespace atomr::storage {

/// The codes of the storage errors (`atomr::component::storage`). The
/// numbers cross into Python and must never be reused.
enum class errc : int {
  /// Any other LMDB or file-system failure.
  generic = 0,
  /// The path is already open in this process in a way that excludes
  /// another open (LMDB allows one environment per file per process).
  already_open = 1,
  /// The map is full and already at its configured maximum.
  map_full = 2,
  /// One transaction holds more dirty pages than LMDB allows.
  txn_full = 3,
  /// The environment was closed.
  closed = 4,
  /// An option or argument outside its domain (empty path, zero map size).
  invalid_argument = 5,
};

/// A failure of the LMDB environment layer. Persistence and ddata translate
/// it into their own error at their boundary (a journal failure, a durable
/// store failure), so a caller sees the component it called.
class error : public atomr::error {
public:
  error(errc code, const std::string& what)
    : atomr::error(component::storage, code, what) {
  }

  /// The code as this component's enum.
  errc value() const noexcept {
    return static_cast<errc>(code());
  }
};

} // namespace atomr::storage
