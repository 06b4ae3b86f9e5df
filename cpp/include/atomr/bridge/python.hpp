#pragma once

// The only core header that includes Python.h. Cython code reaches the core
// through these helpers: it never builds payloads or catches C++ exceptions
// itself.

#include "atomr/bridge/error.hpp"
#include "atomr/core/envelope.hpp"
#include "atomr/core/error.hpp"
#include "atomr/core/payload.hpp"
#include "atomr/ddata/error.hpp"
#include "atomr/persistence/error.hpp"

#include <Python.h>

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

/// The Python classes the error codes map onto, set once at import.
struct error_classes {
  PyObject* generic = nullptr;
  PyObject* invalid_actor_name = nullptr;
  PyObject* actor_name_taken = nullptr;
  PyObject* system_terminated = nullptr;
  PyObject* journal = nullptr;
  PyObject* ddata_malformed = nullptr;
  PyObject* ddata_store = nullptr;
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

/// Installs the class the persistence errors map onto (a new reference is
/// kept for the process lifetime).
inline void register_journal_error_class(PyObject* journal) noexcept {
  Py_XINCREF(journal);
  registered_errors().journal = journal;
}

/// Installs the classes of the ddata errors (new references kept for the
/// process lifetime).
inline void register_ddata_error_classes(PyObject* malformed, PyObject* store) noexcept {
  auto& c = registered_errors();
  Py_XINCREF(malformed);
  Py_XINCREF(store);
  c.ddata_malformed = malformed;
  c.ddata_store = store;
}

/// The Python class of an `atomr::error` with this component and code.
inline PyObject* error_class_for(const error_info& info) noexcept {
  const auto& c = registered_errors();
  auto or_else = [](PyObject* cls, PyObject* fallback) { return cls != nullptr ? cls : fallback; };
  PyObject* generic = or_else(c.generic, PyExc_RuntimeError);
  switch (static_cast<component>(info.component)) {
  case component::core:
    switch (static_cast<core::errc>(info.code)) {
    case core::errc::invalid_actor_name:
      return or_else(c.invalid_actor_name, generic);
    case core::errc::actor_name_taken:
      return or_else(c.actor_name_taken, generic);
    case core::errc::system_terminated:
      return or_else(c.system_terminated, generic);
    case core::errc::invalid_argument:
      return PyExc_ValueError;
    case core::errc::generic:
      break;
    }
    return generic;
  case component::persistence:
    return or_else(c.journal, generic);
  case component::ddata:
    switch (static_cast<ddata::errc>(info.code)) {
    case ddata::errc::malformed_data:
      return or_else(c.ddata_malformed, PyExc_ValueError);
    case ddata::errc::type_mismatch:
      return PyExc_ValueError;
    case ddata::errc::generic:
      break;
    }
    return or_else(c.ddata_store, PyExc_OSError);
  case component::storage:
    // Persistence and ddata turn storage errors into their own at their
    // boundary (JournalError, DurableStoreError); none should get here.
    return generic;
  }
  return generic;
}

/// The custom Cython exception handler (`except +translate_error`): called
/// inside a catch block, it classifies the exception and sets the matching
/// Python error.
inline void translate_error() {
  error_info info;
  current_error_info(info);
  if (info.component == foreign_component) {
    if (info.code == foreign_bad_alloc)
      PyErr_NoMemory();
    else
      PyErr_SetString(PyExc_RuntimeError, info.message.c_str());
    return;
  }
  PyErr_SetString(error_class_for(info), info.message.c_str());
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
