"""Journal and snapshot store plugins, selected by name in the ``persistence``
config section.
"""

from __future__ import annotations

from typing import Callable, Optional

from atomr._util import public_module
from atomr.config import ConfigError
from atomr.persistence._inmemory import InMemoryJournal, InMemorySnapshotStore
from atomr.persistence._lmdb import LmdbJournal, LmdbSnapshotStore
from atomr.persistence._store import Journal, SnapshotStore

# -- configuration: default storage per actor system ----------------------------------------

JournalFactory = Callable[[dict], Journal]
SnapshotStoreFactory = Callable[[dict], Optional[SnapshotStore]]

_journal_factories: dict[str, JournalFactory] = {}
_snapshot_factories: dict[str, SnapshotStoreFactory] = {}


@public_module("atomr.persistence")
def register_journal(name: str, factory: JournalFactory) -> None:
    """Makes ``persistence.journal = "<name>"`` build journals with `factory`.

    Args:
        name: The config value that selects the plugin.
        factory: ``factory(settings) -> Journal``; `settings` maps every
            dotted setting key of the system (``"persistence.lmdb.path"``,
            ...) to its value. Called once per actor system.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("a journal plugin needs a non-empty name")
    if not callable(factory):
        raise TypeError("factory must be callable")
    _journal_factories[name] = factory


@public_module("atomr.persistence")
def register_snapshot_store(name: str, factory: SnapshotStoreFactory) -> None:
    """Makes ``persistence.snapshot-store = "<name>"`` use `factory` (see
    :func:`register_journal`)."""
    if not isinstance(name, str) or not name:
        raise ValueError("a snapshot store plugin needs a non-empty name")
    if not callable(factory):
        raise TypeError("factory must be callable")
    _snapshot_factories[name] = factory


def _lmdb_settings(settings: dict) -> tuple[str, dict]:
    path = settings["persistence.lmdb.path"]
    if not path:
        raise ConfigError("persistence.lmdb.path must be set to use the LMDB journal")
    return path, dict(map_size=settings["persistence.lmdb.map-size"],
                      max_map_size=settings["persistence.lmdb.max-map-size"],
                      sync=settings["persistence.lmdb.sync"])


def _lmdb_journal_from(settings: dict) -> Journal:
    path, kw = _lmdb_settings(settings)
    return LmdbJournal(path, **kw)


def _lmdb_store_from(settings: dict) -> SnapshotStore:
    path, kw = _lmdb_settings(settings)
    return LmdbSnapshotStore(path, **kw)


def _postgres_journal_from(settings: dict) -> Journal:
    from atomr.persistence.postgres import PostgresJournal  # needs asyncpg: only when chosen
    return PostgresJournal._from_settings(settings)


def _postgres_store_from(settings: dict) -> SnapshotStore:
    from atomr.persistence.postgres import PostgresSnapshotStore
    return PostgresSnapshotStore._from_settings(settings)


register_journal("inmemory", lambda settings: InMemoryJournal())
register_journal("lmdb", _lmdb_journal_from)
register_journal("postgres", _postgres_journal_from)
register_snapshot_store("inmemory", lambda settings: InMemorySnapshotStore())
register_snapshot_store("lmdb", _lmdb_store_from)
register_snapshot_store("postgres", _postgres_store_from)
register_snapshot_store("none", lambda settings: None)
