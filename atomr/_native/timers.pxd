# Declarations of timers.pyx: the native timer service and scheduled deliveries.
# Included by _core.pxd (one extension module, atomr._native._core).

# What a timer entry is for.
cdef enum:
    T_MESSAGE = 0
    T_RECEIVE_TIMEOUT = 1
    T_CALLBACK = 2         # msg is a zero-argument callable run by the target cell


cdef class _TimerService:
    cdef CTimerService* t
    cdef readonly bint virtual
    @staticmethod
    cdef _TimerService new(bint virtual)


cdef class Cancelable:
    cdef uint64_t key
    cdef uint64_t native_id
    cdef _TimerService service
    cdef object msg
    cdef _Cell owner
    cdef _Cell target
    cdef bint periodic
    cdef bint cancelled
    cdef bint finished
    cdef int purpose
    @staticmethod
    cdef Cancelable start(_Cell owner, _Cell target, object msg, double delay, double interval,
                          bint fixed_rate, int purpose)
    cdef void _forget(self)
