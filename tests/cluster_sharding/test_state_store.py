"""The shard coordinator's state in distributed data (state-store-mode
ddata): a new coordinator takes the stored allocations before the regions
registered again, so no shard is hosted twice."""

from __future__ import annotations

import asyncio

from atomr import ActorSystem, Config
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardRegion
from atomr.ddata import DistributedData, LWWMap
from tests.cluster_sharding.test_cluster_registry import _entity, _extract, _Log, _until

_KEY = "atomr-sharding-st-coordinator-state"


#: The fast test clusters of the registry tests, with the coordinator's
#: state kept in distributed data (not the default).
_DDATA = Config.from_dict({"cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1,
                                       "sharding": {"state-store-mode": "ddata"}}})


def _stored(system) -> dict[str, str]:
    rep = DistributedData.get(system).replicator
    value = asyncio.run_coroutine_threadsafe(rep.get_value(_KEY, LWWMap), system.loop).result(5)
    return {} if value is None else {k: v.decode() for k, v in value.entries().items()}


def test_a_new_coordinator_takes_the_stored_allocations():
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _DDATA) for n in ("sa", "sb", "sc")]
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
    alone = ActorSystem.create_blocking("alone", _DDATA)
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


class _Node:
    """What a Coordinator uses of its node, for the reconciliation test."""

    class _Membership:
        def __init__(self, alive):
            self.alive = frozenset(alive)

    class _Remember:
        durable = False

    def __init__(self, alive):
        self.membership = self._Membership(alive)
        self.sent: list = []
        self.coordinators: dict = {}
        self.remember = self._Remember()

    def send(self, to, msg):
        self.sent.append((to, msg))

    def locked(self, fn, *args):
        fn(*args)


class _Store:
    """A state store whose read the test completes."""

    def __init__(self):
        self.done = None
        self.synced: list = []

    def load(self, done):
        self.done = done

    def sync(self, homes):
        self.synced.append(dict(homes))


def test_registrations_win_over_the_stored_homes_and_gone_regions_are_skipped():
    from atomr.cluster_sharding import ShardingSettings
    from atomr.cluster_sharding._coordinator import Coordinator

    node = _Node({"a", "b", "c"})
    store = _Store()
    coord = node.coordinators["t"] = Coordinator(node, "t", ShardingSettings(), store)
    # b registers before the read ends: nothing is allocated yet
    coord.register("b", False, ["4"], [], [])
    coord.get_home("9", "b")
    assert not coord.active and "9" not in coord.homes
    store.done({"1": "a", "2": "b", "3": "gone", "4": "a", "5": "c"})
    assert coord.loaded
    # stored homes on live nodes are taken (b's registration keeps "4")
    assert coord.homes == {"1": "a", "2": "b", "4": "b", "5": "c"}
    assert store.synced[-1] == coord.homes
    # c hosts "2" (the stored home was b): c's registration wins; "5"
    # stays c's though c did not report it
    coord.register("c", False, ["2"], [], [])
    assert coord.homes["2"] == "c" and "2" not in coord.regions["b"]
    assert coord.homes["5"] == "c"
    assert not [m for _, m in node.sent if m[0] == "drop"]
    # a registered region's shard is not taken by another registration
    coord.register("a", False, ["2"], [], [])
    assert coord.homes["2"] == "c"
    assert ("a", ("drop", "t", "2")) in node.sent
    # every live node registered: active, "9" allocated once
    assert coord.active
    assert list(coord.homes).count("9") == 1 and coord.homes["9"] in ("a", "b", "c")
    # a node that only runs a proxy loses its stored homes
    node2 = _Node({"a", "p"})
    store2 = _Store()
    coord2 = node2.coordinators["t"] = Coordinator(node2, "t", ShardingSettings(), store2)
    store2.done({"1": "p", "2": "a"})
    coord2.register("p", True, [], [], [])
    assert coord2.homes == {"2": "a"} and "p" not in coord2.regions


def test_a_write_without_a_majority_is_sent_again_and_a_read_falls_back_to_the_local_replica():
    from atomr.cluster_sharding._region import _Node as Node
    from atomr.cluster_sharding._state_store import StateStore

    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, _DDATA) for n in ("wa", "wb", "wc")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    try:
        async def scenario():
            for c in clusters:
                await c.join_seed_nodes([clusters[0].self_address])
            await _until(lambda: all(c.member_count() == 3 for c in clusters))
            for s in systems[1:]:
                _ = DistributedData.get(s).replicator
            node = Node.of(systems[0])
            store = StateStore(node, "st")
            registry.partition_groups([systems[0]], systems[1:])
            target = {"1": "akka://wb", "2": "akka://wc"}
            with node.lock:
                store.sync(target)
            await _until(lambda: store.timeouts >= 1)
            assert store.written == {}
            # a majority read times out: the local replica answers
            read: list = []
            store.load(read.append)
            await _until(lambda: read)
            assert read == [target]
            registry.heal()

            def sync():
                with node.lock:
                    store.sync(target)
                return store.written == target

            await _until(sync)
            await _until(lambda: _stored(systems[1]) == target == _stored(systems[2]))

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()
