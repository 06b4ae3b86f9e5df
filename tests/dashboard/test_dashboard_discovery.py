"""The dashboards of one cluster find each other through membership: each
served system runs ``/system/dashboard``, which the cluster-wide view of
another member asks over remoting. Systems in one process, joined over TCP
on loopback or on a ClusterRegistry (the process test is
test_dashboard_processes.py)."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any

import pytest

from atomr import Actor, ActorSystem, props
from atomr import dashboard
from atomr.cluster import Cluster, ClusterRegistry
from atomr.errors import ActorNameTakenError
from tests.cluster._cluster_util import systems
from tests.conftest import wait_until_blocking
from tests.dashboard._wide import DEADLINE, by_member, get, wide_view


def _form(clusters: list[Cluster]) -> None:
    seed = clusters[0].self_address
    everyone = {c.self_address for c in clusters}

    async def main() -> None:
        await asyncio.gather(*(c.join_seed_nodes([seed], timeout=DEADLINE) for c in clusters))

    asyncio.run(main())
    wait_until_blocking(lambda: all(
        {m.address for m in c.membership_snapshot().members() if m.status == "up"} == everyone
        for c in clusters), timeout=DEADLINE, message="every member sees all three up")


class Echo(Actor):
    def handle(self, ctx: Any, msg: Any) -> Any:
        return msg


def test_cluster_wide_overview_discovers_the_members_dashboards() -> None:
    with systems("dd-a", "dd-b", "dd-c") as (a, b, c):
        ca, cb, cc = (Cluster.with_tcp_transport(s, "127.0.0.1:0") for s in (a, b, c))
        _form([ca, cb, cc])
        b.actor_of(props(Echo), "only-on-b")
        # c serves no dashboard.
        with dashboard.serve("127.0.0.1:0", node="b", system=b) as hb, \
                dashboard.serve("0.0.0.0:0", node="a", system=a) as ha:
            local_a = "127.0.0.1:" + ha.address.rpartition(":")[2]
            doc = wide_view(local_a, lambda m: "overview" in m.get(cb.self_address, {}),
                            "a finds b's dashboard")
            assert doc["node"] == "a"
            own, *others = doc["nodes"]
            assert own["address"] == ha.address and own["source"] == "self"
            assert own["member"] == ca.self_address
            assert own["overview"]["system"] == "dd-a"
            members = by_member(doc)
            assert set(members) == {ca.self_address, cb.self_address, cc.self_address}
            peer = members[cb.self_address]
            assert peer["source"] == "cluster" and peer["address"] == hb.address
            assert peer["overview"]["node"] == "b" and peer["overview"]["system"] == "dd-b"
            assert peer["overview"]["actor_count"] == 1
            assert peer["overview"]["system_actor_count"] >= 1
            bare = members[cc.self_address]
            assert bare["address"] is None and "overview" not in bare
            assert bare["error"].startswith("no dashboard"), bare
            assert len(doc["nodes"]) == 3

            # b's view finds a's dashboard, bound to 0.0.0.0, by the host of
            # a's cluster address.
            from_b = by_member(wide_view(
                hb.address, lambda m: "overview" in m.get(ca.self_address, {}),
                "b finds a's dashboard"))
            assert from_b[ca.self_address]["address"] == local_a
            assert from_b[ca.self_address]["overview"]["node"] == "a"

            # Listed by hand as well: one entry, marked as given in peers.
            with dashboard.serve("127.0.0.1:0", node="c", system=c,
                                 peers=[hb.address, hb.address]) as hc:
                doc = wide_view(hc.address, lambda m: all(
                    "overview" in m.get(x.self_address, {}) for x in (ca, cb)),
                    "c finds both dashboards")
                addresses = [n["address"] for n in doc["nodes"]]
                assert addresses.count(hb.address) == 1 and len(addresses) == 3
                merged = by_member(doc)[cb.self_address]
                assert merged["source"] == "peers" and merged["overview"]["node"] == "b"
                assert by_member(doc)[ca.self_address]["overview"]["node"] == "a"


def test_system_actor_runs_while_a_dashboard_serves_the_system() -> None:
    with systems("dd-life", "dd-asker") as (s, asker):
        cs, ca = (Cluster.with_tcp_transport(x, "127.0.0.1:0") for x in (s, asker))
        _form([cs, ca])
        assert s.system_actor("dashboard") is None
        first = dashboard.serve("127.0.0.1:0", node="one", system=s)
        second = dashboard.serve("127.0.0.1:0", node="two", system=s)
        with dashboard.serve("127.0.0.1:0", node="asker", system=asker) as view:
            try:
                assert s.system_actor("dashboard") is not None
                # The oldest dashboard of the member is fetched.
                entry = by_member(wide_view(view.address, lambda m: "overview" in m.get(
                    cs.self_address, {}), "the member's dashboard"))[cs.self_address]
                assert entry["address"] == first.address and entry["overview"]["node"] == "one"
                first.shutdown()
                assert s.system_actor("dashboard") is not None  # `second` still serves
                wide_view(view.address, lambda m: m.get(cs.self_address, {}).get(
                    "overview", {}).get("node") == "two", "the other dashboard of the member")
            finally:
                first.shutdown()
                second.shutdown()
            wait_until_blocking(lambda: s.system_actor("dashboard") is None, timeout=DEADLINE,
                                message="the system actor stops with the last dashboard")
            entry = by_member(get(view.address, "/api/cluster-wide/overview"))[cs.self_address]
            assert entry["error"].startswith("no dashboard"), entry
            assert entry["address"] is None and "overview" not in entry
            # A new dashboard starts it again.
            with dashboard.serve("127.0.0.1:0", node="three", system=s) as third:
                wide_view(view.address, lambda m: m.get(cs.self_address, {}).get(
                    "address") == third.address and "overview" in m[cs.self_address],
                    "the new dashboard of the member")


def test_no_cluster_no_discovery() -> None:
    system = ActorSystem.create_blocking("dd-alone")
    try:
        with dashboard.serve("127.0.0.1:0", system=system) as handle:
            doc = get(handle.address, "/api/cluster-wide/overview")
            assert [n["address"] for n in doc["nodes"]] == [handle.address]
            assert "member" not in doc["nodes"][0]
    finally:
        system.terminate_blocking(10.0)


def test_in_process_registry_members_dashboards_are_found() -> None:
    registry = ClusterRegistry()
    try:
        with systems("dr-a", "dr-b", "dr-c") as (a, b, c):
            ca, cb, cc = (Cluster.with_test_transport(s, registry) for s in (a, b, c))
            _form([ca, cb, cc])
            with dashboard.serve("127.0.0.1:0", node="a", system=a) as ha, \
                    dashboard.serve("127.0.0.1:0", node="b", system=b) as hb:
                members = by_member(wide_view(ha.address, lambda m: "overview" in m.get(
                    "akka://dr-b", {}), "a finds b's dashboard"))
                assert set(members) == {"akka://dr-a", "akka://dr-b", "akka://dr-c"}
                assert members["akka://dr-b"]["address"] == hb.address
                assert members["akka://dr-b"]["overview"]["system"] == "dr-b"
                assert members["akka://dr-c"]["error"].startswith("no dashboard")
                registry.partition(a, b)
                entry = by_member(wide_view(ha.address, lambda m: "error" in m.get(
                    "akka://dr-b", {}), "the partitioned member"))["akka://dr-b"]
                assert "overview" not in entry and entry["address"] is None
                assert entry["error"] in ("member is partitioned from this node",
                                          "member is unreachable"), entry
    finally:
        registry.close()


def test_a_foreign_system_actor_named_dashboard_is_a_clear_error() -> None:
    system = ActorSystem.create_blocking("dd-taken")
    try:
        system.system_actor_of(props(Echo), "dashboard")
        with pytest.raises(ActorNameTakenError, match="/system/dashboard"):
            dashboard.serve("127.0.0.1:0", system=system)
        assert not [t for t in threading.enumerate() if t.name == "atomr-dashboard-local"]
    finally:
        system.terminate_blocking(10.0)


def test_a_shut_down_dashboard_keeps_no_system_alive() -> None:
    system = ActorSystem.create_blocking("dd-gone")
    for _ in range(2):  # the second one starts the system actor again
        dashboard.serve("127.0.0.1:0", system=system).shutdown()
    system.terminate_blocking(10.0)
    gone = weakref.ref(system)
    del system
    gc.collect()
    assert gone() is None
