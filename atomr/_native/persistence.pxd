# Declarations of persistence.pyx: native journals, snapshot stores and
# the completion port.
# Included by _core.pxd (one extension module, atomr._native._core).


cdef class _CompletionPort:
    cdef shared_ptr[CCompletionPort] port


cdef class _NativeJournal:
    cdef shared_ptr[CJournal] j
    cdef readonly str kind
    cdef readonly bint blocking
    @staticmethod
    cdef _NativeJournal new(shared_ptr[CJournal] j, str kind)


cdef class _NativeSnapshotStore:
    cdef shared_ptr[CSnapshotStore] s
    cdef readonly str kind
    cdef readonly bint blocking
    @staticmethod
    cdef _NativeSnapshotStore new(shared_ptr[CSnapshotStore] s, str kind)
