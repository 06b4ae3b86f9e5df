"""A peer that traces (atomr.telemetry.tracing with the OpenTelemetry SDK),
for test_telemetry_tracing.py.

Starts system ``traced`` with its TCP transport on 127.0.0.1 (port chosen
by the kernel) and prints its address. Its actor ``/user/probe`` answers
every ``{"reply_to": path}`` with ``tell_remote(path, {"trace_id": t,
"parent_span_id": p})``: the trace id and parent span id (hex) of the span
its handler runs in. stdin closing ends the process.
"""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from atomr import Actor, ActorSystem, props
from atomr.telemetry.tracing import enable_tracing

from _procs import run_peer


def actors(system: ActorSystem, done: asyncio.Event) -> None:
    enable_tracing(system, TracerProvider())

    class Probe(Actor):
        def handle(self, ctx, msg):
            span = trace.get_current_span()
            parent = getattr(span, "parent", None)
            system.tell_remote(msg["reply_to"], {
                "trace_id": format(span.get_span_context().trace_id, "032x"),
                "parent_span_id": None if parent is None else format(parent.span_id, "016x"),
            })

    system.actor_of(props(Probe), "probe")


if __name__ == "__main__":
    run_peer("traced", {"port": 0}, actors)
