"""Sharding over in-process clusters (ClusterRegistry): shards spread and
rebalance as nodes join; every message sent during the hand-offs reaches
its entity exactly once, in each sender's order; a leaving node's shards
move; unjoined systems never share shards."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from atomr import Actor, ActorSystem, Config, props
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardingSettings, ShardRegion

_FAST = Config.from_dict({"cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1}})


class _Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_entity: dict[str, list] = {}

    def add(self, entity, item):
        with self.lock:
            self.by_entity.setdefault(entity, []).append(item)


def _entity(log):
    class Entity(Actor):
        def handle(self, ctx, msg):
            entity, sender, n = msg
            log.add(entity, (sender, n, ctx.system.name))

    return props(Entity)


def _extract(msg):
    return msg[0], str(int(msg[0][1:]) % 12), msg


@pytest.fixture
def cluster3():
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _FAST) for n in ("sa", "sb", "sc")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    try:
        yield systems, clusters
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()


async def _until(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_shards_rebalance_as_nodes_join_without_loss_or_duplication(cluster3):
    systems, clusters = cluster3
    log = _Log()
    stop = asyncio.Event()
    sent: dict[str, int] = {}

    async def sender(region, tag):
        n = 0
        while not stop.is_set():
            for e in range(24):
                region.tell((f"e{e}", tag, n))
            n += 1
            sent[tag] = n
            await asyncio.sleep(0.01)

    async def scenario():
        await clusters[0].join_seed_nodes([clusters[0].self_address])
        regions = [ShardRegion.start(system=systems[0], type_name="t",
                                     entity_props=_entity(log), message_extractor=_extract)]
        tasks = [asyncio.ensure_future(sender(regions[0], "s0"))]
        await _until(lambda: regions[0].shard_count() == 12)
        for i in (1, 2):
            await clusters[i].join_seed_nodes([clusters[0].self_address])
            regions.append(ShardRegion.start(system=systems[i], type_name="t",
                                             entity_props=_entity(log),
                                             message_extractor=_extract))
            tasks.append(asyncio.ensure_future(sender(regions[i], f"s{i}")))
        await _until(lambda: [r.shard_count() for r in regions] == [4, 4, 4])
        assert sorted(sum((r.shard_ids() for r in regions), [])) == sorted(
            str(i) for i in range(12))
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*tasks)
        total = sum(sent.values())
        await _until(lambda: all(len(log.by_entity.get(f"e{e}", [])) == total
                                 for e in range(24)))
        return regions

    regions = asyncio.run(scenario())
    for e in range(24):
        got = log.by_entity[f"e{e}"]
        for tag, n in sent.items():
            assert [x[1] for x in got if x[0] == tag] == list(range(n)), (e, tag)
        # the entity moved: it ran on the node hosting its shard at the end
        shard = str(e % 12)
        owner = next(r for r in regions if shard in r.shard_ids())
        assert got[-1][2] == owner._system.name


def test_a_leaving_node_hands_its_shards_over(cluster3):
    systems, clusters = cluster3
    log = _Log()

    async def scenario():
        for c in clusters[:2]:
            await c.join_seed_nodes([clusters[0].self_address])
        regions = [ShardRegion.start(system=s, type_name="lv", entity_props=_entity(log),
                                     message_extractor=_extract,
                                     settings=ShardingSettings(remember_entities=True))
                   for s in systems[:2]]
        for e in range(12):
            regions[0].tell((f"e{e}", "x", 0))
        await _until(lambda: sum(r.entity_count() for r in regions) == 12
                     and min(r.shard_count() for r in regions) == 6)
        moved = regions[1].entity_ids()
        regions[1].shutdown()
        await clusters[1].leave()
        # its remembered entities start on the survivor without a message
        await _until(lambda: regions[0].shard_count() == 12
                     and regions[0].entity_count() == 12)
        assert set(moved) <= set(regions[0].entity_ids())
        for e in range(12):
            regions[0].tell((f"e{e}", "x", 1))
        await _until(lambda: all(len(log.by_entity[f"e{e}"]) == 2 for e in range(12)))

    asyncio.run(scenario())
    assert all(log.by_entity[f"e{e}"][-1][2] == "sa" for e in range(12))


def test_unjoined_systems_never_share_shards():
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _FAST) for n in ("ua", "ub")]
    try:
        for s in systems:
            Cluster.with_test_transport(s, registry)
        log = _Log()
        regions = [ShardRegion.start(system=s, type_name="u", entity_props=_entity(log),
                                     message_extractor=_extract) for s in systems]
        for r in regions:
            for e in range(12):
                r.tell((f"e{e}", r.region_id, 0))
        assert [r.shard_count() for r in regions] == [12, 12]
        time.sleep(0.3)
        assert [r.shard_count() for r in regions] == [12, 12]
        assert [r.entity_count() for r in regions] == [12, 12]
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()


def test_a_dead_node_remembered_persistent_entities_recover_elsewhere(tmp_path):
    from atomr.persistence import Effect, EventSourcedActor, Persistence

    config = Config.from_dict({
        "cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1},
        "persistence": {"journal": "lmdb",
                        "lmdb": {"path": str(tmp_path / "journal"), "sync": False}}})
    states: dict[str, tuple[str, int]] = {}
    lock = threading.Lock()

    class Account(EventSourcedActor):
        persistent_id = "unset"

        async def pre_start(self, ctx):
            self.name = ctx.path.rsplit("/", 1)[1].split("__", 1)[0].partition("-")[2]
            self.persistent_id = f"acct-{self.name}"
            self.system_name = ctx.system.name
            await super().pre_start(ctx)
            with lock:
                states[self.name] = (self.system_name, self.state)

        def initial_state(self):
            return 0

        async def command_handler(self, state, ctx, cmd):
            return Effect.persist({"type": "deposited", "n": cmd})

        def event_handler(self, state, event, recovery_mode=False):
            new = state + event["n"]
            if not recovery_mode:
                with lock:
                    states[self.name] = (self.system_name, new)
            return new

    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, config) for n in ("da", "db", "dc")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    settings = ShardingSettings(remember_entities=True)
    try:
        async def scenario():
            for c in clusters:
                await c.join_seed_nodes([clusters[0].self_address])
            regions = []
            for s in systems:
                journal = Persistence.get(s).journal()
                regions.append(ShardRegion.start(
                    system=s, type_name="acct", settings=settings,
                    entity_props=props(Account, factory=lambda j=journal: Account(journal=j)),
                    message_extractor=lambda m: (m[0], str(int(m[0][1:]) % 6), m[1])))
            await _until(lambda: all(c.member_count() == 3 for c in clusters))
            for e in range(12):
                for amount in (1, 2, 3):
                    regions[0].tell((f"a{e}", amount))
            await _until(lambda: [r.shard_count() for r in regions] == [2, 2, 2]
                         and len(states) == 12 and all(v == 6 for _, v in states.values()))
            on_c = regions[2].entity_ids()
            assert on_c
            # dc dies: its system stops, the others down it
            systems[2].terminate_blocking()
            await clusters[0].down(clusters[2].self_address)
            await _until(lambda: all(c.member_count() == 2 for c in clusters[:2]))
            # its remembered entities start on the survivors, without a
            # message, and recover their three events from the journal
            await _until(lambda: sorted(regions[0].shard_ids() + regions[1].shard_ids()) ==
                         [str(i) for i in range(6)]
                         and all(states[e][0] in ("da", "db") for e in on_c))
            assert all(states[e][1] == 6 for e in on_c)
            assert sorted(regions[0].entity_ids() + regions[1].entity_ids()) == sorted(
                f"a{e}" for e in range(12))

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()


def test_regions_started_before_the_cluster_join_it_later():
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _FAST) for n in ("la", "lb")]
    try:
        log = _Log()
        regions = [ShardRegion.start(system=s, type_name="late", entity_props=_entity(log),
                                     message_extractor=_extract) for s in systems]
        regions[0].tell(("e0", "x", 0))
        assert regions[0].shard_ids() == ["0"]
        clusters = [Cluster.with_test_transport(s, registry, advertised_address=f"n-{s.name}")
                    for s in systems]

        async def scenario():
            for c in clusters:
                await c.join_seed_nodes([clusters[0].self_address])
            for e in range(12):
                regions[1].tell((f"e{e}", "y", 0))
            await _until(lambda: sum(len(v) for v in log.by_entity.values()) == 13
                         and [r.shard_count() for r in regions] == [6, 6])

        asyncio.run(scenario())
        assert sum(r.entity_count() for r in regions) == 12
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()


def test_the_coordinator_moves_when_the_oldest_node_leaves(cluster3):
    systems, clusters = cluster3
    log = _Log()

    async def scenario():
        for c in clusters:
            await c.join_seed_nodes([clusters[0].self_address])
        regions = [ShardRegion.start(system=s, type_name="mv", entity_props=_entity(log),
                                     message_extractor=_extract) for s in systems]
        for e in range(24):
            regions[1].tell((f"e{e}", "x", 0))
        await _until(lambda: [r.shard_count() for r in regions] == [4, 4, 4])
        before = {i: set(r.shard_ids()) for i, r in enumerate(regions)}
        regions[0].shutdown()
        await clusters[0].leave()
        # the next oldest runs the coordinator, rebuilt from the two regions
        await _until(lambda: regions[1]._node.coordinators.get("mv") is not None
                     and regions[1]._node.coordinators["mv"].active)
        for e in range(24):
            regions[2].tell((f"e{e}", "x", 1))
        # (an entity may not have handled its first message yet: on a loaded
        # machine the region of sb can still be sending it)
        await _until(lambda: all(len(log.by_entity.get(f"e{e}", [])) == 2 for e in range(24)))
        # the shards the survivors had stayed where they were; the leaver's
        # went to them; none is hosted twice
        for i in (1, 2):
            assert before[i] <= set(regions[i].shard_ids())
        assert sorted(regions[1].shard_ids() + regions[2].shard_ids()) == sorted(
            str(i) for i in range(12))
        assert sorted(regions[1].entity_ids() + regions[2].entity_ids()) == sorted(
            f"e{e}" for e in range(24))

    asyncio.run(scenario())
