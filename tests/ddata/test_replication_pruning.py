"""The Replicator between the members of in-process clusters: pruning of
every CRDT type with per-node state after a member is removed, collection
of the performed markers (virtual time), unique addresses across a
restart on the same address, and writes to primaries first."""

from __future__ import annotations

import asyncio
from typing import Any

from atomr.actor import ActorSystem
from atomr.cluster import Cluster, ClusterRegistry
from atomr.ddata import (
    GCounter,
    ORMap,
    ORMultiMap,
    ORSet,
    PNCounter,
    PNCounterMap,
    ReadConsistency,
    Replicator,
    WriteConsistency,
)
from atomr.ddata import _replication as rep
from tests.cluster._cluster_util import config, systems
from tests.ddata.test_replication import DDATA, cluster_of, local_value, wait_until

ALL = WriteConsistency.all(5.0)


def test_removed_nodes_orset_ormap_and_maps_are_pruned_and_values_kept():
    with cluster_of(3, "p") as (registry, made, clusters, reps):
        a, b, c = reps
        gone = c.node

        async def main():
            await a.update("set", ORSet, lambda s: s.add("a1") or s, ALL)
            await c.update("set", ORSet, lambda s: (s.add("c1"), s.add("c2")) and s, ALL)
            await c.update("map", ORMap.of_pn_counter(),
                           lambda m: m.put("k", PNCounter().with_node(c.node)) or m, ALL)

            def bump(m: Any) -> Any:
                v = m.get("k")
                v.increment(c.node, 7)
                m.put("k", v)
                return m
            await c.update("map", ORMap.of_pn_counter(), bump, ALL)
            await c.update("pnm", PNCounterMap, lambda m: m.increment("x", 4, c.node) or m, ALL)
            await c.update("mm", ORMultiMap, lambda m: m.add("k", "v") or m, ALL)
            stale_set = local_value(b, "set", ORSet)
            assert stale_set.needs_pruning_from(gone)
            for key, kind in (("map", ORMap), ("pnm", PNCounterMap), ("mm", ORMultiMap)):
                assert local_value(b, key, kind).needs_pruning_from(gone)
            await clusters[2].leave(20)

            def pruned() -> bool:
                for r in (a, b):
                    for key, kind in (("set", ORSet), ("map", ORMap), ("pnm", PNCounterMap),
                                      ("mm", ORMultiMap)):
                        v = local_value(r, key, kind)
                        if v is None or v.needs_pruning_from(gone):
                            return False
                return True

            await wait_until(pruned, 30)
            for r in (a, b):
                assert local_value(r, "set", ORSet).elements() == ["a1", "c1", "c2"]
                assert local_value(r, "map", ORMap).get("k").value() == 7
                assert local_value(r, "pnm", PNCounterMap).value("x") == 4
                assert local_value(r, "mm", ORMultiMap).contains("k", "v")
            # A stale state that still holds the removed node's dots is
            # cleaned on arrival: nothing is lost, nothing comes back.
            b._on_message(rep.encode({"t": "gossip", "f": clusters[0].self_address,
                                      "k": ["set"]}, [stale_set.to_bytes()]))
            v = local_value(b, "set", ORSet)
            assert v.elements() == ["a1", "c1", "c2"] and not v.needs_pruning_from(gone)
            # A late message of the removed incarnation itself is ignored.
            late = ORSet().with_node(gone)
            late.add("zombie")
            a._on_message(rep.encode({"t": "gossip", "f": clusters[2].self_address, "u": gone,
                                      "k": ["set"]}, [late.to_bytes()]))
            assert "zombie" not in local_value(a, "set", ORSet).elements()

        asyncio.run(main())


def test_performed_markers_are_collected_after_max_pruning_dissemination_in_virtual_time():
    registry = ClusterRegistry(seed=11, virtual_time=True)
    ddata = {**DDATA, "gossip-interval": 0.05, "max-pruning-dissemination": 20.0}
    try:
        with systems("v0", "v1", "v2", cluster={"gossip-interval": 0.1},
                     **{"distributed-data": ddata}) as made:
            clusters = [Cluster.with_test_transport(s, registry) for s in made]
            a, b, c = (Replicator.get(s) for s in made)

            async def main():
                seed = clusters[0].self_address
                for cl in clusters:
                    asyncio.ensure_future(cl.join_seed_nodes([seed], timeout=60.0))
                await registry.pump(lambda: all(r.cluster_size == 3 for r in (a, b, c)),
                                    step=0.05, timeout=30)
                gone = c.node
                await registry.drive(c.update("g", GCounter, lambda g: g.increment(c.node, 5)
                                              or g, WriteConsistency.all(5.0)), step=0.01)
                await registry.drive(a.update("g", GCounter, lambda g: g.increment(a.node, 1)
                                              or g, WriteConsistency.all(5.0)), step=0.01)
                stale = local_value(b, "g", GCounter)
                # The replicators poll the membership each (real-time) round.
                await wait_until(lambda: all(gone in r._members_seen for r in (a, b)), 10)
                await registry.drive(clusters[2].leave(60), step=0.05, timeout=30)

                def performed_everywhere() -> bool:
                    return all((st := r._pruning.get("g")) is not None and
                               st.phase(gone) == "performed" for r in (a, b))

                await registry.pump(performed_everywhere, step=0.01, timeout=30)
                marked_at = registry.now()
                # Kept while younger than max-pruning-dissemination...
                await registry.pump(lambda: registry.now() >= marked_at + 10, step=0.5)
                await asyncio.sleep(0.3)  # several gossip rounds (real time)
                assert all(r._pruning["g"].phase(gone) == "performed" for r in (a, b))
                # ... and collected after it (virtual time).
                await registry.pump(lambda: all("g" not in r._pruning for r in (a, b)),
                                    step=0.5, timeout=30)
                assert registry.now() >= marked_at + 19
                for r in (a, b):
                    assert gone in r._pruned_nodes
                    assert local_value(r, "g", GCounter).value() == 6
                # Late data of the pruned node (relayed by a member) cannot
                # bring its entry back, nor count it twice.
                assert stale.needs_pruning_from(gone)
                for r in (a, b):
                    r._on_message(rep.encode({"t": "gossip", "f": clusters[1].self_address,
                                              "k": ["g"]}, [stale.to_bytes()]))
                    v = local_value(r, "g", GCounter)
                    assert v.value() == 6 and gone not in v.entries()

            asyncio.run(main())
    finally:
        registry.close()


def test_a_node_restarted_on_the_same_address_is_another_replica():
    registry = ClusterRegistry(seed=5)
    try:
        with systems("u0", "u1", **{"distributed-data": DDATA}) as (s0, s1):
            c0, c1 = (Cluster.with_test_transport(s, registry) for s in (s0, s1))
            r0, r1 = Replicator.get(s0), Replicator.get(s1)
            old = ActorSystem.create_blocking("u2", config(None, **{"distributed-data": DDATA}))
            try:
                c2 = Cluster.with_test_transport(old, registry)
                r2 = Replicator.get(old)

                async def first():
                    seed = c0.self_address
                    await asyncio.gather(*(c.join_seed_nodes([seed]) for c in (c0, c1, c2)))
                    await wait_until(lambda: all(r.cluster_size == 3 for r in (r0, r1, r2)), 20)
                    assert await r2.update("g", GCounter, lambda g: g.increment(r2.node, 3)
                                           or g, WriteConsistency.all(5.0)) == "ok"
                    await c2.leave(20)

                asyncio.run(first())
                old_id = r2.node
            finally:
                old.terminate_blocking(10.0)
            new = ActorSystem.create_blocking("u2", config(None, **{"distributed-data": DDATA}))
            try:
                c2 = Cluster.with_test_transport(new, registry)
                r2 = Replicator.get(new)
                assert c2.self_address == c0.self_address.replace("u0", "u2")
                assert r2.node != old_id and r2.node.startswith(c2.self_address + "#")

                async def second():
                    # Before it hears of the old incarnation's count.
                    assert await r2.update("g", GCounter, lambda g: g.increment(r2.node, 4)
                                           or g) == "ok"
                    await c2.join_seed_nodes([c0.self_address])
                    await wait_until(lambda: all(r.cluster_size == 3 for r in (r0, r1, r2)), 20)
                    assert await r0.update("g", GCounter, lambda g: g.increment(r0.node, 1)
                                           or g, WriteConsistency.all(5.0)) == "ok"

                    def total_everywhere() -> bool:
                        return all((v := local_value(r, "g", GCounter)) is not None and
                                   v.value() == 8 for r in (r0, r1, r2))

                    await wait_until(total_everywhere, 20)
                    got = await r1.get_value("g", GCounter, ReadConsistency.all(5.0))
                    assert got.value() == 8

                asyncio.run(second())
            finally:
                new.terminate_blocking(10.0)
    finally:
        registry.close()


def _count_writes(r: Replicator, seen: list[str]) -> None:
    handler = Replicator._handlers["write"]

    def counting(self: Replicator, h: dict, blobs: list) -> None:
        seen.append(self.node)
        handler(self, h, blobs)

    r._handlers = {**Replicator._handlers, "write": counting}  # type: ignore[misc]


def test_majority_writes_go_to_primaries_first_and_the_rest_get_the_change():
    with cluster_of(5, "w") as (registry, made, clusters, reps):
        seen: list[str] = []
        for r in reps[1:]:
            _count_writes(r, seen)

        async def main():
            a = reps[0]
            for i in range(3):
                del seen[:]
                assert await a.update("k", ORSet, lambda s, i=i: s.add(f"e{i}") or s,
                                      WriteConsistency.majority(10.0)) == "ok"
                # Majority of 5: two other replicas, asked first; the other
                # two are not asked to acknowledge (their turn comes at 2 s).
                assert len(seen) == 2 and len(set(seen)) == 2
                await wait_until(lambda i=i: all(
                    (v := local_value(r, "k", ORSet)) is not None and f"e{i}" in v.elements()
                    for r in reps), 5)
            assert len(seen) == 2
            del seen[:]
            # min_cap raises the majority: 4 of 5 -> three other replicas.
            assert await a.update("k", ORSet, lambda s: s.add("capped") or s,
                                  WriteConsistency.majority(10.0, min_cap=4)) == "ok"
            assert len(set(seen)) == 3
            got = await reps[1].get_value("k", ORSet, ReadConsistency.majority(5.0, min_cap=5))
            assert "capped" in got.elements()

        asyncio.run(main())


def test_a_majority_write_with_a_silent_primary_is_met_by_a_secondary():
    with cluster_of(3, "s") as (registry, made, clusters, reps):
        a, b, c = reps

        async def main():
            # a cannot reach b (not yet known as unreachable): when b is the
            # primary, the write is met by c, asked after a fifth of the timeout.
            registry.partition(clusters[0], clusters[1])
            loop = asyncio.get_running_loop()
            for i in range(6):
                start = loop.time()
                assert await a.update("k", GCounter, lambda g: g.increment(a.node, 1) or g,
                                      WriteConsistency.majority(2.0)) == "ok"
                assert loop.time() - start < 2.0
            registry.heal()

        asyncio.run(main())
