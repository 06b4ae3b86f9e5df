// atomr._native._subinterp: own-GIL subinterpreters (PEP 684) and the byte
// channels that join them to the main interpreter.
//
// A small extension of its own, separate from _core: it has multi-phase
// init, no module state and no Python object in any C++ static, and it
// declares per-interpreter-GIL support, so every subinterpreter of a pool
// imports it. Channels are process-wide C++ queues of byte strings, named
// by integer ids: pushing or popping needs no interpreter's GIL but the
// caller's own (released while a pop waits), so a subinterpreter and the
// main interpreter exchange mail without ever touching each other's GIL.
// An interpreter is created, run and finalized by one C++ thread of its
// own, with its own thread state (never PyGILState_*, which would attach
// to the main interpreter).

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#if defined(_WIN32)
#include <io.h>
#define atomr_write _write
#else
#include <unistd.h>
#define atomr_write ::write
#endif

#if PY_VERSION_HEX >= 0x030C0000
#define ATOMR_OWN_GIL 1
#else
#define ATOMR_OWN_GIL 0
#endif

namespace {

struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> items;
  bool closed = false;
  // A file descriptor the consumer polls (an event loop's reader): one byte
  // is written when an item lands while the consumer is armed (its last pop
  // found the queue empty: it is about to sleep), and at close. Written
  // under `mu`, so the consumer can unset it and then close the fd safely.
  // A consumer busy with a batch pops again before sleeping, so pushes
  // meanwhile cost no write and no wake-up.
  int notify_fd = -1;
  bool armed = false;
};

// Wakes the consumer's poller; `ch->mu` is held. A full pipe (EAGAIN)
// already reads as ready, so failures are ignored.
void notify_locked(Channel& ch) {
  if (ch.notify_fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] auto n = atomr_write(ch.notify_fd, &byte, 1);
  }
}

struct Interp {
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool ended = false;
  bool failed = false;
  std::string error;
};

std::mutex g_mu;
std::unordered_map<std::uint64_t, std::shared_ptr<Channel>> g_channels;
std::unordered_map<std::uint64_t, std::shared_ptr<Interp>> g_interps;
std::uint64_t g_next_id = 1;

std::shared_ptr<Channel> find_channel(unsigned long long id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_channels.find(id);
  return it == g_channels.end() ? nullptr : it->second;
}

std::shared_ptr<Interp> find_interp(unsigned long long id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_interps.find(id);
  return it == g_interps.end() ? nullptr : it->second;
}

PyObject* no_channel(unsigned long long id) {
  PyErr_Format(PyExc_ValueError, "no channel %llu", id);
  return nullptr;
}

PyObject* channel_new(PyObject*, PyObject*) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::uint64_t id = g_next_id++;
  g_channels.emplace(id, std::make_shared<Channel>());
  return PyLong_FromUnsignedLongLong(id);
}

// push(id, data) -> bool: False when the channel is closed (nothing queued).
PyObject* channel_push(PyObject*, PyObject* args) {
  unsigned long long id;
  Py_buffer buf;
  if (!PyArg_ParseTuple(args, "Ky*:channel_push", &id, &buf)) {
    return nullptr;
  }
  auto ch = find_channel(id);
  if (!ch) {
    PyBuffer_Release(&buf);
    return no_channel(id);
  }
  std::string item(static_cast<const char*>(buf.buf), static_cast<std::size_t>(buf.len));
  PyBuffer_Release(&buf);
  {
    std::lock_guard<std::mutex> lock(ch->mu);
    if (ch->closed) {
      Py_RETURN_FALSE;
    }
    ch->items.push_back(std::move(item));
    if (ch->armed) {
      ch->armed = false;
      notify_locked(*ch);
    }
  }
  ch->cv.notify_one();
  Py_RETURN_TRUE;
}

// pop(id, timeout) -> list[bytes] | None: every queued item (waiting up to
// `timeout` seconds, negative: without limit, for the first); an empty list
// when the time ran out; None once the channel is closed and drained.
PyObject* channel_pop(PyObject*, PyObject* args) {
  unsigned long long id;
  double timeout;
  if (!PyArg_ParseTuple(args, "Kd:channel_pop", &id, &timeout)) {
    return nullptr;
  }
  auto ch = find_channel(id);
  if (!ch) {
    return no_channel(id);
  }
  std::deque<std::string> got;
  bool closed = false;
  Py_BEGIN_ALLOW_THREADS {
    std::unique_lock<std::mutex> lock(ch->mu);
    auto ready = [&] { return !ch->items.empty() || ch->closed; };
    if (timeout < 0) {
      ch->cv.wait(lock, ready);
    } else if (timeout > 0) {
      ch->cv.wait_for(lock, std::chrono::duration<double>(timeout), ready);
    }
    got.swap(ch->items);
    closed = ch->closed;
    if (got.empty()) {
      ch->armed = true; // the consumer sleeps next: the next push wakes it
    }
  }
  Py_END_ALLOW_THREADS if (got.empty() && closed) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_channels.erase(id); // the consumer is done with it
    Py_RETURN_NONE;
  }
  PyObject* out = PyList_New(static_cast<Py_ssize_t>(got.size()));
  if (!out) {
    return nullptr;
  }
  Py_ssize_t i = 0;
  for (auto& item : got) {
    PyObject* b = PyBytes_FromStringAndSize(item.data(), static_cast<Py_ssize_t>(item.size()));
    if (!b) {
      Py_DECREF(out);
      return nullptr;
    }
    PyList_SET_ITEM(out, i++, b);
  }
  return out;
}

void mark_closed(const std::shared_ptr<Channel>& ch) {
  {
    std::lock_guard<std::mutex> lock(ch->mu);
    ch->closed = true;
    notify_locked(*ch);
  }
  ch->cv.notify_all();
}

// notify(id, fd): from now on one byte is written to `fd` (a non-blocking
// pipe or eventfd the consumer polls) when an item lands after a pop found
// the queue empty (the consumer pops until then before it sleeps), and when
// the channel closes; -1 stops it. Writes at once if items are queued.
// Returns at once; a push in progress has written before this returns, so
// the caller may close the old fd afterwards.
PyObject* channel_notify(PyObject*, PyObject* args) {
  unsigned long long id;
  int fd;
  if (!PyArg_ParseTuple(args, "Ki:channel_notify", &id, &fd)) {
    return nullptr;
  }
  if (fd < -1) {
    PyErr_Format(PyExc_ValueError, "not a file descriptor: %d", fd);
    return nullptr;
  }
  auto ch = find_channel(id);
  if (!ch) {
    return no_channel(id);
  }
  {
    std::lock_guard<std::mutex> lock(ch->mu);
    ch->notify_fd = fd;
    ch->armed = fd >= 0 && ch->items.empty();
    if (fd >= 0 && (!ch->items.empty() || ch->closed)) {
      notify_locked(*ch);
    }
  }
  Py_RETURN_NONE;
}

// close(id): later pushes are refused; pops drain the queue, then get None
// (the first such pop forgets the channel).
PyObject* channel_close(PyObject*, PyObject* args) {
  unsigned long long id;
  if (!PyArg_ParseTuple(args, "K:channel_close", &id)) {
    return nullptr;
  }
  auto ch = find_channel(id);
  if (ch) {
    mark_closed(ch);
  }
  Py_RETURN_NONE;
}

// free(id): closes the channel and forgets it at once (queued items are
// dropped; a pop waiting on it gets them or None).
PyObject* channel_free(PyObject*, PyObject* args) {
  unsigned long long id;
  if (!PyArg_ParseTuple(args, "K:channel_free", &id)) {
    return nullptr;
  }
  std::shared_ptr<Channel> ch;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_channels.find(id);
    if (it == g_channels.end()) {
      Py_RETURN_NONE;
    }
    ch = it->second;
    g_channels.erase(it);
  }
  mark_closed(ch);
  Py_RETURN_NONE;
}

PyObject* channel_count(PyObject*, PyObject*) {
  std::lock_guard<std::mutex> lock(g_mu);
  return PyLong_FromSize_t(g_channels.size());
}

#if ATOMR_OWN_GIL
std::string error_text() {
  PyObject* exc = PyErr_GetRaisedException();
  std::string text = "unknown error";
  if (exc) {
    PyObject* s = PyObject_Str(exc);
    const char* utf8 = s ? PyUnicode_AsUTF8(s) : nullptr;
    if (utf8) {
      text = std::string(Py_TYPE(exc)->tp_name) + ": " + utf8;
    }
    Py_XDECREF(s);
    Py_DECREF(exc);
  }
  PyErr_Clear();
  return text;
}

// The body of an interpreter's thread: create it (own GIL), run `script` in
// its __main__, finalize it. Touches no other interpreter.
void run_interpreter(std::shared_ptr<Interp> in, std::string script) {
  PyInterpreterConfig config = {};
  config.use_main_obmalloc = 0;
  config.allow_fork = 0;
  config.allow_exec = 0;
  config.allow_threads = 1;
  config.allow_daemon_threads = 0;
  config.check_multi_interp_extensions = 1;
  config.gil = PyInterpreterConfig_OWN_GIL;
  PyThreadState* tstate = nullptr;
  PyStatus status = Py_NewInterpreterFromConfig(&tstate, &config);
  bool failed = false;
  std::string error;
  if (PyStatus_Exception(status) || tstate == nullptr) {
    failed = true;
    error = status.err_msg ? status.err_msg : "Py_NewInterpreterFromConfig failed";
  } else {
    PyObject* main = PyImport_AddModule("__main__"); // borrowed
    PyObject* globals = main ? PyModule_GetDict(main) : nullptr;
    PyObject* result =
        globals ? PyRun_String(script.c_str(), Py_file_input, globals, globals) : nullptr;
    if (result == nullptr) {
      failed = true;
      error = error_text();
    } else {
      Py_DECREF(result);
    }
    Py_EndInterpreter(tstate);
  }
  {
    std::lock_guard<std::mutex> lock(in->mu);
    in->ended = true;
    in->failed = failed;
    in->error = std::move(error);
  }
  in->cv.notify_all();
}
#endif

// start(script) -> id: a new thread runs `script` in a new own-GIL
// subinterpreter, then finalizes it.
PyObject* interp_start(PyObject*, PyObject* args) {
  const char* script;
  if (!PyArg_ParseTuple(args, "s:interp_start", &script)) {
    return nullptr;
  }
#if ATOMR_OWN_GIL
  auto in = std::make_shared<Interp>();
  std::uint64_t id;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    id = g_next_id++;
    g_interps.emplace(id, in);
  }
  try {
    in->thread = std::thread(run_interpreter, in, std::string(script));
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_interps.erase(id);
    PyErr_Format(PyExc_RuntimeError, "could not start an interpreter thread: %s", e.what());
    return nullptr;
  }
  return PyLong_FromUnsignedLongLong(id);
#else
  PyErr_SetString(PyExc_NotImplementedError,
                  "subinterpreters with their own GIL need Python 3.12 or later");
  return nullptr;
#endif
}

// status(id) -> (ended, failed, error)
PyObject* interp_status(PyObject*, PyObject* args) {
  unsigned long long id;
  if (!PyArg_ParseTuple(args, "K:interp_status", &id)) {
    return nullptr;
  }
  auto in = find_interp(id);
  if (!in) {
    PyErr_Format(PyExc_ValueError, "no interpreter %llu", id);
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(in->mu);
  return Py_BuildValue("(OOs#)", in->ended ? Py_True : Py_False, in->failed ? Py_True : Py_False,
                       in->error.data(), static_cast<Py_ssize_t>(in->error.size()));
}

// join(id, timeout) -> bool: waits (GIL released) for the interpreter's
// thread to finalize it and end; True once it has (the id is then gone).
PyObject* interp_join(PyObject*, PyObject* args) {
  unsigned long long id;
  double timeout;
  if (!PyArg_ParseTuple(args, "Kd:interp_join", &id, &timeout)) {
    return nullptr;
  }
  auto in = find_interp(id);
  if (!in) {
    Py_RETURN_TRUE;
  }
  bool ended;
  Py_BEGIN_ALLOW_THREADS {
    std::unique_lock<std::mutex> lock(in->mu);
    auto done = [&] { return in->ended; };
    if (timeout < 0) {
      in->cv.wait(lock, done);
    } else {
      in->cv.wait_for(lock, std::chrono::duration<double>(timeout), done);
    }
    ended = in->ended;
  }
  if (ended && in->thread.joinable()) {
    in->thread.join();
  }
  Py_END_ALLOW_THREADS if (!ended) {
    Py_RETURN_FALSE;
  }
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_interps.erase(id);
  }
  Py_RETURN_TRUE;
}

PyObject* interp_count(PyObject*, PyObject*) {
  std::lock_guard<std::mutex> lock(g_mu);
  return PyLong_FromSize_t(g_interps.size());
}

// The id of the calling interpreter (0: the main one).
PyObject* current_interpreter(PyObject*, PyObject*) {
  return PyLong_FromLongLong(PyInterpreterState_GetID(PyInterpreterState_Get()));
}

PyMethodDef methods[] = {
    {"channel_new", channel_new, METH_NOARGS, "channel_new() -> int: a new open channel's id."},
    {"channel_push", channel_push, METH_VARARGS,
     "channel_push(id, data) -> bool: queues a copy of the bytes-like `data`; False when the "
     "channel is closed."},
    {"channel_pop", channel_pop, METH_VARARGS,
     "channel_pop(id, timeout) -> list[bytes] | None: every queued item, waiting up to "
     "`timeout` seconds (negative: no limit) without the GIL; [] when the time ran out; None "
     "once the channel is closed and empty."},
    {"channel_close", channel_close, METH_VARARGS,
     "channel_close(id): refuses later pushes; pops drain the queue, then get None (the "
     "first such pop forgets the channel)."},
    {"channel_notify", channel_notify, METH_VARARGS,
     "channel_notify(id, fd): writes one byte to `fd` when an item lands after a pop found the "
     "channel empty, and when it closes (for an event loop's reader); -1 turns it off."},
    {"channel_free", channel_free, METH_VARARGS,
     "channel_free(id): closes the channel and forgets it at once."},
    {"channel_count", channel_count, METH_NOARGS,
     "channel_count() -> int: channels not yet forgotten."},
    {"interp_start", interp_start, METH_VARARGS,
     "interp_start(script) -> int: runs `script` in a new own-GIL subinterpreter on a new "
     "thread, which finalizes the interpreter when the script returns."},
    {"interp_status", interp_status, METH_VARARGS, "interp_status(id) -> (ended, failed, error)."},
    {"interp_join", interp_join, METH_VARARGS,
     "interp_join(id, timeout) -> bool: waits without the GIL for the interpreter's end."},
    {"interp_count", interp_count, METH_NOARGS,
     "interp_count() -> int: interpreters started and not yet joined."},
    {"current_interpreter", current_interpreter, METH_NOARGS,
     "current_interpreter() -> int: the calling interpreter's id (0: main)."},
    {nullptr, nullptr, 0, nullptr},
};

int exec_module(PyObject* module) {
  return PyModule_AddIntConstant(module, "OWN_GIL", ATOMR_OWN_GIL);
}

PyModuleDef_Slot slots[] = {
    {Py_mod_exec, reinterpret_cast<void*>(exec_module)},
#if ATOMR_OWN_GIL
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, nullptr},
};

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "atomr._native._subinterp",
    "Own-GIL subinterpreters and the byte channels between interpreters.",
    0,
    methods,
    slots,
    nullptr,
    nullptr,
    nullptr,
};

} // namespace

PyMODINIT_FUNC PyInit__subinterp(void) {
  return PyModuleDef_Init(&module_def);
}
