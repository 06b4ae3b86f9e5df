"""The dashboard's JSON routes, its pushes (server-sent events and the
websocket) and its argument checks, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest

from atomr import Actor, ActorSystem, Context, props
from atomr import dashboard
from atomr.cluster.events import MemberInfo, MemberUp, UnreachableMember
from tests.conftest import wait_until_blocking


class Slow(Actor):
    def handle(self, ctx: Context, msg: Any) -> Any:
        if msg == "spawn":
            ctx.spawn(props(Slow), "kid")
            return "ok"
        return msg


def get(handle: dashboard.DashboardHandle, path: str) -> Any:
    with urllib.request.urlopen(f"http://{handle.address}{path}", timeout=10) as resp:
        body = resp.read()
        if resp.headers.get_content_type() == "application/json":
            return json.loads(body)
        return body.decode()


@pytest.fixture
def system():
    s = ActorSystem.create_blocking("dash")
    yield s
    s.terminate_blocking(10.0)


def test_overview_and_snapshot_keys(system: ActorSystem) -> None:
    with dashboard.serve("127.0.0.1:0", node="n1", system=system) as handle:
        overview = get(handle, "/api/overview")
        for key in ("node", "generated_at", "actor_count", "dead_letter_count",
                    "cluster_member_count", "cluster_unreachable_count",
                    "remote_association_count", "running_graphs",
                    "persistence_event_count", "ddata_key_count"):
            assert key in overview
        assert overview["node"] == "n1"
        snap = get(handle, "/api/snapshot")
        for key in ("node", "generated_at", "actors", "dead_letters", "cluster", "sharding",
                    "persistence", "remote", "streams", "ddata"):
            assert key in snap
        assert get(handle, "/healthz") == "ok"


def test_actor_tree_shows_children_and_mailbox_depth(system: ActorSystem) -> None:
    parent = system.actor_of(props(Slow), "parent")
    assert parent.ask_blocking("spawn", 5.0) == "ok"
    with dashboard.serve("127.0.0.1:0", system=system) as handle:
        tree = get(handle, "/api/actors/tree")
        node = next(n for n in tree if n["path"] == "akka://dash/user/parent")
        assert node["actor_class"] == "Slow"
        assert [c["path"] for c in node["children"]] == ["akka://dash/user/parent/kid"]
        flat = get(handle, "/api/actors")
        assert {"akka://dash/user/parent", "akka://dash/user/parent/kid"} <= {
            a["path"] for a in flat}
        assert all(a["mailbox_depth"] >= 0 for a in flat)
        assert get(handle, "/api/overview")["actor_count"] == len(
            [a for a in flat if not a["system"]])


def test_actor_tree_includes_system_actors_marked(system: ActorSystem) -> None:
    system.actor_of(props(Slow), "app")
    tool = system.system_actor_of(props(Slow), "tool")
    assert tool.ask_blocking("spawn", 5.0) == "ok"
    with dashboard.serve("127.0.0.1:0", system=system) as handle:
        tree = {n["path"]: n for n in get(handle, "/api/actors/tree")}
        assert tree["akka://dash/user/app"]["system"] is False
        node = tree["akka://dash/system/tool"]
        assert node["system"] is True and node["parent"] is None
        assert node["actor_class"] == "Slow"
        (kid,) = node["children"]
        assert kid["path"] == "akka://dash/system/tool/kid" and kid["system"] is True
        # The dashboard's own system actor (see test_dashboard_discovery.py).
        assert tree["akka://dash/system/dashboard"]["system"] is True
        flat = {a["path"]: a["system"] for a in get(handle, "/api/actors")}
        assert flat["akka://dash/system/tool/kid"] is True
        assert flat["akka://dash/user/app"] is False
        overview = get(handle, "/api/overview")
        assert overview["actor_count"] == 1
        assert overview["system_actor_count"] == sum(flat.values())


def test_mailbox_depth_counts_queued_messages(system: ActorSystem) -> None:
    import threading

    gate = threading.Event()

    class Blocked(Actor):
        def handle(self, ctx: Context, msg: Any) -> Any:
            gate.wait(10.0)

    ref = system.actor_of(props(Blocked), "blocked")
    try:
        for i in range(6):
            ref.tell(i)
        with dashboard.serve("127.0.0.1:0", system=system) as handle:
            # One message is being handled (blocking the loop); five wait.
            wait_until_blocking(lambda: [a["mailbox_depth"] for a in get(handle, "/api/actors")
                                         if a["path"].endswith("/blocked")] == [5])
            assert get(handle, "/api/overview")["mailbox_depth_total"] == 5
    finally:
        gate.set()


def test_dead_letters_listed_with_limit(system: ActorSystem) -> None:
    ref = system.actor_of(props(Slow), "gone")
    with dashboard.serve("127.0.0.1:0", system=system) as handle:
        ref.stop()
        wait_until_blocking(ref.is_terminated)
        for i in range(3):
            ref.tell(f"lost-{i}")
        wait_until_blocking(lambda: get(handle, "/api/dead-letters?limit=10")["count"] >= 3)
        two = get(handle, "/api/dead-letters?limit=2")
        assert [d["message"] for d in two["recent"]] == ["'lost-1'", "'lost-2'"]
        assert two["recent"][0]["recipient"] == "akka://dash/user/gone"
        with pytest.raises(urllib.error.HTTPError) as info:
            get(handle, "/api/dead-letters?limit=x")
        assert info.value.code == 400


def test_cluster_panel_follows_member_events(system: ActorSystem) -> None:
    with dashboard.serve("127.0.0.1:0", system=system) as handle:
        assert get(handle, "/api/cluster/state")["members"] == []
        member = MemberInfo("akka.tcp://dash@127.0.0.1:2552", "up", 1, ["backend"])
        system.event_stream.publish(MemberUp(member))
        wait_until_blocking(lambda: get(handle, "/api/overview")["cluster_member_count"] == 1)
        system.event_stream.publish(UnreachableMember(member))
        reach = wait_until_blocking(
            lambda: (r := get(handle, "/api/cluster/reachability"))["unreachable"] and r)
        assert reach["members"] == {"akka.tcp://dash@127.0.0.1:2552": False}


def test_ddata_keys_listed(system: ActorSystem) -> None:
    from atomr.ddata import GCounter, Replicator

    with dashboard.serve("127.0.0.1:0", system=system) as handle:
        assert get(handle, "/api/ddata") == {"available": False, "keys": []}
        replicator = Replicator.get(system)
        assert asyncio.run(replicator.update(
            "visits", GCounter, lambda c: c.increment("web", 1) or c)) == "ok"
        wait_until_blocking(lambda: get(handle, "/api/ddata")["keys"] == ["visits"])


def test_demo_graphs(system: ActorSystem) -> None:
    other = ActorSystem.create_blocking("dash-other")
    try:
        with pytest.raises(RuntimeError):
            dashboard.start_demo_graph(other, "g")
    finally:
        other.terminate_blocking(10.0)
    with dashboard.serve("127.0.0.1:0", system=system) as handle:
        graph = dashboard.start_demo_graph(system, "ingest")
        assert get(handle, "/api/streams")["running_graphs"][0]["name"] == "ingest"
        assert get(handle, "/api/overview")["running_graphs"] == 1
        dashboard.finish_demo_graph(system, graph)
        assert get(handle, "/api/overview")["running_graphs"] == 0


def test_server_sent_events_push_snapshots(system: ActorSystem) -> None:
    with dashboard.serve("127.0.0.1:0", system=system, interval=0.05) as handle:
        with urllib.request.urlopen(f"http://{handle.address}/api/events", timeout=10) as resp:
            assert resp.headers.get_content_type() == "text/event-stream"
            seen = []
            while len(seen) < 2:
                line = resp.readline().decode()
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
            assert seen[0]["system"] == "dash"
            assert seen[1]["generated_at"] >= seen[0]["generated_at"]


def test_websocket_pushes_snapshots(system: ActorSystem) -> None:
    with dashboard.serve("127.0.0.1:0", system=system, interval=0.05) as handle:
        host, port = handle.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {handle.address}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            reader = sock.makefile("rb")
            assert reader.readline().startswith(b"HTTP/1.1 101")
            while reader.readline() not in (b"\r\n", b""):
                pass
            b0, b1 = reader.read(2)
            assert b0 == 0x81
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(reader.read(2), "big")
            elif n == 127:
                n = int.from_bytes(reader.read(8), "big")
            assert json.loads(reader.read(n))["node"] == "local"
            sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))  # a masked close frame


def test_unknown_route_is_404_and_shutdown_is_idempotent(system: ActorSystem) -> None:
    handle = dashboard.serve("127.0.0.1:0", system=system)
    with pytest.raises(urllib.error.HTTPError) as info:
        get(handle, "/api/nothing")
    assert info.value.code == 404
    address = handle.address
    handle.shutdown()
    handle.shutdown()
    host, port = address.rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_without_system_routes_answer_empty() -> None:
    with dashboard.serve("127.0.0.1:0") as handle:
        assert get(handle, "/api/overview")["actor_count"] == 0
        assert get(handle, "/api/actors") == []
        assert get(handle, "/api/ddata") == {"available": False, "keys": []}


def test_page_and_assets_served_locally() -> None:
    with dashboard.serve("127.0.0.1:0") as handle:
        page = get(handle, "/")
        assert "/static/dashboard.js" in page and "http" not in page.replace(
            'name="viewport"', "")
        assert "EventSource" in get(handle, "/static/dashboard.js")
        assert get(handle, "/static/dashboard.css")


@pytest.mark.parametrize("bind", ["nohost", "127.0.0.1:port", "127.0.0.1:70000", ":80"])
def test_bad_bind_is_value_error(bind: str) -> None:
    with pytest.raises(ValueError):
        dashboard.serve(bind)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        dashboard.serve(9100)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dashboard.serve("127.0.0.1:0", exporters={"otlp": {"protocol": "grpc"}})
    with pytest.raises(TypeError):
        dashboard.serve("127.0.0.1:0", system="not a system")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dashboard.serve("127.0.0.1:0", interval=0)


def test_prometheus_exporter_route(system: ActorSystem) -> None:
    pytest.importorskip("prometheus_client")
    with dashboard.serve("127.0.0.1:0", system=system,
                         exporters={"prometheus": {"enabled": True, "namespace": "dash"}}) as handle:
        assert "dash_top_level_actors" in get(handle, "/metrics")


def test_not_imported_by_atomr() -> None:
    import subprocess
    import sys

    code = "import sys, atomr; print('atomr.dashboard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"
