# Declarations of reply.pyx: where the answer to an ask goes.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class _Reply:
    cdef bint done
    cdef void complete(self, object value)
    cdef void fail(self, object exc)


cdef class _FutureReply(_Reply):
    cdef object fut
    cdef object loop
    cdef unsigned long thread_id
    cdef object timer
    @staticmethod
    cdef _FutureReply new(object fut, object loop, unsigned long thread_id)
    cdef void _settle(self, bint ok, object value)
    cdef void complete(self, object value)
    cdef void fail(self, object exc)


cdef class _LockReply(_Reply):
    cdef object lock
    cdef bint ok
    cdef object value
    # raised (atomically, after `value`) once answered: an asker spinning
    # without the GIL watches it; and when (monotonic ns)
    cdef uint32_t answered
    cdef int64_t answered_ns
    cdef void complete(self, object value)
    cdef void fail(self, object exc)
    cdef void _answered(self)


cdef class _ConcurrentReply(_Reply):
    cdef object cf
    cdef void complete(self, object value)
    cdef void fail(self, object exc)
