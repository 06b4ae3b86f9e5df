"""The remembered entities of a system's regions.

Always kept per (system, type name) in memory: a new region of the type on
the same system starts them again, and a shard handed off takes its
remembered ids along to its new owner (in the hand-off messages).

When the system's ``persistence.journal`` is not the in-memory one (LMDB,
PostgreSQL, a plugin: a journal the nodes of the cluster share), every
start and stop is also written to it, so that the shards of a node that
died start their remembered entities again on their new owner:

* ``sharding|<type>|<shard>``: events ``started`` / ``stopped`` whose
  payload is the entity id (written by the shard's owner only);
* ``sharding|<type>|shards``: one ``shard`` event per shard that ever
  remembered an entity (any node may append; a rejected write is retried
  after the highest sequence number is read again).

The writes run in order on the system's loop, one after another. A region
holds the messages of an entity it starts until its ``started`` event (and
the index entry of its shard) is written, so that an entity never handled
a message before it was remembered: a node that dies right after loses no
entity the others cannot start again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

from atomr.errors import EventRejectedError
from atomr.persistence import Journal, Persistence, PersistentRecord

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["RememberStore", "remember_store"]

_log = logging.getLogger("atomr.cluster_sharding")
_STORES: "weakref.WeakKeyDictionary[ActorSystem, RememberStore]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_STARTED = "atomr.sharding.started"
_STOPPED = "atomr.sharding.stopped"
_SHARD = "atomr.sharding.shard"


def _pid(type_name: str, shard: str) -> str:
    return f"sharding|{type_name}|{shard}"


def _index_pid(type_name: str) -> str:
    return f"sharding|{type_name}|shards"


class RememberStore:
    """type name -> shard -> remembered entity ids (and the journal copy)."""

    def __init__(self, system: Optional["ActorSystem"] = None,
                 journal: Optional[Journal] = None) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, dict[str, set[str]]] = {}
        self._system = system
        self.journal = journal
        self._queue: list[tuple[str, str, str, Optional[Callable[[], None]]]] = []
        self._writing = False
        self._next: dict[str, int] = {}
        self._indexed: set[tuple[str, str]] = set()

    @property
    def durable(self) -> bool:
        """Whether the ids are also in a journal the nodes share."""
        return self.journal is not None

    def started(self, type_name: str, shard: str, entity_id: str,
                done: Optional[Callable[[], None]] = None) -> bool:
        """Remembers `entity_id`. True when a journal write was queued:
        `done` is then called on the system's loop once it is written (or
        failed, logged). False when there is nothing to write (no journal,
        or the id is remembered already): `done` is not called."""
        with self._lock:
            ids = self._types.setdefault(type_name, {}).setdefault(shard, set())
            if entity_id in ids:
                return False
            ids.add(entity_id)
        return self._write(type_name, shard, _STARTED, entity_id, done)

    def stopped(self, type_name: str, shard: str, entity_id: str) -> None:
        with self._lock:
            shards = self._types.get(type_name, {})
            ids = shards.get(shard)
            if ids is None or entity_id not in ids:
                return
            ids.discard(entity_id)
            if not ids:
                del shards[shard]
        self._write(type_name, shard, _STOPPED, entity_id)

    def handed_off(self, type_name: str, shard: str) -> None:
        """`shard` moved to another node (its ids went along; the journal
        keeps them)."""
        with self._lock:
            self._types.get(type_name, {}).pop(shard, None)

    def adopt(self, type_name: str, shard: str, ids: Any) -> None:
        """`ids` are remembered in `shard`, which arrived here (no write:
        they are in the journal already, or it has none)."""
        with self._lock:
            self._types.setdefault(type_name, {}).setdefault(shard, set()).update(ids)

    def entities(self, type_name: str) -> dict[str, list[str]]:
        with self._lock:
            return {s: sorted(ids) for s, ids in self._types.get(type_name, {}).items() if ids}

    # -- the journal ---------------------------------------------------------------

    def _write(self, type_name: str, shard: str, manifest: str, entity_id: str,
               done: Optional[Callable[[], None]] = None) -> bool:
        if self.journal is None or self._system is None:
            return False
        entry = (type_name, shard, f"{manifest}\0{entity_id}", done)
        with self._lock:
            self._queue.append(entry)
            if self._writing:
                return True
            self._writing = True
        try:
            asyncio.run_coroutine_threadsafe(self._drain(), self._system.loop)
        except RuntimeError:  # the loop is closed: nothing will be written
            with self._lock:
                self._writing = False
                dropped, self._queue = self._queue, []
            for other in dropped:
                if other is not entry and other[3] is not None:
                    other[3]()  # queued meanwhile by another thread: it waits for it
            return False
        return True

    async def _drain(self) -> None:
        assert self.journal is not None
        while True:
            with self._lock:
                if not self._queue:
                    self._writing = False
                    return
                type_name, shard, item, done = self._queue.pop(0)
            manifest, _, entity_id = item.partition("\0")
            try:
                if (type_name, shard) not in self._indexed:
                    await self._append(_index_pid(type_name), _SHARD, shard)
                    self._indexed.add((type_name, shard))
                await self._append(_pid(type_name, shard), manifest, entity_id)
            except Exception as exc:  # noqa: BLE001 - a failed write is logged, not fatal
                _log.warning("sharding: remembering %s of %s/%s failed: %s", entity_id,
                             type_name, shard, exc)
            if done is not None:
                try:
                    done()
                except Exception:  # noqa: BLE001 - a failing callback must not stop the writes
                    _log.exception("sharding: a remembered-entity callback failed")

    async def _append(self, pid: str, manifest: str, value: str) -> None:
        assert self.journal is not None
        for _ in range(20):
            seq = self._next.get(pid)
            if seq is None:
                seq = await self.journal.read_highest_sequence_nr(pid) + 1
            record = PersistentRecord(pid, seq, manifest, value.encode(),
                                      int(time.time() * 1000))
            result = await self.journal.write_messages([[record]])
            if result[0] is None:
                self._next[pid] = seq + 1
                return
            if not isinstance(result[0], EventRejectedError):
                raise result[0]
            self._next.pop(pid, None)  # another node appended: read again
        raise RuntimeError(f"could not append to {pid}")

    def load(self, type_name: str, shard: str,
             done: Callable[[list[str]], None]) -> None:
        """Reads the ids remembered in `shard` from the journal, then calls
        ``done(ids)`` on the system's loop."""
        async def run() -> None:
            assert self.journal is not None
            ids: set[str] = set()
            for record in await self.journal.replay_messages(_pid(type_name, shard)):
                entity_id = record.payload.decode()
                if record.manifest == _STARTED:
                    ids.add(entity_id)
                elif record.manifest == _STOPPED:
                    ids.discard(entity_id)
            self.adopt(type_name, shard, ids)
            done(sorted(ids))

        self._spawn(run())

    def load_shards(self, type_name: str, done: Callable[[list[str]], None]) -> None:
        """Reads the shards that ever remembered an entity, then calls
        ``done(shards)`` on the system's loop."""
        async def run() -> None:
            assert self.journal is not None
            records = await self.journal.replay_messages(_index_pid(type_name))
            done(sorted({r.payload.decode() for r in records}))

        self._spawn(run())

    def _spawn(self, coro: Any) -> None:
        assert self._system is not None
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._system.loop)
        except RuntimeError:  # the loop is closed
            coro.close()
            return
        future.add_done_callback(_log_failure)


def _log_failure(future: Any) -> None:
    """A failed read of the journal is logged (its shards or entities are
    not started again until the next one)."""
    if not future.cancelled() and future.exception() is not None:
        _log.warning("sharding: reading remembered entities failed: %r", future.exception())


def remember_store(system: "ActorSystem") -> RememberStore:
    """The store of `system` (made on first use)."""
    with _LOCK:
        store = _STORES.get(system)
        if store is None:
            journal = None
            if system.settings.get("persistence.journal", "inmemory") != "inmemory":
                journal = Persistence.get(system).journal()
            store = _STORES[system] = RememberStore(system, journal)
        return store
