# Declarations of remote.pyx: the TCP transport of one actor system.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class _RemoteTransport:
    cdef unique_ptr[CTcpTransport] t
    cdef shared_ptr[CInboundQueue] queue
    cdef readonly bint started
    cdef readonly bint stopped
    cdef CTcpTransport* _live(self) except NULL
