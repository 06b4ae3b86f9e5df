# Cell: the Python half of an actor and its lifecycle state machine.
# Part of atomr._native._core (included by _core.pyx; declared in cell.pxd).


cdef inline bint _is_noop_hook(object fn):
    return fn is None or getattr(fn, "__atomr_noop__", False)


cdef extern from *:
    """
    /* CPython's method lookup (what `obj.name()` compiles to): the plain
       function found on the type when the instance does not shadow it,
       without binding a method object. Public-header API up to 3.12. */
    #if PY_VERSION_HEX < 0x030D0000
    #define atomr_get_method(obj, name, out) _PyObject_GetMethod((obj), (name), (out))
    #else
    static int atomr_get_method(PyObject* obj, PyObject* name, PyObject** out) {
      *out = PyObject_GetAttr(obj, name);
      return 0;
    }
    #endif
    """
    int atomr_get_method(object obj, object name, PyObject** out)


cdef object _user_hook(object actor, str name):
    """``getattr(actor, name, None)``, but None without binding a method
    when that is atomr's no-op default hook (which `_is_noop_hook` would
    say): each lifecycle step asks for up to two hooks."""
    cdef PyObject* found = NULL
    cdef int unbound = atomr_get_method(actor, name, &found)
    if found == NULL:  # missing, or the lookup raised: as getattr would have it
        PyErr_Clear()
        return getattr(actor, name, None)
    attr = _steal(found)
    if unbound:  # a function on the class: bind it unless it is the no-op
        if getattr(attr, "__atomr_noop__", False):
            return None
        return getattr(actor, name, None)
    return attr


cdef COverflowStrategy _overflow_strategy(object name) except *:
    """The native overflow strategy called `name` (ValueError if unknown)."""
    if name == "drop_new":
        return COverflowStrategy.drop_new
    if name == "drop_head":
        return COverflowStrategy.drop_head
    if name == "drop_tail":
        return COverflowStrategy.drop_tail
    if name == "fail":
        return COverflowStrategy.fail
    raise ValueError(f"unknown overflow strategy {name!r}")


cdef void _configure_mailbox(_Cell cell, object mailbox) except *:
    """Applies a mailbox setting (an object with `capacity` and `overflow`)."""
    capacity = getattr(mailbox, "capacity", None)
    if capacity is None:
        return  # an unbounded mailbox
    overflow = getattr(mailbox, "overflow", "drop_new")
    name = getattr(overflow, "name", overflow)
    cdef COverflowStrategy strategy = _overflow_strategy(name)
    cell.c.make_bounded(capacity, strategy)
    cell.mailbox_fails = name == "fail"


cdef void _route_lost(void* ctx, CEnvelope& lost, CCell* routee, cbool evicted) noexcept with gil:
    """A routee lost an envelope (a refused broadcast copy, or mail its
    bounded mailbox evicted): it goes to dead letters under the routee's path."""
    cdef _System system = <_System>ctx
    try:
        if evicted:
            reason = CDeadLetterReason.evicted
        elif routee.is_stopped():
            reason = CDeadLetterReason.no_recipient
        else:
            reason = CDeadLetterReason.rejected
        system.sink.publish(lost, routee.path(), reason)
    except BaseException as exc:
        _log.error("could not record a routee's lost message", exc_info=exc)


cdef object _new_task(object loop, object coro):
    if _EAGER_TASKS:
        return asyncio.Task(coro, loop=loop, eager_start=True)
    return loop.create_task(coro)


class _Raised:
    """A KeyboardInterrupt or SystemExit raised inside a handler's task,
    carried out as the task's result: asyncio re-raises those two out of
    the event loop, which would end the loop's thread."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def _contained(object coro):
    """Runs a handler or hook coroutine, keeping KeyboardInterrupt and
    SystemExit inside the task (the default mode treats them as failures
    of the actor too)."""
    try:
        return await coro
    except (KeyboardInterrupt, SystemExit) as exc:
        return _Raised(exc)


cdef tuple _task_outcome(object task):
    if task.cancelled():
        return False, asyncio.CancelledError()
    exc = task.exception()
    if exc is not None:
        return False, exc
    result = task.result()
    if type(result) is _Raised:
        return False, (<object>result).exc
    return True, result


cdef bint _EAGER_TASKS = sys.version_info >= (3, 12)

# Seconds between two warnings about keyless tells to one consistent-hashing router.
cdef double _UNKEYED_WARN_EVERY = 10.0


def _stop_suspended(_Cell cell):
    """On the loop thread, once a stop was requested: a handler suspended
    now gets the stop grace to finish, then it is cancelled."""
    cdef _System system = cell.system
    task = cell.in_flight
    if cell.status >= S_TERMINATING or task is None or cell.stop_cancelled:
        return  # stopped meanwhile, or nothing to wait for
    if _asyncio_current_task(cell.disp.loop) is task:
        return  # the handler stops its own actor: the stop follows its end
    cell.disp.loop.call_later(system.stop_grace, _cancel_for_stop, cell, task)


def _cancel_for_stop(_Cell cell, object task):
    """The stop grace of a suspended handler is over."""
    if cell.in_flight is task and cell.status < S_TERMINATING:
        cell._cancel_in_flight(f"to stop it (stop-grace {cell.system.stop_grace:g}s)")


cdef class _TaskDone:
    """The done-callback of a handler's task: resumes its cell."""

    def __call__(self, task):
        ok, value = _task_outcome(task)
        self.cell._resumed(self.role, ok, value, self.reply)


cdef class _Cell:
    """The Python half of an actor: its instance, behaviour stack, context,
    children, watchers, stash and timers, and the lifecycle state machine.
    Runs only on its dispatcher's thread, except `_post` and
    `_post_system`, which any thread may call."""

    # the message being handled (for stash)
    # death watch
    # supervision
    # timers
    # routing (a router's head cell): mail to its ref goes to the routees

    def __cinit__(self):
        self.c = NULL
        self.budget = NULL

    def __dealloc__(self):
        if self.budget != NULL:
            del self.budget
            self.budget = NULL
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
        cell.pool = system.pool_for(props)
        cell.disp = system.disp
        cell.parent = parent
        cell.children = {}
        cell.name = name
        cell.path = path
        cell.uid = cell.c.uid()
        cell.props = props
        cell.status = S_NEW
        cell.throughput = system.disp.d.throughput()
        if props is not None:
            dcfg = props.dispatcher_config
            if dcfg is not None:
                cell.throughput = dcfg.throughput
                if dcfg.throughput_deadline_secs is not None:
                    cell.turn_budget = dcfg.throughput_deadline_secs
        cell.timers = {}
        if props is not None and props.mailbox is not None:
            _configure_mailbox(cell, props.mailbox)
        ctx._cell = cell
        cell.ctx = ctx
        cell.ref = ActorRef.new(cell, path)
        return cell

    # -- mail, from any thread ------------------------------------------------

    cdef int _post(self, object msg, object sender, object reply) except -1:
        if self.router is not None:
            return self._route(msg, sender, reply, None)
        return self._post_own(msg, sender, reply)

    cdef int _post_own(self, object msg, object sender, object reply) except -1:
        """Queues mail in this cell's own mailbox (a router's too)."""
        cdef CEnvelope env
        cdef CEnqueueResult r
        if self.system.tracer is not None:
            msg = _trace_wrap(self.system.tracer, msg)
        set_py(env.message, msg)
        if sender is not None:
            set_py(env.sender, sender)
        if reply is not None:
            set_py(env.reply, reply)
        if PyThread_get_thread_ident() == self.disp.thread_id:
            r = self.c.tell_local(env)
        else:
            r = self.c.tell(env)
        if r == CEnqueueResult.accepted:
            return 0
        if r == CEnqueueResult.accepted_wake:
            self.disp.kick()
            return 0
        return self._not_queued(r, env)

    cdef int _not_queued(self, CEnqueueResult r, CEnvelope& env) except -1:
        """A tell that a stopped cell or a full bounded mailbox refused (or
        that made a bounded mailbox evict a message)."""
        if r == CEnqueueResult.accepted_evicted or r == CEnqueueResult.accepted_wake_evicted:
            self.system.sink.publish(env, self.c.path(), CDeadLetterReason.evicted)
            if r == CEnqueueResult.accepted_wake_evicted:
                self.disp.kick()
            return 0
        if r == CEnqueueResult.full:
            if self.mailbox_fails:
                _take(env.message)
                _take(env.sender)
                _take(env.reply)
                raise _errors.MailboxOverflowError(
                    f"the mailbox of {self.path} is full ({self.props.mailbox.capacity} "
                    "messages)")
            self.system.sink.publish(env, self.c.path(), CDeadLetterReason.rejected)
            return 0
        self.system.sink.publish(env, self.c.path(), CDeadLetterReason.no_recipient)
        return 0

    cdef int _route(self, object msg, object sender, object reply, object key) except -1:
        """Mail for a router: picked natively, delivered to a routee."""
        cdef CEnvelope env
        cdef CRouteResult res
        cdef uint64_t k = 0
        cdef bint has_key = key is not None
        cdef _RouterState rs = self.router
        cdef int kind = rs.kind
        cdef _Cell r
        if rs.roles is not None:
            special = rs.roles.get(type(msg))
            if special is not None:
                if special == MR_BROADCAST:
                    for r in list(rs.routees):
                        r._post(msg.message, sender, reply)
                    return 0
                return self._post_own(msg, sender, reply)
        if has_key:
            k = _hash_key(key)
        elif kind == RK_NEEDS_KEY:
            if reply is not None:
                raise _errors.UnroutableMessageError(
                    f"router {self.path} routes by consistent hashing and needs a key: "
                    "use ask(msg, key=...)")
            return self._unkeyed(msg, sender)
        if reply is not None and rs.within > 0.0:
            _start_within(self, reply, rs.within)
            if kind == RK_TAIL_CHOP:
                return _tail_chop(self, msg, reply)
        if self.system.tracer is not None:
            msg = _trace_wrap(self.system.tracer, msg)
        set_py(env.message, msg)
        if sender is not None:
            set_py(env.sender, sender)
        if reply is not None:
            set_py(env.reply, reply)
        res = rs.native.route(env, k, has_key, _route_lost, <void*>self.system,
                              PyThread_get_thread_ident() == self.disp.thread_id)
        if res.wake:
            self.disp.kick()
        if res.delivered == 0 and kind != RK_FAN_OUT and kind != RK_WINDOWED:
            self.system.sink.publish(env, self.c.path(), CDeadLetterReason.no_recipient)
        return 0

    cdef int _unkeyed(self, object msg, object sender) except -1:
        """A tell without a key to a consistent-hashing router: it goes to
        dead letters, with a warning at most every few seconds."""
        cdef CEnvelope env
        cdef _RouterState rs = self.router
        cdef double now = _monotonic()
        set_py(env.message, msg)
        if sender is not None:
            set_py(env.sender, sender)
        self.system.sink.publish(env, self.c.path(), CDeadLetterReason.dropped)
        rs.unkeyed_dropped += 1
        if rs.unkeyed_warned_at == 0.0 or now - rs.unkeyed_warned_at >= _UNKEYED_WARN_EVERY:
            rs.unkeyed_warned_at = now
            _log.warning("router %s routes by consistent hashing and got %d message(s) "
                         "without a key (last: %s); they went to dead letters: use "
                         "tell_with_key(msg, key)", self.path, rs.unkeyed_dropped,
                         _describe(msg))
            rs.unkeyed_dropped = 0
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
        """Stops the actor after its current message (on the loop thread).
        A handler suspended in an ``await`` gets the system's stop grace to
        finish; then it is cancelled (CancelledError inside it) and the stop
        goes on as usual. A handler that stops its own actor is not
        cancelled: the stop follows once it ends."""
        if self.status < S_TERMINATING:
            self._post_system(K_TERMINATE, None)
            if self.in_flight is not None:
                _stop_suspended(self)

    cdef void _request_stop_any_thread(self):
        if self.disp.on_loop_thread():
            self._request_stop()
            return
        self._post_system(K_TERMINATE, None)
        try:
            # A handler that is (or is about to be) suspended gets its
            # stop grace on the loop thread.
            self.disp.loop.call_soon_threadsafe(_stop_suspended, self)
        except RuntimeError:
            pass  # the loop is closed

    cdef void _cancel_in_flight(self, str why):
        """Cancels the task of a suspended handler or hook."""
        task = self.in_flight
        if task is None or self.stop_cancelled:
            return
        self.stop_cancelled = True
        level = logging.WARNING if self.system.terminating else logging.INFO
        if _log.isEnabledFor(level):
            _log.log(level, "cancelling the suspended %s of %s %s",
                     "hook" if self.cur_msg is None else "handler", self.path, why)
        # Soon rather than now: a task created in this loop iteration takes
        # its first step (and reaches the handler's await) before.
        self.disp.loop.call_soon(task.cancel)

    # -- turns, on the dispatcher's thread --------------------------------------

    cdef int _run_turn(self) except -1:
        """Handles up to `throughput` user messages (and every system message
        ahead of them). Returns the number of user messages handled."""
        cdef CCell* c = self.c
        cdef CEnvelope env
        cdef int n = 0
        cdef uint32_t kind
        cdef double turn_end = 0.0
        if self.status == S_STOPPED:
            return 0  # stopped by force while it waited in the ready queue
        c.begin_turn()
        if self.turn_budget > 0.0:
            turn_end = _monotonic() + self.turn_budget
        while n < <int>self.throughput:
            if n > 0:
                if turn_end > 0.0 and _monotonic() >= turn_end:
                    break
                if self.disp.past_deadline():
                    break  # the drain's time is up; the rest waits for the next one
            if not c.next(env):
                break
            kind = env.kind
            if kind == K_USER:
                n += 1
                msg = _take(env.message)
                sender = _take(env.sender)
                reply = _take(env.reply)
                if type(msg) is _Traced:
                    if _deliver_traced(self, <_Traced>msg, sender, reply):
                        return n
                elif self._deliver(msg, sender, reply):
                    return n
            elif kind == K_TIMER:
                n += 1
                if self._timer_fired(env.tag):
                    return n
            else:
                arg = _take(env.message)
                if self._system_message(kind, arg):
                    return n
        c.end_turn()
        return n

    cdef Context _fresh_ctx(self):
        """The context for the next handler call. A context some code kept
        from an earlier call stays invalid: the cell moves on to a new one."""
        cdef Context ctx = self.ctx
        if Py_REFCNT(ctx) > 2:  # the cell's reference and our local one
            ctx = Context.__new__(Context)
            ctx._cell = self
            self.ctx = ctx
        return ctx

    cdef int _deliver(self, object msg, object sender, object reply) except -1:
        """Runs the behaviour on one message. Returns 1 when it suspended."""
        cdef Context ctx = self._fresh_ctx()
        cdef _Host host
        cdef PyObject* out = NULL
        cdef bint raised
        if self.status != S_RUNNING:
            # Not started (a failed start) or stopping: the mail is undeliverable.
            self._undeliverable(msg, sender, reply)
            return 0
        if self.rt_timer is not None:
            self.last_activity = self.rt_timer.service.t.now()
        ctx._sender = sender
        ctx._active = True
        self.cur_msg = msg
        self.cur_reply = reply
        self.cur_stashed = False
        self.cur_forwarded = False
        try:
            result = self.behavior(ctx, msg)
            if PyCoro_CheckExact(result):
                if self.task_mode:
                    return self._in_task(R_HANDLER, result, reply, msg)
                host = _first_step(self.disp, result, &out, &raised)
                if host is not None:
                    self._suspend(R_HANDLER, host, result, _steal(out), reply)
                    return 1
                result = _steal(out)
                if raised:
                    self._handled(False, result, msg, reply)
                    return 0
        except BaseException as exc:
            self._handled(False, exc, msg, reply)
            return 0
        ctx._active = False
        ctx._sender = None
        self.cur_msg = None
        if reply is not None:
            self.cur_reply = None
            self.cur_handle = None
            if self.cur_forwarded:
                pass  # the target (or the ctx.reply_to handle) answers it
            elif not self.cur_stashed:
                (<_Reply>reply).complete(result)
            elif result is not None:
                # Stashed, yet answered now: the stashed copy carries no reply.
                self._drop_stashed_reply(reply)
                (<_Reply>reply).complete(result)
            self.cur_forwarded = False
        return 0

    cdef void _handled(self, bint ok, object value, object msg, object reply):
        """The end of a handler that raised, or of one that suspended."""
        cdef bint stashed = self.cur_stashed
        cdef bint forwarded = self.cur_forwarded
        cdef DeferredReply handle = self.cur_handle
        self.ctx._active = False
        self.ctx._sender = None
        self.cur_msg = None
        self.cur_reply = None
        self.cur_forwarded = False
        self.cur_handle = None
        if reply is not None and not forwarded:
            if stashed and ok:
                if value is not None:
                    # Answered now: the stashed copy carries no reply.
                    self._drop_stashed_reply(reply)
                    (<_Reply>reply).complete(value)
                # None: answered when the stashed message is handled again
            elif ok:
                (<_Reply>reply).complete(value)
            else:
                if stashed:
                    self._drop_stashed_reply(reply)  # the asker gets the error now
                (<_Reply>reply).fail(value)
        elif not ok:
            if handle is not None and not handle.used:
                # ctx.reply_to took the reply and has not answered: the
                # asker gets the exception, as for any failing ask.
                handle._answer(False, value)
                return
            # A tell, or a forwarded (or already answered) ask: the failure
            # goes to supervision.
            self._fail(value, msg, False)

    cdef void _drop_stashed_reply(self, object reply):
        if not self.stash_buf:
            return
        for i in range(len(self.stash_buf) - 1, -1, -1):
            item = self.stash_buf[i]
            if item[2] is reply:
                self.stash_buf[i] = (item[0], item[1], None)
                return

    cdef void _undeliverable(self, object msg, object sender, object reply):
        cdef CEnvelope env
        set_py(env.message, msg)
        if sender is not None:
            set_py(env.sender, sender)
        if reply is not None:
            set_py(env.reply, reply)
        self.system.sink.publish(env, self.c.path(), CDeadLetterReason.dropped)

    cdef int _call_hook(self, int role, object hook, tuple args) except -1:
        """Calls a lifecycle hook with the context active and drives its
        result. Returns 1 when it suspended (its completion runs later)."""
        cdef _Host host
        cdef PyObject* out = NULL
        cdef bint raised
        cdef Context ctx = self._fresh_ctx()
        ctx._active = True
        ctx._sender = None
        try:
            result = hook(ctx, *args)
            if PyCoro_CheckExact(result):
                if self.task_mode:
                    return self._in_task(role, result, None, None)
                host = _first_step(self.disp, result, &out, &raised)
                if host is not None:
                    self._suspend(role, host, result, _steal(out), None)
                    return 1
                result = _steal(out)
                if raised:
                    self._completed(role, False, result)
                    return 0
        except BaseException as exc:
            self._completed(role, False, exc)
            return 0
        self._completed(role, True, result)
        return 0

    cdef int _in_task(self, int role, object coro, object reply, object msg) except -1:
        """Runs a handler or hook coroutine inside its own asyncio Task (an
        actor with ``asyncio_task = True``): eagerly on Python 3.12+, so one
        that never suspends still completes in this turn. Returns 1 when the
        cell must wait for the task."""
        cdef _TaskDone done
        task = _new_task(self.disp.loop, _contained(coro))
        if not task.done():
            self.c.suspend()
            self.in_flight = task
            done = _TaskDone.__new__(_TaskDone)
            done.cell = self
            done.role = role
            done.reply = reply
            task.add_done_callback(done)
            return 1
        ok, value = _task_outcome(task)
        if role == R_HANDLER:
            self._handled(ok, value, msg, reply)
        else:
            self._completed(role, ok, value)
        return 0

    cdef void _suspend(self, int role, _Host host, object coro, object first, object reply):
        """A handler or hook suspended in its first step: its host's Task
        drives it from now on, and the cell waits for that Task."""
        cdef _TaskDone done
        self.c.suspend()
        host.take(coro, first)
        task = host.task
        self.in_flight = task
        done = _TaskDone.__new__(_TaskDone)
        done.cell = self
        done.role = role
        done.reply = reply
        task.add_done_callback(done)

    cdef void _resumed(self, int role, bint ok, object value, object reply):
        """A suspended handler or hook finished (in its task). An internal
        error here stops this actor (it would stay suspended otherwise)."""
        cdef bint cancelled = self.stop_cancelled
        self.in_flight = None
        self.stop_cancelled = False
        if self.status == S_STOPPED:
            # Stopped meanwhile (the system's terminate-timeout forced it).
            if role == R_HANDLER and reply is not None:
                if self.cur_handle is not None:
                    self.cur_handle = None  # the handle answers (or the ask times out)
                elif ok:
                    (<_Reply>reply).complete(value)
                else:
                    (<_Reply>reply).fail(_errors.ActorTerminatedError(
                        f"{self.path} was stopped while handling the message"))
            return
        try:
            if cancelled and not ok and isinstance(value, asyncio.CancelledError):
                self._stopped_in_flight(role, reply)
            elif role == R_HANDLER:
                # The message is still current: the cell took none since.
                self._handled(ok, value, self.cur_msg, reply)
            else:
                self._completed(role, ok, value)
        except BaseException as exc:
            self._crashed(exc)
            return
        if self.c.is_stopped():
            return
        if self.c.resume():
            self.disp.kick()

    cdef void _stopped_in_flight(self, int role, object reply):
        """A suspended handler or hook ended with the CancelledError that
        stopping the actor sent it: no failure, no supervision; the pending
        stop takes over (a cancelled post_stop ends the stop at once)."""
        cdef bint stashed = self.cur_stashed
        cdef bint forwarded = self.cur_forwarded
        self.ctx._active = False
        if role == R_HANDLER:
            self.ctx._sender = None
            self.cur_msg = None
            self.cur_reply = None
            self.cur_forwarded = False
            self.cur_handle = None
            if reply is not None and not forwarded:
                if stashed:
                    self._drop_stashed_reply(reply)
                (<_Reply>reply).fail(_errors.ActorTerminatedError(
                    f"{self.path} was stopped while handling the message"))
        elif role == R_POST_STOP:
            self._finalize()
        elif role == R_RESTART_POST_STOP:
            self.actor = None  # its post_stop has run (and was cut short)

    cdef void _completed(self, int role, bint ok, object value):
        """A lifecycle hook finished (synchronously or in its task)."""
        self.ctx._active = False
        if role == R_PRE_START or role == R_POST_RESTART:
            if not ok:
                self._fail(value, None, True)
            elif self.status == S_STARTING:
                self.status = S_RUNNING
                self.system.publish_lifecycle("started" if role == R_PRE_START else "restarted",
                                              self, self.fail_reason)
                self.fail_reason = None
                self.fail_msg = None
        elif role == R_PRE_RESTART:
            if not ok:
                _log.error("pre_restart of %s raised", self.path, exc_info=value)
            self._finish_restart()
        elif role == R_RESTART_POST_STOP:
            if not ok:
                _log.error("post_stop of %s raised", self.path, exc_info=value)
            self._stop_children_then(S_RESTARTING)
        elif role == R_POST_STOP:
            if not ok:
                _log.error("post_stop of %s raised", self.path, exc_info=value)
            self._finalize()

    cdef void _crashed(self, object exc):
        """An internal error escaped a turn: stop the actor rather than
        leave it wedged, and keep the dispatcher going. The guardian stays:
        the system outlives an error in its own bookkeeping."""
        try:
            _log.critical("internal error while running %s", self.path, exc_info=exc)
            if self.c.is_stopped():
                return
            if self.parent is None:
                self.c.end_turn()  # the guardian takes its next message as usual
                return
            self._finalize()
        except BaseException as exc2:
            try:
                _log.critical("could not stop %s after an internal error", self.path,
                              exc_info=exc2)
            except BaseException:
                pass

    # -- system messages ----------------------------------------------------------

    cdef int _system_message(self, uint32_t kind, object arg) except -1:
        """Returns 1 when the turn must end (suspended or stopped)."""
        if kind == K_CREATE:
            return self._create()
        if kind == K_TERMINATE:
            return self._terminate()
        if kind == K_CHILD_TERMINATED:
            return self._child_terminated()
        if kind == K_FAILED:
            self._child_failed(arg)
            return 0
        if kind == K_RESUME:
            if self.status == S_FAILED:
                self.status = S_RUNNING
                self.c.resume_user_mail()
                # A child whose failure escalated to us resumes with us.
                for child in list(self.children.values()):
                    if (<_Cell>child).status == S_FAILED:
                        (<_Cell>child)._post_system(K_RESUME, None)
            return 0
        if kind == K_RESTART:
            return self._restart()
        if kind == K_WATCH:
            self._add_watcher(<_Cell>arg[0])
            return 0
        if kind == K_UNWATCH:
            if self.watchers is not None:
                self.watchers.discard(arg)
            return 0
        if kind == K_DEATH_NOTICE:
            return self._death_notice(<_Cell>arg)
        return 0

    cdef int _create(self) except -1:
        if self.status != S_NEW:
            return 0
        self.status = S_STARTING
        if self.props is None:
            self.status = S_RUNNING  # the guardian: system messages only
            return 0
        if not self._instantiate():
            return 0
        hook = _user_hook(self.actor, "pre_start")
        if _is_noop_hook(hook):
            self.status = S_RUNNING
            self.system.publish_lifecycle("started", self, None)
            return 0
        return self._call_hook(R_PRE_START, hook, ())

    cdef bint _instantiate(self) except -1:
        """Builds a fresh instance from the Props factory. False on failure
        (already reported to the supervisor)."""
        try:
            actor = self.props.factory()
            behavior = getattr(actor, "handle", None)
            if behavior is None:
                raise TypeError(f"the factory of {self.path} returned {_describe(actor)}, "
                                "not an actor (it has no handle method)")
            if not callable(behavior):
                raise TypeError(f"{type(actor).__qualname__}.handle is not callable")
        except BaseException as exc:
            self._fail(exc, None, True)
            return False
        self.actor = actor
        self.behavior = behavior
        self.behaviors = None
        self.task_mode = bool(getattr(actor, "asyncio_task", False))
        return True

    cdef int _terminate(self) except -1:
        if self.status >= S_TERMINATING:
            return 0
        self.status = S_TERMINATING
        self.c.suspend_user_mail()
        self._cancel_timers()
        return self._stop_children_then(S_TERMINATING)

    cdef int _stop_children_then(self, int next_status) except -1:
        """Stops every child; once none is left, goes on with a restart or
        the final stop."""
        self.status = next_status
        if self.children:
            for child in list(self.children.values()):
                (<_Cell>child)._request_stop()
            return 0
        if next_status == S_RESTARTING:
            return self._finish_restart()
        return self._post_stop()

    cdef int _child_terminated(self) except -1:
        if self.children:
            return 0
        if self.status == S_TERMINATING:
            return self._post_stop()
        if self.status == S_RESTARTING:
            return self._finish_restart()
        return 0

    cdef int _post_stop(self) except -1:
        self.status = S_POST_STOP
        hook = _user_hook(self.actor, "post_stop") if self.actor is not None else None
        if _is_noop_hook(hook):
            self._finalize()
            return 1
        self._call_hook(R_POST_STOP, hook, ())
        return 1

    cdef void _finalize(self):
        """The actor is gone: reject further mail, dead-letter what is left,
        tell the parent and the watchers."""
        cdef _Cell parent = self.parent
        cdef _Cell other
        if self.not_started is not None:
            self.system._start_failed(self.path, self.not_started)
        elif self.restart_is_init and self.fail_reason is not None:
            self.system._start_failed(self.path, self.fail_reason)
        self.status = S_STOPPED
        self.ctx._active = False
        self.actor = None
        self.behavior = None
        self.behaviors = None
        self._cancel_timers()
        if self.stash_buf:
            self._unstash_all()
        self.c.stop()
        if self.watching:
            for other in self.watching:
                other._post_system(K_UNWATCH, self)
            self.watching = None
        if self.watchers:
            for other in self.watchers:
                other._post_system(K_DEATH_NOTICE, self)
            self.watchers = None
        self.system.publish_lifecycle("stopped", self, None)
        if parent is not None:
            self.system.live_cells -= 1
            if parent.children.get(self.name) is self:
                del parent.children[self.name]
            if parent.router is not None:
                _routee_gone(parent, self)
            parent._post_system(K_CHILD_TERMINATED, self.ref)
        else:
            self.system._guardian_stopped()
        # Break the cell <-> context and cell <-> ref cycles so reference
        # counting frees a stopped actor (its refs keep only this cell).
        self.ctx._cell = None
        self.ref = None

    # -- supervision ----------------------------------------------------------------

    cdef void _fail(self, object exc, object msg, bint init):
        """A handler (for a tell), the factory or a start hook raised: stop
        taking user mail and ask the supervisor what to do."""
        if self.status >= S_TERMINATING:
            _log.error("actor %s failed while stopping", self.path, exc_info=exc)
            return
        if _log.isEnabledFor(logging.ERROR):
            if init:
                _log.error("actor %s failed to start", self.path, exc_info=exc)
            elif msg is not None:
                _log.error("actor %s failed while handling %s", self.path, _describe(msg),
                           exc_info=exc)
            else:
                _log.error("actor %s failed", self.path, exc_info=exc)
        self.status = S_FAILED
        self.system.failures += 1
        self.pool.handler_panics += 1
        self.fail_reason = exc
        self.fail_msg = msg
        self.restart_is_init = init
        self.c.suspend_user_mail()
        if self.parent is not None:
            self.parent._post_system(K_FAILED, (self, exc, msg, init))
        else:
            self._request_stop()

    cdef void _child_failed(self, object arg):
        """A child failed: decide its fate. An internal error while deciding
        stops that child only; this supervisor carries on."""
        cdef _Cell child = <_Cell>arg[0]
        if self.children.get(child.name) is not child or child.status != S_FAILED:
            return
        try:
            self._supervise(child, arg)
        except BaseException as exc:
            _log.critical("internal error while supervising %s; stopping it", child.path,
                          exc_info=exc)
            child._request_stop()

    cdef void _supervise(self, _Cell child, object arg):
        cdef SupervisorStrategy strategy
        cdef CDirective directive
        cdef _Cell other
        exc = arg[1]
        strategy = child.judge
        if strategy is None:
            # The child's own Props strategy, else this parent's, else the default.
            strategy = child.props.supervisor_strategy
            if strategy is None and self.props is not None:
                strategy = self.props.supervisor_strategy
            child.judge_is_default = strategy is None
            if strategy is None:
                strategy = self.system.default_strategy
            child.judge = strategy
        if child.judge_is_default:
            # Akka's default: a failure to start stops the actor.
            directive = CDirective.stop if arg[3] else strategy.decide_exc(exc)
        else:
            directive = strategy.decide_exc(exc)
        if directive == CDirective.restart:
            if child.budget == NULL:
                child.budget = strategy.new_budget()
            if not child.budget.request(self.system.clock()):
                _log.error("actor %s exhausted its restart budget (%s restarts within %ss); "
                           "stopping it", child.path, strategy.max_retries,
                           strategy.within_seconds)
                directive = CDirective.stop
        self.system.publish_failure(child, exc, directive_to_string(directive))
        if directive == CDirective.resume:
            child._post_system(K_RESUME, None)
        elif directive == CDirective.restart:
            if strategy._kind == "all_for_one":
                for other in list(self.children.values()):
                    other._post_system(K_RESTART, exc if other is child else None)
            else:
                child._post_system(K_RESTART, exc)
        elif directive == CDirective.stop:
            if strategy._kind == "all_for_one":
                for other in list(self.children.values()):
                    other._request_stop()
            else:
                child._request_stop()
        else:  # escalate
            if self.parent is None:
                _log.error("failure of %s escalated to the guardian; stopping %s",
                           child.path, child.path, exc_info=exc)
                child._request_stop()
            else:
                self._fail(exc, None, False)

    cdef int _restart(self) except -1:
        """Told by the supervisor: replace the instance, keep the mailbox."""
        if self.status >= S_TERMINATING or self.status == S_NEW:
            return 0
        if self.status != S_FAILED:
            # A sibling failed under all-for-one: restart this one too.
            self.fail_reason = None
            self.fail_msg = None
            self.c.suspend_user_mail()
        self.status = S_RESTARTING
        self._cancel_timers()
        self.behaviors = None
        actor = self.actor
        if actor is None:  # the factory itself failed: nothing to tear down
            return self._stop_children_then(S_RESTARTING)
        hook = _user_hook(actor, "pre_restart")
        if not _is_noop_hook(hook):
            # A pre_restart of the user's own decides about the children:
            # those it leaves alive survive and are restarted afterwards.
            return self._call_hook(R_PRE_RESTART, hook, (self.fail_reason, self.fail_msg))
        # Akka's default pre_restart: stop the children, then post_stop.
        if self.children:
            for child in list(self.children.values()):
                (<_Cell>child)._request_stop()
        hook = _user_hook(actor, "post_stop")
        if not _is_noop_hook(hook):
            return self._call_hook(R_RESTART_POST_STOP, hook, ())
        return self._stop_children_then(S_RESTARTING)

    cdef int _finish_restart(self) except -1:
        self.status = S_STARTING
        self.actor = None
        self.behavior = None
        if not self._instantiate():
            return 0
        self.c.resume_user_mail()
        if self.stash_buf:
            self._unstash_all()
        # Children that survived pre_restart are restarted too (as in Akka).
        if self.children:
            for child in list(self.children.values()):
                if (<_Cell>child).status < S_TERMINATING:
                    (<_Cell>child)._post_system(K_RESTART, self.fail_reason)
        hook = _user_hook(self.actor, "post_restart")
        if not _is_noop_hook(hook):
            return self._call_hook(R_POST_RESTART, hook, (self.fail_reason,))
        # Akka's default post_restart: pre_start.
        hook = _user_hook(self.actor, "pre_start")
        if not _is_noop_hook(hook):
            return self._call_hook(R_POST_RESTART, hook, ())
        self._completed(R_POST_RESTART, True, None)
        return 0

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
        cfg = props.router
        if cfg is not None and cfg.group is None:
            _check_pool_size(system, cfg)
        child = _Cell.new(system, self, name, child_path(self.path, name), props)
        if system.start_failures:
            system.start_failures.pop(child.path, None)  # a new actor at that path
        self.children[name] = child
        system.live_cells += 1
        child._post_system(K_CREATE, None)
        if cfg is not None:
            try:
                _init_router(child, cfg)
            except BaseException:
                child._request_stop()
                raise
        return child

    # -- death watch ------------------------------------------------------------------

    cdef void _watch(self, _Cell target):
        if target is self:
            return
        if self.watching is None:
            self.watching = set()
        if target in self.watching:
            return
        self.watching.add(target)
        target._post_system(K_WATCH, (self, target))  # a stopped target answers at once

    cdef void _unwatch(self, _Cell target):
        if self.watching is None or target not in self.watching:
            return
        self.watching.discard(target)
        target._post_system(K_UNWATCH, self)

    cdef void _add_watcher(self, _Cell watcher):
        if self.status == S_STOPPED:
            watcher._post_system(K_DEATH_NOTICE, self)
            return
        if self.watchers is None:
            self.watchers = set()
        self.watchers.add(watcher)

    cdef int _death_notice(self, _Cell dead) except -1:
        """A watched actor stopped: queue Terminated(path) as mail, once."""
        if self.watching is None or dead not in self.watching:
            return 0  # unwatched meanwhile, or notified already
        self.watching.discard(dead)
        if self.status < S_TERMINATING:
            self._post(self.system.terminated_class(dead.path), None, None)
        return 0

    # -- stash and behaviours -----------------------------------------------------------

    cdef void _stash(self, object msg):
        if msg is _MISSING or (msg is self.cur_msg and not self.cur_stashed):
            if self.cur_handle is not None and not self.cur_stashed:
                # ctx.reply_to owns the reply: the stashed copy carries none.
                self.cur_stashed = True
                item = (self.cur_msg, self.ctx._sender, None)
            elif self.cur_stashed or self.cur_forwarded:
                raise RuntimeError("the current message is stashed already")
            else:
                item = (self.cur_msg, self.ctx._sender, self.cur_reply)
                self.cur_stashed = True
        else:
            item = (msg, None, None)
        if self.stash_buf is None:
            self.stash_buf = []
        self.stash_buf.append(item)

    cdef void _forward(self, _Cell target, object msg):
        """Sends the current message (or `msg`) on with its sender and its
        pending ask reply, which the target then answers."""
        if msg is _MISSING or msg is self.cur_msg:
            if self.cur_handle is not None and not self.cur_stashed:
                # ctx.reply_to owns the reply: the target gets the message only.
                target._post(self.cur_msg, self.ctx._sender, None)
                return
            if self.cur_stashed or self.cur_forwarded:
                raise RuntimeError("the current message was stashed or forwarded already")
            self.cur_forwarded = True  # this handler no longer answers it
            target._post(self.cur_msg, self.ctx._sender, self.cur_reply)
        else:
            target._post(msg, self.ctx._sender, None)

    cdef DeferredReply _reply_handle(self):
        """ctx.reply_to: takes the current ask's reply over (once per call)."""
        cdef DeferredReply h = self.cur_handle
        if h is not None:
            return h
        if self.cur_reply is None or self.cur_stashed or self.cur_forwarded:
            return None
        h = DeferredReply.new(<_Reply>self.cur_reply, self.path)
        self.cur_handle = h
        self.cur_forwarded = True  # the handler's return value no longer answers
        return h

    cdef void _unstash_all(self):
        """Puts the stash back ahead of all queued user mail, in stash order."""
        cdef CEnvelope env
        items = self.stash_buf
        self.stash_buf = None
        if not items:
            return
        for msg, sender, reply in reversed(items):
            set_py(env.message, msg)
            set_py(env.sender, sender)
            set_py(env.reply, reply)
            env.kind = K_USER
            self.c.push_front_user(env)

    cdef void _become(self, object handler, bint discard_old):
        if not callable(handler):
            raise TypeError(f"become expects a callable (ctx, msg) -> reply, not "
                            f"{type(handler).__name__}")
        if self.behaviors is None:
            self.behaviors = []
        if discard_old and self.behaviors:
            self.behaviors[len(self.behaviors) - 1] = handler
        else:
            self.behaviors.append(handler)
        self.behavior = handler

    cdef void _unbecome(self):
        if self.behaviors:
            self.behaviors.pop()
        if self.behaviors:
            self.behavior = self.behaviors[len(self.behaviors) - 1]
        elif self.actor is not None:
            self.behavior = self.actor.handle

    # -- timers -------------------------------------------------------------------------

    cdef Cancelable _schedule(self, object target, object msg, double delay, double interval,
                              bint fixed_rate):
        cdef _Cell target_cell = self
        if target is not None:
            if not isinstance(target, ActorRef):
                raise TypeError(f"target must be an ActorRef or None, not {type(target).__name__}")
            target_cell = (<ActorRef>target)._cell
        return Cancelable.start(self, target_cell, msg, delay, interval, fixed_rate, T_MESSAGE)

    cdef int _timer_fired(self, uint64_t key) except -1:
        cdef Cancelable t = self.system.timers.get(key)
        if t is None or t.cancelled:
            return 0
        if not t.periodic:
            t.finished = True
            t._forget()
        if t.purpose == T_RECEIVE_TIMEOUT:
            return self._receive_timeout_fired(t)
        if t.purpose == T_CALLBACK:
            try:
                t.msg()
            except BaseException as exc:
                _log.error("timer callback of %s failed", self.path, exc_info=exc)
            return 0
        return self._deliver(t.msg, None, None)

    cdef void _cancel_timers(self):
        if self.timers:
            for t in list(self.timers.values()):
                (<Cancelable>t).cancel()
        self.keyed_timers = None
        self.rt_timer = None

    cdef void _set_receive_timeout(self, object seconds):
        if self.rt_timer is not None:
            self.rt_timer.cancel()
            self.rt_timer = None
        if seconds is None:
            self.rt_seconds = 0.0
            return
        self.rt_seconds = _check_delay(seconds, "receive timeout")
        if self.rt_seconds == 0.0:
            raise ValueError("receive timeout must be positive (use None to turn it off)")
        self.rt_timer = Cancelable.start(self, self, None, self.rt_seconds, 0.0, False,
                                         T_RECEIVE_TIMEOUT)
        self.last_activity = self.rt_timer.service.t.now()

    cdef int _receive_timeout_fired(self, Cancelable t) except -1:
        cdef double idle, now
        if t is not self.rt_timer:
            return 0
        now = t.service.t.now()
        idle = now - self.last_activity
        if idle + 1e-9 < self.rt_seconds:
            # Mail arrived meanwhile: wait for the rest of the silence.
            self.rt_timer = Cancelable.start(self, self, None, self.rt_seconds - idle, 0.0,
                                             False, T_RECEIVE_TIMEOUT)
            return 0
        self.rt_timer = Cancelable.start(self, self, None, self.rt_seconds, 0.0, False,
                                         T_RECEIVE_TIMEOUT)
        return self._deliver(self.system.receive_timeout_msg, None, None)
