# Timers: the native timer service delivers a (kind=K_TIMER, tag=key)
# envelope into the target cell; the message itself stays here, in Python,
# and is looked up by key when the target handles the envelope. C++ threads
# therefore never touch a Python object.
# Part of atomr._native._core (included by _core.pyx; declared in timers.pxd).


#
# The registry of live timers (key -> Cancelable) and the key counter belong
# to the target cell's system (_System.timers, _System.timer_keys): the
# envelope only carries the key, and the target's system resolves it.


cdef class _TimerService:
    """Owns one native timer service (real or virtual clock)."""

    def __cinit__(self):
        self.t = NULL

    def __dealloc__(self):
        if self.t != NULL:
            with nogil:
                del self.t
            self.t = NULL

    @staticmethod
    cdef _TimerService new(bint virtual):
        cdef _TimerService s = _TimerService.__new__(_TimerService)
        s.virtual = virtual
        s.t = new CTimerService(CClockMode.manual if virtual else CClockMode.real)
        return s

    def now(self):
        """Seconds since the service started (virtual time when virtual)."""
        return self.t.now()

    def pending(self):
        return self.t.pending()

    def advance(self, double seconds):
        """Virtual clock only: moves time forward, firing every due timer."""
        cdef size_t fired
        if not self.virtual:
            raise RuntimeError("advance() needs a virtual clock (scheduler.clock = \"virtual\")")
        if not seconds >= 0:
            raise ValueError(f"cannot advance time by {seconds!r} seconds")
        fired = self.t.advance(seconds)
        return fired


cdef double _check_delay(object value, str what) except -1.0:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    d = float(value)
    if not d >= 0.0 or math.isinf(d):
        raise ValueError(f"{what} must be a non-negative, finite number of seconds, got {value!r}")
    return d


cdef class Cancelable:
    """A scheduled delivery. ``cancel()`` is idempotent and thread-safe; a
    cancelled timer never delivers again."""

    def __init__(self, *args, **kwargs):
        raise TypeError("Cancelable objects are returned by the ctx.schedule_* methods")

    @staticmethod
    cdef Cancelable start(_Cell owner, _Cell target, object msg, double delay, double interval,
                          bint fixed_rate, int purpose):
        cdef Cancelable t = Cancelable.__new__(Cancelable)
        cdef _System home = target.system
        home.timer_keys += 1
        t.key = home.timer_keys
        t.service = owner.system.timer_service()
        t.msg = msg
        t.owner = owner
        t.target = target
        t.periodic = interval > 0.0
        t.purpose = purpose
        home.timers[t.key] = t
        owner.timers[t.key] = t
        t.native_id = t.service.t.schedule(target.c, K_TIMER, t.key, delay, interval, fixed_rate,
                                           False)
        return t

    cdef void _forget(self):
        self.target.system.timers.pop(self.key, None)
        if self.owner is not None:
            self.owner.timers.pop(self.key, None)
            self.owner = None

    def cancel(self):
        """Cancels the timer. Returns True if it was still pending."""
        if self.cancelled or self.finished:
            return False
        self.cancelled = True
        # Without the GIL: cancel() may wait for a fire in progress, and a
        # fire into a stopping cell can need the GIL for its dead letters.
        with nogil:
            self.service.t.cancel(self.native_id)
        self._forget()
        return True

    def is_cancelled(self):
        """True once :meth:`cancel` has cancelled this timer."""
        return self.cancelled

    @property
    def is_periodic(self):
        """True for a repeating timer."""
        return self.periodic

    def __repr__(self):
        state = "cancelled" if self.cancelled else ("done" if self.finished else "pending")
        return f"<Cancelable {state} msg={self.msg!r}>"
