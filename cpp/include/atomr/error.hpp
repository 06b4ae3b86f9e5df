#pragma once

// The one error type every C++ component throws. An error names the component
// that raised it and a code from that component's own `errc` enum, so a new
// component adds its codes without touching anyone else's; the Python bridge
// maps the (component, code) pair onto an exception class by table.

#include <stdexcept>
#include <string>
#include <type_traits>

namespace atomr {

/// The component an error comes from. The numbers cross into Python (each
/// exception class of `atomr/errors.py` names its component and code) and
/// must never be reused.
enum class component : int {
  core = 1,
  storage = 2,
  persistence = 3,
  ddata = 4,
  remote = 5,
  cluster = 6,
  streams = 7,
};

/// Base class of every error a component raises.
class error : public std::runtime_error {
public:
  /// An error of `where` with a code of that component's `errc` enum.
  error(component where, int code, const std::string& what)
    : std::runtime_error(what)
    , where_(where)
    , code_(code) {
  }

  /// The same, taking the component's code enum directly.
  template <class Errc>
  requires std::is_enum_v<Errc> error(component where, Errc code, const std::string& what)
    : error(where, static_cast<int>(code), what) {
  }

  /// The component that raised the error.
  component where() const noexcept {
    return where_;
  }

  /// The code, a value of the raising component's `errc` enum.
  int code() const noexcept {
    return code_;
  }

private:
  component where_;
  int code_;
};

} // namespace atomr
