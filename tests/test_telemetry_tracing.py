"""OpenTelemetry spans of actor messages (atomr.telemetry.tracing): a
receive span per handled message, child of the sender's context; ask spans;
the context carried across two processes over TCP."""

from __future__ import annotations

import asyncio
import queue
import time

import pytest

pytest.importorskip("opentelemetry.sdk")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from atomr import Actor, ActorSystem, props  # noqa: E402
from atomr.telemetry.tracing import disable_tracing, enable_tracing, is_tracing  # noqa: E402

DEADLINE = 10.0


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def system():
    system = ActorSystem.create_blocking("traced")
    yield system
    system.terminate_blocking(DEADLINE)


def finished(exporter, count: int) -> list:
    deadline = time.monotonic() + DEADLINE
    while True:
        found = list(exporter.get_finished_spans())
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, [s.name for s in found]
        time.sleep(0.01)


class Relay(Actor):
    """Tells the message's second item to its first."""

    def handle(self, ctx, msg):
        target, payload = msg
        target.tell(payload)
        return None


class Sink(Actor):
    def __init__(self, out: "queue.Queue") -> None:
        self.out = out

    def handle(self, ctx, msg):
        self.out.put(msg)
        return None


class Echo(Actor):
    def handle(self, ctx, msg):
        if msg == "fail":
            raise ValueError("no")
        return msg


def test_a_tell_from_one_actor_to_another_makes_a_child_span(system, spans):
    provider, exporter = spans
    enable_tracing(system, provider)
    assert is_tracing(system)
    out: queue.Queue = queue.Queue()
    b = system.actor_of(props(Sink, factory=lambda: Sink(out)), "b")
    a = system.actor_of(props(Relay), "a")
    root_tracer = provider.get_tracer("test")
    with root_tracer.start_as_current_span("root") as root:
        a.tell((b, "hello"))
    assert out.get(timeout=DEADLINE) == "hello"  # the handler saw the plain message
    found = {s.name: s for s in finished(exporter, 3)}
    at_a, at_b = found["receive tuple"], found["receive str"]
    trace_id = root.get_span_context().trace_id
    assert at_a.context.trace_id == at_b.context.trace_id == trace_id
    assert at_a.parent.span_id == root.get_span_context().span_id
    assert at_b.parent.span_id == at_a.context.span_id
    assert at_b.kind == trace.SpanKind.CONSUMER
    assert at_b.attributes["atomr.actor.path"] == b.path
    assert at_b.attributes["atomr.message.type"] == "str"


def test_an_ask_round_trip_has_an_ask_span_around_the_receive(system, spans):
    provider, exporter = spans
    enable_tracing(system, provider)
    echo = system.actor_of(props(Echo), "echo")
    assert echo.ask_blocking("ping", timeout=DEADLINE) == "ping"
    with pytest.raises(ValueError):
        echo.ask_blocking("fail", timeout=DEADLINE)

    async def from_a_loop():
        return await echo.ask("pong", timeout=DEADLINE)

    assert asyncio.run(from_a_loop()) == "pong"
    found = finished(exporter, 6)
    asks = [s for s in found if s.name == "ask str"]
    receives = [s for s in found if s.name == "receive str"]
    assert len(asks) == 3 and len(receives) == 3
    for ask in asks:
        assert ask.kind == trace.SpanKind.CLIENT
        (receive,) = [r for r in receives if r.parent.span_id == ask.context.span_id]
        assert receive.context.trace_id == ask.context.trace_id
        # (the receive span may end after the asker has its answer)
        assert ask.start_time <= receive.start_time <= ask.end_time
    failed = [a for a in asks if a.status.status_code == trace.StatusCode.ERROR]
    assert len(failed) == 1 and "ValueError" in failed[0].status.description


def test_an_in_loop_ask_from_an_actor_joins_the_askers_trace(system, spans):
    provider, exporter = spans
    enable_tracing(system, provider)
    echo = system.actor_of(props(Echo), "echo")

    class Asker(Actor):
        async def handle(self, ctx, msg):
            return await echo.ask(msg, timeout=DEADLINE)

    asker = system.actor_of(props(Asker), "asker")
    assert asker.ask_blocking("x", timeout=DEADLINE) == "x"
    found = finished(exporter, 4)
    assert len({s.context.trace_id for s in found}) == 1
    inner_ask = [s for s in found if s.name == "ask str"
                 and s.attributes["atomr.actor.path"] == echo.path]
    assert len(inner_ask) == 1


def test_off_by_default_and_after_disable_no_spans_and_plain_dead_letters(system, spans):
    provider, exporter = spans
    echo = system.actor_of(props(Echo), "echo")
    assert not is_tracing(system)
    assert echo.ask_blocking(1, timeout=DEADLINE) == 1
    enable_tracing(system, provider)
    assert echo.ask_blocking(2, timeout=DEADLINE) == 2
    assert len(finished(exporter, 2)) == 2
    letters: queue.Queue = queue.Queue()
    system.subscribe_dead_letters(lambda msg, sender, recipient: letters.put(msg))
    echo.stop()
    deadline = time.monotonic() + DEADLINE
    while system.top_level("echo") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    echo.tell("late")
    assert letters.get(timeout=DEADLINE) == "late"  # not the traced wrapper
    disable_tracing(system)
    assert not is_tracing(system)
    again = system.actor_of(props(Echo), "again")
    assert again.ask_blocking(3, timeout=DEADLINE) == 3
    time.sleep(0)  # nothing to wait for: no span may appear
    assert len(exporter.get_finished_spans()) == 2


def test_bad_arguments_are_refused(system):
    with pytest.raises(TypeError):
        enable_tracing("system")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        enable_tracing(system, tracer_provider=object())
    with pytest.raises(TypeError):
        disable_tracing(None)  # type: ignore[arg-type]


def test_the_receiver_in_another_process_joins_the_senders_trace(spans):
    from atomr.remote import Remote
    from remote._procs import STARTUP_DEADLINE, launched

    provider, exporter = spans
    system = ActorSystem.create_blocking("sender")
    try:
        Remote.get(system)
        enable_tracing(system, provider)
        out: queue.Queue = queue.Queue()
        system.actor_of(props(Sink, factory=lambda: Sink(out)), "inbox")
        reply_to = Remote.get(system).address + "/user/inbox"
        with launched("_traced_peer.py") as (_, address):
            probe = system.actor_selection(address + "/user/probe")
            tracer = provider.get_tracer("test")
            with tracer.start_as_current_span("remote-root") as root:
                probe.tell({"reply_to": reply_to})
            answer = out.get(timeout=STARTUP_DEADLINE)
            ctx = root.get_span_context()
            assert answer["trace_id"] == format(ctx.trace_id, "032x")
            assert answer["parent_span_id"] == format(ctx.span_id, "016x")
            # The answer came back in the same trace, to this side's inbox.
            found = finished(exporter, 2)
            (inbox,) = [s for s in found if s.name == "receive dict"]
            assert inbox.context.trace_id == ctx.trace_id
            assert inbox.parent.span_id != ctx.span_id  # the peer's handler span
    finally:
        system.terminate_blocking(DEADLINE)
