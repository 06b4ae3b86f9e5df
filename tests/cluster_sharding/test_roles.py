"""Sharding restricted to the members with a role: the others' regions are
proxies, the shards live on the members with the role and the coordinator
runs on the oldest of those."""

from __future__ import annotations

import asyncio

import pytest

from atomr import ActorSystem, Config
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardingSettings, ShardRegion

from .test_cluster_registry import _entity, _extract, _Log, _until


def _config(*roles):
    return Config.from_dict({"cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1,
                                         "roles": list(roles)}})


def test_role_is_a_setting_checked_like_the_others():
    assert ShardingSettings(role="worker").role == "worker"
    assert ShardingSettings().role is None
    for bad in ("", 3):
        with pytest.raises(ValueError):
            ShardingSettings(role=bad)
    with pytest.raises(ValueError):
        ShardingSettings(roles=["worker"])


def test_only_members_with_the_role_host_shards_and_run_the_coordinator():
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking("ra", _config("front")),
               ActorSystem.create_blocking("rb", _config("worker")),
               ActorSystem.create_blocking("rc", _config("worker", "front"))]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    log = _Log()
    settings = ShardingSettings(role="worker")
    try:
        async def scenario():
            for c in clusters:
                await c.join_seed_nodes([clusters[0].self_address])
            await _until(lambda: all(c.member_count() == 3 for c in clusters))
            regions = [ShardRegion.start(system=s, type_name="w", entity_props=_entity(log),
                                         message_extractor=_extract, settings=settings)
                       for s in systems]
            assert [r.is_proxy for r in regions] == [True, False, False]
            for e in range(24):
                regions[0].tell((f"e{e}", "front", 0))
            await _until(lambda: sum(len(log.by_entity.get(f"e{e}", [])) for e in range(24))
                         == 24)
            assert regions[0].shard_count() == 0
            await _until(lambda: [r.shard_count() for r in regions] == [0, 6, 6])
            # the coordinator runs on rb, the oldest worker, not on ra, the oldest
            assert "w" not in regions[0]._node.coordinators
            assert regions[1]._node.coordinators["w"].active
            assert "w" not in regions[2]._node.coordinators
            assert {x[2] for e in range(24) for x in log.by_entity[f"e{e}"]} <= {"rb", "rc"}

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()
