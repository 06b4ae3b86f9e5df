"""Hand-offs finish when one of their messages is lost (the links between
nodes deliver at most once):

* a region that began a hand-off gets the shard's new home even when the
  coordinator's announcement of it was lost: it asks for it again (as
  Akka's region asks for the homes of its buffered shards on every retry),
  so the messages it buffers for the shard are not held forever;
* a hand-off whose ``begin`` never reached the region hosting the shard
  is begun again by the coordinator (after twice the hand-off timeout), so
  the shard moves and the rebalancing goes on."""

from __future__ import annotations

import asyncio
import time

from atomr import ActorSystem, Config
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardingSettings, ShardRegion
from atomr.cluster_sharding._region import _Node
from tests.cluster_sharding.test_cluster_registry import _entity, _Log

_FAST = Config.from_dict({"cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1}})


async def _until(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_lost_home_announcement_is_asked_for_again():
    # the hand-off does not wait long for a "drained" the partition drops
    settings = ShardingSettings(hand_off_timeout=0.5)
    extract = lambda m: (m[0], m[0][1:], m)  # noqa: E731
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _FAST) for n in ("la", "lb")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    log = _Log()
    try:
        async def scenario():
            await clusters[0].join_seed_nodes([clusters[0].self_address])
            first = ShardRegion.start(system=systems[0], type_name="l", settings=settings,
                                      entity_props=_entity(log), message_extractor=extract)
            first.tell(("e0", "la", 0))
            first.tell(("e1", "la", 0))
            await _until(lambda: sorted(first.shard_ids()) == ["0", "1"])
            await clusters[1].join_seed_nodes([clusters[0].self_address])
            second = ShardRegion.start(system=systems[1], type_name="l", settings=settings,
                                       entity_props=_entity(log), message_extractor=extract)
            node_a, node_b = _Node.of(systems[0]), _Node.of(systems[1])

            def handing() -> bool:
                with node_b.lock:
                    return "0" in second._handing

            # the coordinator (on la) hands shard 0 off to lb; once lb began
            # it, la and lb are cut off from each other
            await _until(handing)
            registry.partition(systems[0], systems[1])
            try:
                def allocated() -> bool:
                    with node_a.lock:
                        coord = node_a.coordinators.get("l")
                        return coord is not None and \
                            coord.homes.get("0") == clusters[1].self_address

                # ... so the announcement of lb as the shard's home is lost
                await _until(allocated)
            finally:
                registry.heal()
            assert handing()
            second.tell(("e0", "lb", 1))
            await _until(lambda: ("lb", 1, "lb") in log.by_entity.get("e0", []))
            assert second.shard_ids() == ["0"]

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()


def test_a_lost_begin_is_sent_again():
    settings = ShardingSettings(hand_off_timeout=0.5)
    extract = lambda m: (m[0], m[0][1:], m)  # noqa: E731
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _FAST) for n in ("ga", "gb", "gc")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    log = _Log()
    try:
        async def scenario():
            for c in clusters[:2]:
                await c.join_seed_nodes([clusters[0].self_address])
            # ga (the oldest) coordinates and hosts nothing; gb hosts both shards
            ShardRegion.start_proxy(system=systems[0], type_name="g", settings=settings,
                                    message_extractor=extract)
            second = ShardRegion.start(system=systems[1], type_name="g", settings=settings,
                                       entity_props=_entity(log), message_extractor=extract)
            second.tell(("e0", "gb", 0))
            second.tell(("e1", "gb", 0))
            await _until(lambda: sorted(second.shard_ids()) == ["0", "1"])
            # gc joins while ga and gb are cut off from each other: the
            # rebalance's begin never reaches gb, the shard's host
            await clusters[2].join_seed_nodes([clusters[0].self_address])
            registry.partition(systems[0], systems[1])
            try:
                third = ShardRegion.start(system=systems[2], type_name="g", settings=settings,
                                          entity_props=_entity(log), message_extractor=extract)
                node_c = _Node.of(systems[2])

                def handing() -> bool:
                    with node_c.lock:
                        return "0" in third._handing

                await _until(handing)
            finally:
                registry.heal()
            assert sorted(second.shard_ids()) == ["0", "1"]
            await _until(lambda: third.shard_ids() == ["0"] and second.shard_ids() == ["1"])
            third.tell(("e0", "gc", 1))
            await _until(lambda: ("gc", 1, "gc") in log.by_entity.get("e0", []))

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()
