# Declarations of context.pyx: what a handler may do with its actor.
# Included by _core.pxd (one extension module, atomr._native._core).


# final: no subclasses, so C methods are called directly
@cython.final
cdef class Context:
    cdef _Cell _cell
    cdef object _sender
    cdef bint _active
    cdef int _check(self) except -1


@cython.final
cdef class DeferredReply:
    cdef _Reply reply
    cdef str path
    cdef bint used
    @staticmethod
    cdef DeferredReply new(_Reply reply, str path)
    cdef bint _answer(self, bint ok, object value) except -1


@cython.final
cdef class TimerScheduler:
    cdef _Cell _cell
    cdef int _check(self) except -1
    cdef object _start(self, object key, object msg, double delay, double interval,
                       bint fixed_rate)
