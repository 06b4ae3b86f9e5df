"""The cluster tools' plain objects: API-REFERENCE §8's exact behaviours,
argument validation, and a cluster client that gives up."""

from __future__ import annotations

import asyncio
import socket

import pytest

import atomr
from atomr import ActorSystem, Config, props
from atomr.cluster_tools import (
    SINGLETON_STATES,
    ClusterClient,
    ClusterClientError,
    ClusterClientSettings,
    ClusterReceptionist,
    ClusterSingletonManager,
    ClusterSingletonProxy,
    DistributedPubSub,
)
from atomr.errors import AtomrError


def test_top_level_attribute_is_the_package():
    assert "cluster_tools" in atomr.__all__ and "cluster_tools" in dir(atomr)
    assert atomr.cluster_tools.DistributedPubSub is DistributedPubSub


def test_local_bus_calls_callbacks_in_subscription_order():
    bus = DistributedPubSub()
    calls: list = []
    bus.subscribe("a", lambda m: calls.append(("first", m)))
    bus.subscribe("a", lambda m: calls.append(("second", m)))
    bus.subscribe("b", lambda m: calls.append(("b", m)))
    assert bus.topics() == ["a", "b"]
    bus.publish("a", 1)
    assert calls == [("first", 1), ("second", 1)]
    bus.publish("nobody", 2)  # no subscriber: nothing happens
    assert calls == [("first", 1), ("second", 1)]


def test_local_bus_callback_exceptions_propagate():
    bus = DistributedPubSub()
    seen: list = []

    def boom(m: object) -> None:
        raise KeyError(m)

    bus.subscribe("t", boom)
    bus.subscribe("t", seen.append)
    with pytest.raises(KeyError):
        bus.publish("t", "x")
    assert seen == []


def test_local_bus_unsubscribe_and_groups():
    bus = DistributedPubSub()
    seen: list = []
    bus.subscribe("t", seen.append)
    bus.unsubscribe("t", seen.append)
    assert bus.topics() == []
    group: list = []
    bus.subscribe("t", group.append, group="g")
    bus.publish("t", 1)  # a group subscriber gets only one-per-group publishes
    bus.publish("t", 2, send_one_message_to_each_group=True)
    assert group == [2]


@pytest.mark.parametrize("topic, exc", [(1, TypeError), ("", ValueError), (None, TypeError)])
def test_bad_topics_are_rejected(topic, exc):
    bus = DistributedPubSub()
    with pytest.raises(exc):
        bus.subscribe(topic, print)
    with pytest.raises(exc):
        bus.publish(topic, 1)


def test_a_subscriber_must_be_callable_or_a_ref():
    with pytest.raises(TypeError):
        DistributedPubSub().subscribe("t", 42)


def test_local_bus_has_no_mediator():
    with pytest.raises(RuntimeError):
        DistributedPubSub().mediator  # noqa: B018


def test_singleton_manager_state_machine():
    m = ClusterSingletonManager()
    assert m.state == "inactive" and m.buffered == 0 and m.drops == 0
    assert m.buffer_size == 1000
    m.begin_starting()
    assert m.state == "starting"
    m.begin_handover()
    assert m.state == "handing_over"
    m.clear()
    assert m.state == "inactive"
    assert ClusterSingletonManager(buffer_size=5).buffer_size == 5
    assert SINGLETON_STATES == ("inactive", "starting", "handing_over", "active_here",
                                "active_remote")
    with pytest.raises(RuntimeError):
        m.tell("x")  # a bare state machine reaches no singleton


@pytest.mark.parametrize("size, exc", [(-1, ValueError), ("3", TypeError), (True, TypeError)])
def test_singleton_buffer_size_is_checked(size, exc):
    with pytest.raises(exc):
        ClusterSingletonManager(buffer_size=size)


def test_singleton_start_checks_its_arguments():
    system = ActorSystem.create_blocking("sgargs")
    try:
        with pytest.raises(TypeError):
            ClusterSingletonManager.start(system, object(), "x")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            ClusterSingletonManager.start(system, props(_Nothing), "a/b")
        with pytest.raises(ValueError):
            ClusterSingletonManager.start(system, props(_Nothing), "x", role="")
        with pytest.raises(ValueError):
            ClusterSingletonProxy.start(system, "x", buffer_size=-1)
        with pytest.raises(TypeError):
            ClusterSingletonProxy(system)
    finally:
        system.terminate_blocking()


class _Nothing(atomr.Actor):
    def handle(self, ctx, msg):
        return None


def test_receptionist_without_a_cluster():
    r = ClusterReceptionist()
    assert r.registered() == []
    assert r.has("anything") is False
    r.unregister("anything")  # no-op
    assert r.registered() == [] and r.contacts() == []
    with pytest.raises(TypeError):
        r.has(1)  # type: ignore[arg-type]


def test_cluster_client_settings_are_immutable_copies():
    s = ClusterClientSettings()
    assert s.initial_contacts == [] and s.max_attempts == 5
    t = s.with_initial_contacts(["akka.tcp://c@127.0.0.1:1"])
    u = t.with_max_attempts(2)
    assert s.initial_contacts == [] and t.initial_contacts == ["akka.tcp://c@127.0.0.1:1"]
    assert t.max_attempts == 5 and u.max_attempts == 2
    assert u.initial_contacts == t.initial_contacts
    with pytest.raises(ValueError):
        s.with_max_attempts(0)
    with pytest.raises(TypeError):
        ClusterClientSettings("akka.tcp://c@h:1")  # a str, not a list
    with pytest.raises(ValueError):
        s.with_attempt_timeout(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cluster_client_gives_up_after_max_attempts():
    system = ActorSystem.create_blocking("lonelyclient", Config.from_dict(
        {"remote": {"enabled": True, "hostname": "127.0.0.1", "port": 0}}))
    try:
        contacts = [f"akka.tcp://nobody@127.0.0.1:{_free_port()}"]
        with pytest.raises(ValueError):
            ClusterClient(system, ClusterClientSettings())
        client = ClusterClient(system, ClusterClientSettings(contacts, max_attempts=3,
                                                             attempt_timeout=0.3))
        assert client.contacts == [contacts[0] + "/system/receptionist"]
        with pytest.raises(ClusterClientError, match="gave up after 3 attempts") as info:
            asyncio.run(client.connect())
        assert isinstance(info.value, AtomrError)
        assert client.attempts == 3 and client.receptionist is None
        with pytest.raises(ClusterClientError, match="not connected"):
            client.send("/user/x", 1)
    finally:
        system.terminate_blocking()


def test_a_tombstone_is_dropped_after_its_time_to_live(monkeypatch):
    from atomr.cluster_tools import pubsub

    system = ActorSystem.create_blocking("tombstones")
    try:
        ps = DistributedPubSub.get(system)

        def cb(m: object) -> None:
            return None

        ps.subscribe("t", cb)
        ps.unsubscribe("t", cb)
        own = ps._buckets[ps.self_address].content
        assert own["t:t"][1] is False  # the removal is kept, to be gossiped
        ps._tick()
        assert "t:t" in own
        monkeypatch.setattr(pubsub, "_REMOVED_TTL_US", -1_000_000)
        ps._tick()
        assert "t:t" not in own
    finally:
        system.terminate_blocking()
