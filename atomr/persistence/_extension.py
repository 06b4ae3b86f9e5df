"""The persistence state of one actor system: its default journal, snapshot
store and recovery permitter, built on first use from its settings.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Optional

from atomr.config import ConfigError, Setting, register_section
from atomr.persistence._plugins import _journal_factories, _snapshot_factories
from atomr.persistence._records import _DEFAULT_MAP_SIZE, _DEFAULT_MAX_MAP_SIZE
from atomr.persistence._recovery import RecoveryPermitter
from atomr.persistence._store import Journal, SnapshotStore

register_section("persistence", {
    "journal": Setting("str", "inmemory"),
    "snapshot-store": Setting("str", "auto"),
    "snapshot-every": Setting("int", 0, minimum=0),
    "max-concurrent-recoveries": Setting("int", 50, minimum=1),
    "lmdb.path": Setting("str", ""),
    "lmdb.map-size": Setting("int", _DEFAULT_MAP_SIZE, minimum=65536),
    "lmdb.max-map-size": Setting("int", _DEFAULT_MAX_MAP_SIZE, minimum=65536),
    "lmdb.sync": Setting("bool", True),
})

class _SystemStorage:
    """The default journal, snapshot store and permitter of one system,
    built on first use from its ``persistence`` settings."""

    def __init__(self, settings: dict) -> None:
        self.settings = settings
        self._journal: Optional[Journal] = None
        self._store: Any = False  # False: not built yet (None is "no store")
        self.permitter = RecoveryPermitter(settings["persistence.max-concurrent-recoveries"])
        every = settings["persistence.snapshot-every"]
        self.snapshot_every = every or None

    def journal(self) -> Journal:
        if self._journal is None:
            name = self.settings["persistence.journal"]
            factory = _journal_factories.get(name)
            if factory is None:
                raise ConfigError(f"unknown persistence.journal `{name}`; known: "
                                  f"{', '.join(sorted(_journal_factories))}")
            self._journal = factory(self.settings)
        return self._journal

    def snapshot_store(self) -> Optional[SnapshotStore]:
        if self._store is False:
            name = self.settings["persistence.snapshot-store"]
            if name == "auto":
                name = self.settings["persistence.journal"]
                if name not in _snapshot_factories:
                    name = "none"
            factory = _snapshot_factories.get(name)
            if factory is None:
                raise ConfigError(f"unknown persistence.snapshot-store `{name}`; known: "
                                  f"auto, {', '.join(sorted(_snapshot_factories))}")
            self._store = factory(self.settings)
        return self._store


_storage: "weakref.WeakKeyDictionary[Any, _SystemStorage]" = weakref.WeakKeyDictionary()
_storage_lock = threading.Lock()


def _storage_of(system: Any) -> _SystemStorage:
    with _storage_lock:
        storage = _storage.get(system)
        if storage is None:
            storage = _storage[system] = _SystemStorage(system.settings)
        return storage
