"""A cluster client's heartbeats, buffer and reconnect timeout, against
an in-process one-node cluster over TCP whose receptionist auto-starts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from atomr import Actor, ActorSystem, Config, props
from atomr.cluster import Cluster
from atomr.cluster_tools import (
    ClusterClient,
    ClusterClientError,
    ClusterClientSettings,
    ClusterReceptionist,
    ContactPointAdded,
    ContactPointRemoved,
)
from tests.conftest import wait_until_blocking

DEADLINE = 30.0


class Echo(Actor):
    def handle(self, ctx: Any, msg: Any) -> Any:
        return ["echo", msg]


def test_settings_of_the_heartbeats_and_the_buffer():
    s = ClusterClientSettings(["akka.tcp://c@h:1"])
    assert (s.heartbeat_interval, s.acceptable_heartbeat_pause, s.buffer_size,
            s.reconnect_timeout) == (2.0, 13.0, 1000, None)
    t = s.with_heartbeat(0.5, 3.0).with_buffer_size(7).with_reconnect_timeout(9.0)
    assert (t.heartbeat_interval, t.acceptable_heartbeat_pause, t.buffer_size,
            t.reconnect_timeout, t.initial_contacts) == (0.5, 3.0, 7, 9.0, ["akka.tcp://c@h:1"])
    assert s.heartbeat_interval == 2.0  # copies
    with pytest.raises(ValueError):
        ClusterClientSettings(heartbeat_interval=0)
    with pytest.raises(ValueError):
        ClusterClientSettings(acceptable_heartbeat_pause=-1)
    with pytest.raises(ValueError):
        ClusterClientSettings(buffer_size=-1)
    with pytest.raises(TypeError):
        ClusterClientSettings(buffer_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ClusterClientSettings(reconnect_timeout=float("inf"))


def test_a_lost_receptionist_buffers_messages_until_the_client_gives_up():
    node = ActorSystem.create_blocking("hbnode", Config.from_dict({
        "actor": {"provider": "cluster"}, "remote": {"hostname": "127.0.0.1", "port": 0},
        "cluster": {"client": {"receptionist": {"auto-start": True}}}}))
    outside = ActorSystem.create_blocking("hbclient", Config.from_dict(
        {"remote": {"enabled": True, "hostname": "127.0.0.1", "port": 0}}))
    try:
        cluster = Cluster.get(node)
        asyncio.run(cluster.join_seed_nodes([cluster.self_address]))
        # Started with the cluster, as configured.
        wait_until_blocking(lambda: node.system_actor("receptionist") is not None, DEADLINE)
        receptionist = ClusterReceptionist.get(node)
        receptionist.register_service(node.actor_of(props(Echo), "svc"))
        seen: list = []
        outside.event_stream.subscribe(seen.append, ContactPointAdded)
        outside.event_stream.subscribe(seen.append, ContactPointRemoved)
        gone = "akka.tcp://hbnode@127.0.0.1:1/system/receptionist"
        settings = ClusterClientSettings(
            [node.address, gone], max_attempts=2, attempt_timeout=1.0, heartbeat_interval=0.1,
            acceptable_heartbeat_pause=0.3, buffer_size=2, reconnect_timeout=1.0)
        client = ClusterClient(outside, settings)
        real = node.address + "/system/receptionist"
        assert asyncio.run(client.connect()) == real
        # The receptionist knows only itself: the other contact is gone.
        wait_until_blocking(lambda: seen == [ContactPointRemoved(gone)], DEADLINE)
        assert client.contacts == [real, gone]  # still tried, last
        assert asyncio.run(client.ask("/user/svc", "hi")) == ["echo", "hi"]
        # Heartbeats keep it connected while the receptionist answers (for
        # more than the failure detector's 0.4 s deadline).
        time.sleep(1.0)
        assert client.receptionist == real and client.reconnects == 0
        node.terminate_blocking(10.0)
        wait_until_blocking(lambda: client.receptionist is None, DEADLINE,
                            "the failure detector gave the receptionist up")
        for i in range(3):
            client.publish("t", i)
        assert client.buffered == 2 and client.drops == 1
        # No receptionist answers within the reconnect timeout: it gives up.
        wait_until_blocking(lambda: _fails(lambda: client.publish("t", 9)), DEADLINE)
        with pytest.raises(ClusterClientError, match="gave up reconnecting"):
            client.send("/user/svc", 1)
        assert client.buffered == 0 and client.reconnects == 0
    finally:
        outside.terminate_blocking(10.0)
        node.terminate_blocking(10.0)


def _fails(call: Any) -> bool:
    try:
        call()
    except ClusterClientError:
        return True
    return False
