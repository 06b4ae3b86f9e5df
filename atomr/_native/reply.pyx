# Replies: where the answer to an ask goes.
# Part of atomr._native._core (included by _core.pyx; declared in reply.pxd).


cdef class _Reply:
    """Where the answer to an ask goes. Completed at most once; a late
    completion (after a timeout) is ignored."""

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

    def __cinit__(self):
        self.lock = allocate_lock()
        self.lock.acquire()

    cdef void complete(self, object value):
        if self.done:
            return
        self.done = True
        self.ok = True
        self.value = value
        self._answered()

    cdef void fail(self, object exc):
        if self.done:
            return
        self.done = True
        self.ok = False
        self.value = exc
        self._answered()

    cdef void _answered(self):
        self.answered_ns = monotonic_ns()
        raise_flag(self.answered)
        self.lock.release()


cdef class _ConcurrentReply(_Reply):
    """An ask made where no loop runs, awaited later on some loop."""

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


async def _await_deferred(cf, timeout, double deadline, str path):
    remaining = None if timeout is None else max(0.0, deadline - time.monotonic())
    try:
        return await asyncio.wait_for(asyncio.wrap_future(cf), remaining)
    except asyncio.TimeoutError:
        raise _errors.AskTimeoutError(f"ask to {path} timed out after {timeout:g}s") from None
