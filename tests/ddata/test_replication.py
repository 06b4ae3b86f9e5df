"""The Replicator between the members of in-process clusters (ClusterRegistry):
convergence under faults, consistency levels, partitions, deletes, remote
subscriptions and malformed peers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Callable, Iterator

import pytest

from atomr.cluster import Cluster, ClusterRegistry
from atomr.ddata import (
    GCounter,
    GSet,
    LwwRegister,
    ORMap,
    ORSet,
    PNCounter,
    ReadConsistency,
    Replicator,
    WriteConsistency,
)
from atomr.ddata import _replication as rep
from atomr.errors import DataDeletedError, ReplicationTimeoutError
from tests.cluster._cluster_util import systems

DDATA = {"gossip-interval": 0.1}


@contextlib.contextmanager
def cluster_of(n: int, prefix: str = "n") -> Iterator[tuple[ClusterRegistry, list[Any],
                                                            list[Cluster], list[Replicator]]]:
    """`n` systems on a real-time ClusterRegistry, joined, each with its replicator."""
    registry = ClusterRegistry(seed=7)
    try:
        names = [f"{prefix}{i}" for i in range(n)]
        with systems(*names, **{"distributed-data": DDATA}) as made:
            clusters = [Cluster.with_test_transport(s, registry) for s in made]
            reps = [Replicator.get(s) for s in made]

            async def join() -> None:
                seed = clusters[0].self_address
                await asyncio.gather(*(c.join_seed_nodes([seed]) for c in clusters))
                await wait_until(lambda: all(r.cluster_size == n for r in reps), 20)

            asyncio.run(join())
            yield registry, made, clusters, reps
    finally:
        registry.close()


async def wait_until(cond: Callable[[], Any], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


def local_value(r: Replicator, key: str, kind: Any) -> Any:
    value = r._data.get(key)
    return None if value is None or type(value) is not kind else value.copy()


def test_a_node_without_a_cluster_is_node_local():
    with systems("solo", **{"distributed-data": DDATA}) as (s,):
        r = Replicator.get(s)
        assert r.cluster_size == 1

        async def main():
            inc = lambda c: c.increment(r.node, 1) or c  # noqa: E731
            assert await r.update("k", GCounter, inc, WriteConsistency.majority(0.5)) == "ok"
            assert await r.update("k", GCounter, inc, WriteConsistency.all(0.5)) == "ok"
            got = await r.get_value("k", GCounter, ReadConsistency.all(0.5))
            assert got.value() == 2

        asyncio.run(main())


def test_majority_write_is_held_by_a_majority_at_once_and_converges_everywhere():
    with cluster_of(3) as (registry, made, clusters, reps):
        a, b, c = reps

        async def main():
            res = await a.update("hits", GCounter, lambda g: g.increment(a.node, 5) or g,
                                 WriteConsistency.majority(3.0))
            assert res == "ok"
            # Acknowledged by a majority: at least one other node holds it now.
            held = [r for r in (b, c) if (v := local_value(r, "hits", GCounter)) is not None
                    and v.value() == 5]
            assert held
            await wait_until(lambda: all(
                (v := local_value(r, "hits", GCounter)) is not None and v.value() == 5
                for r in reps))
            # A read from all replicas sees it too.
            got = await c.get_value("hits", GCounter, ReadConsistency.all(3.0))
            assert got.value() == 5

        asyncio.run(main())


def test_local_updates_converge_through_deltas_and_gossip_under_faults():
    with cluster_of(3) as (registry, made, clusters, reps):
        for x in clusters:
            for y in clusters:
                if x is not y:
                    registry.set_link(x, y, drop=0.3, duplicate=0.3, reorder=0.05)

        async def main():
            for i in range(20):
                for r in reps:
                    await r.update("ctr", PNCounter, lambda c, r=r: c.increment(r.node, 1) or c)
                    await r.update("set", ORSet, lambda s, r=r, i=i: s.add(f"{r.node}-{i}") or s)
            expected = {f"{r.node}-{i}" for r in reps for i in range(20)}
            await wait_until(lambda: all(
                (c := local_value(r, "ctr", PNCounter)) is not None and c.value() == 60 and
                (s := local_value(r, "set", ORSet)) is not None and set(s.elements()) == expected
                for r in reps), 30)

        asyncio.run(main())
        assert registry.stats()["dropped"] > 0


def test_keys_a_node_never_saw_arrive_by_gossip_after_a_partition_heals():
    with cluster_of(3) as (registry, made, clusters, reps):
        a, b, c = reps
        registry.partition_groups([clusters[0]], clusters[1:])

        async def main():
            for i in range(5):
                await a.update(f"k{i}", LwwRegister,
                               lambda reg, i=i: reg.set(f"v{i}".encode()) or reg)
            await asyncio.sleep(0.3)
            assert local_value(b, "k0", LwwRegister) is None
            registry.heal()
            await wait_until(lambda: all(
                (v := local_value(r, f"k{i}", LwwRegister)) is not None and
                v.value() == f"v{i}".encode() for r in (b, c) for i in range(5)), 20)

        asyncio.run(main())


def test_majority_across_a_partition_minority_times_out_and_nothing_is_lost():
    with cluster_of(5, "p") as (registry, made, clusters, reps):
        registry.partition_groups(clusters[:2], clusters[2:])
        minority, majority = reps[:2], reps[2:]
        wc = WriteConsistency.majority(1.0)

        async def main():
            # The minority side cannot reach 3 of 5 replicas.
            res = await minority[0].update("s", GSet, lambda s: s.add("minority") or s, wc)
            assert res == "timeout"
            with pytest.raises(ReplicationTimeoutError):
                await minority[1].get_value("s", GSet, ReadConsistency.majority(1.0))
            # The majority side can.
            assert await majority[0].update("s", GSet, lambda s: s.add("majority") or s,
                                            WriteConsistency.majority(3.0)) == "ok"
            got = await majority[1].get_value("s", GSet, ReadConsistency.majority(3.0))
            assert got.contains("majority")
            registry.heal()
            await wait_until(lambda: all(
                (v := local_value(r, "s", GSet)) is not None and
                set(v.elements()) == {"minority", "majority"} for r in reps), 20)

        asyncio.run(main())


def test_delete_propagates_and_a_deleted_key_cannot_be_recreated():
    with cluster_of(3) as (registry, made, clusters, reps):
        a, b, c = reps

        async def main():
            assert await a.update("gone", GSet, lambda s: s.add("x") or s,
                                  WriteConsistency.all(3.0)) == "ok"
            sub = c.subscribe("gone")
            assert await b.delete("gone", WriteConsistency.majority(3.0)) == "ok"
            await wait_until(lambda: all("gone" in r.deleted_keys() for r in reps))
            assert await asyncio.wait_for(sub.__anext__(), 10) == "gone"
            sub.close()
            for r in reps:
                with pytest.raises(DataDeletedError):
                    await r.update("gone", GSet, lambda s: s.add("y") or s)
                with pytest.raises(DataDeletedError):
                    await r.get("gone", GSet)

        asyncio.run(main())


def test_subscriptions_fire_for_changes_made_on_other_nodes():
    with cluster_of(2) as (registry, made, clusters, reps):
        a, b = reps

        async def main():
            sub = b.subscribe("watched")
            await a.update("watched", ORMap, lambda m: m.put("k", LwwRegister(b"1")) or m)
            assert await asyncio.wait_for(sub.__anext__(), 10) == "watched"
            got = await b.get_value("watched", ORMap)
            assert got is not None and got.get("k").value() == b"1"
            sub.close()

        asyncio.run(main())


def test_a_malformed_state_from_a_peer_is_dropped_and_the_peer_distrusted_for_the_key():
    with cluster_of(2) as (registry, made, clusters, reps):
        a, b = reps
        peer = clusters[0].self_address

        async def main():
            bad = rep.encode({"t": "gossip", "f": peer, "k": ["k"]}, [b"\x00garbage"])
            b._on_message(bad)
            assert ("akka://n0", "k") in b._distrusted
            before = b.dropped_messages
            b._on_message(b"not a replicator message")
            assert b.dropped_messages == before + 1
            # A well-formed state of that key from the distrusted peer is ignored ...
            good = GCounter()
            good.increment("akka://n0", 3)
            b._on_message(rep.encode({"t": "gossip", "f": peer, "k": ["k"]}, [good.to_bytes()]))
            assert local_value(b, "k", GCounter) is None
            # ... while other keys from it still replicate.
            await a.update("other", GCounter, lambda g: g.increment(a.node, 2) or g)
            await wait_until(lambda: (v := local_value(b, "other", GCounter)) is not None
                             and v.value() == 2)

        asyncio.run(main())


def test_write_to_more_replicas_than_exist_times_out():
    with cluster_of(2) as (registry, made, clusters, reps):
        a, _ = reps

        async def main():
            assert await a.update("w", GCounter, lambda g: g.increment(a.node, 1) or g,
                                  WriteConsistency.write_to(2, 2.0)) == "ok"
            assert await a.update("w", GCounter, lambda g: g.increment(a.node, 1) or g,
                                  WriteConsistency.write_to(3, 0.5)) == "timeout"

        asyncio.run(main())


def test_jepsen_concurrent_majority_writes_under_partitions_and_a_crash():
    """Five nodes increment a counter and add to a set concurrently with
    majority writes while partitions come and go and one node crashes
    (its system terminated without leaving); after healing, every
    acknowledged write is visible on every surviving node."""
    with cluster_of(5, "j") as (registry, made, clusters, reps):
        acked_incs = [0] * 5
        acked_adds: set[str] = set()
        wc = WriteConsistency.majority(0.5)
        stop = asyncio.Event()

        async def writer(i: int) -> None:
            r = reps[i]
            n = 0
            while not stop.is_set():
                n += 1
                element = f"{i}-{n}"
                res_inc, res_add = await asyncio.gather(
                    r.update("ctr", GCounter, lambda c: c.increment(r.node, 1) or c, wc),
                    r.update("set", ORSet, lambda s: s.add(element) or s, wc),
                    return_exceptions=True)
                if res_inc == "ok":
                    acked_incs[i] += 1
                if res_add == "ok":
                    acked_adds.add(element)

        async def main() -> None:
            tasks = [asyncio.ensure_future(writer(i)) for i in range(5)]
            splits = [([0, 1], [2, 3, 4]), ([0, 4], [1, 2, 3]), ([3], [0, 1, 2, 4])]
            for left, right in splits:
                registry.partition_groups([clusters[i] for i in left],
                                          [clusters[i] for i in right])
                await asyncio.sleep(0.6)
                registry.heal()
                await asyncio.sleep(0.3)
            stop.set()
            await asyncio.gather(*tasks)

        asyncio.run(main())
        # A crash: node 4's system ends without leaving the cluster.
        made[4].terminate_blocking(10.0)
        survivors = reps[:4]
        assert sum(acked_incs) > 0 and acked_adds

        async def check() -> None:
            def visible() -> bool:
                for r in survivors:
                    c = local_value(r, "ctr", GCounter)
                    s = local_value(r, "set", ORSet)
                    if c is None or s is None:
                        return False
                    entries = c.entries()
                    if any(entries.get(reps[i].node, 0) < acked_incs[i] for i in range(5)):
                        return False
                    if not acked_adds <= set(s.elements()):
                        return False
                return True

            await wait_until(visible, 30)

        asyncio.run(check())


def test_a_removed_nodes_counter_entries_are_pruned_into_the_leaders():
    with cluster_of(3, "r") as (registry, made, clusters, reps):
        a, b, c = reps
        # Replica ids are unique addresses (address and incarnation uid).
        gone = c.node
        assert gone.startswith(clusters[2].self_address + "#")

        async def main():
            assert await a.update("ctr", PNCounter, lambda x: x.increment(a.node, 2) or x,
                                  WriteConsistency.all(3.0)) == "ok"
            assert await c.update("ctr", PNCounter, lambda x: (x.increment(c.node, 10),
                                                               x.decrement(c.node, 3)) and x,
                                  WriteConsistency.all(3.0)) == "ok"
            stale = local_value(b, "ctr", PNCounter)
            assert stale.value() == 9 and gone in stale.entries()[0]
            await clusters[2].leave(20)
            leader = clusters[0].leader
            assert leader == clusters[0].self_address

            def pruned() -> bool:
                for r in (a, b):
                    v = local_value(r, "ctr", PNCounter)
                    state = r._pruning.get("ctr")
                    if v is None or state is None or state.phase(gone) != "performed":
                        return False
                    if v.value() != 9 or gone in v.entries()[0] or gone in v.entries()[1]:
                        return False
                return True

            await wait_until(pruned, 30)
            assert a._pruning["ctr"].owner(gone) == a.node
            # The removed node's count moved to the owner's entry.
            assert local_value(a, "ctr", PNCounter).entries()[0][a.node] == 12
            # A stale state that still holds the removed node's entries does
            # not bring them back (nor count them twice).
            b._on_message(rep.encode({"t": "gossip", "f": clusters[1].self_address,
                                      "k": ["ctr"]}, [stale.to_bytes()]))
            a._on_message(rep.encode({"t": "gossip", "f": clusters[1].self_address,
                                      "k": ["ctr"]}, [stale.to_bytes()]))
            for r in (a, b):
                v = local_value(r, "ctr", PNCounter)
                assert v.value() == 9 and gone not in v.entries()[0]

        asyncio.run(main())


def test_durable_keys_restored_at_start_replicate_to_the_other_members(tmp_path):
    durable = {**DDATA, "durable": {"store-actor-class": "lmdb",
                                    "path": str(tmp_path / "dd.mdb")}}
    with systems("before", **{"distributed-data": durable}) as (s,):
        r = Replicator.get(s)

        async def write():
            await r.update("kept", ORSet, lambda x: x.add("survives") or x)

        asyncio.run(write())
    registry = ClusterRegistry(seed=3)
    try:
        with systems("d0", **{"distributed-data": durable}) as (s0,), \
                systems("d1", **{"distributed-data": DDATA}) as (s1,):
            c0, c1 = (Cluster.with_test_transport(x, registry) for x in (s0, s1))
            r0, r1 = Replicator.get(s0), Replicator.get(s1)
            assert local_value(r0, "kept", ORSet).elements() == ["survives"]

            async def main():
                await asyncio.gather(c0.join_seed_nodes([c0.self_address]),
                                     c1.join_seed_nodes([c0.self_address]))
                await wait_until(lambda: (v := local_value(r1, "kept", ORSet)) is not None
                                 and v.elements() == ["survives"], 20)

            asyncio.run(main())
    finally:
        registry.close()
