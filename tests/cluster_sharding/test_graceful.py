"""Graceful hand-off as a region shuts down or its node leaves the cluster:
every message sent meanwhile reaches its entity exactly once, in each
sender's order, and the shards end up on the other regions."""

from __future__ import annotations

import asyncio

import pytest

from atomr.cluster_sharding import ShardRegion

from .test_cluster_registry import _entity, _extract, _Log, _until, cluster3  # noqa: F401


async def _send_while(regions_by_tag, stop, sent, entities=24):
    async def sender(region, tag):
        n = 0
        while not stop.is_set():
            for e in range(entities):
                region.tell((f"e{e}", tag, n))
            n += 1
            sent[tag] = n
            await asyncio.sleep(0.005)

    return [asyncio.ensure_future(sender(r, tag)) for tag, r in regions_by_tag.items()]


def _check_exactly_once_in_order(log, sent, entities=24):
    for e in range(entities):
        got = log.by_entity[f"e{e}"]
        for tag, n in sent.items():
            assert [x[1] for x in got if x[0] == tag] == list(range(n)), (e, tag)


@pytest.mark.parametrize("how", ["shutdown", "leave"])
def test_a_graceful_leave_hands_shards_off_without_loss_or_duplication(cluster3, how):
    systems, clusters = cluster3
    log = _Log()
    stop = asyncio.Event()
    sent: dict[str, int] = {}

    async def scenario():
        for c in clusters:
            await c.join_seed_nodes([clusters[0].self_address])
        await _until(lambda: all(c.member_count() == 3 for c in clusters))
        regions = [ShardRegion.start(system=s, type_name="g", entity_props=_entity(log),
                                     message_extractor=_extract) for s in systems]
        for e in range(24):
            regions[0].tell((f"e{e}", "warm", 0))
        await _until(lambda: [r.shard_count() for r in regions] == [4, 4, 4])
        tasks = await _send_while({"s0": regions[0], "s2": regions[2]}, stop, sent)
        await asyncio.sleep(0.2)
        leaver = regions[1]
        if how == "shutdown":
            leaver.shutdown()
            with pytest.raises(RuntimeError):
                leaver.tell(("e0", "late", 0))
        else:
            await clusters[1].leave()
        await _until(lambda: sorted(regions[0].shard_ids() + regions[2].shard_ids()) ==
                     sorted(str(i) for i in range(12)))
        await _until(lambda: leaver.entity_count() == 0 and leaver.shard_count() == 0)
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*tasks)
        await _until(lambda: all(
            sum(1 for x in log.by_entity.get(f"e{e}", []) if x[0] != "warm")
            == sum(sent.values()) for e in range(24)))
        return regions

    regions = asyncio.run(scenario())
    _check_exactly_once_in_order(log, sent)
    for e in range(24):
        owner = next(r for r in regions if str(e % 12) in r.shard_ids())
        assert log.by_entity[f"e{e}"][-1][2] == owner._system.name
        assert owner._system.name != "sb"


def test_the_coordinator_is_a_cluster_singleton_on_the_oldest_even_with_only_a_proxy(cluster3):
    systems, clusters = cluster3
    log = _Log()

    async def scenario():
        for c in clusters:
            await c.join_seed_nodes([clusters[0].self_address])
        await _until(lambda: all(c.member_count() == 3 for c in clusters))
        proxy = ShardRegion.start_proxy(system=systems[0], type_name="cs",
                                        message_extractor=_extract)
        regions = [ShardRegion.start(system=s, type_name="cs", entity_props=_entity(log),
                                     message_extractor=_extract) for s in systems[1:]]
        nodes = [r._node for r in [proxy, *regions]]
        # the oldest, sa, runs the coordinator singleton though it hosts no shard
        await _until(lambda: nodes[0].managers["cs"].state == "active_here"
                     and "cs" in nodes[0].coordinators)
        for e in range(24):
            proxy.tell((f"e{e}", "p", 0))
        await _until(lambda: [r.shard_count() for r in regions] == [6, 6]
                     and sum(len(v) for v in log.by_entity.values()) == 24)
        assert [n.managers["cs"].state for n in nodes[1:]] == ["active_remote"] * 2
        await clusters[0].leave()
        # handed over to sb, the next oldest, which rebuilds the state
        await _until(lambda: nodes[1].managers["cs"].state == "active_here"
                     and "cs" in nodes[1].coordinators and nodes[1].coordinators["cs"].active)
        assert nodes[1].coordinators["cs"].homes == {str(i): r._address
                                                     for r in regions for i in
                                                     map(int, r.shard_ids())}
        for e in range(24):
            regions[1].tell((f"e{e}", "c", 1))
        await _until(lambda: sum(len(v) for v in log.by_entity.values()) == 48)

    asyncio.run(scenario())


def test_the_coordinated_shutdown_hands_shards_off_before_the_node_leaves(cluster3):
    from atomr.actor.coordinated_shutdown import COORDINATED_SHUTDOWN

    systems, clusters = cluster3
    log = _Log()

    async def scenario():
        for c in clusters[:2]:
            await c.join_seed_nodes([clusters[0].self_address])
        await _until(lambda: all(c.member_count() == 2 for c in clusters[:2]))
        regions = [ShardRegion.start(system=s, type_name="cs2", entity_props=_entity(log),
                                     message_extractor=_extract) for s in systems[:2]]
        for e in range(12):
            regions[0].tell((f"e{e}", "x", 0))
        await _until(lambda: [r.shard_count() for r in regions] == [6, 6])
        return regions

    regions = asyncio.run(scenario())
    # the sharding phase runs before cluster-leave: the shards are handed off
    # while sb is still a member
    assert COORDINATED_SHUTDOWN.get(systems[1]).run("test").result(60)
    assert regions[0].shard_count() == 12 and regions[1].shard_count() == 0

    async def after():
        for e in range(12):
            regions[0].tell((f"e{e}", "x", 1))
        await _until(lambda: all(len(log.by_entity.get(f"e{e}", [])) == 2 for e in range(12)))

    asyncio.run(after())
    assert all(log.by_entity[f"e{e}"][-1][2] == "sa" for e in range(12))
