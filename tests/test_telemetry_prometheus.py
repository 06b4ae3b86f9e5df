"""The Prometheus endpoint: scraped over HTTP, counting what the attached
systems' actors did."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from atomr import Actor, ActorSystem, SupervisorStrategy, props  # noqa: E402
from atomr.telemetry import PrometheusExporter  # noqa: E402

DEADLINE = 10.0


class Worker(Actor):
    def handle(self, ctx, msg):
        if msg == "fail":
            raise ValueError("bad")
        return msg


def scrape(exporter: PrometheusExporter) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    with urllib.request.urlopen(f"http://{exporter.address}/metrics", timeout=DEADLINE) as r:
        assert r.status == 200
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_for(exporter: PrometheusExporter, name: str, labels: dict, value: float) -> dict:
    deadline = time.monotonic() + DEADLINE
    while True:
        samples = scrape(exporter)
        if samples.get((name, frozenset(labels.items()))) == value:
            return samples
        assert time.monotonic() < deadline, (name, labels, value, samples)
        time.sleep(0.02)


def test_the_endpoint_counts_starts_stops_failures_and_dead_letters():
    system = ActorSystem.create_blocking("metered")
    try:
        with PrometheusExporter("127.0.0.1:0", namespace="app") as exporter:
            exporter.attach(system)
            exporter.attach(system)
            refs = [system.actor_of(props(Worker), f"w{i}") for i in range(3)]
            fragile = system.actor_of(props(Worker).with_supervisor_strategy(
                SupervisorStrategy.one_for_one(max_retries=3)), "fragile")
            on = {"system": "metered"}
            wait_for(exporter, "app_actors_started_total", on, 4.0)
            fragile.tell("fail")
            wait_for(exporter, "app_actor_restarts_total", on, 1.0)
            samples = wait_for(exporter, "app_actor_failures_total",
                               {"system": "metered", "directive": "restart"}, 1.0)
            assert samples[("app_top_level_actors", frozenset(on.items()))] == 4.0
            refs[0].stop()
            wait_for(exporter, "app_actors_stopped_total", on, 1.0)
            wait_for(exporter, "app_actors", on, 3.0)
            refs[0].tell("lost")
            wait_for(exporter, "app_dead_letters_total", on, 1.0)
    finally:
        system.terminate_blocking(DEADLINE)


def test_a_terminated_system_leaves_the_scrape_and_shutdown_closes_the_port():
    system = ActorSystem.create_blocking("brief")
    exporter = PrometheusExporter()
    try:
        exporter.attach(system)
        assert ("atomr_actors", frozenset({"system": "brief"}.items())) in scrape(exporter)
        system.terminate_blocking(DEADLINE)
        assert not any(dict(labels).get("system") == "brief" for _, labels in scrape(exporter))
    finally:
        exporter.shutdown()
        exporter.shutdown()
    host, port = exporter.address.rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2.0).close()


def test_bad_bind_strings_are_refused():
    for bad in ("localhost", "127.0.0.1:http", ":80", "127.0.0.1:70000"):
        with pytest.raises(ValueError):
            PrometheusExporter(bad)
    with pytest.raises(TypeError):
        PrometheusExporter(9100)  # type: ignore[arg-type]
    with PrometheusExporter() as exporter:
        with pytest.raises(TypeError):
            exporter.attach("system")  # type: ignore[arg-type]
