"""Stop and terminate: a stop takes effect after the current message, queued
mail goes to dead letters, a handler suspended in an ``await`` is cancelled
(CancelledError inside it, then ``post_stop``), and a terminate finishes within
``actor.terminate-timeout`` (plus a moment) and logs what it had to cancel."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from _helpers import DEADLINE, running_system, wait_until

from atomr import Actor, ActorSystem, ActorTerminatedError, Config, props

SLOW = 1000  # queued messages of 10 ms: 10 s if all were handled


class Slow(Actor):
    def __init__(self, handled: list) -> None:
        self.handled = handled

    def handle(self, ctx, msg):
        time.sleep(0.01)
        self.handled.append(msg)


class Sleeper(Actor):
    """Suspends in its handler for an hour; records the cancellation and
    post_stop, in order."""

    asyncio_task = False

    def __init__(self, events: list, started: threading.Event) -> None:
        self.events = events
        self.started = started

    async def handle(self, ctx, msg):
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.events.append("cancelled")
            raise
        return "woke"

    def post_stop(self, ctx):
        self.events.append("post_stop")


class TaskSleeper(Sleeper):
    asyncio_task = True


def _sleeper(cls, events, started):
    return props(cls, factory=lambda: cls(events, started))


def _wait_blocking(pred, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.002)


def test_terminate_blocking_sends_queued_mail_to_dead_letters():
    system = ActorSystem.create_blocking("stop-queued")
    handled: list = []
    ref = system.actor_of(props(Slow, factory=lambda: Slow(handled)), "slow")
    for i in range(SLOW):
        ref.tell(i)
    _wait_blocking(lambda: handled)
    started = time.monotonic()
    system.terminate_blocking(timeout=DEADLINE)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"terminate took {elapsed:.2f}s"
    assert len(handled) < SLOW // 2
    assert len(handled) + system._core.dead_letter_count >= SLOW


def test_stop_sends_queued_mail_to_dead_letters():
    system = ActorSystem.create_blocking("stop-queued-ref")
    try:
        handled: list = []
        ref = system.actor_of(props(Slow, factory=lambda: Slow(handled)), "slow")
        for i in range(SLOW):
            ref.tell(i)
        _wait_blocking(lambda: handled)
        ref.stop()
        _wait_blocking(ref.is_terminated, 3.0)
        assert len(handled) < SLOW // 2
    finally:
        system.terminate_blocking(timeout=DEADLINE)


@pytest.mark.parametrize("cls", [Sleeper, TaskSleeper], ids=["driven", "asyncio_task"])
async def test_stop_cancels_a_suspended_handler_then_post_stop_runs(cls):
    async with running_system("stop-suspended") as system:
        events: list = []
        started = threading.Event()
        ref = system.actor_of(_sleeper(cls, events, started), "sleeper")
        answer = ref.ask("sleep", timeout=DEADLINE)
        await wait_until(started.is_set)
        ref.stop()
        await wait_until(ref.is_terminated)
        assert events == ["cancelled", "post_stop"]
        with pytest.raises(ActorTerminatedError):
            await answer


def test_stop_from_another_thread_cancels_a_suspended_handler():
    system = ActorSystem.create_blocking("stop-suspended-thread")
    try:
        events: list = []
        started = threading.Event()
        ref = system.actor_of(_sleeper(Sleeper, events, started), "sleeper")
        ref.tell("sleep")
        assert started.wait(DEADLINE)
        ref.stop()
        _wait_blocking(ref.is_terminated)
        assert events == ["cancelled", "post_stop"]
    finally:
        system.terminate_blocking(timeout=DEADLINE)


@pytest.mark.parametrize("cls", [Sleeper, TaskSleeper], ids=["driven", "asyncio_task"])
def test_terminate_blocking_cancels_a_suspended_handler(cls):
    system = ActorSystem.create_blocking("term-suspended")
    events: list = []
    started = threading.Event()
    system.actor_of(_sleeper(cls, events, started), "sleeper").tell("sleep")
    assert started.wait(DEADLINE)
    system.terminate_blocking(timeout=DEADLINE)
    assert events == ["cancelled", "post_stop"]


async def test_terminate_cancels_a_suspended_handler():
    system = await ActorSystem.create("term-suspended-async")
    events: list = []
    started = threading.Event()
    system.actor_of(_sleeper(Sleeper, events, started), "sleeper").tell("sleep")
    await wait_until(started.is_set)
    await asyncio.wait_for(system.terminate(), DEADLINE)
    assert events == ["cancelled", "post_stop"]


async def test_a_handler_that_stops_its_own_actor_is_not_cancelled():
    class SelfStopper(Actor):
        def __init__(self, events):
            self.events = events

        async def handle(self, ctx, msg):
            ctx.stop_self()
            await asyncio.sleep(0.01)
            self.events.append("finished")

        def post_stop(self, ctx):
            self.events.append("post_stop")

    async with running_system("self-stop") as system:
        events: list = []
        ref = system.actor_of(props(SelfStopper, factory=lambda: SelfStopper(events)), "s")
        ref.tell("go")
        await wait_until(ref.is_terminated)
        assert events == ["finished", "post_stop"]


class HangingPostStop(Actor):
    def handle(self, ctx, msg):
        return msg

    async def post_stop(self, ctx):
        await asyncio.sleep(3600)


class Stubborn(Actor):
    """Ignores its cancellation and keeps awaiting."""

    def __init__(self, started: threading.Event) -> None:
        self.started = started

    async def handle(self, ctx, msg):
        self.started.set()
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass


def test_terminate_timeout_cancels_a_hanging_post_stop_and_logs_it(caplog):
    config = Config.from_dict({"actor": {"terminate-timeout": "200ms"}})
    system = ActorSystem.create_blocking("term-hanging", config)
    ref = system.actor_of(props(HangingPostStop), "hangs")
    assert ref.ask_blocking("x", timeout=DEADLINE) == "x"
    with caplog.at_level(logging.WARNING, logger="atomr"):
        started = time.monotonic()
        system.terminate_blocking(timeout=DEADLINE)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"terminate took {elapsed:.2f}s"
    assert ref.is_terminated()
    assert any("/user/hangs" in r.getMessage() for r in caplog.records)


def test_terminate_timeout_stops_an_actor_that_ignores_its_cancellation(caplog):
    config = Config.from_dict({"actor": {"terminate-timeout": "200ms"}})
    system = ActorSystem.create_blocking("term-stubborn", config)
    started = threading.Event()
    ref = system.actor_of(props(Stubborn, factory=lambda: Stubborn(started)), "stubborn")
    ref.tell("go")
    assert started.wait(DEADLINE)
    with caplog.at_level(logging.WARNING, logger="atomr"):
        t0 = time.monotonic()
        system.terminate_blocking(timeout=DEADLINE)
        elapsed = time.monotonic() - t0
    assert elapsed < 4.0, f"terminate took {elapsed:.2f}s"
    assert ref.is_terminated()
    assert any("/user/stubborn" in r.getMessage() for r in caplog.records)
