"""A coordinator starting as a cluster singleton does not lose the
registrations that reached its node before the singleton ran: the regions
that sent them are registered as soon as it starts, not only when they
register again."""

from __future__ import annotations

import asyncio
import time

from atomr import ActorSystem
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardRegion
from atomr.cluster_sharding import _region as region_module
from atomr.cluster_sharding._region import _Node
from tests.cluster_sharding.test_cluster_registry import _FAST, _entity, _extract, _Log


async def _until(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _registered(system, type_name: str) -> set[str]:
    node = _Node.of(system)
    with node.lock:
        coord = node.coordinators.get(type_name)
        return set(coord.registered) if coord is not None else set()


def test_a_registration_sent_before_the_coordinator_singleton_started_is_kept(monkeypatch):
    # A region registers again only after a minute: the registration it
    # sends when it starts is the one the coordinator must get.
    monkeypatch.setattr(region_module, "_RETRY", 60.0)
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _FAST) for n in ("oa", "ob")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    log = _Log()
    try:
        async def scenario():
            for c in clusters:
                await c.join_seed_nodes([clusters[0].self_address])
            # oa (the oldest) coordinates; it runs a region of another type
            # only, so its coordinator singleton of "early" starts once ob's
            # registration came.
            ShardRegion.start(system=systems[0], type_name="other",
                              entity_props=_entity(log), message_extractor=_extract)
            both = {c.self_address for c in clusters}
            nodes = [_Node.of(s) for s in systems]
            await _until(lambda: all(n.membership.alive == both and
                                     n.membership.coordinator_for(None) ==
                                     clusters[0].self_address for n in nodes))
            region = ShardRegion.start(system=systems[1], type_name="early",
                                       entity_props=_entity(log), message_extractor=_extract)
            await _until(lambda: clusters[1].self_address in _registered(systems[0], "early"))
            for e in range(6):
                region.tell((f"e{e}", "ob", 0))
            await _until(lambda: sum(len(v) for v in log.by_entity.values()) == 6)
            assert sorted(region.shard_ids()) == sorted({str(e % 12) for e in range(6)})

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()
