"""The shard coordinator's state in distributed data (state-store-mode
ddata): a new coordinator takes the stored allocations before the regions
registered again, so no shard is hosted twice."""

from __future__ import annotations

import asyncio

from atomr import ActorSystem, Config
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardRegion
from atomr.ddata import DistributedData, LWWMap
from tests.cluster_sharding.test_cluster_registry import _FAST, _entity, _extract, _Log, _until

_KEY = "atomr-sharding-st-coordinator-state"


def _stored(system) -> dict[str, str]:
    rep = DistributedData.get(system).replicator
    value = asyncio.run_coroutine_threadsafe(rep.get_value(_KEY, LWWMap), system.loop).result(5)
    return {} if value is None else {k: v.decode() for k, v in value.entries().items()}


def test_a_new_coordinator_takes_the_stored_allocations():
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _FAST) for n in ("sa", "sb", "sc")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    log = _Log()
    try:
        async def scenario():
            for c in clusters:
                await c.join_seed_nodes([clusters[0].self_address])
            await _until(lambda: all(c.member_count() == 3 for c in clusters))
            regions = [ShardRegion.start(system=s, type_name="st", entity_props=_entity(log),
                                         message_extractor=_extract) for s in systems]
            for e in range(24):
                regions[1].tell((f"e{e}", "x", 0))
            await _until(lambda: [r.shard_count() for r in regions] == [4, 4, 4])
            first = regions[0]._node.coordinators["st"]
            assert first.store is not None
            # the allocations reach the replicas of the survivors
            await _until(lambda: _stored(systems[1]) == first.homes
                         and _stored(systems[2]) == first.homes
                         and len(first.homes) == 12)
            stored = dict(first.homes)
            addr_b, addr_c = clusters[1].self_address, clusters[2].self_address
            on_c = set(regions[2].shard_ids())
            # sc's region does not register with the next coordinator yet
            regions[2]._register = lambda: None
            # sa dies: the coordinator singleton moves to sb
            systems[0].terminate_blocking()
            await clusters[1].down(clusters[0].self_address)
            node_b = regions[1]._node

            def loaded():
                with node_b.lock:
                    coord = node_b.coordinators.get("st")
                    return coord is not None and coord.loaded

            await _until(loaded)
            with node_b.lock:
                coord = node_b.coordinators["st"]
                assert coord.store is not None
                assert addr_c not in coord.registered
                # the stored homes on the survivors are taken, sc's too
                # though it did not register
                survivors = {s: h for s, h in stored.items() if h in (addr_b, addr_c)}
                assert {s: coord.homes.get(s) for s in survivors} == survivors
                assert {s for s, h in survivors.items() if h == addr_c} == on_c
            await _until(lambda: coord.active, timeout=30.0)
            # every entity gets a second message: sc's shards stay on sc,
            # sa's move to the survivors, no shard is hosted twice
            for e in range(24):
                regions[1].tell((f"e{e}", "x", 1))
            await _until(lambda: all(len(log.by_entity.get(f"e{e}", [])) == 2
                                     for e in range(24)))
            assert set(regions[2].shard_ids()) >= on_c
            assert sorted(regions[1].shard_ids() + regions[2].shard_ids()) == sorted(
                str(i) for i in range(12))
            with log.lock:
                for e in range(24):
                    if str(e % 12) in on_c:
                        assert [item[2] for item in log.by_entity[f"e{e}"]] == ["sc", "sc"]
            del regions[2]._register
            regions[2]._register()
            await _until(lambda: addr_c in coord.registered)
            # the store follows the new coordinator
            await _until(lambda: _stored(systems[1]) == coord.homes and len(coord.homes) == 12)

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()


def test_state_store_mode_regions_and_standalone_systems_store_nothing():
    registry = ClusterRegistry()
    config = Config.from_dict({"cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1,
                                           "sharding": {"state-store-mode": "regions"}}})
    alone = ActorSystem.create_blocking("alone", _FAST)
    systems = [ActorSystem.create_blocking(n, config) for n in ("ra", "rb")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    log = _Log()
    try:
        async def scenario():
            solo = ShardRegion.start(system=alone, type_name="st", entity_props=_entity(log),
                                     message_extractor=_extract)
            solo.tell(("e1", "x", 0))
            await _until(lambda: solo.shard_count() == 1)
            assert solo._node.coordinators["st"].store is None
            for c in clusters:
                await c.join_seed_nodes([clusters[0].self_address])
            await _until(lambda: all(c.member_count() == 2 for c in clusters))
            regions = [ShardRegion.start(system=s, type_name="st", entity_props=_entity(log),
                                         message_extractor=_extract) for s in systems]
            for e in range(12):
                regions[1].tell((f"e{e}", "x", 0))
            await _until(lambda: sum(r.shard_count() for r in regions) == 12)
            coord = regions[0]._node.coordinators["st"]
            assert coord.store is None and coord.loaded

        asyncio.run(scenario())
    finally:
        for s in systems + [alone]:
            s.terminate_blocking()
        registry.close()
