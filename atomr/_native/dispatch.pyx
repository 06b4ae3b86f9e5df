# The python-pinned dispatcher, and suspended handlers handed to asyncio.
# Part of atomr._native._core (included by _core.pyx; declared in dispatch.pxd).


# ---------------------------------------------------------------------------
# Suspended handlers


cdef class _Suspended:
    """Hands a coroutine that suspended under ``PyIter_Send`` to an asyncio
    task: yields the value the coroutine yielded first, then delegates
    ``send``/``throw`` to it."""

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


cdef class _PoolStats:
    """The counters of one interpreter pool (one `interpreter_role` label) of
    one system. Its cells share it; only the loop's thread updates it."""

    def __cinit__(self, str label):
        self.label = label
        self.kind = None


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

    cdef void drain(self):
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
            self.draining = False
            self.busy_ns += <uint64_t>((_monotonic() - started) * 1e9)
