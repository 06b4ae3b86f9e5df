# The python-pinned dispatcher.
# Part of atomr._native._core (included by _core.pyx; declared in dispatch.pxd).


# ---------------------------------------------------------------------------
# Dispatcher


cdef class _PoolStats:
    """The counters of one interpreter pool (one `interpreter_role` label) of
    one system. Its cells share it; only the loop's thread updates it."""

    def __cinit__(self, str label):
        self.label = label
        self.kind = None


# How long a thread that saw work (or its answer) come while it spun spins
# on, at most, for the other thread to release the GIL (nanoseconds): an
# asker after posting, the loop thread after answering.
cdef int64_t _GIL_HANDOFF_NS = 20_000


# How old the look at the machine's load an adaptive idle policy goes by
# may be (nanoseconds).
cdef int64_t _BUSY_LOOK_NS = 20_000_000


cdef int64_t _next_spin(CIdlePolicy& p, unsigned cpus) noexcept:
    """How long the next wait under `p` may spin (ns; 0: park at once)."""
    if p.mode() == CIdleMode.adaptive:
        return p.next_spin(machine_busy(cpus, _BUSY_LOOK_NS))
    return p.next_spin(False)


cdef dict _policy_stats(CIdlePolicy& p):
    return {"spins": p.spins(), "hits": p.hits(), "skipped": p.skipped(),
            "backed_off": p.backed_off(), "spin_ns": p.spin_ns()}


# When `DEADLINE_CHECK_EVERY` turns and messages took this long (seconds),
# a drain reads the clock after every one of them.
cdef double _SLOW_CHECKS = 0.001


cdef class _Dispatcher:
    """The python-pinned dispatcher: drains the C++ ready queue on the
    thread that runs `loop`. Only that thread calls its methods, except
    `kick`, which any thread may call."""

    def __cinit__(self):
        self.d = NULL

    def __dealloc__(self):
        if self.d != NULL:
            del self.d
            self.d = NULL

    @staticmethod
    cdef _Dispatcher new(object loop, uint32_t throughput, double drain_deadline):
        cdef _Dispatcher disp = _Dispatcher.__new__(_Dispatcher)
        disp.d = new CPinnedDispatcher(throughput)
        disp.drain_deadline = drain_deadline
        disp.loop = loop
        disp.thread_id = PyThread_get_thread_ident()
        disp.drain_soon_cb = disp._drain_soon
        loop.add_reader(disp.d.wake_fd(), disp._on_wake)
        disp.reader_added = True
        return disp

    cdef void configure_idle(self, CIdleMode mode, int64_t spin_ns, unsigned cpus):
        self.cpus = cpus
        self.loop_idle = CIdlePolicy(mode, spin_ns, cpus)
        self.ask_idle = CIdlePolicy(mode, spin_ns, cpus)

    def attach_selector(self, selector):
        """Has `selector` (an `IdleSelector` of the loop) call
        `before_sleep` before each wait that may sleep, when the idle
        strategy spins."""
        if self.loop_idle.spin_ns() > 0:
            self.idle_selector = selector
            selector.before_sleep = self.before_sleep

    def before_sleep(self, select, timeout):
        """The loop is about to sleep in ``select(timeout)`` (None: without
        limit): under the idle policy, spin first, without the GIL, for
        work scheduled from other threads; then sleep on what is left of
        `timeout`. Work that comes during the spin is drained soon (no
        eventfd wake-up involved). Returns what `select` returns."""
        cdef int64_t budget = _next_spin(self.loop_idle, self.cpus)
        cdef int64_t started
        cdef int64_t cpu_started
        cdef int64_t spun
        cdef CSpinResult r
        if timeout is not None:
            if timeout <= 0:
                return select(timeout)
            if <double>timeout * 1e9 < budget:
                budget = <int64_t>(<double>timeout * 1e9)
        if budget <= 0:
            started = monotonic_ns()
            events = select(timeout)
            self.loop_idle.parked(monotonic_ns() - started)
            return events
        cpu_started = thread_cpu_ns()
        started = monotonic_ns()
        with nogil:
            r = self.d.idle_spin(budget, _GIL_HANDOFF_NS if budget > _GIL_HANDOFF_NS else budget)
        spun = monotonic_ns() - started
        if r == CSpinResult.woken:
            self.loop_idle.spun(True, spun, 0)
            self.schedule_soon()
            return select(0)
        if r == CSpinResult.idle:
            self.loop_idle.spun(False, spun, thread_cpu_ns() - cpu_started)
            if timeout is not None:
                timeout = max(0.0, timeout - spun * 1e-9)
        return select(timeout)

    def idle_stats(self):
        """The idle strategy's counters: per side (``loop``: the loop thread
        before it sleeps; ``ask``: threads in ask_blocking), the waits that
        spun, that saw what they waited for while spinning, that parked at
        once because spinning did not pay off, and whether it is backing
        off now."""
        return {"loop": _policy_stats(self.loop_idle), "ask": _policy_stats(self.ask_idle)}

    cdef void detach(self):
        _drop_host(self)
        if self.idle_selector is not None:
            self.idle_selector.before_sleep = None
            self.idle_selector = None
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

    cdef void kick(self):
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

    cdef bint on_loop_thread(self):
        return PyThread_get_thread_ident() == self.thread_id

    cdef bint past_deadline(self) noexcept:
        """True once the running drain is past its time bound. Reads the
        clock every `DEADLINE_CHECK_EVERY` calls, or on every call once
        handlers turn out slow (that many calls took a millisecond or more)."""
        cdef double now
        if self.overdue:
            return True
        self.clock_countdown -= 1
        if self.clock_countdown > 0:
            return False
        if self.drain_end <= 0.0:
            self.clock_countdown = DEADLINE_CHECK_EVERY
            return False
        now = _monotonic()
        if now >= self.drain_end:
            self.overdue = True
        elif now - self.last_check >= _SLOW_CHECKS:
            self.clock_countdown = 1  # slow handlers: the clock costs nothing beside them
        else:
            self.clock_countdown = DEADLINE_CHECK_EVERY
        self.last_check = now
        return self.overdue

    cdef void drain(self):
        self.drain_until(0.0, None)

    cdef void drain_until(self, double limit, _Reply awaited):
        """Runs ready actors until none is left, or the drain has handled
        `DRAIN_BUDGET` messages, or it ran for `drain_deadline` seconds (or
        past `limit`, a monotonic time, when that is sooner), or `awaited`
        (the reply an in-loop ask waits for) is complete. Whatever is left
        runs in the next drain, after the loop's other callbacks."""
        cdef CCell* c
        cdef _Cell cell
        cdef int budget = DRAIN_BUDGET
        cdef int handled
        cdef double started
        cdef double turn_started
        cdef double turn_ended
        cdef uint64_t turn_ns
        if self.draining:
            return
        self.draining = True
        started = _monotonic()
        self.drain_end = 0.0
        if self.drain_deadline > 0.0:
            self.drain_end = started + self.drain_deadline
        if limit > 0.0 and (self.drain_end == 0.0 or limit < self.drain_end):
            self.drain_end = limit
        self.overdue = False
        self.clock_countdown = DEADLINE_CHECK_EVERY
        self.last_check = started
        turn_started = started
        try:
            while True:
                if budget <= 0 or self.past_deadline():
                    self.schedule_soon()  # stay awake and let the loop breathe
                    break
                if awaited is not None and awaited.done:
                    self.schedule_soon()
                    break
                c = self.d.pop_ready()
                if c == NULL:
                    if self.d.try_sleep():
                        break
                    continue
                if c.user_data != NULL:
                    cell = <_Cell>c.user_data
                    handled = 0
                    try:
                        handled = cell._run_turn()
                        self.messages_handled += handled
                        cell.pool.messages_handled += handled
                        budget -= 1 + handled
                    except BaseException as exc:
                        cell._crashed(exc)
                    # One clock read per turn: a turn starts where the
                    # previous one ended (the queue pop between is noise).
                    turn_ended = _monotonic()
                    turn_ns = <uint64_t>((turn_ended - turn_started) * 1e9)
                    cell.pool.busy_ns += turn_ns
                    self.d.stats().record_turn(turn_ns, <uint64_t>handled)
                    if (cell.pool.long_handler_ns != 0
                            and turn_ns > cell.pool.long_handler_ns * <uint64_t>(
                                handled if handled > 1 else 1)):
                        cell.pool.long_handlers += 1
                    turn_started = turn_ended
                c.release()
        finally:
            _host_exit(self)  # coroutines ran inside a host Task (host.pyx)
            self.draining = False
            self.drain_end = 0.0
            self.busy_ns += <uint64_t>((_monotonic() - started) * 1e9)


# ---------------------------------------------------------------------------
# Blocking asks




cdef bint _wait_lock_reply(_Dispatcher disp, _LockReply reply, object t,
                           int64_t posted_ns) except -1:
    """Waits for `reply` (posted at `posted_ns`) up to `t` seconds (None:
    without limit); true once answered. Under the dispatcher's ask idle
    policy it first spins without the GIL (see ``actor.idle-strategy``),
    then parks on the reply's lock."""
    cdef int64_t budget = _next_spin(disp.ask_idle, disp.cpus)
    cdef int64_t limit_ns = 0
    cdef int64_t started
    cdef int64_t cpu_started
    cdef int64_t end
    cdef bint hit = False
    cdef bint await_loop
    if t is not None:
        limit_ns = <int64_t>(<double>t * 1e9) if <double>t < 1e9 else <int64_t>1e18
        if budget > limit_ns:
            budget = limit_ns
    if budget > 0:
        # The loop thread spins when idle: wait for it to release the GIL
        # too, or taking the GIL back would park this thread on it.
        await_loop = (disp.idle_selector is not None and not disp.loop_idle.backed_off()
                      and disp.loop_idle.spin_ns() > 0)
        cpu_started = thread_cpu_ns()
        started = monotonic_ns()
        with nogil:
            disp.d.gil_released()
            hit = spin_for_flag(reply.answered, budget)
            if hit and await_loop:
                end = monotonic_ns() + _GIL_HANDOFF_NS
                while not disp.d.idle_spinning() and monotonic_ns() < end:
                    cpu_relax()
        if hit:
            disp.ask_idle.spun(True, 0, 0)
            return True
        disp.ask_idle.spun(False, monotonic_ns() - started, thread_cpu_ns() - cpu_started)
        if t is not None:
            t = max(0.0, <double>t - (monotonic_ns() - posted_ns) * 1e-9)
    if not reply.lock.acquire(True, -1 if t is None else t):
        return False
    if budget <= 0:
        disp.ask_idle.parked(reply.answered_ns - posted_ns)
    return True
