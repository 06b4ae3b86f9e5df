"""ActorSystem extensions (atomr.actor.extension): one instance per system,
created on first use, shut down when the system terminates; and the public
hooks subsystems use instead of the system's private state."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from atomr import Actor, ActorSystem, ActorSystemTerminatedError, Config, props
from atomr.actor import Extension, ExtensionId
from atomr.event_stream import ActorStarted, DeadLetter, LogEvent

DEADLINE = 10.0


class Counter(Extension):
    def __init__(self, system, log=None):
        self.system = system
        self.log = log if log is not None else []
        self.value = 0

    def shutdown(self):
        self.log.append(("shutdown", type(self).__name__, self.system.is_terminated))


class CounterId(ExtensionId[Counter]):
    def __init__(self):
        self.created = 0
        self.log: list = []

    def create_extension(self, system):
        self.created += 1
        return Counter(system, self.log)


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


async def test_an_extension_is_created_once_per_system_on_first_use(system):
    ext_id = CounterId()
    assert not system.has_extension(ext_id)
    first = ext_id.get(system)
    assert isinstance(first, Counter)
    assert system.extension(ext_id) is first
    assert ext_id.get(system) is first
    assert system.has_extension(ext_id)
    assert ext_id.created == 1


async def test_each_system_gets_its_own_extension_instance(system):
    ext_id = CounterId()
    other = await ActorSystem.create("other")
    try:
        assert ext_id.get(system) is not ext_id.get(other)
        assert ext_id.get(other).system is other
        assert ext_id.created == 2
    finally:
        await asyncio.wait_for(other.terminate(), DEADLINE)


def test_concurrent_first_use_creates_the_extension_once(blocking_system):
    gate = threading.Event()

    class SlowId(ExtensionId[Counter]):
        calls = 0

        def create_extension(self, system):
            SlowId.calls += 1
            gate.wait(0.05)
            return Counter(system)

    ext_id = SlowId()
    seen: list = []
    threads = [threading.Thread(target=lambda: seen.append(ext_id.get(blocking_system)))
               for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(DEADLINE)
    assert SlowId.calls == 1
    assert len(seen) == 8 and all(e is seen[0] for e in seen)


async def test_extensions_shut_down_in_reverse_creation_order_after_actors_stop():
    log: list = []

    class Stopper(Actor):
        def post_stop(self, ctx):
            log.append("actor stopped")

        def handle(self, ctx, msg):
            return msg

    class A(Counter):
        pass

    class B(Counter):
        pass

    class AId(ExtensionId[A]):
        def create_extension(self, system):
            return A(system, log)

    class BId(ExtensionId[B]):
        def create_extension(self, system):
            return B(system, log)

    system = await ActorSystem.create("ext")
    ref = system.actor_of(props(Stopper), "s")
    assert await ref.ask("hi") == "hi"
    a_id, b_id = AId(), BId()
    a_id.get(system)
    b_id.get(system)
    await asyncio.wait_for(system.terminate(), DEADLINE)
    assert log == ["actor stopped", ("shutdown", "B", True), ("shutdown", "A", True)]


async def test_a_failing_shutdown_is_logged_and_the_others_still_run(caplog):
    log: list = []

    class Broken(Extension):
        def shutdown(self):
            raise RuntimeError("boom")

    class BrokenId(ExtensionId[Broken]):
        def create_extension(self, system):
            return Broken()

    class GoodId(ExtensionId[Counter]):
        def create_extension(self, system):
            return Counter(system, log)

    system = await ActorSystem.create("ext")
    GoodId().get(system)
    BrokenId().get(system)
    with caplog.at_level(logging.ERROR, logger="atomr"):
        await asyncio.wait_for(system.terminate(), DEADLINE)
    assert log == [("shutdown", "Counter", True)]
    assert any("extension" in r.getMessage() and r.exc_info for r in caplog.records)
    assert system.is_terminated


async def test_a_terminated_system_refuses_new_extensions():
    system = await ActorSystem.create("ext")
    await asyncio.wait_for(system.terminate(), DEADLINE)
    ext_id = CounterId()
    with pytest.raises(ActorSystemTerminatedError):
        ext_id.get(system)
    assert not system.has_extension(ext_id)
    assert ext_id.created == 0


async def test_create_extension_must_return_an_extension(system):
    class WrongId(ExtensionId[Counter]):
        def create_extension(self, system):
            return object()

    with pytest.raises(TypeError, match="Extension"):
        WrongId().get(system)
    with pytest.raises(TypeError, match="ExtensionId"):
        system.extension("not an id")


def test_extension_id_is_abstract():
    with pytest.raises(TypeError):
        ExtensionId()


async def test_an_extension_may_use_another_extension_while_it_is_created(system):
    inner_id = CounterId()

    class Outer(Extension):
        def __init__(self, inner):
            self.inner = inner

    class OuterId(ExtensionId[Outer]):
        def create_extension(self, system):
            return Outer(inner_id.get(system))

    outer = OuterId().get(system)
    assert outer.inner is inner_id.get(system)


def test_creating_an_extension_may_wait_for_actors_that_use_other_extensions(blocking_system):
    inner_id = CounterId()

    class UsesInner(Actor):
        def handle(self, ctx, msg):
            return inner_id.get(ctx.system).value

    ref = blocking_system.actor_of(props(UsesInner), "uses-inner")

    class Outer(Extension):
        def __init__(self, seen):
            self.seen = seen

    class OuterId(ExtensionId[Outer]):
        def create_extension(self, system):
            # the loop thread creates `inner` while this creation is running
            return Outer(ref.ask_blocking("value?", DEADLINE))

    assert OuterId().get(blocking_system).seen == 0
    assert blocking_system.has_extension(inner_id)


def test_an_extension_created_while_the_system_terminates_is_shut_down(make_blocking_system):
    system = make_blocking_system("ext")
    log: list = []

    class LateId(ExtensionId[Counter]):
        def create_extension(self, system):
            system.terminate_blocking(DEADLINE)
            return Counter(system, log)

    late_id = LateId()
    with pytest.raises(ActorSystemTerminatedError):
        late_id.get(system)
    assert log == [("shutdown", "Counter", True)]
    assert not system.has_extension(late_id)


async def test_extension_settings_are_its_config_section():
    class SchedulerId(ExtensionId[Counter]):
        config_section = "scheduler"

        def create_extension(self, system):
            return Counter(system)

    system = await ActorSystem.create(
        "ext", Config.from_dict({"scheduler": {"clock": "virtual"}}))
    try:
        assert SchedulerId().settings(system) == {"clock": "virtual"}
        assert CounterId.config_section is None
        assert CounterId().settings(system) == {}
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


# -- public hooks for subsystems and tools -----------------------------------------


async def test_check_live_raises_once_the_system_is_terminating():
    system = await ActorSystem.create("ext")
    system.check_live()
    fut = system.terminate()
    with pytest.raises(ActorSystemTerminatedError):
        system.check_live()
    await asyncio.wait_for(fut, DEADLINE)
    with pytest.raises(ActorSystemTerminatedError):
        system.check_live()


async def test_termination_callbacks_run_after_extensions_shut_down():
    log: list = []

    class LoggingId(ExtensionId[Counter]):
        def create_extension(self, system):
            return Counter(system, log)

    system = await ActorSystem.create("ext")
    LoggingId().get(system)
    system.register_on_termination(lambda: log.append("first"))
    system.register_on_termination(lambda: log.append("second"))
    await asyncio.wait_for(system.terminate(), DEADLINE)
    assert log == [("shutdown", "Counter", True), "first", "second"]
    system.register_on_termination(lambda: log.append("late"))
    assert log[-1] == "late"
    with pytest.raises(TypeError):
        system.register_on_termination("not callable")


async def test_a_failing_termination_callback_is_logged(caplog):
    ran: list = []
    system = await ActorSystem.create("ext")

    def bad():
        raise ValueError("bad")

    system.register_on_termination(bad)
    system.register_on_termination(lambda: ran.append(True))
    with caplog.at_level(logging.ERROR, logger="atomr"):
        await asyncio.wait_for(system.terminate(), DEADLINE)
    assert ran == [True]
    assert any("termination callback" in r.getMessage() for r in caplog.records)


async def test_top_level_refs_and_live_timers_for_tools(system):
    assert system.top_level_refs() == []
    ref = system.actor_of(props(Echo), "echo")
    assert await ref.ask(1) == 1
    assert [r.path for r in system.top_level_refs()] == [ref.path]
    assert system.live_timers() == []

    class Sleeper(Actor):
        def pre_start(self, ctx):
            self.timer = ctx.schedule_once(3600.0, "wake")

        def handle(self, ctx, msg):
            if msg == "cancel":
                self.timer.cancel()
            return msg

    sleeper = system.actor_of(props(Sleeper), "sleeper")
    assert await sleeper.ask("hi") == "hi"
    assert len(system.live_timers()) == 1
    assert await sleeper.ask("cancel") == "cancel"
    assert system.live_timers() == []


def test_event_stream_says_whether_an_event_class_has_subscribers(blocking_system):
    stream = blocking_system.event_stream
    assert not stream.has_subscribers_for(LogEvent)

    def listener(event):
        pass

    stream.subscribe(listener, ActorStarted)
    assert not stream.has_subscribers_for(LogEvent)
    assert stream.has_subscribers_for(ActorStarted)
    stream.subscribe(listener, object)
    assert stream.has_subscribers_for(LogEvent)
    assert stream.has_subscribers_for(DeadLetter)
    stream.unsubscribe(listener)
    assert not stream.has_subscribers_for(LogEvent)
    with pytest.raises(TypeError):
        stream.has_subscribers_for("LogEvent")
