#pragma once

// The only core header that includes Python.h. Cython code reaches the core
// through these helpers: it never builds payloads itself. C++ exceptions are
// turned into Python ones by the Cython layer's one table-driven handler
// (`translate_error` in atomr/_native/errors.pyx), which classifies them with
// `current_error_info` from atomr/bridge/error.hpp.

#include "atomr/core/envelope.hpp"
#include "atomr/core/payload.hpp"

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
