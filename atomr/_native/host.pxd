# Declarations of host.pyx: the asyncio Task a handler coroutine runs in.
# Included by _core.pxd (one extension module, atomr._native._core).

from cpython.object cimport PyObject


# final: no subclasses, so C methods are called directly
@cython.final
cdef class _Host:
    cdef object loop
    cdef object task          # the asyncio Task whose coroutine this host is
    cdef object context       # the contextvars.Context that task runs in
    cdef object coro          # the hosted handler coroutine, once handed over
    cdef object first         # what it yielded when it first suspended
    cdef bint has_first
    cdef object park          # the future an idle host's task waits on
    cdef bint ended           # the task has ended (or will, being cancelled idle)
    @staticmethod
    cdef _Host new(object loop)
    cdef void take(self, object coro, object first)
