# Storage: the LMDB environment layer that persistence and ddata share. It
# has no Python-visible API: its errors surface as the caller's
# (JournalError, DurableStoreError), and this part only declares its error
# codes to the translator, for any that escape.
# Part of atomr._native._core (included by _core.pyx; no cdef classes, so no
# storage.pxd).

from atomr._native.includes.storage cimport CStorageErrc

_declare_native_codes("storage", <int>CComponent.storage, {
    "generic": <int>CStorageErrc.generic,
    "already_open": <int>CStorageErrc.already_open,
    "map_full": <int>CStorageErrc.map_full,
    "txn_full": <int>CStorageErrc.txn_full,
    "closed": <int>CStorageErrc.closed,
    "invalid_argument": <int>CStorageErrc.invalid_argument,
})
