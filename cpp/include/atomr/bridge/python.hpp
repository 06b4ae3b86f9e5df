#pragma once

// The only core header that includes Python.h. Cython code reaches the core
// through these helpers: it never builds payloads or catches C++ exceptions
// itself.

#include <Python.h>

#include <exception>
#include <new>
#include <string>

#include "atomr/core/envelope.hpp"
#include "atomr/core/error.hpp"
#include "atomr/core/payload.hpp"

namespace atomr::bridge {

/// Release hook of a payload holding a `PyObject*`. Must run under the GIL:
/// Python payloads are only destroyed on the thread that owns the GIL-holding
/// dispatcher, or by a caller holding the GIL.
inline void release_py(void* p) noexcept {
  Py_DECREF(static_cast<PyObject*>(p));
}

/// Stores a new reference to `o` in `slot` (nothing for None/NULL).
inline void set_py(core::payload& slot, PyObject* o) noexcept {
  if (o == nullptr || o == Py_None) {
    slot.reset();
    return;
  }
  Py_INCREF(o);
  slot = core::payload(o, &release_py);
}

/// Takes the reference out of `slot`; returns a new reference, or NULL.
inline PyObject* take_py(core::payload& slot) noexcept {
  return static_cast<PyObject*>(slot.detach());
}

/// The Python classes that `atomr::error` kinds map onto, set once at import.
struct error_classes {
  PyObject* generic = nullptr;
  PyObject* invalid_actor_name = nullptr;
  PyObject* actor_name_taken = nullptr;
  PyObject* system_terminated = nullptr;
  PyObject* journal = nullptr;
};

inline error_classes& registered_errors() noexcept {
  static error_classes classes;
  return classes;
}

/// Installs the classes (new references are kept for the process lifetime).
inline void register_error_classes(PyObject* generic, PyObject* invalid_name, PyObject* name_taken,
                                   PyObject* terminated) noexcept {
  auto& c = registered_errors();
  Py_XINCREF(generic);
  Py_XINCREF(invalid_name);
  Py_XINCREF(name_taken);
  Py_XINCREF(terminated);
  c.generic = generic;
  c.invalid_actor_name = invalid_name;
  c.actor_name_taken = name_taken;
  c.system_terminated = terminated;
}

/// Installs the class `atomr::error::kind::journal` maps onto (a new
/// reference is kept for the process lifetime).
inline void register_journal_error_class(PyObject* journal) noexcept {
  Py_XINCREF(journal);
  registered_errors().journal = journal;
}

/// The custom Cython exception handler (`except +translate_error`): called
/// inside a catch block, it re-throws and sets the matching Python error.
inline void translate_error() {
  auto& c = registered_errors();
  try {
    throw;
  } catch (const atomr::error& e) {
    PyObject* cls = c.generic != nullptr ? c.generic : PyExc_RuntimeError;
    switch (e.code()) {
    case atomr::error::kind::invalid_actor_name:
      if (c.invalid_actor_name != nullptr)
        cls = c.invalid_actor_name;
      break;
    case atomr::error::kind::actor_name_taken:
      if (c.actor_name_taken != nullptr)
        cls = c.actor_name_taken;
      break;
    case atomr::error::kind::system_terminated:
      if (c.system_terminated != nullptr)
        cls = c.system_terminated;
      break;
    case atomr::error::kind::invalid_argument:
      cls = PyExc_ValueError;
      break;
    case atomr::error::kind::journal:
      if (c.journal != nullptr)
        cls = c.journal;
      break;
    case atomr::error::kind::generic:
      break;
    }
    PyErr_SetString(cls, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
}

} // namespace atomr::bridge

namespace atomr::bridge {

/// Router cloner for Python envelopes: the copy holds new references to the
/// same objects. The caller holds the GIL (it is telling from Python).
inline void clone_py_envelope(const core::envelope& from, core::envelope& to) {
  set_py(to.message, static_cast<PyObject*>(from.message.get()));
  set_py(to.sender, static_cast<PyObject*>(from.sender.get()));
  set_py(to.reply, static_cast<PyObject*>(from.reply.get()));
  to.kind = from.kind;
  to.tag = from.tag;
}

} // namespace atomr::bridge
