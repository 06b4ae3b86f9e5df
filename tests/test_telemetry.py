"""Telemetry: the bus, its topics and the runtime events it carries."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from atomr import Actor, ActorSystem, SupervisorStrategy, props
from atomr.remote.testing import SimNetwork
from atomr.telemetry import TelemetryBus, TopicSubscriber, all_topics

DEADLINE = 10.0


class Worker(Actor):
    def handle(self, ctx, msg):
        if msg == "fail":
            raise ValueError("bad input")
        return msg


def next_of_kind(sub: TopicSubscriber, kind: str, **fields) -> dict:
    """The next event of `kind` with `fields` (others are skipped)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        event = sub.next(timeout_secs=0.2)
        if event is not None and event["kind"] == kind and \
                all(event.get(k) == v for k, v in fields.items()):
            return event
    raise AssertionError(f"no {kind} {fields} within {DEADLINE}s")


@pytest.fixture
def blocking():
    system = ActorSystem.create_blocking("tele")
    try:
        yield system
    finally:
        system.terminate_blocking(DEADLINE)


def test_all_topics_are_the_original_eight():
    assert all_topics() == ["actors", "dead_letters", "cluster", "sharding", "persistence",
                            "remote", "streams", "ddata"]


def test_receiver_count_follows_subscriptions():
    bus = TelemetryBus(capacity=4)
    assert bus.receiver_count() == 0
    first = bus.subscribe_topic("actors")
    second = bus.subscribe_topic("dead_letters")
    assert bus.receiver_count() == 2
    first.close()
    first.close()
    assert bus.receiver_count() == 1
    del second
    gc.collect()
    assert bus.receiver_count() == 0


def test_bad_topics_and_capacities_are_refused():
    with pytest.raises(ValueError, match="unknown telemetry topic"):
        TelemetryBus().subscribe_topic("gc")
    with pytest.raises(TypeError):
        TelemetryBus().subscribe_topic(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TelemetryBus(capacity=0)
    with pytest.raises(ValueError):
        TelemetryBus().subscribe_topic("actors").next(timeout_secs=-1)
    with pytest.raises(TypeError):
        TelemetryBus().attach("system")  # type: ignore[arg-type]


def test_next_times_out_with_none_and_a_closed_subscription_wakes_its_reader():
    sub = TelemetryBus().subscribe_topic("actors")
    assert sub.next(timeout_secs=0.01) is None
    got: list = []
    reader = threading.Thread(target=lambda: got.append(sub.next(timeout_secs=30.0)))
    reader.start()
    sub.close()
    reader.join(DEADLINE)
    assert not reader.is_alive() and got == [None]


def test_actor_lifecycle_events_reach_the_actors_topic_only(blocking):
    bus = TelemetryBus()
    bus.attach(blocking)
    assert bus.attached() == ["tele"]
    actors = bus.subscribe_topic("actors")
    letters = bus.subscribe_topic("dead_letters")
    ref = blocking.actor_of(props(Worker), "worker")
    started = next_of_kind(actors, "actor_started", path="akka://tele/user/worker")
    assert started["topic"] == "actors" and started["system"] == "tele"
    assert abs(started["timestamp"] - time.time()) < 60
    ref.stop()
    next_of_kind(actors, "actor_stopped", path="akka://tele/user/worker")
    assert all(e is None or e["topic"] == "dead_letters"
               for e in [letters.next(timeout_secs=0.05)])


def test_failures_and_restarts_are_reported_with_their_reason(blocking):
    bus = TelemetryBus()
    bus.attach(blocking)
    actors = bus.subscribe_topic("actors")
    ref = blocking.actor_of(props(Worker).with_supervisor_strategy(
        SupervisorStrategy.one_for_one(max_retries=3)), "fragile")
    ref.tell("fail")
    failed = next_of_kind(actors, "actor_failed", path="akka://tele/user/fragile")
    assert failed["error"] == "ValueError: bad input"
    assert failed["directive"] == "restart"
    restarted = next_of_kind(actors, "actor_restarted", path="akka://tele/user/fragile")
    assert restarted["reason"] == "ValueError: bad input"


def test_dead_letters_carry_recipient_and_message(blocking, wait_until_blocking):
    bus = TelemetryBus()
    bus.attach(blocking)
    letters = bus.subscribe_topic("dead_letters")
    ref = blocking.actor_of(props(Worker), "gone")
    ref.stop()
    wait_until_blocking(lambda: ref.is_terminated())
    ref.tell({"order": 7, "note": "x" * 500})
    letter = next_of_kind(letters, "dead_letter")
    assert letter["recipient"] == "akka://tele/user/gone"
    assert letter["message_type"] == "dict"
    assert letter["message"].startswith("{'order': 7") and len(letter["message"]) == 200


def test_a_slow_subscriber_loses_the_oldest_and_is_told_how_many(blocking):
    bus = TelemetryBus(capacity=3)
    bus.attach(blocking)
    actors = bus.subscribe_topic("actors")
    for i in range(5):
        blocking.actor_of(props(Worker), f"w{i}")
    deadline = time.monotonic() + DEADLINE
    while actors.pending() < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Every start is in before reading: 5 events into 3 places.
    ref = blocking.actor_of(props(Worker), "probe")
    assert ref.ask_blocking("sync", 5.0) == "sync"
    lagged = actors.next(timeout_secs=1.0)
    assert lagged is not None and lagged["kind"] == "lagged" and lagged["missed"] >= 2
    rest = [actors.next(timeout_secs=0.1) for _ in range(3)]
    assert all(e is not None and e["kind"] == "actor_started" for e in rest)
    assert rest[-1]["path"] == "akka://tele/user/probe"


def test_the_bus_listens_to_the_runtime_only_while_someone_subscribes(blocking):
    bus = TelemetryBus()
    bus.attach(blocking)
    assert not blocking.event_stream.has_subscribers
    sub = bus.subscribe_topic("cluster")
    assert blocking.event_stream.has_subscribers
    sub.close()
    assert not blocking.event_stream.has_subscribers


def test_a_terminated_system_is_detached():
    system = ActorSystem.create_blocking("short")
    bus = TelemetryBus()
    bus.attach(system)
    bus.attach(system)
    assert bus.attached() == ["short"]
    system.terminate_blocking(DEADLINE)
    assert bus.attached() == []


async def test_remote_lifecycle_events_reach_the_remote_topic():
    net = SimNetwork(seed=3)
    a = await ActorSystem.create("a")
    b = await ActorSystem.create("b")
    bus = TelemetryBus()
    try:
        bus.attach(a)
        remote = bus.subscribe_topic("remote")
        net.attach(a)
        net.attach(b)
        b.actor_of(props(Worker), "echo")
        ref = a.actor_selection(b.address + "/user/echo")
        assert await net.drive(ref.ask("hi", timeout=5.0)) == "hi"
        event = remote.next(timeout_secs=DEADLINE)
        assert event is not None and event["kind"] == "associated_event"
        assert event["system"] == "a" and event["address"] == b.address
    finally:
        await a.terminate()
        await b.terminate()
