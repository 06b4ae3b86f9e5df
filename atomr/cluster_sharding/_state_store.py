"""The shard coordinator's allocation state in distributed data.

Akka's ``state-store-mode = ddata``: on a cluster the coordinator of a
type keeps its allocations (shard -> the address of the region hosting
it) in an :class:`~atomr.ddata.LWWMap` under the key
``atomr-sharding-<type>-coordinator-state`` of the system's
:class:`~atomr.ddata.Replicator`, which replicates it to the other
members. It writes every change with ``WriteConsistency.majority`` (one
write in flight; a write that times out is sent again, as Akka retries
its state update), and a new coordinator reads the map with
``ReadConsistency.majority`` before it allocates anything (when the read
times out it falls back to the local replica, which gossip keeps close).

The config key ``cluster.sharding.state-store-mode`` picks the mode:
``"regions"`` (the default for now: the state is only rebuilt from the
regions' registrations) or ``"ddata"`` (Akka's default). A system that is not on a cluster (or alone
in it) never uses the store.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from atomr.ddata import DistributedData, LWWMap, ReadConsistency, WriteConsistency
from atomr.errors import ReplicationTimeoutError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.cluster_sharding._region import _Node

__all__ = ["StateStore", "state_store_mode", "READ_TIMEOUT", "WRITE_TIMEOUT"]

#: How long a new coordinator waits for a majority to answer its read.
READ_TIMEOUT = 1.0
#: How long one write waits for a majority before it is sent again.
WRITE_TIMEOUT = 2.0
#: How often the coordinator writes its state even when it did not change
#: (the stored map is made equal to it: a late write of a previous
#: coordinator is undone, replicas that missed a write get it).
RESYNC_INTERVAL = 5.0


def state_store_mode(system: Any) -> str:
    """``cluster.sharding.state-store-mode`` of `system` ("ddata" or "regions")."""
    try:
        return str(system.settings["cluster.sharding.state-store-mode"])
    except Exception:  # noqa: BLE001 - a terminating system: the default
        return "regions"


def state_key(type_name: str) -> str:
    return f"atomr-sharding-{type_name}-coordinator-state"


class StateStore:
    """The stored allocations of one type, for one coordinator instance.

    Its callbacks run under the node's lock (through ``node.locked``).
    """

    def __init__(self, node: "_Node", type_name: str) -> None:
        self.node = node
        self.key = state_key(type_name)
        self.replicator = DistributedData.get(node.system).replicator
        #: What the store holds as far as this coordinator knows.
        self.written: dict[str, str] = {}
        self.writing = False
        self.writes = 0
        self.timeouts = 0
        self.last_write = 0.0

    def _run(self, coro: Any) -> bool:
        try:
            asyncio.run_coroutine_threadsafe(coro, self.node.system.loop)
            return True
        except RuntimeError:  # the loop is closed: the system terminated
            coro.close()
            return False

    def load(self, done: Callable[[dict[str, str]], None]) -> None:
        """Reads the stored allocations (majority, else the local replica)
        and calls ``done(homes)`` under the node's lock."""
        rep = self.replicator

        async def read() -> None:
            value: Optional[LWWMap] = None
            try:
                try:
                    value = await rep.get_value(self.key, LWWMap,
                                                ReadConsistency.majority(READ_TIMEOUT))
                except ReplicationTimeoutError:
                    value = await rep.get_value(self.key, LWWMap, ReadConsistency.local())
            except Exception:  # noqa: BLE001 - a terminating system: nothing stored
                value = None
            homes: dict[str, str] = {}
            if value is not None:
                for shard, home in value.entries().items():
                    if isinstance(shard, str) and isinstance(home, bytes):
                        homes[shard] = home.decode("utf-8", "replace")
            self.node.locked(done, homes)

        self._run(read())

    def sync(self, homes: dict[str, str]) -> None:
        """Makes the stored map equal to `homes` when they changed since the
        last write (or every :data:`RESYNC_INTERVAL`), unless a write is in
        flight."""
        now = time.monotonic()
        if self.writing or (homes == self.written and now - self.last_write < RESYNC_INTERVAL):
            return
        target = dict(homes)

        def modify(m: LWWMap) -> LWWMap:
            current = m.entries()
            for shard, home in target.items():
                if current.get(shard) != home.encode():
                    m.put(shard, home.encode())
            for shard in current:
                if shard not in target:
                    m.remove(shard)
            return m

        rep = self.replicator

        async def write() -> None:
            try:
                result = await rep.update(self.key, LWWMap, modify,
                                          WriteConsistency.majority(WRITE_TIMEOUT))
            except Exception:  # noqa: BLE001 - a terminating system: no retry
                result = "failed"
            self.node.locked(written, result)

        def written(result: str) -> None:
            self.writing = False
            self.writes += 1
            if result == "ok":
                self.written = target
            else:
                # sent again at the coordinator's next tick
                self.timeouts += 1

        self.writing = True
        self.last_write = now
        if not self._run(write()):
            self.writing = False
