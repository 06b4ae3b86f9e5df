"""Cluster events (frozen dataclasses), event_from_dict and the bounded
subscription buffer a Cluster.subscribe iterator is made of."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest

from atomr.cluster import (
    ClusterShuttingDown,
    Convergence,
    EventSubscription,
    LeaderChanged,
    MemberDowned,
    MemberExited,
    MemberInfo,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MemberUp,
    MemberWeaklyUp,
    ReachableMember,
    UnreachableMember,
    event_from_dict,
)

A = "akka.tcp://sys@127.0.0.1:2552"
MEMBER = {"address": A, "status": "up", "up_number": 3, "roles": ["backend"]}

# -- the dataclasses ---------------------------------------------------------------------


def test_events_are_frozen_dataclasses_with_the_spec_fields():
    info = MemberInfo(A, "up", 3, ["backend"])
    assert (info.address, info.status, info.up_number, info.roles) == (A, "up", 3, ["backend"])
    for cls in (MemberJoined, MemberWeaklyUp, MemberUp, MemberLeft, MemberExited, MemberDowned,
                UnreachableMember, ReachableMember):
        event = cls(info)
        assert event.member is info
        assert [f.name for f in dataclasses.fields(cls)] == ["member"]
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.member = info  # type: ignore[misc]
    removed = MemberRemoved(info, "exiting")
    assert (removed.member, removed.previous_status) == (info, "exiting")
    assert LeaderChanged(None, A) == LeaderChanged(from_address=None, to_address=A)
    assert ClusterShuttingDown() == ClusterShuttingDown()
    assert Convergence(True).converged is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        Convergence(True).converged = False  # type: ignore[misc]


# -- event_from_dict ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [MemberJoined, MemberWeaklyUp, MemberUp, MemberLeft,
                                 MemberExited, MemberDowned, UnreachableMember,
                                 ReachableMember])
def test_member_events_from_dicts(cls):
    event = event_from_dict({"kind": cls.__name__, "member": MEMBER})
    assert type(event) is cls
    assert event.member == MemberInfo(A, "up", 3, ["backend"])


def test_weaklyup_is_spelled_with_an_underscore_in_events():
    member = {**MEMBER, "status": "weaklyup"}
    assert event_from_dict({"kind": "MemberWeaklyUp", "member": member}).member.status == \
        "weakly_up"
    member = {**MEMBER, "status": "weakly_up"}
    assert event_from_dict({"kind": "MemberWeaklyUp", "member": member}).member.status == \
        "weakly_up"


def test_other_events_from_dicts():
    assert event_from_dict({"kind": "MemberRemoved", "member": MEMBER,
                            "previous_status": "down"}) == \
        MemberRemoved(MemberInfo(A, "up", 3, ["backend"]), "down")
    assert event_from_dict({"kind": "LeaderChanged", "from_address": None,
                            "to_address": A}) == LeaderChanged(None, A)
    assert event_from_dict({"kind": "LeaderChanged"}) == LeaderChanged(None, None)
    assert event_from_dict({"kind": "ClusterShuttingDown"}) == ClusterShuttingDown()
    assert event_from_dict({"kind": "Convergence", "converged": False}) == Convergence(False)


def test_unknown_kinds_and_non_dicts_are_returned_unchanged():
    raw = {"kind": "SomethingNew", "x": 1}
    assert event_from_dict(raw) is raw
    no_kind = {"member": MEMBER}
    assert event_from_dict(no_kind) is no_kind
    assert event_from_dict("text") == "text"
    assert event_from_dict(None) is None


@pytest.mark.parametrize("raw", [
    {"kind": "MemberUp"},
    {"kind": "MemberUp", "member": "n1"},
    {"kind": "MemberUp", "member": {**MEMBER, "status": "sleeping"}},
    {"kind": "MemberUp", "member": {**MEMBER, "address": 5}},
    {"kind": "MemberUp", "member": {**MEMBER, "up_number": "3"}},
    {"kind": "MemberUp", "member": {**MEMBER, "up_number": True}},
    {"kind": "MemberUp", "member": {**MEMBER, "roles": "backend"}},
    {"kind": "MemberUp", "member": {**MEMBER, "roles": [1]}},
    {"kind": "MemberRemoved", "member": MEMBER},
    {"kind": "LeaderChanged", "to_address": 7},
    {"kind": "Convergence"},
    {"kind": "Convergence", "converged": 1},
])
def test_malformed_known_kinds_raise_value_error(raw):
    with pytest.raises(ValueError):
        event_from_dict(raw)


# -- the subscription buffer ---------------------------------------------------------------


def _up(i: int) -> MemberUp:
    return MemberUp(MemberInfo(f"akka://n{i}", "up", i, []))


async def test_subscription_yields_published_events_in_order():
    sub = EventSubscription()
    assert sub.filter is None and sub.capacity == 1024 and sub.dropped_events == 0
    for i in range(3):
        assert sub.publish(_up(i))
    assert len(sub) == 3
    got = [await sub.__anext__() for _ in range(3)]
    assert got == [_up(0), _up(1), _up(2)]


async def test_overflow_drops_the_new_event_and_counts_it():
    sub = EventSubscription(capacity=2)
    assert [sub.publish(_up(i)) for i in range(5)] == [True, True, False, False, False]
    assert sub.dropped_events == 3
    assert [await sub.__anext__(), await sub.__anext__()] == [_up(0), _up(1)]
    assert sub.publish(_up(9))
    assert await sub.__anext__() == _up(9)
    assert sub.dropped_events == 3


async def test_filter_by_class_name():
    sub = EventSubscription(["MemberUp", LeaderChanged])
    assert sub.filter == ["MemberUp", "LeaderChanged"]
    assert not sub.publish(MemberLeft(MemberInfo("akka://a", "leaving", 1, [])))
    assert not sub.publish(Convergence(True))
    assert sub.publish(LeaderChanged(None, "akka://a"))
    assert sub.publish(_up(1))
    assert sub.dropped_events == 0
    assert [await sub.__anext__(), await sub.__anext__()] == \
        [LeaderChanged(None, "akka://a"), _up(1)]


async def test_a_waiting_consumer_is_woken_by_publish_from_another_thread():
    sub = EventSubscription()
    got: list = []

    async def consume():
        async for event in sub:
            got.append(event)
            if len(got) == 3:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    publisher = threading.Thread(target=lambda: [sub.publish(_up(i)) for i in range(3)])
    publisher.start()
    await asyncio.wait_for(task, 10)
    publisher.join(10)
    assert got == [_up(0), _up(1), _up(2)]


async def test_close_ends_iteration_also_for_a_waiting_consumer():
    sub = EventSubscription()
    sub.publish(_up(1))
    assert await sub.__anext__() == _up(1)
    waiting = asyncio.create_task(sub.__anext__())
    await asyncio.sleep(0)
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 10)
    assert sub.closed
    assert not sub.publish(_up(2))
    assert [e async for e in sub] == []


async def test_close_discards_buffered_events():
    sub = EventSubscription()
    sub.publish(_up(1))
    sub.close()
    assert [e async for e in sub] == []


async def test_one_consumer_at_a_time():
    sub = EventSubscription()
    first = asyncio.create_task(sub.__anext__())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already being iterated"):
        await sub.__anext__()
    sub.publish(_up(1))
    assert await asyncio.wait_for(first, 10) == _up(1)


def test_the_buffer_works_from_successive_event_loops():
    sub = EventSubscription()
    sub.publish(_up(1))
    assert asyncio.run(sub.__anext__()) == _up(1)

    async def later():
        asyncio.get_running_loop().call_later(0.01, sub.publish, _up(2))
        return await asyncio.wait_for(sub.__anext__(), 10)

    assert asyncio.run(later()) == _up(2)


@pytest.mark.parametrize("kwargs, exc", [
    ({"capacity": 0}, ValueError),
    ({"capacity": -1}, ValueError),
    ({"capacity": 1.5}, TypeError),
    ({"capacity": True}, TypeError),
    ({"event_types": "MemberUp"}, TypeError),
    ({"event_types": [3]}, TypeError),
    ({"event_types": ["MemberUpp"]}, ValueError),
])
def test_bad_subscription_arguments(kwargs, exc):
    with pytest.raises(exc):
        EventSubscription(**kwargs)
