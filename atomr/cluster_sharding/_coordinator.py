"""The shard coordinator of one entity type.

It runs on the node :mod:`atomr.cluster_sharding._placement` names (the
oldest up member with the type's role), as a cluster singleton (see
:mod:`atomr.cluster_sharding._singleton`), and decides which region hosts
each shard:

* a shard asked for the first time goes to the region with the fewest
  shards (``least-shards``) or to the region that asked (``pinned``);
* every rebalance tick, while the fullest region has at least
  ``rebalance_threshold`` (and at least two) more shards than the emptiest,
  up to ``max_simultaneous_rebalance`` shards are handed off from the
  fullest regions; each is then allocated again like a new shard;
* the shards of a node that was removed are forgotten; those with
  remembered entities are allocated again at once;
* a region shutting down gracefully (its node leaving) gets no new shard
  and each of its shards is handed off at once.

With ``cluster.sharding.state-store-mode = "ddata"`` (not the default yet) its
allocations (shard -> region) are stored in distributed data
(:mod:`atomr.cluster_sharding._state_store`, Akka's
``state-store-mode = ddata``): a new coordinator reads them (majority)
before it allocates anything and takes every stored home whose node is
still alive. It then reconciles with the regions, which register again
with the shards they host (and the shards whose entities they remember):
a registration wins over a stored home it contradicts, the shards of
regions that are gone are allocated again. Until every live node
registered (or the stored state is read and :data:`RECOVERY_WAIT` seconds
passed) it allocates nothing, so a shard still hosted by a node that has
not registered yet is not given to a second region. In the
``"regions"`` mode (and off a cluster) the state is rebuilt from the
registrations alone.

Hand-off of a shard ``S`` hosted by region ``A``:

1. the coordinator sends ``begin`` to every region and proxy; each buffers
   further messages for ``S`` and sends ``drained`` to ``A`` behind every
   message it sent there before (the links are FIFO);
2. once ``A`` has every ``drained``, each entity of ``S`` has all its
   messages in its mailbox; ``A`` stops them with a marker queued behind
   those messages and reports ``stopped`` when they all terminated;
3. the coordinator allocates ``S`` again and announces the new ``home`` to
   every region, which sends its buffer there in order.

Every message sent during a hand-off so reaches its entity exactly once,
in the order each sender sent it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

from atomr.cluster_sharding._settings import ShardingSettings

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.cluster_sharding._state_store import StateStore

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.cluster_sharding._region import _Node

__all__ = ["Coordinator", "RECOVERY_WAIT", "REBALANCE_INTERVAL", "LEAVE_TIMEOUT"]

#: How long a new coordinator waits for live nodes to register (twice the
#: interval at which a region not registered yet sends its registration
#: again, so a region whose first one was lost is waited for).
RECOVERY_WAIT = 2.0
#: How often the coordinator looks for shards to rebalance.
REBALANCE_INTERVAL = 0.5
#: How long a region shutting down gracefully is waited for once its node
#: left the membership, by default (``ShardingSettings.leaving_region_timeout``).
LEAVE_TIMEOUT = 10.0


class Coordinator:
    """The allocation state of one type (used under its node's lock)."""

    def __init__(self, node: "_Node", type_name: str, settings: ShardingSettings,
                 store: Optional["StateStore"] = None) -> None:
        self.node = node
        self.type_name = type_name
        self.settings = settings
        self.regions: dict[str, set[str]] = {}
        self.proxies: set[str] = set()
        self.homes: dict[str, str] = {}
        # shard -> the region handing it off
        self.rebalancing: dict[str, str] = {}
        # shard -> when its hand-off was (last) begun
        self.began: dict[str, float] = {}
        # Regions shutting down gracefully -> when their node left the
        # membership (None while it is still a member).
        self.leaving: dict[str, Optional[float]] = {}
        self.pending: set[str] = set()
        self.remembered: set[str] = set()
        self.created = time.monotonic()
        self.active = False
        self.last_rebalance = time.monotonic()
        self.rebalances = 0
        # Regions that registered with this coordinator (the regions of
        # stored homes are in `regions` too).
        self.registered: set[str] = set()
        # Shards whose home came from the stored state and no registration
        # confirmed yet.
        self.stored: set[str] = set()
        self.store = store
        self.loaded = store is None
        if store is not None:
            store.load(self._stored_state)

    # -- messages ------------------------------------------------------------------

    def _send(self, to: str, msg: tuple[Any, ...]) -> None:
        self.node.send(to, msg)

    def _everyone(self) -> list[str]:
        return sorted(set(self.regions) | self.proxies)

    def _broadcast(self, msg: tuple[Any, ...]) -> None:
        for addr in self._everyone():
            self._send(addr, msg)

    def register(self, addr: str, proxy: bool, shards: list[str],
                 remembered: list[str], stopping: Optional[list[str]] = None) -> None:
        """A region (or proxy) at `addr` registers with what it hosts (and
        the shards it is stopping for a hand-off)."""
        if proxy:
            self.proxies.add(addr)
            if addr in self.regions and addr not in self.registered:
                # stored homes of a node that now only runs a proxy
                for shard in self.regions.pop(addr):
                    if self.homes.get(shard) == addr:
                        del self.homes[shard]
                    self.stored.discard(shard)
        else:
            self.proxies.discard(addr)
            self.registered.add(addr)
            own = self.regions.setdefault(addr, set())
            for shard in shards:
                home = self.homes.get(shard)
                if shard in self.rebalancing:
                    continue
                if home is not None and home != addr:
                    if shard in self.stored:
                        # The region hosting it wins over the stored home.
                        self.regions.get(home, set()).discard(shard)
                    else:
                        # Two regions host it (two clusters merged): the
                        # one known first keeps it.
                        self._send(addr, ("drop", self.type_name, shard))
                        continue
                self.stored.discard(shard)
                self.homes[shard] = addr
                own.add(shard)
            for shard in stopping or ():
                # A hand-off begun by the previous coordinator: it ends
                # when the region reports the shard stopped.
                if shard not in self.homes and shard not in self.rebalancing:
                    self.rebalancing[shard] = addr
                    self.began[shard] = time.monotonic()
            self.remembered.update(remembered)
        self._send(addr, ("registered", self.type_name, dict(self.homes)))
        if self.active:
            self.pending.update(s for s in remembered if s not in self.homes)
            self._allocate_pending()
        self.try_activate()

    def _stored_state(self, homes: dict[str, str]) -> None:
        """The stored allocations were read: a coordinator not active yet
        takes each whose node is alive and no registration contradicts."""
        if self.store is None or self.node.coordinators.get(self.type_name) is not self:
            return
        self.store.written = dict(homes)
        if not self.active:
            alive = self.node.membership.alive
            for shard, home in sorted(homes.items()):
                if home not in alive or home in self.proxies or home in self.leaving or \
                        shard in self.homes or shard in self.rebalancing:
                    continue
                self.homes[shard] = home
                self.regions.setdefault(home, set()).add(shard)
                self.stored.add(shard)
        self.loaded = True
        self.try_activate()
        self.store.sync(self.homes)

    def attach_store(self, store: "StateStore") -> None:
        """This coordinator got onto a cluster: it keeps its state (it is
        current) and stores it from now on."""
        if self.store is None:
            self.store = store
            store.load(self._stored_state)

    def try_activate(self) -> None:
        if self.active:
            return
        alive = self.node.membership.alive
        known = self.registered | self.proxies
        # Once every live node registered, the registrations tell where
        # every hosted shard is; before that the stored homes are needed.
        if alive <= known or (self.loaded and
                              time.monotonic() - self.created >= RECOVERY_WAIT):
            self.active = True
            for shard in sorted(self.remembered):
                if shard not in self.homes:
                    self.pending.add(shard)
            self._allocate_pending()
            self._load_remembered()

    def _load_remembered(self) -> None:
        """With a shared journal: the shards that remember entities are
        allocated at once (a node that died hosted some of them)."""
        store = self.node.remember
        if not store.durable or not self.settings.remember_entities:
            return

        def loaded(shards: list[str]) -> None:
            if self.node.coordinators.get(self.type_name) is not self:
                return
            self.remembered.update(shards)
            self.pending.update(s for s in shards
                                if s not in self.homes and s not in self.rebalancing)
            self._allocate_pending()

        store.load_shards(self.type_name, lambda shards: self.node.locked(loaded, shards))

    def get_home(self, shard: str, requester: str) -> None:
        """A region asks where `shard` lives."""
        home = self.homes.get(shard)
        if home is not None:
            self._send(requester, ("home", self.type_name, shard, home, None))
            return
        self.pending.add(shard)
        if self.active and shard not in self.rebalancing:
            self._allocate_pending(requester)

    def _choose(self, requester: Optional[str]) -> Optional[str]:
        candidates = sorted(r for r in self.regions if r not in self.leaving)
        if not candidates:
            return None
        if self.settings.allocation_strategy == "pinned" and requester in candidates:
            return requester
        counts = self._counts()
        return min(candidates, key=lambda r: counts[r])

    def _counts(self) -> dict[str, int]:
        counts = {r: len(s) for r, s in self.regions.items()}
        for shard, home in self.rebalancing.items():
            if home in counts and shard not in self.regions[home]:
                counts[home] += 1
        return counts

    def _allocate_pending(self, requester: Optional[str] = None,
                          entities: Optional[dict[str, list[str]]] = None) -> None:
        for shard in sorted(self.pending):
            if shard in self.rebalancing or shard in self.homes:
                self.pending.discard(shard)
                if shard in self.homes:
                    self._broadcast(("home", self.type_name, shard, self.homes[shard], None))
                continue
            region = self._choose(requester)
            if region is None:
                return
            self.pending.discard(shard)
            self.homes[shard] = region
            self.regions[region].add(shard)
            ids = (entities or {}).get(shard)
            self._broadcast(("home", self.type_name, shard, region, ids))

    def stopped(self, addr: str, shard: str, entities: Optional[list[str]]) -> None:
        """The region at `addr` stopped `shard` (a hand-off finished)."""
        if self.rebalancing.get(shard) != addr:
            return
        del self.rebalancing[shard]
        own = self.regions.get(addr)
        if own is not None:
            own.discard(shard)
        self.pending.add(shard)
        self._allocate_pending(None, {shard: entities} if entities else None)

    def graceful(self, addr: str) -> None:
        """The region at `addr` shuts down gracefully (Akka's
        ``GracefulShutdownReq``): no shard goes to it any more and each of
        its shards is handed off (see the module comment), however many
        at once; it reports ``region_gone`` once it hosts none."""
        if addr not in self.leaving:
            self.leaving[addr] = None
        self._hand_off_leaving()

    def _hand_off_leaving(self) -> None:
        if not self.active:
            return
        participants = None
        for addr in sorted(self.leaving):
            for shard in sorted(self.regions.get(addr, ())):
                if shard in self.rebalancing:
                    continue
                if participants is None:
                    participants = self._everyone()
                self.rebalancing[shard] = addr
                self.began[shard] = time.monotonic()
                self.homes.pop(shard, None)
                self._broadcast(("begin", self.type_name, shard, addr, participants))

    def region_gone(self, addr: str,
                    remembered: Optional[dict[str, list[str]]] = None) -> None:
        """The region at `addr` shut down (with the ids it remembered,
        by shard) or its node left the cluster."""
        self.proxies.discard(addr)
        self.registered.discard(addr)
        self.leaving.pop(addr, None)
        shards = self.regions.pop(addr, set())
        self.stored.difference_update(shards)
        entities = {s: ids for s, ids in (remembered or {}).items() if ids}
        self.remembered.update(entities)
        for shard in shards:
            if self.homes.get(shard) == addr:
                del self.homes[shard]
            if shard in self.remembered:
                self.pending.add(shard)
        for shard, home in list(self.rebalancing.items()):
            if home == addr:
                del self.rebalancing[shard]
                self.pending.add(shard)
        if self.active:
            self._allocate_pending(None, entities)
            if shards:
                self._load_remembered()

    def membership_changed(self) -> None:
        alive = self.node.membership.alive
        now = time.monotonic()
        for addr in list(set(self.regions) | self.proxies):
            if addr not in alive:
                if addr in self.leaving and self.regions.get(addr):
                    # Handing its shards off: its node is exiting, it still
                    # runs until the hand-offs are done (or time out).
                    if self.leaving[addr] is None:
                        self.leaving[addr] = now
                    continue
                self.region_gone(addr)
        self.try_activate()

    def readdress(self, old: str, new: str) -> None:
        """This node's address changed (it got its cluster)."""
        if old in self.regions:
            self.regions[new] = self.regions.pop(old)
        if old in self.registered:
            self.registered.discard(old)
            self.registered.add(new)
        if old in self.proxies:
            self.proxies.discard(old)
            self.proxies.add(new)
        for shard, home in list(self.homes.items()):
            if home == old:
                self.homes[shard] = new
        for shard, home in list(self.rebalancing.items()):
            if home == old:
                self.rebalancing[shard] = new

    def forget_remembered(self, shard: str) -> None:
        self.remembered.discard(shard)

    # -- rebalancing ---------------------------------------------------------------

    def _begin_again(self, now: float) -> None:
        """A hand-off not reported done within twice the hand-off timeout
        (and a second) is begun again: its ``begin`` (or the ``stopped``
        reply) may have been lost, and every step of it can be repeated
        (a region already handing the shard off goes on; one that stopped
        it reports it stopped again)."""
        for shard in [s for s in self.began if s not in self.rebalancing]:
            del self.began[shard]
        limit = 2 * self.settings._limit("hand_off_timeout") + 1.0
        participants = None
        for shard, addr in sorted(self.rebalancing.items()):
            began = self.began.setdefault(shard, now)
            if now - began < limit:
                continue
            if participants is None:
                participants = self._everyone()
            self.began[shard] = now
            self._broadcast(("begin", self.type_name, shard, addr, participants))

    def tick(self, now: float) -> None:
        self.try_activate()
        if self.store is not None and self.loaded:
            self.store.sync(self.homes)
        if not self.active:
            return
        for addr, left in list(self.leaving.items()):
            if left is not None and \
                    now - left >= self.settings._limit("leaving_region_timeout"):
                self.region_gone(addr)
        self._hand_off_leaving()
        self._begin_again(now)
        if self.pending:
            self._allocate_pending()
        if now - self.last_rebalance < REBALANCE_INTERVAL:
            return
        self.last_rebalance = now
        if self.settings.allocation_strategy != "least-shards" or len(self.regions) < 2:
            return
        budget = self.settings.max_simultaneous_rebalance - len(self.rebalancing)
        if budget <= 0:
            return
        counts = {r: len(s - set(self.rebalancing)) for r, s in self.regions.items()
                  if r not in self.leaving}
        if len(counts) < 2:
            return
        limit = max(self.settings.rebalance_threshold, 2)
        participants = self._everyone()
        while budget > 0:
            order = sorted(counts, key=lambda r: (counts[r], r))
            least, most = order[0], order[-1]
            if counts[most] - counts[least] < limit:
                break
            movable = sorted(self.regions[most] - set(self.rebalancing))
            if not movable:
                break
            shard = movable[0]
            self.rebalancing[shard] = most
            self.began[shard] = now
            self.homes.pop(shard, None)
            counts[most] -= 1
            counts[least] += 1
            budget -= 1
            self.rebalances += 1
            self._broadcast(("begin", self.type_name, shard, most, participants))
