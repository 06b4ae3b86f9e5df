# Declarations of ref.pyx: the handle users talk to an actor through.
# Included by _core.pxd (one extension module, atomr._native._core).


# final: no subclasses, so C methods are called directly
@cython.final
cdef class ActorRef:
    cdef _Cell _cell
    cdef str _path
    @staticmethod
    cdef ActorRef new(_Cell cell, str path)
    cdef object _ask(self, object msg, object timeout, object key)
    cdef object _ask_blocking(self, object msg, object timeout, object key)
    cdef object _ask_deferred(self, object msg, object t, object key)
    cdef int _post_reply(self, object msg, object reply, object key) except -1
