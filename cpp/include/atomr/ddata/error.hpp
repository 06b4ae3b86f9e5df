#pragma once

#include <string>

// Arguments outside their domain raise the core's `invalid_argument_error`.
#include "atomr/core/error.hpp"
#include "atomr/error.hpp"

namespace atomr::ddata {

/// The codes of the distributed-data errors (`atomr::component::ddata`).
/// The numbers cross into Python and must never be reused.
enum class errc : int {
  /// The durable store could not read or write.
  generic = 0,
  /// A serialized value that cannot be decoded.
  malformed_data = 1,
  /// Values of different CRDT types were combined.
  type_mismatch = 2,
};

/// A serialized value that is truncated, corrupt, of an unknown type or of
/// an unsupported format version. Decoding never trusts the blob: it raises
/// this instead of reading past the end or allocating what a size field asks.
class malformed_data_error : public atomr::error {
public:
  explicit malformed_data_error(const std::string& what)
    : atomr::error(component::ddata, errc::malformed_data, "malformed replicated data: " + what) {
  }
};

/// An operation combined values of different CRDT types (merging a GSet
/// into a GCounter, putting a Flag into a map of registers).
class type_mismatch_error : public atomr::error {
public:
  explicit type_mismatch_error(const std::string& what)
    : atomr::error(component::ddata, errc::type_mismatch, what) {
  }
};

/// The durable store could not read or write (I/O error, full disk, a
/// database already open in this process).
class store_error : public atomr::error {
public:
  explicit store_error(const std::string& what)
    : atomr::error(component::ddata, errc::generic, what) {
  }
};

} // namespace atomr::ddata
