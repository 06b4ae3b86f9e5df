"""The native core's message counters: read with runtime_counters and
scraped from the Prometheus endpoint."""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest

from atomr import Actor, ActorSystem, props
from atomr.telemetry import runtime_counters

DEADLINE = 10.0
N = 2000


class Counter(Actor):
    def __init__(self) -> None:
        self.count = 0

    def handle(self, ctx, msg):
        if msg is None:
            return self.count
        if isinstance(msg, threading.Event):
            msg.wait(DEADLINE)  # holds the actor while its mailbox fills
            return None
        self.count += 1
        return None


class Relay(Actor):
    """Tells its target from the dispatcher's own thread (the core's local path)."""

    def handle(self, ctx, msg):
        target, n = msg
        for i in range(n):
            target.tell(i)
        return n


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_counters_follow_tells_from_any_thread_and_what_is_handled():
    system = ActorSystem.create_blocking("counted")
    try:
        counter = system.actor_of(props(Counter), "counter")
        relay = system.actor_of(props(Relay), "relay")
        assert counter.ask_blocking(None, timeout=DEADLINE) == 0
        before = runtime_counters(system)
        for i in range(N):
            counter.tell(i)  # from this thread: another thread than the loop's
        assert relay.ask_blocking((counter, N), timeout=DEADLINE) == N
        assert counter.ask_blocking(None, timeout=DEADLINE) == 2 * N
        after = runtime_counters(system)
        # The N tells of each kind, the relay's and the counter's asks.
        assert after["enqueued"] - before["enqueued"] == 2 * N + 2
        assert after["processed"] - before["processed"] == 2 * N + 2
        assert sum(after["turn_counts"]) > sum(before["turn_counts"])
        assert after["turn_messages"] - before["turn_messages"] == 2 * N + 2
        assert after["turn_sum_ns"] > before["turn_sum_ns"]
        assert len(after["turn_counts"]) == len(after["turn_bounds_ns"]) + 1
    finally:
        system.terminate_blocking(DEADLINE)


def test_mailbox_high_water_and_dead_letters_by_reason():
    system = ActorSystem.create_blocking("deep")
    try:
        counter = system.actor_of(props(Counter), "counter")
        gate = threading.Event()
        counter.tell(gate)
        wait_until(lambda: runtime_counters(system)["processed"] >= 1, "the gate is handled")
        for i in range(300):
            counter.tell(i)
        assert runtime_counters(system)["mailbox_high_water"] >= 300
        gate.set()
        assert counter.ask_blocking(None, timeout=DEADLINE) == 300
        counter.stop()
        wait_until(lambda: system.top_level("counter") is None, "the counter stops")

        def letters() -> dict:
            return runtime_counters(system)["dead_letters"]

        before = letters()
        counter.tell("lost")
        # Dropped when it raced the stop into the mailbox, else no recipient.
        wait_until(lambda: sum(letters().values()) == sum(before.values()) + 1, "a dead letter")
        after = letters()
        assert (after["no_recipient"] - before["no_recipient"]
                + after["dropped"] - before["dropped"]) == 1
        assert sum(after.values()) == system.dead_letter_count
    finally:
        system.terminate_blocking(DEADLINE)


def test_runtime_counters_rejects_what_is_not_a_system():
    with pytest.raises(TypeError):
        runtime_counters("system")  # type: ignore[arg-type]


def test_a_prometheus_scrape_shows_the_messages_sent():
    pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    from atomr.telemetry import PrometheusExporter

    def scrape(exporter) -> dict:
        url = f"http://{exporter.address}/metrics"
        with urllib.request.urlopen(url, timeout=DEADLINE) as r:
            text = r.read().decode()
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    system = ActorSystem.create_blocking("scraped")
    try:
        with PrometheusExporter("127.0.0.1:0") as exporter:
            exporter.attach(system)
            counter = system.actor_of(props(Counter), "counter")
            assert counter.ask_blocking(None, timeout=DEADLINE) == 0
            on = frozenset({"system": "scraped"}.items())
            first = scrape(exporter)
            for i in range(N):
                counter.tell(i)
            assert counter.ask_blocking(None, timeout=DEADLINE) == N
            second = scrape(exporter)
            for name in ("atomr_messages_enqueued_total", "atomr_messages_processed_total"):
                assert second[(name, on)] - first[(name, on)] == N + 1, name
            assert second[("atomr_mailbox_depth_high_water", on)] >= 1
            turns = second[("atomr_actor_turn_seconds_count", on)]
            assert turns > first[("atomr_actor_turn_seconds_count", on)]
            inf = frozenset({"system": "scraped", "le": "+Inf"}.items())
            assert second[("atomr_actor_turn_seconds_bucket", inf)] == turns
            assert second[("atomr_dead_letter_reasons_total",
                           frozenset({"system": "scraped", "reason": "rejected"}.items()))] == 0
    finally:
        system.terminate_blocking(DEADLINE)
