"""What watching a system costs per message: the tell benchmark of
test_bench_core.py (N tells to a counting actor, then one ask) run bare and
with each kind of observer attached, in the same session.

* ``bare``: no observer;
* ``bus``: a :class:`~atomr.telemetry.TelemetryBus` attached with one open
  subscription to every topic (it then listens to the event stream);
* ``prometheus``: a :class:`~atomr.telemetry.PrometheusExporter` attached;
* ``dashboard``: :func:`atomr.dashboard.serve` on the system, sampling
  every 0.1 s, with one server-sent-events client reading its pushes;
* ``tracing``: :func:`atomr.telemetry.tracing.enable_tracing` with an
  OpenTelemetry SDK ``TracerProvider`` (spans made and ended, none
  exported): a receive span per message. With tracing off ("bare") the
  mail path only checks that no tracer is set.

The native message counters (:func:`atomr.telemetry.runtime_counters`) are
always on: their cost is inside "bare".

The summary line of each observed variant gives its overhead per message:
``(1 / rate_observed - 1 / rate_bare)`` in nanoseconds (it may be within
noise of 0: none of them adds work to a tell; they read the actor tree and
counters on their own threads). Run: ``python3 -m pytest benchmarks/test_bench_telemetry.py``.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from typing import Any, Iterator

import pytest

from atomr import props
from test_bench_core import WAIT, Counter, atomr_in_loop

MESSAGES = 300_000
# A traced message costs spans: fewer of them keep the run short.
TRACED_MESSAGES = 30_000
ROUNDS = 8
# "warm-up" runs bare first, so that "bare" does not pay for the session's start.
VARIANTS = ("warm-up", "bare", "bus", "prometheus", "dashboard", "tracing")
_RATES: dict[str, float] = {}


@contextlib.contextmanager
def _observer(variant: str, system: Any) -> Iterator[None]:
    if variant in ("warm-up", "bare"):
        yield
    elif variant == "bus":
        from atomr.telemetry import TelemetryBus, all_topics

        bus = TelemetryBus()
        bus.attach(system)
        subs = [bus.subscribe_topic(t) for t in all_topics()]
        try:
            yield
        finally:
            for s in subs:
                s.close()
            bus.detach(system)
    elif variant == "prometheus":
        pytest.importorskip("prometheus_client")
        from atomr.telemetry import PrometheusExporter

        with PrometheusExporter("127.0.0.1:0") as exporter:
            exporter.attach(system)
            yield
    elif variant == "tracing":
        pytest.importorskip("opentelemetry.sdk")
        from opentelemetry.sdk.trace import TracerProvider

        from atomr.telemetry.tracing import disable_tracing, enable_tracing

        provider = TracerProvider()
        enable_tracing(system, provider)
        try:
            yield
        finally:
            disable_tracing(system)
            provider.shutdown()
    else:
        from atomr import dashboard

        with dashboard.serve("127.0.0.1:0", system=system, interval=0.1) as handle:
            host, port = handle.address.rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", "/api/events")
            resp = conn.getresponse()
            stop = threading.Event()

            def read() -> None:
                while not stop.is_set() and resp.readline():
                    pass

            reader = threading.Thread(target=read, name="sse-client")
            reader.start()
            try:
                yield
            finally:
                stop.set()
                handle.shutdown()  # ends the stream, so the reader returns
                reader.join(30)
                conn.close()


@pytest.mark.parametrize("variant", VARIANTS)
def test_tell_with_telemetry(benchmark: Any, variant: str) -> None:
    benchmark.group = "tell-telemetry"
    with atomr_in_loop(f"bench-telemetry-{variant}") as (runner, system):
        ref = system.actor_of(props(Counter), "counter")
        expected = [0]
        messages = TRACED_MESSAGES if variant == "tracing" else MESSAGES

        async def one_round() -> int:
            tell = ref.tell
            for i in range(messages):
                tell(i)
            return int(await ref.ask(None, timeout=WAIT))

        def run() -> None:
            expected[0] += messages + 1
            assert runner.run(one_round()) == expected[0]

        with _observer(variant, system):
            benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    if benchmark.stats is None:
        return
    rate = messages / benchmark.stats.stats.median
    _RATES[variant] = rate
    benchmark.extra_info.update(variant=variant, msgs_per_second=rate)
    if variant not in ("warm-up", "bare") and "bare" in _RATES:
        overhead_ns = (1 / rate - 1 / _RATES["bare"]) * 1e9
        benchmark.extra_info["overhead_ns_per_message"] = overhead_ns
        print(f"\ntell with {variant}: {rate:,.0f} msg/s, overhead "
              f"{overhead_ns:+.1f} ns/message vs bare {_RATES['bare']:,.0f} msg/s")
    else:
        print(f"\ntell {variant}: {rate:,.0f} msg/s")
