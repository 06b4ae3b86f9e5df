"""Cluster over a ClusterRegistry in virtual time: deterministic joins,
partitions and the split brain resolver."""

from __future__ import annotations

import asyncio

import pytest

from atomr.cluster import (
    Cluster,
    ClusterRegistry,
    MemberDowned,
    MemberRemoved,
    ReachableMember,
    UnreachableMember,
)
from tests.cluster._cluster_util import events_until, kinds, systems

SBR = {"sbr": {"strategy": "keep-majority", "stable-after": 2.0}}


@pytest.fixture
def registry():
    reg = ClusterRegistry(seed=7, virtual_time=True)
    try:
        yield reg
    finally:
        reg.close()


def _addresses(c: Cluster) -> set[str]:
    return {m.address for m in c.membership_snapshot().members()}


async def _form(registry: ClusterRegistry, clusters: list[Cluster]) -> None:
    seed = clusters[0].self_address
    await registry.drive(asyncio.gather(*(c.join_seed_nodes([seed]) for c in clusters)),
                         step=0.05, timeout=30)
    everyone = {c.self_address for c in clusters}
    await registry.pump(lambda: all(
        {m.address for m in c.membership_snapshot().members() if m.status == "up"} == everyone
        for c in clusters), step=0.05, timeout=30)


def test_nothing_moves_without_advance(registry):
    with systems("n1", "n2") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)
        start = registry.now()

        async def main():
            task = asyncio.ensure_future(cb.join_seed_nodes([ca.self_address], timeout=30))
            await asyncio.sleep(0.3)  # real time passes, virtual time does not
            assert ca.self_status() == "joining" and not task.done()
            assert registry.now() == start
            await registry.drive(task, step=0.05, timeout=30)

        asyncio.run(main())
        assert cb.member_count() == 2
        assert registry.now() > start


def test_partition_makes_a_member_unreachable_and_keep_majority_downs_the_minority(registry):
    with systems("va", "vb", "vc", cluster=SBR) as (a, b, c):
        ca, cb, cc = (Cluster.with_test_transport(s, registry) for s in (a, b, c))

        async def main():
            await _form(registry, [ca, cb, cc])
            sub = ca.subscribe(["UnreachableMember", "MemberDowned", "MemberRemoved"])
            cut = registry.now()
            registry.partition_groups([a, b], [c])
            await registry.pump(lambda: "akka://vc" not in _addresses(ca)
                                and "akka://vc" not in _addresses(cb)
                                and cc.self_status() is None, step=0.1, timeout=60)
            elapsed = registry.now() - cut
            events = await events_until(sub, lambda e: isinstance(e, MemberRemoved))
            assert kinds(events, "akka://vc") == ["UnreachableMember", "MemberDowned",
                                                  "MemberRemoved"]
            # Detection (acceptable pause 3 s) plus stable-after (2 s), in
            # virtual seconds, and not forever.
            assert 2.0 < elapsed < 30.0, elapsed
            # The majority side keeps going; the minority downed itself.
            assert {m.address for m in ca.membership_snapshot().members()} == \
                {"akka://va", "akka://vb"}
            assert ca.leader == cb.leader == "akka://va"
            assert cc.member_count() == 0

        asyncio.run(main())


def test_healed_partition_makes_the_member_reachable_again(registry):
    with systems("ha", "hb", "hc") as (a, b, c):  # no SBR: nobody is downed
        ca, cb, cc = (Cluster.with_test_transport(s, registry) for s in (a, b, c))

        async def main():
            await _form(registry, [ca, cb, cc])
            sub = ca.subscribe([UnreachableMember, ReachableMember])
            registry.partition(a, c)
            registry.partition(b, c)
            first = await registry.drive(events_until(
                sub, lambda e: isinstance(e, UnreachableMember)), step=0.1, timeout=30)
            assert first[-1].member.address == "akka://hc"
            registry.heal()
            back = await registry.drive(events_until(
                sub, lambda e: isinstance(e, ReachableMember)), step=0.1, timeout=30)
            assert back[-1].member.address == "akka://hc"
            assert ca.unreachable_members() == [] or "akka://hc" not in ca.unreachable_members()
            assert ca.member_count() == 3

        asyncio.run(main())


def test_down_in_virtual_time(registry):
    with systems("wa", "wb") as (a, b):
        ca, cb = (Cluster.with_test_transport(s, registry) for s in (a, b))

        async def main():
            await _form(registry, [ca, cb])
            sub = ca.subscribe([MemberDowned, MemberRemoved])
            await ca.down(cb.self_address)
            events = await registry.drive(events_until(
                sub, lambda e: isinstance(e, MemberRemoved)), step=0.05, timeout=30)
            assert kinds(events, "akka://wb") == ["MemberDowned", "MemberRemoved"]

        asyncio.run(main())
