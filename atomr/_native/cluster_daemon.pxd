# Declarations of cluster_daemon.pyx: the cluster daemon and its hosts.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class _ClusterBus:
    cdef unique_ptr[CSimBus] bus
    cdef readonly object network
    cdef CSimBus* _live(self) except NULL


cdef class _ClusterDaemon:
    cdef unique_ptr[CDaemonHost] host
    cdef readonly object transport
    cdef CDaemonHost* _live(self) except NULL


cdef class _ClusterLease:
    cdef shared_ptr[CPolledLeaseState] state
