# Hosts: every handler or hook coroutine runs inside an asyncio Task from
# its first statement, yet one that never suspends costs no Task of its own.
# Part of atomr._native._core (included by _core.pyx; declared in host.pxd).
#
# A dispatcher keeps one spare host: an asyncio Task, created ahead, whose
# coroutine (the host) waits idle on a private future. A coroutine's first
# step runs synchronously, as before, but with that Task installed as the
# loop's current task and inside the Task's contextvars context (once per
# drain, from its first coroutine on, so this costs nothing per message), so
# ``asyncio.current_task()``, ``asyncio.timeout`` and ``asyncio.wait_for``
# see a real Task. A coroutine that completes there leaves the host idle,
# ready for the next one; one that suspends is handed to the host, whose
# Task then drives it to its end (the Task its timeouts already point at),
# and the dispatcher makes a new spare when it next needs one.

import collections.abc
import contextvars


cdef extern from "Python.h":
    int PyContext_Enter(object ctx) except -1
    int PyContext_Exit(object ctx) except -1
    PyObject* PyDict_GetItem(object d, object key)
    int PyDict_SetItem(object d, object key, object value) except -1
    int PyDict_DelItem(object d, object key) except -1
    # PyIter_Send without Cython's error check: a coroutine that raises in
    # its first step hands its exception back through `out` instead.
    PySendResult _send_raw "PyIter_Send"(object iter, object arg, PyObject** presult) noexcept


cdef extern from *:
    """
    /* Takes the raised exception (with its traceback) off the thread state. */
    static PyObject* atomr_take_raised(void) {
    #if PY_VERSION_HEX >= 0x030C0000
        return PyErr_GetRaisedException();
    #else
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL) {
            PyException_SetTraceback(value, tb);
            Py_DECREF(tb);
        }
        Py_XDECREF(type);
        return value;
    #endif
    }
    """
    PyObject* atomr_take_raised() noexcept


# The loop -> current task map asyncio's C tasks read (Python 3.11); later
# versions swap the current task with a function of their own.
_current_tasks = asyncio.tasks._current_tasks
_asyncio_swap_current_task = getattr(asyncio.tasks, "_swap_current_task", None)
_register_task = asyncio.tasks._register_task
_unregister_task = asyncio.tasks._unregister_task


cdef inline object _swap_current_task(object loop, object task):
    """Makes `task` (None: no task) the current task of `loop`; returns the
    previous one."""
    if _asyncio_swap_current_task is not None:
        return _asyncio_swap_current_task(loop, task)
    cdef dict tasks = _current_tasks
    cdef PyObject* p = PyDict_GetItem(tasks, loop)
    prev = None if p == NULL else <object>p
    if task is None:
        if p != NULL:
            PyDict_DelItem(tasks, loop)
    else:
        PyDict_SetItem(tasks, loop, task)
    return prev


cdef _Host _spare_host(_Dispatcher disp):
    """The dispatcher's spare host (made when it has none or it ended)."""
    cdef _Host host = <_Host>disp.host if disp.host is not None else None
    if host is None or host.ended:
        host = _Host.new(disp.loop)
        disp.host = host
    return host


cdef int _host_enter(_Dispatcher disp) except -1:
    """The first coroutine of a drain: the spare host's Task becomes the
    loop's current task, and its context the current context, for it and
    every further coroutine of the drain."""
    cdef _Host host = _spare_host(disp)
    disp.host_prev = _swap_current_task(disp.loop, host.task)
    try:
        PyContext_Enter(host.context)
    except BaseException:
        _swap_current_task(disp.loop, disp.host_prev)
        disp.host_prev = None
        raise
    disp.hosting = True
    return 0


cdef int _host_leave(_Dispatcher disp) except -1:
    """Undoes `_host_enter`."""
    cdef _Host host
    if not disp.hosting:
        return 0
    disp.hosting = False
    host = <_Host>disp.host
    prev = disp.host_prev
    disp.host_prev = None
    try:
        PyContext_Exit(host.context)
    finally:
        _swap_current_task(disp.loop, prev)
    return 0


cdef int _host_exit(_Dispatcher disp) except -1:
    """A drain ends: no host stays installed."""
    _host_leave(disp)
    if not disp.reader_added:
        _drop_host(disp)  # detached during this drain
    return 0


cdef _Host _first_step(_Dispatcher disp, object coro, PyObject** out, bint* raised):
    """Runs a handler or hook coroutine up to its first suspension (or its
    end) as a host's Task; `out` receives what it yielded (or returned), or
    the exception it raised (`raised` then set: handing it back costs no
    traceback entries of ours, the price of a failing handler). Returns the
    host when it suspended (the caller then hands the coroutine over with
    `take`), else None."""
    cdef _Host host
    cdef PySendResult st
    raised[0] = False
    if disp.draining:
        # The spare stays installed for the rest of the drain.
        if not disp.hosting:
            _host_enter(disp)
        st = _send_raw(coro, None, out)
        if st == PYGEN_ERROR:
            out[0] = atomr_take_raised()
            raised[0] = True
            return None
        if st != PYGEN_NEXT:
            return None
        # This host is used up; the drain's next coroutine installs a new one.
        host = <_Host>disp.host
        _host_leave(disp)
        disp.host = None
        return host
    # Outside a drain (a hook started from a task's completion, say).
    host = _spare_host(disp)
    disp.host = None  # taken: a nested first step makes its own
    st = PYGEN_ERROR
    prev = _swap_current_task(disp.loop, host.task)
    try:
        PyContext_Enter(host.context)
        try:
            st = _send_raw(coro, None, out)
            if st == PYGEN_ERROR:
                out[0] = atomr_take_raised()
                raised[0] = True
        finally:
            PyContext_Exit(host.context)
    finally:
        _swap_current_task(disp.loop, prev)
        if st != PYGEN_NEXT and disp.host is None:
            disp.host = host
    return host if st == PYGEN_NEXT else None


cdef void _drop_host(_Dispatcher disp):
    """The dispatcher goes away: its idle host's Task ends."""
    cdef _Host host = <_Host>disp.host if disp.host is not None else None
    if disp.hosting:
        return  # detached from inside a drain: the drain's end releases it
    disp.host = None
    if host is None or host.ended:
        return
    host.ended = True
    try:
        host.task.cancel()
    except RuntimeError:
        host.task._log_destroy_pending = False  # the loop is closed: nothing can run it


cdef class _Host:
    """The coroutine of an asyncio Task that hosts a handler coroutine:
    idle until one is handed over, then yields what the handler yielded at
    its first suspension and delegates ``send``/``throw`` to it."""

    def __init__(self, *args, **kwargs):
        raise TypeError("_Host objects are created by the actor runtime")

    @staticmethod
    cdef _Host new(object loop):
        cdef _Host h = _Host.__new__(_Host)
        h.loop = loop
        h.context = contextvars.copy_context()
        task = loop.create_task(h, context=h.context)
        # An idle host is the runtime's, not the program's: asyncio.all_tasks()
        # leaves it out (code that waits for "every other task" must not wait
        # for it), and a loop closed under it does not report it as pending.
        _unregister_task(task)
        task._log_destroy_pending = False
        h.task = task
        return h

    cdef void take(self, object coro, object first):
        """Hands over a coroutine that suspended in `first_step`: the Task
        drives it from now on."""
        self.coro = coro
        self.first = first
        self.has_first = True
        task = self.task
        task._log_destroy_pending = True  # a handler's task, like any other now
        _register_task(task)
        park = self.park
        if park is not None:
            self.park = None
            if not park.done():
                park.set_result(None)

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        if self.has_first:
            self.has_first = False
            first = self.first
            self.first = None
            return first
        coro = self.coro
        if coro is None:
            park = self.loop.create_future()
            park._asyncio_future_blocking = True
            self.park = park
            return park
        try:
            return coro.send(value)
        except (KeyboardInterrupt, SystemExit) as exc:
            raise StopIteration(_Raised(exc))

    def throw(self, typ, val=None, tb=None):
        self.has_first = False
        self.first = None
        coro = self.coro
        if coro is None:
            self.ended = True  # cancelled while idle
            self.park = None
            raise typ if val is None else val
        try:
            if val is None:
                return coro.throw(typ)
            return coro.throw(val)
        except (KeyboardInterrupt, SystemExit) as exc:
            raise StopIteration(_Raised(exc))

    def close(self):
        if self.coro is not None:
            self.coro.close()

    @property
    def __name__(self):
        """The hosted coroutine's name (for the Task's repr)."""
        if self.coro is None:
            return "atomr-idle-handler-host"
        return getattr(self.coro, "__qualname__", None) or type(self.coro).__name__

    def __repr__(self):
        if self.coro is None:
            return "<atomr idle handler host>"
        return f"<atomr handler host of {self.coro!r}>"


collections.abc.Coroutine.register(_Host)
