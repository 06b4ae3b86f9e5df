"""Cluster over a ClusterRegistry in real time: join, leave, down, events."""

from __future__ import annotations

import asyncio

import pytest

from atomr import ActorSystem
from atomr.cluster import (
    Cluster,
    ClusterRegistry,
    LeaderChanged,
    MemberDowned,
    MemberExited,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MemberUp,
    MembershipState,
)
from atomr.errors import AtomrError
from tests.cluster._cluster_util import config, events_until, kinds, next_event, systems


@pytest.fixture
def registry():
    reg = ClusterRegistry()
    try:
        yield reg
    finally:
        reg.close()


def _up(cluster: Cluster) -> set[str]:
    return {m.address for m in cluster.membership_snapshot().members() if m.status == "up"}


def test_three_systems_join_through_a_seed_and_agree(registry):
    with systems("a", "b", "c") as (a, b, c):
        ca, cb, cc = (Cluster.with_test_transport(s, registry) for s in (a, b, c))
        assert ca.self_address == "akka://a"
        # Sharing a registry joins nothing: each is a cluster of itself.
        assert ca.member_count() == cb.member_count() == cc.member_count() == 1

        async def main():
            await asyncio.gather(ca.join_seed_nodes([ca.self_address]),
                                 cb.join_seed_nodes([ca.self_address]),
                                 cc.join_seed_nodes(["a"]))  # a bare name is akka://a

        asyncio.run(main())
        everyone = {"akka://a", "akka://b", "akka://c"}

        async def converge():
            deadline = asyncio.get_running_loop().time() + 15
            while not all(_up(x) == everyone for x in (ca, cb, cc)):
                assert asyncio.get_running_loop().time() < deadline, \
                    [_up(x) for x in (ca, cb, cc)]
                await asyncio.sleep(0.01)

        asyncio.run(converge())
        assert ca.leader == cb.leader == cc.leader == "akka://a"
        assert all(x.member_count() == 3 for x in (ca, cb, cc))
        snapshot = cb.membership_snapshot()
        assert isinstance(snapshot, MembershipState) and snapshot.member_count() == 3


def test_get_is_idempotent_and_the_first_transport_wins(registry):
    with systems("first") as (s,):
        c1 = Cluster.with_test_transport(s, registry)
        assert Cluster.get(s) is c1
        assert Cluster.with_test_transport(s, ClusterRegistry(virtual_time=True)) is c1
        assert Cluster.with_tcp_transport(s, "127.0.0.1:0") is c1
        assert s.address == "akka://first"  # no TCP transport was started


def test_advertised_address(registry):
    with systems("x") as (s,):
        c = Cluster.with_test_transport(s, registry, advertised_address="node-x")
        assert c.self_address == "akka://node-x"


def test_standalone_cluster_without_remoting():
    with systems("alone") as (s,):
        c = Cluster.get(s)
        assert c.self_address == "akka://alone"
        sub = c.subscribe()

        async def main():
            events = await events_until(sub, lambda e: isinstance(e, LeaderChanged))
            assert kinds(events, "akka://alone")[-1] == "MemberUp"
            assert events[-1] == LeaderChanged(None, "akka://alone")

        asyncio.run(main())
        assert c.leader == "akka://alone" and c.member_count() == 1
        assert c.self_status() == "up"


def test_subscribe_before_join_sees_self_member_up(registry):
    with systems("sa", "sb") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)
        sub = cb.subscribe()

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            await cb.join_seed_nodes([ca.self_address])
            events = await events_until(
                sub, lambda e: isinstance(e, MemberUp) and e.member.address == "akka://sb"
                and cb.member_count() == 2)
            assert "MemberUp" in kinds(events, "akka://sb")

        asyncio.run(main())


def test_replay_of_the_current_state(registry):
    with systems("ra", "rb") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            await cb.join_seed_nodes([ca.self_address])
            await asyncio.sleep(0)
            sub = ca.subscribe()
            events = await events_until(
                sub, lambda e: isinstance(e, LeaderChanged))
            ups = {e.member.address for e in events if isinstance(e, MemberUp)}
            assert "akka://ra" in ups
            assert events[-1] == LeaderChanged(None, "akka://ra")

        asyncio.run(main())


def test_joining_member_events_in_order(registry):
    with systems("oa", "ob") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            sub = ca.subscribe()
            await cb.join_seed_nodes([ca.self_address])
            events = await events_until(
                sub, lambda e: isinstance(e, MemberUp) and e.member.address == "akka://ob")
            assert kinds(events, "akka://ob") == ["MemberJoined", "MemberUp"]
            joined = next(e for e in events if isinstance(e, MemberJoined))
            assert joined.member.status == "joining"

        asyncio.run(main())


def test_leave_publishes_left_exited_removed_and_empties_the_view(registry):
    with systems("la", "lb") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            await cb.join_seed_nodes([ca.self_address])
            sub_a = ca.subscribe(["MemberLeft", "MemberExited", "MemberRemoved"])
            sub_b = cb.subscribe()
            await cb.leave()
            assert cb.member_count() == 0
            events = await events_until(sub_a, lambda e: isinstance(e, MemberRemoved))
            assert kinds(events, "akka://lb") == ["MemberLeft", "MemberExited", "MemberRemoved"]
            assert events[-1].previous_status == "exiting"
            own = await events_until(sub_b, lambda e: isinstance(e, MemberRemoved)
                                     and e.member.address == "akka://lb")
            assert [k for k in kinds(own, "akka://lb") if k != "MemberUp"][-3:] == \
                ["MemberLeft", "MemberExited", "MemberRemoved"]

        asyncio.run(main())
        assert ca.member_count() == 1


def test_down_publishes_downed_at_once_then_removed(registry):
    with systems("da", "db") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            await cb.join_seed_nodes([ca.self_address])
            sub = ca.subscribe(["MemberDowned", "MemberRemoved"])
            await ca.down(cb.self_address)
            # Published by the time down() returns.
            assert len(sub) >= 1
            first = await next_event(sub)
            assert isinstance(first, MemberDowned) and first.member.address == "akka://db"
            removed = await next_event(sub)
            assert isinstance(removed, MemberRemoved) and removed.member.address == "akka://db"
            assert removed.previous_status == "down"

        asyncio.run(main())
        assert ca.member_count() == 1


def test_subscription_overflow_counts_dropped_events(registry):
    with systems("fa", "fb") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)
        sub = ca.subscribe(capacity=1)
        assert sub.dropped_events == 0

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            await cb.join_seed_nodes([ca.self_address])
            await cb.leave()

        asyncio.run(main())
        # MemberUp(a), LeaderChanged, MemberJoined(b), MemberUp(b), ... and
        # nothing was read: all but the first were dropped.
        assert len(sub) == 1
        assert sub.dropped_events >= 4


def test_filter(registry):
    with systems("ia", "ib") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)
        sub = ca.subscribe([MemberJoined, "MemberRemoved"])
        assert sub.filter == ["MemberJoined", "MemberRemoved"]

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            await cb.join_seed_nodes([ca.self_address])
            await ca.down(cb.self_address)
            events = await events_until(sub, lambda e: isinstance(e, MemberRemoved))
            assert {type(e) for e in events} <= {MemberJoined, MemberRemoved}
            assert kinds(events, "akka://ib") == ["MemberJoined", "MemberRemoved"]

        asyncio.run(main())
        with pytest.raises(ValueError):
            ca.subscribe(["NoSuchEvent"])


def test_close_ends_iteration(registry):
    with systems("ca") as (a,):
        c = Cluster.with_test_transport(a, registry)
        sub = c.subscribe()

        async def main():
            seen = []

            async def consume():
                async for event in sub:
                    seen.append(event)

            task = asyncio.ensure_future(consume())
            await events_until_len(seen, 1)
            sub.close()
            await asyncio.wait_for(task, 5)
            with pytest.raises(StopAsyncIteration):
                await sub.__anext__()

        asyncio.run(main())


async def events_until_len(seen, n, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while len(seen) < n:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)


def test_subscriptions_end_when_the_system_terminates(registry):
    a = ActorSystem.create_blocking("ta", config())
    try:
        c = Cluster.with_test_transport(a, registry)
        sub = c.subscribe(["MemberRemoved"])
    finally:
        a.terminate_blocking(10.0)
    assert sub.closed

    async def main():
        with pytest.raises(StopAsyncIteration):
            await sub.__anext__()

    asyncio.run(main())


def test_create_blocking_with_successive_asyncio_runs(registry):
    with systems("ba", "bb") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)
        asyncio.run(ca.join_seed_nodes([ca.self_address]))
        asyncio.run(cb.join_seed_nodes([ca.self_address]))
        assert cb.self_status() == "up"
        asyncio.run(cb.leave())
        assert cb.member_count() == 0
        asyncio.run(ca.leave())
        assert ca.member_count() == 0


def test_join_timeout_raises(registry):
    with systems("ja") as (a,):
        ca = Cluster.with_test_transport(a, registry)
        with pytest.raises(AtomrError):
            asyncio.run(ca.join_seed_nodes(["akka://nobody-here"], timeout=0.5))
        with pytest.raises(ValueError):
            asyncio.run(ca.join_seed_nodes([]))
        with pytest.raises(ValueError):
            asyncio.run(ca.join_seed_nodes(["akka://a"], timeout=0))


def test_registry_advance_needs_virtual_time(registry):
    with pytest.raises(RuntimeError):
        registry.advance(1.0)


def test_left_and_exited_are_distinct_statuses(registry):
    # The statuses carried by the leave events.
    with systems("xa", "xb") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)

        async def main():
            await ca.join_seed_nodes([ca.self_address])
            await cb.join_seed_nodes([ca.self_address])
            sub = ca.subscribe([MemberLeft, MemberExited])
            await cb.leave()
            left = await next_event(sub)
            exited = await next_event(sub)
            assert (left.member.status, exited.member.status) == ("leaving", "exiting")

        asyncio.run(main())


def test_first_seed_forms_the_cluster_when_no_other_seed_answers(registry):
    with systems("fs", "fo") as (a, b):
        ca = Cluster.with_test_transport(a, registry)
        cb = Cluster.with_test_transport(b, registry)
        # The other seed is not there: after seed-node-timeout a forms the cluster.
        asyncio.run(ca.join_seed_nodes([ca.self_address, "akka://ghost"], timeout=30))
        assert ca.self_status() == "up" and ca.leader == ca.self_address
        # A seed list naming a live node first: b joins a's cluster.
        asyncio.run(cb.join_seed_nodes(["akka://ghost", ca.self_address], timeout=30))
        assert {m.address for m in cb.membership_snapshot().members()} >= {"akka://fs", "akka://fo"}


@pytest.mark.parametrize("seeds", ["akka://a", ["akka.tcp://nohost"], [""]])
def test_bad_seed_nodes_setting_is_a_value_error(seeds):
    with systems("bs", cluster={"seed-nodes": seeds}) as (s,):
        with pytest.raises(ValueError):
            Cluster.get(s)
        with pytest.raises(ValueError):  # the setting is read again: still refused
            Cluster.get(s)
