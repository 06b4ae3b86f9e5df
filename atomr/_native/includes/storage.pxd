# Extern-only declarations mirroring cpp/include/atomr/storage (the LMDB
# environment layer persistence and ddata share). Nothing here is
# Python-visible; Cython only needs the storage error codes.


cdef extern from "atomr/storage/error.hpp" namespace "atomr::storage" nogil:
    cdef enum class CStorageErrc "atomr::storage::errc" (int):
        generic "atomr::storage::errc::generic"
        already_open "atomr::storage::errc::already_open"
        map_full "atomr::storage::errc::map_full"
        txn_full "atomr::storage::errc::txn_full"
        closed "atomr::storage::errc::closed"
        invalid_argument "atomr::storage::errc::invalid_argument"
