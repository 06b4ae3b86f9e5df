# Context: what a handler may do with its actor.
# Part of atomr._native._core (included by _core.pyx; declared in context.pxd).


cdef object _pick(object positional, object keyword, str name):
    if positional is not None and keyword is not None:
        raise TypeError(f"{name} given twice")
    value = positional if positional is not None else keyword
    if value is None:
        raise TypeError(f"missing {name}")
    return value


cdef class Context:
    """What a handler may do with its actor. Built by the runtime, one per
    actor; valid only while a handler or lifecycle hook of that actor runs."""

    def __init__(self, *args, **kwargs):
        raise TypeError("Context objects are created by the actor runtime")

    cdef int _check(self) except -1:
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
    def reply_to(self):
        """A :class:`DeferredReply` for the current ask, to answer it later
        (from another handler, a task, a callback or another thread), or
        None when no reply is owed (a tell, or an ask that was stashed or
        forwarded).

        Reading it takes the reply over: from then on the handler's return
        value no longer answers the ask; the handle does, exactly once, and
        the ask's timeout still applies. Every read during one handler call
        returns the same handle. If the handler raises before the handle
        answered, the asker gets the exception (as for any failing ask)."""
        self._check()
        return self._cell._reply_handle()

    @property
    def awaiting_reply(self):
        """True when the current message came with ``ask`` and its reply
        is still owed (it was neither stashed nor forwarded)."""
        self._check()
        return (self._cell.cur_reply is not None and not self._cell.cur_stashed
                and not self._cell.cur_forwarded)

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
        return [(<_Cell>c).ref for c in self._cell.children.values()]

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

    def _stop_self_not_started(self, cause):
        """Stops this actor as one that never started because of `cause`
        (an exception): asks its mail leaves unanswered name it and carry
        it as their ``__cause__``. For actors whose start (a recovery, say)
        fails after their ``pre_start`` handled the error itself."""
        self._check()
        if not isinstance(cause, BaseException):
            raise TypeError(f"cause must be an exception, not {type(cause).__name__}")
        self._cell.not_started = cause
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

    # -- death watch -------------------------------------------------------------

    def watch(self, ref):
        """Watches `ref`: when it stops, this actor receives
        ``atomr.Terminated(path)`` exactly once (at once if it is already
        dead). Returns `ref`.

        `ref` may be an :class:`atomr.remote.RemoteActorRef`: Terminated
        then also comes when no actor lives at its path
        (``existence_confirmed=False``) or when its system is declared
        gone (``address_terminated=True``)."""
        self._check()
        if not isinstance(ref, ActorRef):
            remote_watch = getattr(ref, "_watched_by", None)  # a RemoteActorRef
            if remote_watch is None:
                raise TypeError(f"watch expects an ActorRef, not {type(ref).__name__}")
            remote_watch(self._cell.ref)
            return ref
        self._cell._watch((<ActorRef>ref)._cell)
        return ref

    def unwatch(self, ref):
        """Stops watching `ref`; no Terminated for it is delivered afterwards."""
        self._check()
        if not isinstance(ref, ActorRef):
            remote_unwatch = getattr(ref, "_unwatched_by", None)  # a RemoteActorRef
            if remote_unwatch is None:
                raise TypeError(f"unwatch expects an ActorRef, not {type(ref).__name__}")
            remote_unwatch(self._cell.ref)
            return ref
        self._cell._unwatch((<ActorRef>ref)._cell)
        return ref

    def forward(self, ref, msg=_MISSING):
        """Sends the current message (or `msg`) to `ref`, keeping its
        original sender and, for the current message, its pending ask reply
        (the reply then comes from `ref`). `ref` may be a remote ref
        (``atomr.remote.RemoteActorRef``): the remote handler sees the
        sender, and its answer completes the ask."""
        self._check()
        if isinstance(ref, ActorRef):
            self._cell._forward((<ActorRef>ref)._cell, msg)
            return
        hook = getattr(type(ref), "_forward", None)
        if hook is None:
            raise TypeError(f"forward expects an ActorRef or a RemoteActorRef, not "
                            f"{type(ref).__name__}")
        cdef _Cell cell = self._cell
        reply = None
        if msg is _MISSING or msg is cell.cur_msg:
            msg = cell.cur_msg
            if cell.cur_handle is None:
                if cell.cur_stashed or cell.cur_forwarded:
                    raise RuntimeError("the current message was stashed or forwarded already")
                reply = cell._reply_handle()  # None when no reply is owed
                cell.cur_handle = None  # the remote answer, not the handler, answers
                cell.cur_forwarded = True
        hook(ref, msg, self._sender, reply)

    # -- stash ----------------------------------------------------------------------

    def stash(self, msg=_MISSING):
        """Stashes the current message (with its sender and pending reply),
        or `msg` if given and not the current message.

        A handler that stashes its message and returns None leaves the ask
        to be answered when the message is handled again; one that returns
        anything else answers the ask with it now, and the stashed copy
        then carries no reply."""
        self._check()
        self._cell._stash(msg)

    def unstash_all(self):
        """Puts every stashed message back ahead of the queued mail, in the
        order they were stashed."""
        self._check()
        self._cell._unstash_all()

    @property
    def stash_size(self):
        """How many messages this actor has stashed."""
        self._check()
        buf = self._cell.stash_buf
        return 0 if buf is None else len(buf)

    # -- behaviours ---------------------------------------------------------------

    def become(self, handler, discard_old=True):
        """From the next message on, `handler(ctx, msg)` (sync or async)
        handles mail instead of ``handle``. With ``discard_old=False`` the
        previous behaviour is kept underneath, for :meth:`unbecome`."""
        self._check()
        self._cell._become(handler, discard_old)

    def become_(self, handler, discard_old=True):
        """Alias of :meth:`become`."""
        self._check()
        self._cell._become(handler, discard_old)

    def unbecome(self):
        """Returns to the previous behaviour (``handle`` at the bottom)."""
        self._check()
        self._cell._unbecome()

    # -- timers -----------------------------------------------------------------------

    def schedule_once(self, delay_secs=None, msg=_MISSING, target=None, *, delay=None):
        """Delivers `msg` to `target` (default: this actor) after the delay.

        Returns:
            A :class:`Cancelable`. The timer is cancelled when this actor stops.
        """
        self._check()
        d = _check_delay(_pick(delay_secs, delay, "delay_secs"), "delay")
        if msg is _MISSING:
            raise TypeError("schedule_once() missing the message to send")
        return self._cell._schedule(target, msg, d, 0.0, False)

    def schedule_periodically(self, initial=None, interval=None, msg=_MISSING, target=None, *,
                              initial_secs=None, interval_secs=None):
        """Delivers `msg` after `initial` seconds, then every `interval`
        seconds at a fixed rate, until cancelled or this actor stops."""
        self._check()
        i = _check_delay(_pick(initial, initial_secs, "initial"), "initial delay")
        p = _check_delay(_pick(interval, interval_secs, "interval"), "interval")
        if p == 0.0:
            raise ValueError("interval must be positive")
        if msg is _MISSING:
            raise TypeError("schedule_periodically() missing the message to send")
        return self._cell._schedule(target, msg, i, p, True)

    def schedule_with_fixed_delay(self, initial=None, delay=None, msg=_MISSING, target=None, *,
                                  initial_secs=None, delay_secs=None):
        """Delivers `msg` after `initial` seconds, then again `delay`
        seconds after each delivery, until cancelled or this actor stops."""
        self._check()
        i = _check_delay(_pick(initial, initial_secs, "initial"), "initial delay")
        p = _check_delay(_pick(delay, delay_secs, "delay"), "delay")
        if p == 0.0:
            raise ValueError("delay must be positive")
        if msg is _MISSING:
            raise TypeError("schedule_with_fixed_delay() missing the message to send")
        return self._cell._schedule(target, msg, i, p, False)

    @property
    def timers(self):
        """This actor's keyed timers (a :class:`TimerScheduler`), as Akka's
        ``timers``: starting a timer with a key replaces the one with that
        key; all are cancelled when the actor stops or restarts."""
        self._check()
        cell = self._cell
        if cell.timer_scheduler is None:
            cell.timer_scheduler = TimerScheduler.__new__(TimerScheduler)
            cell.timer_scheduler._cell = cell
        return cell.timer_scheduler

    @property
    def log(self):
        """A :class:`logging.LoggerAdapter` for this actor: the logger is
        ``atomr.actor.<ActorClass>``, messages start with ``[<path>]`` and
        records carry the path as ``actor_path`` (for formatters:
        ``%(actor_path)s``)."""
        self._check()
        cell = self._cell
        if cell.log_adapter is None:
            actor = cell.actor
            cls = type(actor) if actor is not None else None
            name = "atomr.actor" if cls is None else f"atomr.actor.{cls.__qualname__}"
            cell.log_adapter = _ActorLog(logging.getLogger(name), {"actor_path": cell.path})
        return cell.log_adapter

    def set_receive_timeout(self, seconds=None):
        """After `seconds` without user mail, this actor receives
        ``atomr.ReceiveTimeout`` (again after each further silence).
        None turns it off."""
        self._check()
        self._cell._set_receive_timeout(seconds)

    @property
    def receive_timeout(self):
        """The receive timeout in seconds, or None."""
        self._check()
        return self._cell.rt_seconds if self._cell.rt_timer is not None else None

    def __repr__(self):
        if self._cell is None:
            return "<Context of a stopped actor>"
        return f"<Context path={self._cell.path}>"


cdef class DeferredReply:
    """The reply to one ask, taken over by a handler through
    ``ctx.reply_to``. Thread-safe; answers exactly once: a second answer
    raises RuntimeError. An answer after the ask timed out is dropped."""

    def __init__(self, *args, **kwargs):
        raise TypeError("DeferredReply objects come from ctx.reply_to")

    @staticmethod
    cdef DeferredReply new(_Reply reply, str path):
        cdef DeferredReply d = DeferredReply.__new__(DeferredReply)
        d.reply = reply
        d.path = path
        return d

    cdef bint _answer(self, bint ok, object value) except -1:
        if self.used:
            raise RuntimeError(f"the ask to {self.path} was answered already (a reply "
                               "handle answers once)")
        self.used = True
        reply = self.reply
        self.reply = None
        if ok and type(value) is _Failure:
            ok = False
            value = value.exception
        if ok:
            reply.complete(value)
        else:
            reply.fail(value)
        return True

    def tell(self, value):
        """Answers the ask with `value`; an :class:`atomr.pattern.Failure`
        fails it with its exception instead.

        Raises:
            RuntimeError: the ask was answered already.
        """
        self._answer(True, value)

    def tell_with_sender(self, value, sender):
        """Same as :meth:`tell` (an ask's reply has no sender); lets the
        handle stand in for a ref, e.g. as a ``pipe_to`` target."""
        self._answer(True, value)

    def fail(self, exc):
        """Fails the ask: the asker's ``await`` raises `exc`.

        Raises:
            TypeError: `exc` is not an exception instance.
            RuntimeError: the ask was answered already.
        """
        if not isinstance(exc, BaseException):
            raise TypeError(f"fail expects an exception instance, not {type(exc).__name__}")
        self._answer(False, exc)

    @property
    def answered(self):
        """True once :meth:`tell` or :meth:`fail` answered through it."""
        return self.used

    def __repr__(self):
        return f"<DeferredReply to an ask of {self.path} {'answered' if self.used else 'pending'}>"


class _ActorLog(logging.LoggerAdapter):
    """ctx.log: prefixes messages with the actor path and adds it to the
    record as ``actor_path`` (extra fields given per call are kept)."""

    def process(self, msg, kwargs):
        extra = kwargs.get("extra")
        kwargs["extra"] = self.extra if not extra else {**extra, **self.extra}
        return f"[{self.extra['actor_path']}] {msg}", kwargs


cdef object _check_key(object key):
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"a timer key must be hashable, not {type(key).__name__}") from None
    return key


cdef class TimerScheduler:
    """An actor's keyed timers (``ctx.timers``), after Akka's TimerScheduler.

    Starting a timer with a key cancels the one with the same key, and a
    message of a cancelled (or replaced) timer is never delivered, even if
    it was queued already. Timers deliver to this actor only, and are all
    cancelled when it stops or restarts. Usable while a handler or hook of
    the actor runs (also after an ``await``), on the actor's loop thread."""

    def __init__(self, *args, **kwargs):
        raise TypeError("TimerScheduler objects come from ctx.timers")

    cdef int _check(self) except -1:
        cdef _Cell cell = self._cell
        if cell is None or cell.ctx is None or not cell.ctx._active:
            raise RuntimeError("ctx.timers used outside of its actor's handlers")
        if not cell.disp.on_loop_thread():
            raise RuntimeError("ctx.timers used from another thread than its actor's")
        return 0

    cdef object _start(self, object key, object msg, double delay, double interval,
                       bint fixed_rate):
        cdef _Cell cell = self._cell
        cdef Cancelable t
        if cell.keyed_timers is None:
            cell.keyed_timers = {}
        old = cell.keyed_timers.pop(key, None)
        if old is not None:
            (<Cancelable>old).cancel()
        t = Cancelable.start(cell, cell, msg, delay, interval, fixed_rate, T_MESSAGE)
        cell.keyed_timers[key] = t
        return None

    def start_single_timer(self, key, msg, delay):
        """Delivers `msg` once, after `delay` seconds."""
        self._check()
        return self._start(_check_key(key), msg, _check_delay(delay, "delay"), 0.0, False)

    def start_timer_with_fixed_delay(self, key, msg, delay, initial_delay=None):
        """Delivers `msg` after `initial_delay` (default: `delay`) seconds,
        then again `delay` seconds after each delivery."""
        self._check()
        d = _check_delay(delay, "delay")
        if d == 0.0:
            raise ValueError("delay must be positive")
        i = d if initial_delay is None else _check_delay(initial_delay, "initial delay")
        return self._start(_check_key(key), msg, i, d, False)

    def start_timer_at_fixed_rate(self, key, msg, interval, initial_delay=None):
        """Delivers `msg` after `initial_delay` (default: `interval`)
        seconds, then every `interval` seconds at a fixed rate."""
        self._check()
        p = _check_delay(interval, "interval")
        if p == 0.0:
            raise ValueError("interval must be positive")
        i = p if initial_delay is None else _check_delay(initial_delay, "initial delay")
        return self._start(_check_key(key), msg, i, p, True)

    def is_timer_active(self, key):
        """True while the timer with `key` may still deliver (a single timer
        stops being active once its message is delivered)."""
        self._check()
        keyed = self._cell.keyed_timers
        if not keyed:
            return False
        t = keyed.get(_check_key(key))
        if t is None:
            return False
        if (<Cancelable>t).cancelled or (<Cancelable>t).finished:
            del keyed[key]
            return False
        return True

    def cancel(self, key):
        """Cancels the timer with `key` (no-op when there is none); its
        message is not delivered, even if it was queued already."""
        self._check()
        keyed = self._cell.keyed_timers
        if keyed:
            t = keyed.pop(_check_key(key), None)
            if t is not None:
                (<Cancelable>t).cancel()

    def cancel_all(self):
        """Cancels every keyed timer of this actor."""
        self._check()
        keyed = self._cell.keyed_timers
        self._cell.keyed_timers = None
        if keyed:
            for t in keyed.values():
                (<Cancelable>t).cancel()

    @property
    def active_keys(self):
        """The keys of the timers that may still deliver."""
        self._check()
        keyed = self._cell.keyed_timers
        if not keyed:
            return []
        return [k for k, t in keyed.items()
                if not (<Cancelable>t).cancelled and not (<Cancelable>t).finished]

    def __repr__(self):
        return f"<TimerScheduler of {self._cell.path if self._cell is not None else '?'}>"
