# System core: one actor system's dispatcher, dead letters and guardian.
# Part of atomr._native._core (included by _core.pyx; declared in system.pxd).


cdef struct _DeadLetterCall:
    void* system
    CEnvelope* letter
    const string* recipient
    CDeadLetterReason reason


cdef void _on_dead_letter(void* ctx, CEnvelope& letter, const string& recipient,
                          CDeadLetterReason reason) noexcept nogil:
    """The sink's handler, on any thread (the timer thread's fires too):
    handled in the interpreter the system was made in (interp.pyx)."""
    cdef _DeadLetterCall call
    call.system = ctx
    call.letter = &letter
    call.recipient = &recipient
    call.reason = reason
    _run_in_interp((<_System>ctx).interp, _dead_letter_held, &call)


cdef void _dead_letter_held(void* arg) noexcept:
    cdef _DeadLetterCall* call = <_DeadLetterCall*>arg
    cdef _System system = <_System>call.system
    cdef uint32_t kind = call.letter.kind
    try:
        msg = _untraced(_take(call.letter.message))
        sender = _take(call.letter.sender)
        reply = _take(call.letter.reply)
        system._dead_letter(kind, msg, sender, reply, deref(call.recipient), <int>call.reason)
    except BaseException as exc:
        try:
            _log.error("dead-letter handling failed", exc_info=exc)
        except BaseException:
            pass


cdef str _describe_error(object exc):
    """``Type: message`` of an exception, bounded for a message; never raises."""
    try:
        text = str(exc)
    except BaseException:
        text = "<str failed>"
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_LIVE_SYSTEMS = weakref.WeakSet()


cdef CIdleMode _idle_mode(str strategy) except *:
    """The native mode of an ``actor.idle-strategy`` value."""
    if strategy == "adaptive":
        return CIdleMode.adaptive
    if strategy == "spin":
        return CIdleMode.spin
    if strategy == "park":
        return CIdleMode.park
    raise ValueError(f"unknown idle strategy {strategy!r}")


cdef unsigned _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# interpreter_role label -> InterpreterQuota.max_handler_ms in ns (see
# set_long_handler_limit); process-wide, as pools are.
_LONG_HANDLER_NS = {}


def set_long_handler_limit(str label, object ms):
    """Counts, in the `long_handlers` metric of every system's pool
    `label`, each turn whose handlers took longer than `ms` milliseconds
    on average (None: stop counting)."""
    cdef uint64_t ns = 0
    cdef _PoolStats pool
    if ms is not None:
        if ms <= 0:
            raise ValueError(f"max_handler_ms must be positive, not {ms!r}")
        ns = <uint64_t>(ms * 1e6)
        _LONG_HANDLER_NS[label] = ns
    else:
        _LONG_HANDLER_NS.pop(label, None)
    for s in list(_LIVE_SYSTEMS):
        pool = (<_System>s).pools.get(label)
        if pool is not None:
            pool.long_handler_ns = ns


def interpreter_metrics():
    """One dict per interpreter pool of every live actor system.

    A pool is one `interpreter_role` label of one system (``"default"`` for
    actors that set none). Keys: `label`, `kind` (the dispatcher name of the
    first actor on the label; ``"python-pinned"`` while the default pool
    has none), `system` (the system's name), `actors_hosted`,
    `messages_handled`, `gil_hold_ns_total` (time spent running its
    actors), `mailbox_depth_total`, `handler_panics` (actor failures) and
    `long_handlers`.
    """
    out = []
    for s in list(_LIVE_SYSTEMS):
        if not (<_System>s).terminated:
            out.extend((<_System>s).metrics())
    return out


# The cycle collector never clears its fields: __dealloc__ still needs its
# timer service, to stop the timer thread before the dead-letter sink goes.
@cython.no_gc_clear
cdef class _System:
    """The native core of one ActorSystem: its dispatcher, dead-letter sink
    and user guardian. Created and driven on the loop's thread."""

    def __cinit__(self):
        self.sink = NULL

    def __dealloc__(self):
        if self.real_timers is not None and self.real_timers.t != NULL:
            # No fire may reach a cell (and its dead-letter sink) from now on.
            with nogil:
                self.real_timers.t.shutdown()
        if self.sink != NULL:
            self.sink.set_handler(NULL, NULL)
            del self.sink
            self.sink = NULL

    def __init__(self, str name, object loop, object props_class, object owner_ref,
                 uint32_t throughput=64, *, object terminated_class=None,
                 object receive_timeout_msg=None, bint virtual_time=False,
                 int dead_letters_logged=10, int max_retries=10, double within_seconds=60.0,
                 double drain_deadline=0.0, double terminate_timeout=5.0,
                 double stop_grace=1.0, str idle_strategy="park", double idle_spin=0.0):
        validate_system_name(name)
        self.dead_letters_to_log = dead_letters_logged
        self.terminate_timeout = terminate_timeout
        self.stop_grace = stop_grace
        self.max_pool_size = 10_000
        self.start_failures = {}
        self.default_strategy = SupervisorStrategy.one_for_one(
            None, None, None if max_retries < 0 else max_retries,
            within_seconds if within_seconds > 0 else None)
        self.name = name
        self.terminated_class = terminated_class
        self.receive_timeout_msg = receive_timeout_msg
        if virtual_time:
            self.virtual_timers = _TimerService.new(True)
        self.address = f"akka://{name}"
        self.props_class = props_class
        self.owner_ref = owner_ref
        self.termination = concurrent.futures.Future()
        self.dead_letter_listeners = []
        self.timers = {}
        self.interp = _this_interp()
        self.sink = new CDeadLetterSink()
        self.sink.set_handler(_on_dead_letter, <void*>self)
        self.disp = _Dispatcher.new(loop, throughput, drain_deadline)
        self.disp.configure_idle(_idle_mode(idle_strategy), <int64_t>(idle_spin * 1e9),
                                 _usable_cpus())
        self.pools = {}
        self.guardian = _Cell.new(self, None, "user", self.address + "/user", None)
        self.guardian.status = S_RUNNING
        self.sys_guardian = _Cell.new(self, None, "system", self.address + "/system", None)
        self.sys_guardian.status = S_RUNNING
        _LIVE_SYSTEMS.add(self)

    cdef _TimerService timer_service(self):
        """The virtual timer service, or this system's real one (whose
        thread starts with the first timer)."""
        if self.virtual_timers is not None:
            return self.virtual_timers
        if self.real_timers is None:
            self.real_timers = _TimerService.new(False)
        return self.real_timers

    def attach_selector(self, selector):
        """Has the loop's `selector` (an ``IdleSelector``) run this
        system's idle strategy before the loop sleeps."""
        self.disp.attach_selector(selector)

    def idle_stats(self):
        """The idle strategy's counters (see ``_Dispatcher.idle_stats``)."""
        return self.disp.idle_stats()

    def idle_state(self):
        """What the loop thread does as far as the dispatcher knows:
        ``"awake"`` (running actors or other callbacks), ``"spinning"``
        (idle, spinning before it sleeps) or ``"asleep"``."""
        if self.disp.d.idle_spinning():
            return "spinning"
        return "asleep" if self.disp.d.sleeping() else "awake"

    @property
    def scheduler(self):
        """The timer service this system's actors use."""
        return self.timer_service()

    cpdef double clock(self):
        """Seconds on the system's clock (virtual when virtual time is on)."""
        if self.virtual_timers is not None:
            return self.virtual_timers.t.now()
        return _monotonic()  # time.monotonic()'s clock, without the call

    cdef void publish_lifecycle(self, str kind, _Cell cell, object reason):
        if self.on_actor_stopped is not None and kind == "stopped":
            try:
                self.on_actor_stopped(cell.path)
            except BaseException as exc:
                _log.error("an actor-stopped hook failed", exc_info=exc)
        if self.events_active:
            try:
                self.events.publish_lifecycle(kind, cell.path, reason)
            except BaseException as exc:
                _log.error("publishing a lifecycle event failed", exc_info=exc)

    cdef void publish_failure(self, _Cell cell, object exc, str directive):
        if self.events_active:
            try:
                self.events.publish_failure(cell.path, exc, directive)
            except BaseException as exc2:
                _log.error("publishing a failure event failed", exc_info=exc2)

    @property
    def owner(self):
        return self.owner_ref()

    @property
    def loop(self):
        return self.disp.loop

    @property
    def dead_letter_count(self):
        return self.sink.count()

    def native_counters(self):
        """The core's message counters of this system (read now, without
        stopping anything): user messages ``enqueued`` and ``processed``,
        the deepest mailbox (``mailbox_high_water``), ``dead_letters`` by
        reason, and the turn-duration histogram (``turn_bounds_ns``, the
        per-bucket ``turn_counts`` with one more bucket for longer turns,
        ``turn_sum_ns``, ``turn_messages``)."""
        cdef CDispatcherStats* st = &self.disp.d.stats()
        cdef int i
        bounds = [1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000]
        return {
            "enqueued": st.enqueued(),
            "processed": st.processed_count(),
            "mailbox_high_water": st.mailbox_high_water(),
            "dead_letters": {
                "no_recipient": self.sink.count_of(CDeadLetterReason.no_recipient),
                "dropped": self.sink.count_of(CDeadLetterReason.dropped),
                "rejected": self.sink.count_of(CDeadLetterReason.rejected),
                "evicted": self.sink.count_of(CDeadLetterReason.evicted),
            },
            "turn_bounds_ns": bounds,
            "turn_counts": [st.turn_count(<size_t>i) for i in range(8)],
            "turn_sum_ns": st.turn_sum_ns(),
            "turn_messages": st.turn_messages(),
        }

    def on_loop_thread(self):
        return self.disp.on_loop_thread()

    def spawn(self, props, name):
        """A top-level actor under /user. Only on the loop thread, or from
        any thread while holding the GIL (the cell is created here; its start
        runs on the loop)."""
        return self.guardian._spawn_child(props, name).ref

    def spawn_system(self, props, str name):
        """A top-level actor under /system (a system actor; see `spawn`)."""
        return self.sys_guardian._spawn_child(props, name).ref

    def system_top_level(self, str name):
        """The live system actor `name` (under /system), or None."""
        c = self.sys_guardian.children.get(name)
        return None if c is None else (<_Cell>c).ref

    cdef _PoolStats pool_for(self, object props):
        """The pool of a new cell with `props` (None: the guardian's, the
        default pool), created on first use; the first actor on a label
        fixes the pool's kind to its dispatcher name."""
        label = "default" if props is None else props.interpreter_role
        cdef _PoolStats pool = self.pools.get(label)
        if pool is None:
            pool = _PoolStats(label)
            pool.long_handler_ns = _LONG_HANDLER_NS.get(label, 0)
            self.pools[label] = pool
        if pool.kind is None and props is not None:
            pool.kind = props.dispatcher
        return pool

    def metrics(self):
        """This system's interpreter pools, one metrics dict per label (see
        `interpreter_metrics`); the default pool comes first."""
        cdef _Cell cell
        cdef _PoolStats pool
        hosted = dict.fromkeys(self.pools, 0)
        depth = dict.fromkeys(self.pools, 0)
        stack = [self.guardian, self.sys_guardian]
        while stack:
            cell = stack.pop()
            depth[cell.pool.label] += cell.c.queued()
            if cell.parent is not None:
                hosted[cell.pool.label] += 1
            stack.extend(cell.children.values())
        out = []
        for pool in self.pools.values():
            out.append({
                "label": pool.label,
                "kind": "python-pinned" if pool.kind is None else pool.kind,
                "system": self.name,
                "actors_hosted": hosted[pool.label],
                "messages_handled": pool.messages_handled,
                "gil_hold_ns_total": pool.busy_ns,
                "mailbox_depth_total": depth[pool.label],
                "handler_panics": pool.handler_panics,
                "long_handlers": pool.long_handlers,
            })
        return out

    def actor_tree(self, bint system=False):
        """The live actors, parents before children: one tuple per actor,
        ``(path, parent path or None, actor class name, mailbox depth,
        number of children)``. Those under /user, or with `system` those
        under /system."""
        cdef _Cell cell
        cdef _Cell root = self.sys_guardian if system else self.guardian
        out = []
        stack = list(reversed(list(root.children.values())))
        while stack:
            cell = stack.pop()
            kind = type(cell.actor).__name__ if cell.actor is not None else None
            parent = None if cell.parent is root else cell.parent.path
            out.append((cell.path, parent, kind, cell.c.queued(), len(cell.children)))
            stack.extend(reversed(list(cell.children.values())))
        return out

    def top_level_refs(self):
        """Refs of the live top-level actors."""
        return [(<_Cell>c).ref for c in self.guardian.children.values()]

    def live_timers(self):
        """The pending timers owned by this system's actors."""
        cdef Cancelable t
        cdef _Cell cell
        out = []
        stack = [self.guardian, self.sys_guardian]
        while stack:
            cell = stack.pop()
            for t in cell.timers.values():
                if not t.cancelled:
                    out.append(t)
            stack.extend(cell.children.values())
        return out

    def top_level(self, str name):
        c = self.guardian.children.get(name)
        return None if c is None else (<_Cell>c).ref

    def begin_terminate(self):
        """Starts the recursive stop of every actor. Only on the loop thread.

        Each actor stops after its current message (a suspended handler is
        cancelled); its pending mail goes to dead letters. Whatever is still
        running after `terminate_timeout` seconds (a ``post_stop`` awaiting
        forever, a handler that ignores its cancellation) is cancelled, and
        what is left a moment later is stopped without it; both are logged."""
        if self.terminating:
            return
        self.terminating = True
        self.guardian._post_system(K_TERMINATE, None)
        if self.terminate_timeout > 0.0 and not self.terminated:
            self.terminate_timer = self.disp.loop.call_later(
                self.terminate_timeout, self._terminate_overdue)

    def _terminate_overdue(self):
        """Terminate-timeout, first phase: cancel what actors still await."""
        cdef _Cell cell
        self.terminate_timer = None
        if self.terminated:
            return
        cancelled = []
        for cell in self._live_cells():
            if cell.in_flight is not None:
                cancelled.append(cell.path)
                cell.stop_cancelled = False  # cancel again what ignored a first cancellation
                cell._cancel_in_flight(f"(terminate-timeout {self.terminate_timeout:g}s)")
        _log.warning("actor system %s did not terminate within %gs; cancelled what %d "
                     "actor(s) awaited: %s", self.name, self.terminate_timeout,
                     len(cancelled), ", ".join(cancelled) or "none")
        self.terminate_timer = self.disp.loop.call_later(
            min(1.0, self.terminate_timeout), self._terminate_forced)

    def _terminate_forced(self):
        """Terminate-timeout, second phase: stop what is left at once,
        children before parents, without their remaining hooks."""
        cdef _Cell cell
        self.terminate_timer = None
        if self.terminated:
            return
        cells = self._live_cells()
        _log.warning("actor system %s: stopping %d actor(s) without waiting any longer: %s",
                     self.name, len(cells), ", ".join(c.path for c in cells
                                                     if c is not self.guardian
                                                     and c is not self.sys_guardian))
        for cell in reversed(cells):  # children before their parents
            if cell.status != S_STOPPED:
                cell._finalize()

    cdef list _live_cells(self):
        """Every cell not yet stopped, parents before their children: the
        user guardian's tree, then the system guardian's."""
        cdef _Cell cell
        out = []
        for top in (self.sys_guardian, self.guardian):
            stack = [top]
            part = []
            while stack:
                cell = stack.pop()
                if cell.status != S_STOPPED:
                    part.append(cell)
                stack.extend(cell.children.values())
            out = part + out
        return out

    def abandon(self):
        """The loop is gone: mark everything terminated without running hooks."""
        self.terminating = True
        for top in (self.guardian, self.sys_guardian):
            if (<_Cell>top).status != S_STOPPED:
                (<_Cell>top).status = S_STOPPED
                (<_Cell>top).c.stop()
        self._guardian_stopped()

    cdef void _guardian_stopped(self):
        """A guardian stopped. Once the user guardian has, the system
        guardian stops (the system actors outlive the user's, as in Akka);
        once both have, the system is terminated."""
        if self.terminated or self.guardian.status != S_STOPPED:
            return
        if self.sys_guardian.status != S_STOPPED:
            self.sys_guardian._post_system(K_TERMINATE, None)
            return
        self.terminated = True
        if self.terminate_timer is not None:
            self.terminate_timer.cancel()
            self.terminate_timer = None
        self.disp.detach()
        if self.on_terminated is not None:
            try:
                self.on_terminated()
            except BaseException as exc:
                _log.error("termination callback failed", exc_info=exc)
        if not self.termination.done():
            self.termination.set_result(None)

    cdef void _start_failed(self, str path, object exc):
        """Remembers why the actor at `path` never started, for the asks its
        mail leaves unanswered (a bounded record: the oldest go first)."""
        failures = self.start_failures
        failures.pop(path, None)
        if len(failures) >= 256:
            del failures[next(iter(failures))]
        failures[path] = exc

    cdef void _dead_letter(self, uint32_t kind, object msg, object sender, object reply,
                           str recipient, int reason):
        if kind == K_WATCH:
            # Watching an actor that is already gone: Terminated at once.
            (<_Cell>msg[0])._post_system(K_DEATH_NOTICE, msg[1])
            return
        if kind != K_USER:
            return  # other system mail or timers of a stopped actor: nothing to report
        if reply is not None:
            if reason == <int>CDeadLetterReason.rejected or reason == <int>CDeadLetterReason.evicted:
                (<_Reply>reply).fail(_errors.MessageDroppedError(
                    f"the mailbox of {recipient} is full; the message was dropped"))
            else:
                cause = self.start_failures.get(recipient) if self.start_failures else None
                if cause is None:
                    (<_Reply>reply).fail(_errors.ActorTerminatedError(
                        f"{recipient} is terminated; the message went to dead letters"))
                else:
                    err = _errors.ActorTerminatedError(
                        f"{recipient} failed to start ({_describe_error(cause)}); "
                        "the message went to dead letters")
                    err.__cause__ = cause
                    (<_Reply>reply).fail(err)
        if self.dead_letters_logged < self.dead_letters_to_log:
            self.dead_letters_logged += 1
            if _log.isEnabledFor(logging.INFO):
                _log.info("message %s to %s was not delivered (dead letter %d)",
                          _describe(msg), recipient, self.sink.count())
        elif _log.isEnabledFor(logging.DEBUG):
            _log.debug("message %s to %s was not delivered", _describe(msg), recipient)
        if not self.dead_letter_listeners:
            return
        if self.disp.on_loop_thread():
            self._notify_dead_letter(msg, sender, recipient)
        else:
            try:
                self.disp.loop.call_soon_threadsafe(self._notify_dead_letter, msg, sender,
                                                    recipient)
            except RuntimeError:
                pass  # the loop is closed

    def _notify_dead_letter(self, msg, sender, recipient):
        for listener in list(self.dead_letter_listeners):
            try:
                listener(msg, sender, recipient)
            except BaseException as exc:
                _log.error("dead-letter listener failed", exc_info=exc)
