"""A Prometheus ``/metrics`` endpoint for actor systems (prometheus-client)."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Iterator

from atomr._util.validate import check_nonempty_str
from atomr.event_stream import ActorFailed, ActorRestarted, ActorStarted, ActorStopped

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["PrometheusExporter", "parse_bind", "runtime_counters"]


def runtime_counters(system: "ActorSystem") -> dict[str, Any]:
    """The message counters the native core keeps for `system`, read now.

    The core counts without calling into Python per message (relaxed
    atomics, most written by the dispatcher's own thread only), so the
    counts cost a tell next to nothing and may lag by the messages in
    flight. Keys: ``enqueued`` and ``processed`` (user messages queued and
    taken out to be handled, since the system started),
    ``mailbox_high_water`` (the deepest any mailbox has been),
    ``dead_letters`` (a dict by reason: ``no_recipient``, ``dropped``,
    ``rejected``, ``evicted``), and the histogram of actor turns (one turn
    handles up to ``throughput`` messages of one actor): ``turn_bounds_ns``
    (upper bounds), ``turn_counts`` (per bucket, not cumulative, with one
    more bucket for longer turns), ``turn_sum_ns`` and ``turn_messages``.

    Raises:
        TypeError: `system` is not an ActorSystem.
    """
    from atomr.actor import ActorSystem

    if not isinstance(system, ActorSystem):
        raise TypeError(f"expected an ActorSystem, not {type(system).__name__}")
    counters: dict[str, Any] = system._core.native_counters()
    return counters


def parse_bind(bind: str) -> tuple[str, int]:
    """``"host:port"`` (port 0: the kernel picks) as ``(host, port)``.

    Raises:
        ValueError, TypeError: not of that form.
    """
    if not isinstance(bind, str):
        raise TypeError(f"bind must be a str, not {type(bind).__name__}")
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bind must be 'host:port', got {bind!r}")
    return host.strip("[]"), int(port)


class _Counts:
    """The lifecycle counts of one system, kept from its event stream."""

    __slots__ = ("started", "stopped", "restarted", "failed", "lock")

    def __init__(self) -> None:
        self.started = 0
        self.stopped = 0
        self.restarted = 0
        self.failed: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:
            if isinstance(event, ActorStarted):
                self.started += 1
            elif isinstance(event, ActorStopped):
                self.stopped += 1
            elif isinstance(event, ActorRestarted):
                self.restarted += 1
            elif isinstance(event, ActorFailed):
                self.failed[event.directive] = self.failed.get(event.directive, 0) + 1


class PrometheusExporter:
    """Serves the metrics of the attached actor systems at
    ``http://<address>/metrics`` in Prometheus' text format.

    Per system (label ``system``): ``<ns>_actors_started_total``,
    ``<ns>_actors_stopped_total``, ``<ns>_actor_restarts_total``,
    ``<ns>_actor_failures_total`` (label ``directive``), ``<ns>_actors``
    (started minus stopped since attaching), ``<ns>_dead_letters_total``,
    ``<ns>_top_level_actors`` and ``<ns>_pending_timers``. The counts come
    from each system's event stream (actor starts, stops and failures, not
    every message) and the gauges are read when scraped. A system is
    detached when it terminates.

    The native core's message counters (:func:`runtime_counters`, kept
    without a Python call per message) are exported too:
    ``<ns>_messages_enqueued_total``, ``<ns>_messages_processed_total``,
    ``<ns>_mailbox_depth_high_water``, ``<ns>_dead_letter_reasons_total``
    (label ``reason``) and the histogram ``<ns>_actor_turn_seconds`` (the
    duration of actor turns, each handling one or more messages).

    Args:
        bind: ``"host:port"`` to listen on (port 0: the kernel picks;
            :attr:`address` tells which).
        namespace: The metric name prefix.

    Raises:
        ImportError: prometheus-client is not installed.
        ValueError, TypeError: a bad `bind` or `namespace`.
        OSError: the address cannot be bound.
    """

    def __init__(self, bind: str = "127.0.0.1:0", namespace: str = "atomr") -> None:
        try:
            from prometheus_client import CollectorRegistry, start_http_server
        except ImportError as exc:  # pragma: no cover - a test dependency
            raise ImportError("the Prometheus endpoint needs prometheus-client: "
                              "pip install prometheus-client") from exc
        host, port = parse_bind(bind)
        self._namespace = check_nonempty_str("namespace", namespace)
        self._lock = threading.Lock()
        self._systems: list[tuple["weakref.ref[ActorSystem]", str, _Counts]] = []
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)
        self._server, self._thread = start_http_server(port, host, self._registry)
        bound_host, bound_port = self._server.server_address[:2]
        self._address = f"{bound_host!s}:{bound_port}"
        self._closed = False

    @property
    def address(self) -> str:
        """The ``"host:port"`` the endpoint listens on."""
        return self._address

    @property
    def registry(self) -> Any:
        """The prometheus-client registry (to add an application's own metrics)."""
        return self._registry

    def attach(self, system: "ActorSystem") -> None:
        """Exports the metrics of `system` (attaching twice does nothing)."""
        from atomr.actor import ActorSystem

        if not isinstance(system, ActorSystem):
            raise TypeError(f"expected an ActorSystem, not {type(system).__name__}")
        counts = _Counts()
        with self._lock:
            if any(ref() is system for ref, _, _ in self._systems):
                return
            self._systems.append((weakref.ref(system), system.name, counts))
        system.event_stream.subscribe(counts)
        system.register_on_termination(lambda: self.detach(system))

    def detach(self, system: "ActorSystem") -> None:
        """Stops exporting the metrics of `system`."""
        with self._lock:
            found = [c for ref, _, c in self._systems if ref() is system]
            self._systems = [(ref, name, c) for ref, name, c in self._systems
                             if ref() is not system and ref() is not None]
        for counts in found:
            system.event_stream.unsubscribe(counts)

    def collect(self) -> Iterator[Any]:
        """The metrics, for prometheus-client (called at each scrape)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        ns = self._namespace
        started = CounterMetricFamily(f"{ns}_actors_started", "Actors started.",
                                      labels=["system"])
        stopped = CounterMetricFamily(f"{ns}_actors_stopped", "Actors stopped.",
                                      labels=["system"])
        restarts = CounterMetricFamily(f"{ns}_actor_restarts", "Actor restarts.",
                                       labels=["system"])
        failures = CounterMetricFamily(f"{ns}_actor_failures",
                                       "Actor failures, by the directive applied.",
                                       labels=["system", "directive"])
        live = GaugeMetricFamily(f"{ns}_actors", "Actors started and not stopped.",
                                 labels=["system"])
        dead = CounterMetricFamily(f"{ns}_dead_letters", "Messages that went to dead letters.",
                                   labels=["system"])
        top = GaugeMetricFamily(f"{ns}_top_level_actors", "Live actors under /user.",
                                labels=["system"])
        timers = GaugeMetricFamily(f"{ns}_pending_timers", "Timers waiting to fire.",
                                   labels=["system"])
        enqueued = CounterMetricFamily(f"{ns}_messages_enqueued",
                                       "User messages queued in mailboxes.", labels=["system"])
        processed = CounterMetricFamily(f"{ns}_messages_processed",
                                        "User messages taken from mailboxes to be handled.",
                                        labels=["system"])
        high_water = GaugeMetricFamily(f"{ns}_mailbox_depth_high_water",
                                       "The deepest any mailbox has been.", labels=["system"])
        reasons = CounterMetricFamily(f"{ns}_dead_letter_reasons",
                                      "Dead letters by why they could not be delivered.",
                                      labels=["system", "reason"])
        turns = HistogramMetricFamily(f"{ns}_actor_turn_seconds",
                                      "Duration of actor turns (one or more messages each).",
                                      labels=["system"])
        with self._lock:
            systems = [(ref(), name, counts) for ref, name, counts in self._systems]
        for system, name, counts in systems:
            if system is None or system.is_terminated:
                continue
            with counts.lock:
                started.add_metric([name], counts.started)
                stopped.add_metric([name], counts.stopped)
                restarts.add_metric([name], counts.restarted)
                for directive, n in sorted(counts.failed.items()):
                    failures.add_metric([name, directive], n)
                live.add_metric([name], counts.started - counts.stopped)
            dead.add_metric([name], system.dead_letter_count)
            top.add_metric([name], len(system.top_level_refs()))
            timers.add_metric([name], len(system.live_timers()))
            native = runtime_counters(system)
            enqueued.add_metric([name], native["enqueued"])
            processed.add_metric([name], native["processed"])
            high_water.add_metric([name], native["mailbox_high_water"])
            for reason, n in native["dead_letters"].items():
                reasons.add_metric([name, reason], n)
            buckets = []
            cumulative = 0
            for bound, n in zip(native["turn_bounds_ns"] + [None], native["turn_counts"]):
                cumulative += n
                buckets.append(("+Inf" if bound is None else repr(bound / 1e9), cumulative))
            turns.add_metric([name], buckets, native["turn_sum_ns"] / 1e9)
        yield from (started, stopped, restarts, failures, live, dead, top, timers, enqueued,
                    processed, high_water, reasons, turns)

    def shutdown(self) -> None:
        """Stops the endpoint (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            systems = [(ref(), c) for ref, _, c in self._systems]
            self._systems = []
        for system, counts in systems:
            if system is not None:
                system.event_stream.unsubscribe(counts)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10.0)

    def __enter__(self) -> "PrometheusExporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<PrometheusExporter http://{self._address}/metrics>"
