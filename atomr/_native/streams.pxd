# Declarations of streams.pyx: a materialized island and the state of a
# kill switch. Included by _core.pxd (one extension module, atomr._native._core).


cdef class StreamIsland:
    cdef unique_ptr[CPyStream] s
    # Every Python object the island borrows (callables, deciders, handles).
    cdef list keep
    cdef public object starter

    cdef CInterpreter* _i(self)
    cdef void* _borrow(self, object fn) except? NULL


cdef class KillSwitchState:
    cdef shared_ptr[CKillSwitch] ks
