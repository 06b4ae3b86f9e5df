# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: c_string_type=unicode, c_string_encoding=utf8, embedsignature=True
# distutils: language = c++
"""The native half of atomr's actors: cells, refs, contexts and the pinned
dispatcher that drains the C++ ready queue on the asyncio loop's own thread.

Invariants every caller keeps:

* All Python code of one actor system runs on the thread of the loop the
  system is bound to. Other threads only enqueue mail (``ActorRef.tell``,
  ``ask``, ``ask_blocking``) and wake that loop through the dispatcher's
  eventfd.
* A cell handles one message at a time. A handler coroutine is driven with
  ``PyIter_Send``; only one that really suspends becomes an asyncio task,
  and its cell stays suspended until the task finishes.
* A Python object enters a C++ payload with a reference taken under the GIL
  and leaves it (or is released) under the GIL.
"""

import asyncio
import concurrent.futures
import logging
import math
import sys

from _thread import allocate_lock
from asyncio import get_running_loop as _asyncio_get_running_loop
from asyncio.events import _get_running_loop

from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cython.operator cimport dereference as deref
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp.string cimport string

from atomr._native.includes.core cimport (
    CCell, CCellState, CDeadLetterReason, CDeadLetterSink, CEnqueueResult, CEnvelope,
    CPayload, CPinnedDispatcher, anonymous_name, child_path, register_error_classes, set_py,
    take_py, validate_actor_name, validate_system_name,
)
from atomr._native.includes.core cimport is_valid_actor_name as _is_valid_actor_name

from atomr import errors as _errors

__version__ = "0.1.0"

cdef object _log = logging.getLogger("atomr")

register_error_classes(_errors.AtomrError, _errors.InvalidActorNameError,
                       _errors.ActorNameTakenError, _errors.ActorSystemTerminatedError)


cdef extern from "Python.h":
    ctypedef enum PySendResult:
        PYGEN_RETURN
        PYGEN_ERROR
        PYGEN_NEXT
    PySendResult PyIter_Send(object iter, object arg, PyObject** presult) except PYGEN_ERROR
    bint PyCoro_CheckExact(object o)
    unsigned long PyThread_get_thread_ident()


# System message kinds (envelope.kind; 0 is user mail).
cdef enum:
    K_CREATE = 1
    K_TERMINATE = 2
    K_CHILD_TERMINATED = 3
    K_FAILED = 4

# What a driven call was for.
cdef enum:
    R_HANDLER = 0
    R_PRE_START = 1
    R_POST_STOP = 2

# Life of a Python cell.
cdef enum:
    S_NEW = 0
    S_STARTING = 1
    S_RUNNING = 2
    S_FAILED = 3
    S_TERMINATING = 4
    S_POST_STOP = 5
    S_STOPPED = 6

# Messages one drain may handle before it yields to the loop.
cdef int DRAIN_BUDGET = 4096
# Dead letters logged at INFO before the rest go to DEBUG (as Akka's log-dead-letters).
cdef int DEAD_LETTERS_LOGGED = 10


cdef inline object _take(CPayload& slot):
    """The object held by `slot`, taking over its reference (None if empty)."""
    cdef PyObject* p = take_py(slot)
    if p == NULL:
        return None
    o = <object>p
    Py_DECREF(o)
    return o


cdef inline object _steal(PyObject* p):
    o = <object>p
    Py_DECREF(o)
    return o


cdef str _describe(object msg):
    text = repr(msg)
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(msg).__module__}.{type(msg).__qualname__}: {text}"


cdef object _check_timeout(object timeout):
    """Validates an ask timeout; returns it as float (None: wait forever)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    t = float(timeout)
    if not t > 0.0 or math.isinf(t):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    return t


# ---------------------------------------------------------------------------
# Replies


cdef class _Reply:
    """Where the answer to an ask goes. Completed at most once; a late
    completion (after a timeout) is ignored."""

    cdef bint done

    cdef void complete(self, object value):
        pass

    cdef void fail(self, object exc):
        pass


def _resolve_future(fut, ok, value, timer):
    if timer is not None:
        timer.cancel()
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


def _expire_ask(fut, str path, double timeout):
    if not fut.done():
        fut.set_exception(_errors.AskTimeoutError(
            f"ask to {path} timed out after {timeout:g}s"))


cdef class _FutureReply(_Reply):
    """An ask awaited on an asyncio loop (any loop, on any thread)."""

    cdef object fut
    cdef object loop
    cdef unsigned long thread_id
    cdef object timer

    @staticmethod
    cdef _FutureReply new(object fut, object loop, unsigned long thread_id):
        cdef _FutureReply r = _FutureReply.__new__(_FutureReply)
        r.fut = fut
        r.loop = loop
        r.thread_id = thread_id
        return r

    cdef void _settle(self, bint ok, object value):
        if self.done:
            return
        self.done = True
        try:
            if PyThread_get_thread_ident() == self.thread_id:
                _resolve_future(self.fut, ok, value, self.timer)
            else:
                self.loop.call_soon_threadsafe(_resolve_future, self.fut, ok, value, self.timer)
        except RuntimeError:
            pass  # the asker's loop is closed: nobody is waiting any more
        except BaseException as exc:
            _log.error("could not deliver an ask reply", exc_info=exc)

    cdef void complete(self, object value):
        self._settle(True, value)

    cdef void fail(self, object exc):
        self._settle(False, exc)


cdef class _LockReply(_Reply):
    """An ask waited on by a blocked thread (``ask_blocking``)."""

    cdef object lock
    cdef bint ok
    cdef object value

    def __cinit__(self):
        self.lock = allocate_lock()
        self.lock.acquire()

    cdef void complete(self, object value):
        if self.done:
            return
        self.done = True
        self.ok = True
        self.value = value
        self.lock.release()

    cdef void fail(self, object exc):
        if self.done:
            return
        self.done = True
        self.ok = False
        self.value = exc
        self.lock.release()


cdef class _ConcurrentReply(_Reply):
    """An ask made where no loop runs, awaited later on some loop."""

    cdef object cf

    cdef void complete(self, object value):
        if self.done:
            return
        self.done = True
        if not self.cf.done():
            self.cf.set_result(value)

    cdef void fail(self, object exc):
        if self.done:
            return
        self.done = True
        if not self.cf.done():
            self.cf.set_exception(exc)


async def _await_deferred(cf, timeout, str path):
    try:
        return await asyncio.wait_for(asyncio.wrap_future(cf), timeout)
    except asyncio.TimeoutError:
        raise _errors.AskTimeoutError(f"ask to {path} timed out after {timeout:g}s") from None


# ---------------------------------------------------------------------------
# Suspended handlers


cdef class _Suspended:
    """Hands a coroutine that suspended under ``PyIter_Send`` to an asyncio
    task: yields the value the coroutine yielded first, then delegates
    ``send``/``throw`` to it."""

    cdef object coro
    cdef object first
    cdef bint started

    @staticmethod
    cdef _Suspended new(object coro, object first):
        cdef _Suspended s = _Suspended.__new__(_Suspended)
        s.coro = coro
        s.first = first
        return s

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        if not self.started:
            self.started = True
            first = self.first
            self.first = None
            return first
        return self.coro.send(value)

    def throw(self, typ, val=None, tb=None):
        self.started = True
        self.first = None
        if val is None:
            return self.coro.throw(typ)
        return self.coro.throw(val)

    def close(self):
        self.coro.close()


async def _continue(_Cell cell, _Suspended s, int role, object reply):
    try:
        value = await s
    except BaseException as exc:
        cell._resumed(role, False, exc, reply)
    else:
        cell._resumed(role, True, value, reply)


# ---------------------------------------------------------------------------
# Dispatcher


cdef class _Dispatcher:
    """The python-pinned dispatcher: drains the C++ ready queue on the
    thread that runs `loop`. Only that thread calls its methods, except
    `kick`, which any thread may call."""

    cdef CPinnedDispatcher* d
    cdef object loop
    cdef unsigned long thread_id
    cdef bint draining
    cdef bint soon_pending
    cdef bint reader_added
    cdef object drain_soon_cb

    def __cinit__(self):
        self.d = NULL

    def __dealloc__(self):
        if self.d != NULL:
            del self.d
            self.d = NULL

    @staticmethod
    cdef _Dispatcher new(object loop, uint32_t throughput):
        cdef _Dispatcher disp = _Dispatcher.__new__(_Dispatcher)
        disp.d = new CPinnedDispatcher(throughput)
        disp.loop = loop
        disp.thread_id = PyThread_get_thread_ident()
        disp.drain_soon_cb = disp._drain_soon
        loop.add_reader(disp.d.wake_fd(), disp._on_wake)
        disp.reader_added = True
        return disp

    cdef void detach(self):
        if self.reader_added:
            self.reader_added = False
            try:
                self.loop.remove_reader(self.d.wake_fd())
            except Exception:
                pass

    def _on_wake(self):
        self.d.clear_wake()
        self.d.set_awake()
        self.drain()

    def _drain_soon(self):
        self.soon_pending = False
        self.drain()

    cdef inline void kick(self):
        """Called after a schedule found the dispatcher asleep."""
        if PyThread_get_thread_ident() == self.thread_id:
            self.schedule_soon()
        else:
            self.d.wake()

    cdef void schedule_soon(self):
        if self.soon_pending:
            return
        self.soon_pending = True
        try:
            self.loop.call_soon(self.drain_soon_cb)
        except RuntimeError:
            self.soon_pending = False  # the loop is closed; nothing will run

    cdef inline bint on_loop_thread(self):
        return PyThread_get_thread_ident() == self.thread_id

    cdef void drain(self):
        cdef CCell* c
        cdef _Cell cell
        cdef int budget = DRAIN_BUDGET
        if self.draining:
            return
        self.draining = True
        try:
            while True:
                if budget <= 0:
                    self.schedule_soon()  # stay awake and let the loop breathe
                    break
                c = self.d.pop_ready()
                if c == NULL:
                    if self.d.try_sleep():
                        break
                    continue
                if c.user_data != NULL:
                    cell = <_Cell>c.user_data
                    try:
                        budget -= 1 + cell._run_turn()
                    except BaseException as exc:
                        cell._crashed(exc)
                c.release()
        finally:
            self.draining = False


# ---------------------------------------------------------------------------
# Context


cdef class Context:
    """What a handler may do with its actor. Built by the runtime, one per
    actor; valid only while a handler or lifecycle hook of that actor runs."""

    cdef _Cell _cell
    cdef object _sender
    cdef bint _active

    def __init__(self, *args, **kwargs):
        raise TypeError("Context objects are created by the actor runtime")

    cdef inline int _check(self) except -1:
        if not self._active:
            raise RuntimeError("Context used outside of its handler scope")
        return 0

    @property
    def self_ref(self):
        """The :class:`ActorRef` of this actor."""
        self._check()
        return self._cell.ref

    @property
    def path(self):
        """This actor's path, e.g. ``akka://app/user/worker``."""
        self._check()
        return self._cell.path

    @property
    def sender(self):
        """The sender of the current message, or None (``tell``/``ask``)."""
        self._check()
        return self._sender

    @property
    def parent(self):
        """The parent's :class:`ActorRef` (None for the guardian)."""
        self._check()
        p = self._cell.parent
        return None if p is None else p.ref

    @property
    def system(self):
        """The :class:`atomr.ActorSystem` this actor lives in."""
        self._check()
        return self._cell.system.owner

    @property
    def children(self):
        """Refs of the live children, in creation order."""
        self._check()
        return [c.ref for c in self._cell.children.values()]

    def child(self, name):
        """The live child called `name`, or None."""
        self._check()
        c = self._cell.children.get(name)
        return None if c is None else (<_Cell>c).ref

    def spawn(self, props, name=None):
        """Creates a child actor at ``<self path>/<name>`` and returns its ref.

        The ref may also be awaited (``child = await ctx.spawn(...)``).
        `name` None generates a unique anonymous name (``$a``, ``$b``, ...).

        Raises:
            InvalidActorNameError: the name breaks the path grammar.
            ActorNameTakenError: a live child already has this name.
        """
        self._check()
        return self._cell._spawn_child(props, name).ref

    def stop_self(self):
        """Stops this actor once the current handler ends."""
        self._check()
        self._cell._request_stop()

    def stop_child(self, name):
        """Stops the child called `name` (no-op when there is none)."""
        self._check()
        if not isinstance(name, str):
            raise TypeError(f"child name must be a str, not {type(name).__name__}")
        c = self._cell.children.get(name)
        if c is not None:
            (<_Cell>c)._request_stop()

    def stop(self, ref):
        """Stops `ref` (a child or this actor itself)."""
        self._check()
        if not isinstance(ref, ActorRef):
            raise TypeError(f"expected an ActorRef, not {type(ref).__name__}")
        (<ActorRef>ref)._cell._request_stop()

    def __repr__(self):
        return f"<Context path={self._cell.path}>"


# ---------------------------------------------------------------------------
# ActorRef


cdef class ActorRef:
    """A handle to an actor: the only way to talk to it. Thread-safe; refs
    compare equal when they point at the same actor incarnation."""

    cdef _Cell _cell
    cdef str _path

    def __init__(self, *args, **kwargs):
        raise TypeError("ActorRef objects are created by the actor system")

    @staticmethod
    cdef ActorRef new(_Cell cell, str path):
        cdef ActorRef r = ActorRef.__new__(ActorRef)
        r._cell = cell
        r._path = path
        return r

    @property
    def path(self):
        """The full path, e.g. ``akka://app/user/worker``."""
        return self._path

    @property
    def name(self):
        """The last path element."""
        return self._cell.name

    def tell(self, msg):
        """Sends `msg` without waiting. Mail to a stopped actor goes to dead letters."""
        self._cell._post(msg, None, None)

    def tell_with_sender(self, msg, sender):
        """Sends `msg`; the receiver sees `sender` as ``ctx.sender``."""
        if sender is not None and not isinstance(sender, ActorRef):
            raise TypeError(f"sender must be an ActorRef or None, not {type(sender).__name__}")
        self._cell._post(msg, sender, None)

    def tell_with_key(self, msg, key):
        """Sends `msg` with a consistent-hash key (plain actors ignore it)."""
        self._cell._post(msg, None, None)

    def ask(self, msg, timeout=5.0):
        """Sends `msg` and returns an awaitable of the handler's return value.

        Works from any event loop. A handler exception is raised to the asker
        with its own type.

        Raises:
            AskTimeoutError: no reply within `timeout` seconds.
            ActorTerminatedError: the actor is (or becomes) stopped.
            ValueError: `timeout` is not a positive number.
        """
        cdef _Cell cell = self._cell
        cdef _Dispatcher disp = cell.disp
        cdef _FutureReply reply
        t = _check_timeout(timeout)
        loop = _get_running_loop()
        if loop is None:
            return self._ask_deferred(msg, t)
        fut = loop.create_future()
        reply = _FutureReply.new(fut, loop, PyThread_get_thread_ident())
        cell._post(msg, None, reply)
        if loop is disp.loop and not disp.draining and disp.on_loop_thread():
            disp.drain()  # answer in-loop asks eagerly when the handler does not suspend
        if not fut.done() and t is not None:
            reply.timer = loop.call_later(t, _expire_ask, fut, self._path, t)
        return fut

    cdef object _ask_deferred(self, object msg, object t):
        cdef _ConcurrentReply reply = _ConcurrentReply.__new__(_ConcurrentReply)
        reply.cf = concurrent.futures.Future()
        self._cell._post(msg, None, reply)
        return _await_deferred(reply.cf, t, self._path)

    def ask_blocking(self, msg, timeout=5.0):
        """Sends `msg` and blocks (without holding the GIL) for the reply.

        Raises:
            RuntimeError: called on the thread that runs this actor's loop
                (it would deadlock); use ``await ref.ask(...)`` there.
            AskTimeoutError, ActorTerminatedError: as :meth:`ask`.
        """
        cdef _LockReply reply
        t = _check_timeout(timeout)
        if self._cell.disp.on_loop_thread():
            raise RuntimeError(
                "ask_blocking() called on the actor system's own loop thread would deadlock; "
                "use `await ref.ask(...)` there")
        reply = _LockReply()
        self._cell._post(msg, None, reply)
        if not reply.lock.acquire(True, -1 if t is None else t):
            reply.done = True
            raise _errors.AskTimeoutError(f"ask to {self._path} timed out after {t:g}s")
        if reply.ok:
            return reply.value
        raise reply.value

    def stop(self):
        """Stops the actor asynchronously: the current message finishes,
        children stop first, then ``post_stop`` runs."""
        self._cell._request_stop_any_thread()

    def is_terminated(self):
        """True once the actor has completely stopped."""
        return self._cell.status == S_STOPPED

    def __await__(self):
        # `await ctx.spawn(...)` yields the ref at once.
        if False:
            yield None
        return self

    def __eq__(self, other):
        if not isinstance(other, ActorRef):
            return NotImplemented
        return (<ActorRef>other)._cell is self._cell and (<ActorRef>other)._path == self._path

    def __hash__(self):
        return hash((self._cell.uid, self._path))

    def __repr__(self):
        return f"<ActorRef path={self._path}>"

    def __reduce__(self):
        raise TypeError("an ActorRef cannot be pickled; send it inside the process, "
                        "or send its path across processes")


# ---------------------------------------------------------------------------
# Cell


cdef object _NOOP_HOOK = object()


cdef inline bint _is_noop_hook(object fn):
    return fn is None or getattr(fn, "__atomr_noop__", False)


cdef class _Cell:
    """The Python half of an actor: its instance, behaviour, context, children
    and the lifecycle state machine. Runs only on its dispatcher's thread,
    except `_post`, which any thread may call."""

    cdef CCell* c
    cdef readonly _System system
    cdef _Dispatcher disp
    cdef _Cell parent
    cdef dict children
    cdef readonly str name
    cdef readonly str path
    cdef readonly uint64_t uid
    cdef object props
    cdef object actor
    cdef object behavior
    cdef Context ctx
    cdef ActorRef ref
    cdef int status
    cdef unsigned long long anonymous_count
    cdef object in_flight
    cdef uint32_t throughput

    def __cinit__(self):
        self.c = NULL

    def __dealloc__(self):
        if self.c != NULL:
            self.c.user_data = NULL
            self.c.release()
            self.c = NULL

    @staticmethod
    cdef _Cell new(_System system, _Cell parent, str name, str path, object props):
        cdef _Cell cell = _Cell.__new__(_Cell)
        cdef Context ctx = Context.__new__(Context)
        cell.c = new CCell(deref(system.disp.d), path, deref(system.sink))
        cell.c.user_data = <void*>cell
        cell.system = system
        cell.disp = system.disp
        cell.parent = parent
        cell.children = {}
        cell.name = name
        cell.path = path
        cell.uid = cell.c.uid()
        cell.props = props
        cell.status = S_NEW
        cell.throughput = system.disp.d.throughput()
        ctx._cell = cell
        cell.ctx = ctx
        cell.ref = ActorRef.new(cell, path)
        return cell

    # -- mail, from any thread ------------------------------------------------

    cdef inline int _post(self, object msg, object sender, object reply) except -1:
        cdef CEnvelope env
        cdef CEnqueueResult r
        set_py(env.message, msg)
        if sender is not None:
            set_py(env.sender, sender)
        if reply is not None:
            set_py(env.reply, reply)
        r = self.c.tell(env)
        if r == CEnqueueResult.accepted:
            return 0
        if r == CEnqueueResult.accepted_wake:
            self.disp.kick()
            return 0
        self.system.sink.publish(env, self.c.path(), CDeadLetterReason.no_recipient)
        return 0

    cdef int _post_system(self, uint32_t kind, object arg) except -1:
        cdef CEnvelope env
        cdef CEnqueueResult r
        set_py(env.message, arg)
        env.kind = kind
        r = self.c.send_system(env)
        if r == CEnqueueResult.accepted_wake:
            self.disp.kick()
        elif r == CEnqueueResult.rejected:
            self.system.sink.publish(env, self.c.path(), CDeadLetterReason.no_recipient)
        return 0

    cdef void _request_stop(self):
        if self.status < S_TERMINATING:
            self._post_system(K_TERMINATE, None)

    cdef void _request_stop_any_thread(self):
        if self.disp.on_loop_thread():
            self._request_stop()
        else:
            self._post_system(K_TERMINATE, None)

    # -- turns, on the dispatcher's thread --------------------------------------

    cdef int _run_turn(self) except -1:
        """Handles up to `throughput` user messages (and every system message
        ahead of them). Returns the number of user messages handled."""
        cdef CCell* c = self.c
        cdef CEnvelope env
        cdef int n = 0
        cdef uint32_t kind
        c.begin_turn()
        while n < <int>self.throughput:
            if not c.next(env):
                break
            kind = env.kind
            if kind == 0:
                n += 1
                msg = _take(env.message)
                sender = _take(env.sender)
                reply = _take(env.reply)
                if self._deliver(msg, sender, reply):
                    return n
            else:
                arg = _take(env.message)
                if self._system_message(kind, arg):
                    return n
        c.end_turn()
        return n

    cdef int _deliver(self, object msg, object sender, object reply) except -1:
        """Runs the behaviour on one message. Returns 1 when it suspended."""
        cdef Context ctx = self.ctx
        cdef PyObject* out = NULL
        cdef PySendResult st
        if self.status != S_RUNNING:
            # Not started (failed start) or stopping: the mail is undeliverable.
            self._undeliverable(msg, sender, reply)
            return 0
        ctx._sender = sender
        ctx._active = True
        try:
            result = self.behavior(ctx, msg)
            if PyCoro_CheckExact(result):
                st = PyIter_Send(result, None, &out)
                if st == PYGEN_NEXT:
                    self._suspend(R_HANDLER, result, _steal(out), reply)
                    return 1
                result = _steal(out)
        except BaseException as exc:
            ctx._active = False
            ctx._sender = None
            if reply is not None:
                (<_Reply>reply).fail(exc)
            else:
                self._fail(exc, msg)
            return 0
        ctx._active = False
        ctx._sender = None
        if reply is not None:
            (<_Reply>reply).complete(result)
        return 0

    cdef void _undeliverable(self, object msg, object sender, object reply):
        cdef CEnvelope env
        set_py(env.message, msg)
        if sender is not None:
            set_py(env.sender, sender)
        if reply is not None:
            set_py(env.reply, reply)
        self.system.sink.publish(env, self.c.path(), CDeadLetterReason.dropped)

    cdef int _drive(self, int role, object result) except -1:
        """Runs a lifecycle hook's result to completion, or suspends on it.
        Returns 1 when it suspended (the completion then runs later)."""
        cdef PyObject* out = NULL
        cdef PySendResult st
        if PyCoro_CheckExact(result):
            try:
                st = PyIter_Send(result, None, &out)
            except BaseException as exc:
                self._completed(role, False, exc)
                return 0
            if st == PYGEN_NEXT:
                self._suspend(role, result, _steal(out), None)
                return 1
            result = _steal(out)
        self._completed(role, True, result)
        return 0

    cdef void _suspend(self, int role, object coro, object first, object reply):
        self.c.suspend()
        self.in_flight = self.disp.loop.create_task(
            _continue(self, _Suspended.new(coro, first), role, reply))

    cdef void _resumed(self, int role, bint ok, object value, object reply):
        """A suspended handler or hook finished (in its task)."""
        self.in_flight = None
        if role == R_HANDLER:
            self.ctx._active = False
            self.ctx._sender = None
            if reply is not None:
                if ok:
                    (<_Reply>reply).complete(value)
                else:
                    (<_Reply>reply).fail(value)
            elif not ok:
                self._fail(value, None)
        else:
            self._completed(role, ok, value)
        if self.c.is_stopped():
            return
        if self.c.resume():
            self.disp.kick()

    cdef void _completed(self, int role, bint ok, object value):
        self.ctx._active = False
        if role == R_PRE_START:
            if ok:
                if self.status == S_STARTING:
                    self.status = S_RUNNING
            else:
                self._fail(value, None)
        elif role == R_POST_STOP:
            if not ok:
                _log.error("post_stop of %s raised", self.path, exc_info=value)
            self._finalize()

    cdef void _crashed(self, object exc):
        """An internal error escaped a turn: stop the actor rather than
        leave it wedged, and keep the dispatcher going."""
        _log.critical("internal error while running %s", self.path, exc_info=exc)
        if not self.c.is_stopped():
            self._finalize()

    # -- system messages ----------------------------------------------------------

    cdef int _system_message(self, uint32_t kind, object arg) except -1:
        """Returns 1 when the turn must end (suspended or stopped)."""
        if kind == K_CREATE:
            return self._create()
        if kind == K_TERMINATE:
            return self._terminate()
        if kind == K_CHILD_TERMINATED:
            if self.status == S_TERMINATING and not self.children:
                return self._post_stop()
            return 0
        if kind == K_FAILED:
            self._child_failed(arg)
            return 0
        return 0

    cdef int _create(self) except -1:
        if self.status != S_NEW:
            return 0
        self.status = S_STARTING
        factory = self.props.factory if self.props is not None else None
        if factory is None:
            self.status = S_RUNNING  # the guardian: system messages only
            return 0
        try:
            actor = factory()
            behavior = actor.handle
            if not callable(behavior):
                raise TypeError(f"{type(actor).__qualname__}.handle is not callable")
        except BaseException as exc:
            self._fail(exc, None)
            return 0
        self.actor = actor
        self.behavior = behavior
        hook = getattr(actor, "pre_start", None)
        if _is_noop_hook(hook):
            self.status = S_RUNNING
            return 0
        self.ctx._active = True
        self.ctx._sender = None
        try:
            result = hook(self.ctx)
        except BaseException as exc:
            self.ctx._active = False
            self._fail(exc, None)
            return 0
        return self._drive(R_PRE_START, result)

    cdef int _terminate(self) except -1:
        if self.status >= S_TERMINATING:
            return 0
        self.status = S_TERMINATING
        self.c.suspend_user_mail()
        if self.children:
            for child in list(self.children.values()):
                (<_Cell>child)._request_stop()
            return 0
        return self._post_stop()

    cdef int _post_stop(self) except -1:
        self.status = S_POST_STOP
        hook = getattr(self.actor, "post_stop", None) if self.actor is not None else None
        if _is_noop_hook(hook):
            self._finalize()
            return 1
        self.ctx._active = True
        self.ctx._sender = None
        try:
            result = hook(self.ctx)
        except BaseException as exc:
            self._completed(R_POST_STOP, False, exc)
            return 1
        self._drive(R_POST_STOP, result)
        return 1

    cdef void _finalize(self):
        """The actor is gone: reject further mail, dead-letter what is left,
        tell the parent."""
        cdef _Cell parent = self.parent
        self.status = S_STOPPED
        self.ctx._active = False
        self.actor = None
        self.behavior = None
        self.c.stop()
        if parent is not None:
            self.system.live_cells -= 1
            if parent.children.get(self.name) is self:
                del parent.children[self.name]
            parent._post_system(K_CHILD_TERMINATED, self.ref)
        else:
            self.system._guardian_stopped()

    cdef void _fail(self, object exc, object msg):
        """A handler (for a tell), the factory or pre_start raised."""
        if self.status >= S_TERMINATING:
            _log.error("actor %s failed while stopping", self.path, exc_info=exc)
            return
        if msg is None:
            _log.error("actor %s failed to start", self.path, exc_info=exc)
        else:
            _log.error("actor %s failed while handling %s", self.path, _describe(msg),
                       exc_info=exc)
        self.status = S_FAILED
        self.c.suspend_user_mail()
        if self.parent is not None:
            self.parent._post_system(K_FAILED, (self, exc))
        else:
            self._request_stop()

    cdef void _child_failed(self, object arg):
        cdef _Cell child = <_Cell>arg[0]
        if self.children.get(child.name) is not child or child.status >= S_TERMINATING:
            return
        # The failed child is stopped; its watchers and parent learn of it
        # through the usual termination path.
        child._request_stop()

    # -- children ---------------------------------------------------------------------

    cdef _Cell _spawn_child(self, object props, object name):
        cdef string cname
        cdef _Cell child
        cdef _System system = self.system
        if system.terminating:
            raise _errors.ActorSystemTerminatedError(
                f"actor system {system.name} is terminated; cannot spawn actors")
        if not isinstance(props, system.props_class):
            raise TypeError(f"expected Props (see atomr.props()), not {type(props).__name__}")
        if self.status >= S_TERMINATING:
            raise _errors.SpawnError(f"{self.path} is stopping; it cannot spawn children")
        if name is None:
            while True:
                cname = anonymous_name(self.anonymous_count)
                self.anonymous_count += 1
                name = cname
                if name not in self.children:
                    break
        else:
            if not isinstance(name, str):
                raise TypeError(f"actor name must be a str, not {type(name).__name__}")
            validate_actor_name(name)
            if name in self.children:
                if self.parent is None:
                    raise _errors.ActorNameTakenError(f"top-level actor name `{name}` already taken")
                raise _errors.ActorNameTakenError(
                    f"actor name `{name}` already taken under {self.path}")
        child = _Cell.new(system, self, name, child_path(self.path, name), props)
        self.children[name] = child
        system.live_cells += 1
        child._post_system(K_CREATE, None)
        return child


# ---------------------------------------------------------------------------
# System core


cdef void _on_dead_letter(void* ctx, CEnvelope& letter, const string& recipient,
                          CDeadLetterReason reason) noexcept with gil:
    cdef _System system = <_System>ctx
    cdef uint32_t kind = letter.kind
    try:
        msg = _take(letter.message)
        sender = _take(letter.sender)
        reply = _take(letter.reply)
        system._dead_letter(kind, msg, sender, reply, recipient, <int>reason)
    except BaseException as exc:
        try:
            _log.error("dead-letter handling failed", exc_info=exc)
        except BaseException:
            pass


cdef class _System:
    """The native core of one ActorSystem: its dispatcher, dead-letter sink
    and user guardian. Created and driven on the loop's thread."""

    cdef readonly str name
    cdef readonly str address
    cdef _Dispatcher disp
    cdef CDeadLetterSink* sink
    cdef _Cell guardian
    cdef readonly bint terminating
    cdef readonly bint terminated
    cdef readonly object termination   # concurrent.futures.Future
    cdef object owner_ref               # weakref to the ActorSystem
    cdef object props_class
    cdef public object on_terminated    # callable, run on the loop thread
    cdef public list dead_letter_listeners
    cdef readonly Py_ssize_t live_cells
    cdef int dead_letters_logged

    def __cinit__(self):
        self.sink = NULL

    def __dealloc__(self):
        if self.sink != NULL:
            self.sink.set_handler(NULL, NULL)
            del self.sink
            self.sink = NULL

    def __init__(self, str name, object loop, object props_class, object owner_ref,
                 uint32_t throughput=64):
        validate_system_name(name)
        self.name = name
        self.address = f"akka://{name}"
        self.props_class = props_class
        self.owner_ref = owner_ref
        self.termination = concurrent.futures.Future()
        self.dead_letter_listeners = []
        self.sink = new CDeadLetterSink()
        self.sink.set_handler(_on_dead_letter, <void*>self)
        self.disp = _Dispatcher.new(loop, throughput)
        self.guardian = _Cell.new(self, None, "user", self.address + "/user", None)
        self.guardian.status = S_RUNNING

    @property
    def owner(self):
        return self.owner_ref()

    @property
    def loop(self):
        return self.disp.loop

    @property
    def dead_letter_count(self):
        return self.sink.count()

    def on_loop_thread(self):
        return self.disp.on_loop_thread()

    def spawn(self, props, name):
        """A top-level actor under /user. Only on the loop thread, or from
        any thread while holding the GIL (the cell is created here; its start
        runs on the loop)."""
        return self.guardian._spawn_child(props, name).ref

    def top_level(self, str name):
        c = self.guardian.children.get(name)
        return None if c is None else (<_Cell>c).ref

    def begin_terminate(self):
        """Starts the recursive stop of every actor. Only on the loop thread."""
        if self.terminating:
            return
        self.terminating = True
        self.guardian._post_system(K_TERMINATE, None)

    def abandon(self):
        """The loop is gone: mark everything terminated without running hooks."""
        self.terminating = True
        self._guardian_stopped()

    cdef void _guardian_stopped(self):
        if self.terminated:
            return
        self.terminated = True
        if self.guardian.status != S_STOPPED:
            self.guardian.status = S_STOPPED
            self.guardian.c.stop()
        self.disp.detach()
        if self.on_terminated is not None:
            try:
                self.on_terminated()
            except BaseException as exc:
                _log.error("termination callback failed", exc_info=exc)
        if not self.termination.done():
            self.termination.set_result(None)

    cdef void _dead_letter(self, uint32_t kind, object msg, object sender, object reply,
                           str recipient, int reason):
        if kind != 0:
            return  # system mail to a stopped actor: nothing to report
        if reply is not None:
            (<_Reply>reply).fail(_errors.ActorTerminatedError(
                f"{recipient} is terminated; the message went to dead letters"))
        if self.dead_letters_logged < DEAD_LETTERS_LOGGED:
            self.dead_letters_logged += 1
            _log.info("message %s to %s was not delivered (dead letter %d)",
                      _describe(msg), recipient, self.sink.count())
        else:
            _log.debug("message %s to %s was not delivered", _describe(msg), recipient)
        for listener in list(self.dead_letter_listeners):
            try:
                listener(msg, sender, recipient)
            except BaseException as exc:
                _log.error("dead-letter listener failed", exc_info=exc)


def is_valid_actor_name(str name):
    """True when `name` may name an actor."""
    return _is_valid_actor_name(name)


def validate_name(str name):
    """Raises InvalidActorNameError unless `name` may name an actor."""
    validate_actor_name(name)
