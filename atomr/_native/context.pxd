# Declarations of context.pyx: what a handler may do with its actor.
# Included by _core.pxd (one extension module, atomr._native._core).


# final: no subclasses, so C methods are called directly
@cython.final
cdef class Context:
    cdef _Cell _cell
    cdef object _sender
    cdef bint _active
    cdef int _check(self) except -1
