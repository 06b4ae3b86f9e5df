#pragma once

// Error translation for the distributed-data component. Cython declares the
// ddata calls with `except +translate_ddata_error`: the ddata errors map onto
// their own Python classes, everything else goes through the core's
// `translate_error`.

#include <Python.h>

#include "atomr/bridge/python.hpp"
#include "atomr/ddata/error.hpp"

namespace atomr::bridge {

/// The Python classes of the ddata errors, set once at import.
struct ddata_error_classes {
  PyObject* malformed = nullptr;
  PyObject* store = nullptr;
};

inline ddata_error_classes& registered_ddata_errors() noexcept {
  static ddata_error_classes classes;
  return classes;
}

/// Installs the classes (new references kept for the process lifetime).
inline void register_ddata_error_classes(PyObject* malformed, PyObject* store) noexcept {
  auto& c = registered_ddata_errors();
  Py_XINCREF(malformed);
  Py_XINCREF(store);
  c.malformed = malformed;
  c.store = store;
}

/// The custom Cython exception handler of the ddata calls.
inline void translate_ddata_error() {
  auto& c = registered_ddata_errors();
  try {
    throw;
  } catch (const atomr::ddata::malformed_data_error& e) {
    PyErr_SetString(c.malformed != nullptr ? c.malformed : PyExc_ValueError, e.what());
  } catch (const atomr::ddata::store_error& e) {
    PyErr_SetString(c.store != nullptr ? c.store : PyExc_OSError, e.what());
  } catch (...) {
    translate_error();
  }
}

} // namespace atomr::bridge
