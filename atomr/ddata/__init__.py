"""Distributed data: CRDTs with native merge, and the Replicator.

Every CRDT here is a mutable Python object over a state held in C++
(``atomr/_native/ddata.pyx``); ``merge`` joins another replica's state into
it natively. Merge is commutative, associative and idempotent, and every
update only moves a state upwards, so replicas that exchange states in any
order, any number of times, converge.

Elements, keys and values are any value the codecs can encode: ``str``,
``bytes``, ``int``, ``float``, ``bool``, ``None`` and tuples / frozensets of
them are encoded canonically here; anything else goes through the codec
registry (the system's, for values handled by a :class:`Replicator`) as its
manifest plus the codec's bytes. Two values are the same element exactly
when their encodings are equal, so ``1`` and ``True`` and ``1.0`` are three
different elements, and objects whose codec output depends on insertion
order (dicts) should not be used as elements.

Types whose updates create causal events (``ORSet``, ``ORMap``, ``LWWMap``,
``PNCounterMap``, ``ORMultiMap``) act as one *replica* named by their
``node`` (a random id unless given; the Replicator uses the system's
address). Two objects must never share a node id while they are updated
independently.

Mutators return None (``lambda s: s.add(x) or s`` returns the set), as
Python's own containers do.

Each type also keeps a delta: ``delta()`` is the join of its own updates
since ``reset_delta()`` (a value of the same type), and ``merge_delta``
joins such a delta into another replica -- the same result as merging the
full state, for a fraction of the bytes.

``to_bytes()`` / ``from_bytes()`` use a versioned binary wire format;
decoding a malformed blob raises :class:`~atomr.errors.MalformedDataError`.
"""

from __future__ import annotations

# The implementation lives in private modules: _wire (canonical encoding),
# _crdt (the CRDT types), _consistency (levels and aggregators), _pruning,
# _durable (durable stores; the LMDB one is the public submodule `lmdb`) and
# _replicator.
from atomr.ddata import lmdb  # noqa: F401  (the built-in LMDB store behind DurableStore.lmdb)
from atomr.ddata._consistency import (
    ReadAggregator,
    ReadConsistency,
    WriteAggregator,
    WriteConsistency,
)
from atomr.ddata._crdt import (
    Flag,
    GCounter,
    GSet,
    LWWMap,
    LwwRegister,
    ORMap,
    ORMultiMap,
    ORSet,
    PNCounter,
    PNCounterMap,
    ReplicatedData,
)
from atomr.ddata._durable import DurableStore, FileDurableStore, NoopDurableStore
from atomr.ddata._pruning import PruningState, pruning_phases
from atomr.ddata._replicator import DistributedData, Replicator, ReplicatorSubscription
from atomr.errors import (
    DataDeletedError,
    DurableStoreError,
    MalformedDataError,
    ReplicationTimeoutError,
    UpdateFailedError,
)

__all__ = [
    "ReplicatedData",
    "GCounter",
    "PNCounter",
    "GSet",
    "ORSet",
    "LwwRegister",
    "Flag",
    "ORMap",
    "LWWMap",
    "PNCounterMap",
    "ORMultiMap",
    "ReadConsistency",
    "WriteConsistency",
    "WriteAggregator",
    "ReadAggregator",
    "PruningState",
    "pruning_phases",
    "DurableStore",
    "NoopDurableStore",
    "FileDurableStore",
    "Replicator",
    "DistributedData",
    "ReplicatorSubscription",
    "MalformedDataError",
    "DurableStoreError",
    "DataDeletedError",
    "ReplicationTimeoutError",
    "UpdateFailedError",
]

