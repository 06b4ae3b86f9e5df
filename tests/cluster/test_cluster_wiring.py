"""The cluster extension wired into the rest of a system: its events on the
event stream (telemetry bus, dashboard) and its graceful leave in the
coordinated shutdown."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
import uuid
from typing import Any

import pytest

from atomr import dashboard
from atomr.actor.coordinated_shutdown import COORDINATED_SHUTDOWN
from atomr.cluster import (
    Cluster,
    ClusterRegistry,
    MemberDowned,
    MemberExited,
    MemberLeft,
    MemberRemoved,
    MemberUp,
    UnreachableMember,
)
from atomr.coordination import InMemoryLease
from atomr.telemetry import TelemetryBus
from tests.cluster._cluster_util import events_until, kinds, systems
from tests.conftest import wait_until_blocking


@pytest.fixture
def registry():
    reg = ClusterRegistry()
    try:
        yield reg
    finally:
        reg.close()


def _join(ca: Cluster, cb: Cluster) -> None:
    async def main() -> None:
        await asyncio.gather(ca.join_seed_nodes([ca.self_address]),
                             cb.join_seed_nodes([ca.self_address]))

    asyncio.run(main())


def _get(handle: dashboard.DashboardHandle, path: str) -> Any:
    with urllib.request.urlopen(f"http://{handle.address}{path}", timeout=10) as resp:
        return json.loads(resp.read())


def test_cluster_events_reach_event_stream_and_telemetry_cluster_topic(registry):
    with systems("wa", "wb") as (a, b):
        seen: list[Any] = []
        lock = threading.Lock()

        def on_event(event: Any) -> None:
            with lock:
                seen.append(event)

        a.event_stream.subscribe(on_event, MemberUp)
        bus = TelemetryBus()
        bus.attach(a)
        topic = bus.subscribe_topic("cluster")
        try:
            ca, cb = Cluster.with_test_transport(a, registry), Cluster.with_test_transport(b, registry)
            _join(ca, cb)

            def both_up() -> bool:
                with lock:
                    return {e.member.address for e in seen} >= {"akka://wa", "akka://wb"}

            wait_until_blocking(both_up, message=f"MemberUp on a's event stream: {seen}")
            with lock:
                assert all(isinstance(e, MemberUp) for e in seen)

            deadline = time.monotonic() + 15
            ups: set[str] = set()
            while ups != {"akka://wa", "akka://wb"}:
                assert time.monotonic() < deadline, f"telemetry saw member_up of {ups}"
                event = topic.next(timeout_secs=0.2)
                if event is not None and event["kind"] == "member_up":
                    assert event["member"]  # the MemberInfo, as text
                    ups |= {x for x in ("akka://wa", "akka://wb") if x in event["member"]}
        finally:
            topic.close()
            bus.detach(a)
            a.event_stream.unsubscribe(on_event)


def test_dashboard_cluster_panel_shows_members_of_a_real_cluster(registry):
    with systems("da", "db") as (a, b):
        with dashboard.serve("127.0.0.1:0", system=a) as handle:
            assert _get(handle, "/api/snapshot")["cluster"]["members"] == []
            ca, cb = Cluster.with_test_transport(a, registry), Cluster.with_test_transport(b, registry)
            _join(ca, cb)

            def panel() -> Any:
                cluster = _get(handle, "/api/snapshot")["cluster"]
                members = {m["address"]: m["status"] for m in cluster["members"]}
                return cluster if members == {"akka://da": "up", "akka://db": "up"} else None

            cluster = wait_until_blocking(panel, message="the dashboard's cluster panel")
            assert cluster["available"] is True
            assert cluster["leader"] == "akka://da"
            assert cluster["unreachable"] == []


def test_coordinated_shutdown_leaves_the_cluster_gracefully(registry):
    with systems("ga", "gb") as (a, b):
        ca, cb = Cluster.with_test_transport(a, registry), Cluster.with_test_transport(b, registry)
        assert COORDINATED_SHUTDOWN.get(b).tasks("cluster-leave") == ["leave"]
        _join(ca, cb)

        async def watch() -> list[Any]:
            sub = ca.subscribe([MemberUp, MemberLeft, MemberExited, MemberRemoved,
                                UnreachableMember, MemberDowned])
            await events_until(sub, lambda e: isinstance(e, MemberUp)
                               and e.member.address == "akka://gb")
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(
                None, lambda: COORDINATED_SHUTDOWN.get(b).run_blocking("test", 30.0))
            assert ok, COORDINATED_SHUTDOWN.get(b).failures
            return await events_until(sub, lambda e: isinstance(e, MemberRemoved)
                                      and e.member.address == "akka://gb")

        events = asyncio.run(watch())
        assert kinds(events, "akka://gb") == ["MemberLeft", "MemberExited", "MemberRemoved"]
        assert b.is_terminated
        assert ca.member_count() == 1


def test_lease_majority_side_holding_the_coordination_lease_survives():
    lease_name = f"sbr-{uuid.uuid4().hex}"
    shared = InMemoryLease.named(lease_name)
    # The minority side's leader already holds the lease: it wins it
    # (after acquire-lease-delay-for-minority), the majority side is denied.
    assert shared.acquire("akka://lc")
    sbr = {"sbr": {"strategy": "lease-majority", "stable-after": 2.0,
                   "lease-name": lease_name, "acquire-lease-delay-for-minority": 1.0}}
    registry = ClusterRegistry(seed=7, virtual_time=True)
    try:
        with systems("la", "lb", "lc", cluster=sbr) as (a, b, c):
            ca, cb, cc = (Cluster.with_test_transport(s, registry) for s in (a, b, c))

            def addresses(x: Cluster) -> set[str]:
                return {m.address for m in x.membership_snapshot().members()}

            async def main() -> None:
                seed = ca.self_address
                await registry.drive(asyncio.gather(*(x.join_seed_nodes([seed])
                                                      for x in (ca, cb, cc))),
                                     step=0.05, timeout=30)
                await registry.pump(lambda: all(len(addresses(x)) == 3 for x in (ca, cb, cc)),
                                    step=0.05, timeout=30)
                sub = cc.subscribe(["UnreachableMember", "MemberDowned", "MemberRemoved"])
                registry.partition_groups([a, b], [c])
                await registry.pump(lambda: addresses(cc) == {"akka://lc"}
                                    and ca.self_status() is None
                                    and cb.self_status() is None, step=0.05, timeout=60)
                events = await events_until(sub, lambda e: isinstance(e, MemberRemoved)
                                            and e.member.address == "akka://lb")
                assert "MemberDowned" in kinds(events, "akka://la")
                assert cc.self_status() == "up"
                assert shared.check() == "akka://lc"

            asyncio.run(main())
    finally:
        registry.close()


def test_a_lease_outcome_is_true_false_or_none():
    from atomr._native._core import _ClusterLease

    lease = _ClusterLease()
    assert lease.take_request() is False
    lease.set_outcome(None)
    with pytest.raises(TypeError):
        lease.set_outcome(1)
