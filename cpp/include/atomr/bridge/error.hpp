#pragma once

// Classifies the C++ exception being handled into plain values that the
// Cython layer maps onto a Python exception class by table. No Python.h:
// the classification is plain C++ and is tested without an interpreter.

#include "atomr/error.hpp"

#include <exception>
#include <new>
#include <string>

namespace atomr::bridge {

/// Component number of the errors that are not `atomr::error`s.
inline constexpr int foreign_component = 0;
/// Codes of the foreign component.
inline constexpr int foreign_bad_alloc = 1;
inline constexpr int foreign_std_exception = 2;
inline constexpr int foreign_unknown = 3;

/// A C++ exception reduced to what the Python side needs.
struct error_info {
  /// An `atomr::component` number, or `foreign_component`.
  int component = foreign_component;
  /// The code within that component (its `errc` value, or a foreign code).
  int code = foreign_unknown;
  /// The exception's message.
  std::string message;
};

/// Fills `out` from the exception currently being handled: an `atomr::error`
/// gives its component, code and message; `std::bad_alloc` gives
/// (0, 1); any other `std::exception` (0, 2) with its message; anything
/// else (0, 3, "unknown C++ exception").
///
/// Must be called inside a catch block (it re-throws the current exception
/// to inspect it). Never throws: if even copying the message fails, the
/// message is left empty.
inline void current_error_info(error_info& out) noexcept {
  try {
    try {
      throw;
    } catch (const atomr::error& e) {
      out.component = static_cast<int>(e.where());
      out.code = e.code();
      out.message = e.what();
    } catch (const std::bad_alloc&) {
      out.component = foreign_component;
      out.code = foreign_bad_alloc;
      out.message = "out of memory";
    } catch (const std::exception& e) {
      out.component = foreign_component;
      out.code = foreign_std_exception;
      out.message = e.what();
    } catch (...) {
      out.component = foreign_component;
      out.code = foreign_unknown;
      out.message = "unknown C++ exception";
    }
  } catch (...) {
    // Copying the message ran out of memory: keep the classification.
    out.message.clear();
  }
}

/// Throws the `atomr::error` of component number `component` with `code`.
/// For tests of the translation: it reaches components and codes that no
/// public call raises (or that no component defines yet).
[[noreturn]] inline void throw_error(int component, int code, const std::string& what) {
  throw atomr::error(static_cast<atomr::component>(component), code, what);
}

} // namespace atomr::bridge
