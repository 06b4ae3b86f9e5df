# Declarations of sim_network.pyx: the simulated network and its transports.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class _SimNetwork:
    cdef unique_ptr[CSimNetwork] net
    cdef CSimNetwork* _live(self) except NULL


cdef class _SimTransport:
    cdef unique_ptr[CSimTransport] t
    cdef shared_ptr[CInboundQueue] queue
    cdef readonly object network
    cdef readonly bint started
    cdef readonly bint stopped
    cdef CSimTransport* _live(self) except NULL
