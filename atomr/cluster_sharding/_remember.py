"""The remembered entities of a system's regions.

Kept per (system, type name) in memory: a new region of the type on the
same system starts them again, and a shard handed off takes its
remembered ids along to its new owner (in the hand-off messages).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["RememberStore", "remember_store"]

_STORES: "weakref.WeakKeyDictionary[ActorSystem, RememberStore]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class RememberStore:
    """type name -> shard -> remembered entity ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, dict[str, set[str]]] = {}

    def started(self, type_name: str, shard: str, entity_id: str) -> None:
        with self._lock:
            self._types.setdefault(type_name, {}).setdefault(shard, set()).add(entity_id)

    def stopped(self, type_name: str, shard: str, entity_id: str) -> None:
        with self._lock:
            shards = self._types.get(type_name, {})
            ids = shards.get(shard)
            if ids is not None:
                ids.discard(entity_id)
                if not ids:
                    del shards[shard]

    def handed_off(self, type_name: str, shard: str) -> None:
        """`shard` moved to another node (its ids went along)."""
        with self._lock:
            self._types.get(type_name, {}).pop(shard, None)

    def entities(self, type_name: str) -> dict[str, list[str]]:
        with self._lock:
            return {s: sorted(ids) for s, ids in self._types.get(type_name, {}).items() if ids}


def remember_store(system: "ActorSystem") -> RememberStore:
    """The store of `system` (made on first use)."""
    with _LOCK:
        store = _STORES.get(system)
        if store is None:
            store = _STORES[system] = RememberStore()
        return store
