#pragma once

// The Python host of the streams interpreter: elements are owned
// `PyObject*` references and callables are borrowed Python callables. Every
// method runs on the island's thread with the GIL held. The hot operations
// (calls, truth, iteration, reference counts) use the C API directly; the
// rare ones (engine failures, deciders, async starts, kill switch failures)
// call back into the Cython layer.

#include "atomr/streams/interpreter.hpp"

#include <Python.h>
#include <cstdint>
#include <memory>
#include <string>

namespace atomr::bridge {

/// Callbacks of the Cython layer. `owner` is the Python object that owns the
/// host (borrowed). None leaves a Python exception set: a failure is
/// returned as an exception object (a new reference).
struct stream_callbacks {
  /// A new exception for an engine failure (`atomr::streams::errc` code).
  PyObject* (*make_failure)(PyObject* owner, int code, const char* message);
  /// The directive (0 stop, 1 resume, 2 restart) of `decider` for `failure`.
  int (*decide)(PyObject* owner, PyObject* decider, PyObject* failure);
  /// Starts `fn(x)` (`x` NULL: `fn()`) asynchronously: NULL (started), or
  /// the failure that kept it from starting, or (`*done` set) the result
  /// of a call that finished at once.
  PyObject* (*start_async)(PyObject* owner, PyObject* fn, PyObject* x, std::uint64_t ticket,
                           int* done);
  /// The exception an aborted kill switch (`handle`) fails streams with.
  PyObject* (*abort_failure)(PyObject* owner, PyObject* handle);
};

class py_stream_host final : public streams::host {
public:
  py_stream_host(PyObject* owner, const stream_callbacks& callbacks)
    : owner_(owner)
    , cb_(callbacks) {
  }

  bool call1(streams::callable fn, streams::element x, streams::element& out) override {
    PyObject* r = PyObject_CallOneArg(py(fn), py(x));
    return result(r, out);
  }

  bool call2(streams::callable fn, streams::element a, streams::element b,
             streams::element& out) override {
    PyObject* args[2] = {py(a), py(b)};
    PyObject* r = PyObject_Vectorcall(py(fn), args, 2, nullptr);
    return result(r, out);
  }

  int truth(streams::element x, streams::element& failure) override {
    int t = PyObject_IsTrue(py(x));
    if (t < 0) {
      failure = fetch();
    }
    return t;
  }

  streams::element retain(streams::element x) override {
    Py_INCREF(py(x));
    return x;
  }

  void release(streams::element x) override {
    Py_DECREF(py(x));
  }

  streams::status next(streams::element it, streams::element& out) override {
    PyObject* o = py(it);
    PyObject* r = Py_TYPE(o)->tp_iternext(o);
    if (r != nullptr) {
      out = r;
      return streams::status::element;
    }
    if (PyErr_Occurred() == nullptr) {
      return streams::status::done;
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
      PyErr_Clear();
      return streams::status::done;
    }
    out = fetch();
    return streams::status::failed;
  }

  bool iterate(streams::element iterable, streams::element& out) override {
    PyObject* it = PyObject_GetIter(py(iterable));
    return result(it, out);
  }

  void close(streams::element it) override {
    PyObject* close = PyObject_GetAttrString(py(it), "close");
    if (close == nullptr) {
      PyErr_Clear();
      return;
    }
    PyObject* r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (r == nullptr) {
      PyErr_WriteUnraisable(py(it)); // a generator's cleanup failed: reported, not raised
    } else {
      Py_DECREF(r);
    }
  }

  streams::element make_sequence(streams::element* xs, std::size_t n, bool tuple) override {
    Py_ssize_t len = static_cast<Py_ssize_t>(n);
    PyObject* seq = tuple ? PyTuple_New(len) : PyList_New(len);
    if (seq == nullptr) {
      PyErr_Clear();
      Py_FatalError("atomr.streams: out of memory building a sequence");
    }
    for (Py_ssize_t i = 0; i < len; ++i) {
      if (tuple) {
        PyTuple_SET_ITEM(seq, i, py(xs[i]));
      } else {
        PyList_SET_ITEM(seq, i, py(xs[i]));
      }
    }
    return seq;
  }

  streams::element nothing() override {
    Py_INCREF(Py_None);
    return Py_None;
  }

  streams::element make_failure(int code, const char* message) override {
    return cb_.make_failure(owner_, code, message);
  }

  streams::directive decide(streams::callable decider, streams::element failure) override {
    int d = cb_.decide(owner_, py(decider), py(failure));
    if (d == 1) {
      return streams::directive::resume;
    }
    if (d == 2) {
      return streams::directive::restart;
    }
    return streams::directive::stop;
  }

  streams::start start_async(streams::callable fn, streams::element x, std::uint64_t ticket,
                             streams::element& out) override {
    int done = 0;
    PyObject* r = cb_.start_async(owner_, py(fn), x != nullptr ? py(x) : nullptr, ticket, &done);
    if (r == nullptr) {
      return streams::start::pending;
    }
    out = r;
    return done != 0 ? streams::start::done : streams::start::failed;
  }

  streams::element abort_failure(void* handle) override {
    return cb_.abort_failure(owner_, static_cast<PyObject*>(handle));
  }

  bool append_bytes(streams::element x, std::string& buf, streams::element& failure) override {
    PyObject* o = py(x);
    if (PyBytes_Check(o)) {
      buf.append(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o)));
      return true;
    }
    if (PyByteArray_Check(o)) {
      buf.append(PyByteArray_AS_STRING(o), static_cast<std::size_t>(PyByteArray_GET_SIZE(o)));
      return true;
    }
    if (PyMemoryView_Check(o)) {
      Py_buffer view;
      if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) != 0) {
        failure = fetch();
        return false;
      }
      buf.append(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
      PyBuffer_Release(&view);
      return true;
    }
    PyErr_Format(PyExc_TypeError, "a framing stage takes bytes, not %s", Py_TYPE(o)->tp_name);
    failure = fetch();
    return false;
  }

  streams::element make_bytes(const char* data, std::size_t n) override {
    PyObject* b = PyBytes_FromStringAndSize(data, static_cast<Py_ssize_t>(n));
    if (b == nullptr) {
      PyErr_Clear();
      Py_FatalError("atomr.streams: out of memory building a frame");
    }
    return b;
  }

  streams::element alloc_bytes(std::size_t n, char*& data) override {
    PyObject* b = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(n));
    if (b == nullptr) {
      PyErr_Clear();
      Py_FatalError("atomr.streams: out of memory building a chunk");
    }
    data = PyBytes_AS_STRING(b);
    return b;
  }

  streams::element finish_bytes(streams::element x, std::size_t used) override {
    PyObject* b = py(x);
    if (static_cast<Py_ssize_t>(used) == PyBytes_GET_SIZE(b)) {
      return b;
    }
    if (_PyBytes_Resize(&b, static_cast<Py_ssize_t>(used)) != 0) { // b is released then
      PyErr_Clear();
      Py_FatalError("atomr.streams: out of memory sizing a chunk");
    }
    return b;
  }

  streams::element make_int(std::int64_t v) override {
    PyObject* n = PyLong_FromLongLong(static_cast<long long>(v));
    if (n == nullptr) {
      PyErr_Clear();
      Py_FatalError("atomr.streams: out of memory building an integer");
    }
    return n;
  }

  bool to_index(streams::element x, std::int64_t& out, streams::element& failure) override {
    long long v = PyLong_AsLongLong(py(x));
    if (v == -1 && PyErr_Occurred() != nullptr) {
      failure = fetch();
      return false;
    }
    out = static_cast<std::int64_t>(v);
    return true;
  }

private:
  static PyObject* py(void* p) noexcept {
    return static_cast<PyObject*>(p);
  }

  /// A call's result: stores it, or the failure it raised, in `out`.
  static bool result(PyObject* r, streams::element& out) {
    if (r != nullptr) {
      out = r;
      return true;
    }
    out = fetch();
    return false;
  }

  /// The exception being raised, normalized, with its traceback; cleared.
  static PyObject* fetch() {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == nullptr) {
      PyErr_SetString(PyExc_SystemError, "atomr.streams: a call failed without an exception");
      PyErr_Fetch(&type, &value, &tb);
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != nullptr && value != nullptr) {
      PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    if (value == nullptr) {
      Py_INCREF(Py_None);
      value = Py_None;
    }
    return value;
  }

  PyObject* owner_;
  stream_callbacks cb_;
};

/// A host and its interpreter, owned together by one Python object.
struct py_stream {
  py_stream(PyObject* owner, const stream_callbacks& callbacks)
    : host(owner, callbacks)
    , interp(host) {
  }

  py_stream_host host;
  streams::interpreter interp;
};

/// A fresh kill switch state (shared by the islands it gates).
inline std::shared_ptr<streams::kill_switch> make_kill_switch() {
  return std::make_shared<streams::kill_switch>();
}

} // namespace atomr::bridge
