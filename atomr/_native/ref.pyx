# ActorRef: the handle users talk to an actor through.
# Part of atomr._native._core (included by _core.pyx; declared in ref.pxd).

from types import GenericAlias as _GenericAlias


cdef void _drain_outside_task(_Dispatcher disp, object loop, double limit,
                              _Reply awaited) except *:
    """Drains the dispatcher from inside the asker's coroutine, but with no
    current task: handlers must see the same context as in a normal drain,
    and must never mistake the asker's task for their own (an
    ``asyncio.timeout`` there would cancel the asker). The drain ends once
    `awaited` is answered, or at `limit` (the ask's deadline), at the latest:
    other actors' backlog never holds an ask past its timeout."""
    task = _asyncio_current_task(loop)
    if task is None:
        disp.drain_until(limit, awaited)
        return
    _asyncio_leave_task(loop, task)
    try:
        disp.drain_until(limit, awaited)
    finally:
        _asyncio_enter_task(loop, task)


cdef class ActorRef:
    """A handle to an actor: the only way to talk to it. Thread-safe; refs
    compare equal (and hash alike) when they point at the same actor
    incarnation and report the same path (see `with_path`)."""

    def __init__(self, *args, **kwargs):
        raise TypeError("ActorRef objects are created by the actor system")

    @classmethod
    def __class_getitem__(cls, params):
        """``ActorRef[Msg]`` / ``ActorRef[Msg, Reply]``: the typed form, for
        annotations (a ``types.GenericAlias``; every ref is a plain
        ``ActorRef`` at run time)."""
        return _GenericAlias(cls, params)

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
        if self._path is self._cell.path:
            return self._cell.name
        return self._path.rpartition("/")[2]

    def with_path(self, path):
        """A ref to the same actor that reports `path` (e.g. the address
        other nodes know it by, to address remote sends).

        The new ref shares this ref's mailbox: what is sent through either
        reaches the same actor, in the same per-sender order, and both see
        the same stop. Only `path` and `name` (its last element) differ, so
        a handler that gets it as ``ctx.sender`` sees `path`. Two refs are
        equal, and hash alike, when they point at the same actor
        incarnation and report the same path: ``ref.with_path(ref.path) ==
        ref``, while a ref with another path is a different key in a dict
        or set.

        Args:
            path: An actor path, ``scheme://address/elements``, whose last
                element is not empty.

        Returns:
            A new ActorRef.

        Raises:
            TypeError: `path` is not a str.
            ValueError: `path` is not an actor path.
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        scheme, sep, rest = (<str>path).partition("://")
        address, slash, elements = rest.partition("/")
        if (not sep or not scheme or not address or not slash or not elements
                or elements.endswith("/")):
            raise ValueError(f"not an actor path (scheme://address/elements): {path!r}")
        return ActorRef.new(self._cell, path)

    def tell(self, msg):
        """Sends `msg` without waiting. Mail to a stopped actor goes to dead letters."""
        self._cell._post(msg, None, None)

    def tell_with_sender(self, msg, sender):
        """Sends `msg`; the receiver sees `sender` as ``ctx.sender``."""
        if sender is not None and not isinstance(sender, ActorRef):
            raise TypeError(f"sender must be an ActorRef or None, not {type(sender).__name__}")
        self._cell._post(msg, sender, None)

    def forward(self, msg, ctx):
        """``ctx.forward(self, msg)``: sends `msg` from inside a handler,
        keeping the current message's sender and, when `msg` is the current
        message, its pending ask reply (this actor then answers it)."""
        ctx.forward(self, msg)

    def tell_with_key(self, msg, key):
        """Sends `msg` with a routing key: a consistent-hash router keeps
        every message of one key on one routee (ints are taken modulo
        2**64, str and bytes hashed stably). Plain actors ignore the key."""
        if key is None:
            raise ValueError("tell_with_key needs a key")
        if self._cell.router is not None:
            self._cell._route(msg, None, None, key)
        else:
            self._cell._post(msg, None, None)

    def ask(self, msg, timeout=5.0, *, key=None):
        """Sends `msg` and returns an awaitable of the handler's return value.

        Works from any event loop. A handler exception is raised to the asker
        with its own type.

        A `timeout` too long for a lock wait (``threading.TIMEOUT_MAX``,
        about 292 years, or more) waits without limit.

        Raises:
            AskTimeoutError: no reply within `timeout` seconds.
            ActorTerminatedError: the actor is (or becomes) stopped.
            ValueError: `timeout` is not a positive, finite number (checked
                before the message is sent).
        """
        if self._cell.system.tracer is not None:
            return _traced_ask(self, msg, timeout, key)
        return self._ask(msg, timeout, key)

    cdef object _ask(self, object msg, object timeout, object key):
        cdef _Cell cell = self._cell
        cdef _Dispatcher disp = cell.disp
        cdef _FutureReply reply
        t = _check_timeout(timeout)
        loop = _get_running_loop()
        if loop is None:
            return self._ask_deferred(msg, t, key)
        fut = loop.create_future()
        reply = _FutureReply.new(fut, loop, PyThread_get_thread_ident())
        if key is not None and cell.router is not None:
            cell._route(msg, None, reply, key)
        else:
            cell._post(msg, None, reply)
        if loop is disp.loop and not disp.draining and disp.on_loop_thread():
            # answer in-loop asks eagerly
            _drain_outside_task(disp, loop, 0.0 if t is None else _monotonic() + t, reply)
        if not fut.done() and t is not None:
            reply.timer = loop.call_later(t, _expire_ask, fut, self._path, t)
        return fut

    cdef object _ask_deferred(self, object msg, object t, object key):
        cdef _ConcurrentReply reply = _ConcurrentReply.__new__(_ConcurrentReply)
        reply.cf = concurrent.futures.Future()
        self._post_reply(msg, reply, key)
        deadline = time.monotonic() + (0.0 if t is None else t)
        return _await_deferred(reply.cf, t, deadline, self._path)

    cdef int _post_reply(self, object msg, object reply, object key) except -1:
        if key is not None and self._cell.router is not None:
            return self._cell._route(msg, None, reply, key)
        return self._cell._post(msg, None, reply)

    def ask_blocking(self, msg, timeout=5.0, *, key=None):
        """Sends `msg` and blocks (without holding the GIL) for the reply.

        Raises:
            RuntimeError: called on the thread that runs this actor's loop
                (it would deadlock); use ``await ref.ask(...)`` there.
            AskTimeoutError, ActorTerminatedError: as :meth:`ask`.
        """
        if self._cell.system.tracer is not None:
            return _traced_ask_blocking(self, msg, timeout, key)
        return self._ask_blocking(msg, timeout, key)

    cdef object _ask_blocking(self, object msg, object timeout, object key):
        cdef _LockReply reply
        t = _check_timeout(timeout)
        if self._cell.disp.on_loop_thread():
            raise RuntimeError(
                "ask_blocking() called on the actor system's own loop thread would deadlock; "
                "use `await ref.ask(...)` there")
        reply = _LockReply()
        posted = monotonic_ns()
        self._post_reply(msg, reply, key)
        if not _wait_lock_reply(self._cell.disp, reply, t, posted):
            reply.done = True
            raise _errors.AskTimeoutError(f"ask to {self._path} timed out after {t:g}s")
        if reply.ok:
            return reply.value
        raise reply.value

    def stop(self):
        """Stops the actor asynchronously: the current message finishes,
        children stop first, then ``post_stop`` runs. Mail still queued goes
        to dead letters. A handler suspended in an ``await`` may finish
        within ``actor.stop-grace`` seconds; then it is cancelled
        (CancelledError inside it; an ask it was answering fails with
        ActorTerminatedError)."""
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
