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

    cdef void detach(self):
        _drop_host(self)
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
                    turn_started = _monotonic()
                    try:
                        handled = cell._run_turn()
                        self.messages_handled += handled
                        cell.pool.messages_handled += handled
                        budget -= 1 + handled
                    except BaseException as exc:
                        cell._crashed(exc)
                    cell.pool.busy_ns += <uint64_t>((_monotonic() - turn_started) * 1e9)
                c.release()
        finally:
            _host_exit(self)  # coroutines ran inside a host Task (host.pyx)
            self.draining = False
            self.drain_end = 0.0
            self.busy_ns += <uint64_t>((_monotonic() - started) * 1e9)
