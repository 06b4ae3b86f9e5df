"""The LMDB durable store of distributed data.

One LMDB database file holds every durable key of a replicator; each write
is its own transaction committed with a synchronous flush, so a value is on
disk when ``persist`` returns. The work happens in C++
(``cpp/src/ddata/lmdb_store.cpp``) with the GIL released.

Example:
    >>> store = LmdbDurableStore.tmp()
    >>> store.persist("k", b"v")
    >>> store.load("k")
    b'v'
    >>> store.close()

``RedbDurableStore`` is the same class under the name the original package
used.

The implementation is :mod:`atomr.ddata.lmdb`; this module keeps the name.
"""

from __future__ import annotations

from atomr.ddata.lmdb import MAX_KEY_BYTES as MAX_KEY_BYTES  # the longest key, in bytes
from atomr.ddata.lmdb import LmdbDurableStore, RedbDurableStore

__all__ = ["LmdbDurableStore", "RedbDurableStore"]
