"""Event sourcing: persistent actors, journals and snapshot stores.

An :class:`EventSourcedActor` keeps its state as the fold of the events it
persisted. Commands go through :meth:`EventSourcedActor.command_handler`,
which returns :class:`Effect` values; persisted events are applied with
:meth:`EventSourcedActor.event_handler`, both live and when the actor
recovers after a restart, a crash or in another process.

Storage is pluggable. The built-in backends are C++ implementations behind
one interface:

* :class:`InMemoryJournal` / :class:`InMemorySnapshotStore` -- the process's
  memory (the default: one journal per actor system);
* :class:`LmdbJournal` / :class:`LmdbSnapshotStore` -- durable LMDB files.
  Commits are fsynced before a write is acknowledged, and the writes of
  concurrent actors are committed together (group commit).

Any object implementing the :class:`Journal` (and :class:`SnapshotStore`)
interface plugs in the same way, through the actor's constructor or, after
:func:`register_journal`, through the ``persistence`` config section.

Events and snapshots are stored as bytes made by the actor system's codec
registry (``system.codecs``: msgpack for plain builtin values, JSON or user
codecs for the rest); pickle is never used unless a user registered it for a
manifest.
"""

from __future__ import annotations

# The implementation lives in private modules: _records (records, criteria),
# _store (the plugin interface), _native, _inmemory and _lmdb (the built-in
# backends), _recovery, _effect, _plugins (backends selected by config),
# _extension (the storage of one actor system) and _actor.
from atomr.errors import EventRejectedError, JournalError
from atomr.persistence._actor import EventSourcedActor
from atomr.persistence._effect import Effect
from atomr.persistence._extension import Persistence
from atomr.persistence._inmemory import InMemoryJournal, InMemorySnapshotStore
from atomr.persistence._lmdb import LmdbJournal, LmdbSnapshotStore
from atomr.persistence._plugins import register_journal, register_snapshot_store
from atomr.persistence._records import (
    MAX_SEQUENCE_NR,
    PersistentRecord,
    SnapshotRecord,
    SnapshotSelectionCriteria,
)
from atomr.persistence._recovery import RecoveryPermitter
from atomr.persistence._store import Journal, SnapshotStore

__all__ = [
    "EventSourcedActor",
    "Effect",
    "Journal",
    "SnapshotStore",
    "InMemoryJournal",
    "InMemorySnapshotStore",
    "LmdbJournal",
    "LmdbSnapshotStore",
    "RecoveryPermitter",
    "Persistence",
    "PersistentRecord",
    "SnapshotRecord",
    "SnapshotSelectionCriteria",
    "JournalError",
    "EventRejectedError",
    "register_journal",
    "register_snapshot_store",
    "MAX_SEQUENCE_NR",
]

