# Declarations of ddata.pyx: native CRDT states and the LMDB durable store.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class NativeData:
    cdef unique_ptr[CReplicatedData] p
    cdef CTypeTag t
    @staticmethod
    cdef NativeData _wrap(unique_ptr[CReplicatedData]& q)
    cdef int _need(self, CTypeTag t) except -1
    cdef COrMap* _map(self) except NULL


cdef class NativeLmdbStore:
    cdef CLmdbStore* s
