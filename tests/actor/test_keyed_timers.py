"""ctx.timers: keyed timers as Akka's TimerScheduler (on the virtual clock)."""

from __future__ import annotations

import pytest

from atomr import Actor, props

from _helpers import GET, running_system, virtual_config


@pytest.fixture
async def vsystem():
    async with running_system("keyed", virtual_config()) as s:
        yield s


class Keyed(Actor):
    """Runs callables it is sent with its context; records other messages."""

    def __init__(self, log: list) -> None:
        self.log = log

    def handle(self, ctx, msg):
        if callable(msg):
            return msg(ctx)
        if msg == GET:
            return list(self.log)
        if msg == "boom":
            raise ValueError("restart me")
        self.log.append(msg)
        return None


def keyed(system, name="keyed"):
    log: list = []
    return system.actor_of(props(Keyed, factory=lambda: Keyed(log)), name), log


async def test_a_single_timer_delivers_once_and_stops_being_active(vsystem):
    ref, _ = keyed(vsystem)
    await ref.ask(lambda ctx: ctx.timers.start_single_timer("k", "tick", 1.0))
    assert await ref.ask(lambda ctx: ctx.timers.is_timer_active("k")) is True
    vsystem.advance_time(1.0)
    assert await ref.ask(GET) == ["tick"]
    assert await ref.ask(lambda ctx: ctx.timers.is_timer_active("k")) is False
    vsystem.advance_time(10.0)
    assert await ref.ask(GET) == ["tick"]


async def test_starting_a_timer_with_the_same_key_replaces_the_previous_one(vsystem):
    ref, _ = keyed(vsystem)
    await ref.ask(lambda ctx: ctx.timers.start_single_timer("k", "old", 1.0))
    await ref.ask(lambda ctx: ctx.timers.start_single_timer("k", "new", 2.0))
    await ref.ask(lambda ctx: ctx.timers.start_single_timer("other", "other", 1.0))
    vsystem.advance_time(5.0)
    assert sorted(await ref.ask(GET)) == ["new", "other"]


async def test_a_replaced_timers_queued_message_is_not_delivered(vsystem):
    ref, _ = keyed(vsystem)

    def fire_then_replace(ctx):
        # The old timer's message is queued behind this handler; replacing
        # the timer now must drop it.
        ctx.system.advance_time(1.0)
        ctx.timers.start_single_timer("k", "new", 5.0)

    await ref.ask(lambda ctx: ctx.timers.start_single_timer("k", "old", 1.0))
    await ref.ask(fire_then_replace)
    vsystem.advance_time(5.0)
    assert await ref.ask(GET) == ["new"]


async def test_cancel_and_cancel_all(vsystem):
    ref, _ = keyed(vsystem)

    def start(ctx):
        ctx.timers.start_timer_at_fixed_rate("rate", "rate", 1.0)
        ctx.timers.start_timer_with_fixed_delay("delay", "delay", 1.0, initial_delay=0.5)
        ctx.timers.start_single_timer("once", "once", 3.0)
        return sorted(ctx.timers.active_keys)

    assert await ref.ask(start) == ["delay", "once", "rate"]
    vsystem.advance_time(1.0)
    assert sorted(await ref.ask(GET)) == ["delay", "rate"]
    await ref.ask(lambda ctx: ctx.timers.cancel("rate"))
    assert await ref.ask(lambda ctx: ctx.timers.is_timer_active("rate")) is False
    vsystem.advance_time(1.0)
    assert sorted(await ref.ask(GET)) == ["delay", "delay", "rate"]
    await ref.ask(lambda ctx: ctx.timers.cancel_all())
    await ref.ask(lambda ctx: ctx.timers.cancel("never-started"))
    vsystem.advance_time(10.0)
    assert sorted(await ref.ask(GET)) == ["delay", "delay", "rate"]


async def test_keyed_timers_are_cancelled_on_restart(vsystem):
    ref, _ = keyed(vsystem)
    await ref.ask(lambda ctx: ctx.timers.start_timer_at_fixed_rate("rate", "rate", 1.0))
    ref.tell("boom")
    assert await ref.ask(lambda ctx: ctx.timers.is_timer_active("rate")) is False
    vsystem.advance_time(5.0)
    assert await ref.ask(GET) == []


async def test_bad_keys_and_delays_and_use_outside_the_actor_are_errors(vsystem):
    ref, _ = keyed(vsystem)
    with pytest.raises(TypeError, match="hashable"):
        await ref.ask(lambda ctx: ctx.timers.start_single_timer([], "x", 1.0))
    with pytest.raises(ValueError):
        await ref.ask(lambda ctx: ctx.timers.start_single_timer("k", "x", -1.0))
    with pytest.raises(ValueError):
        await ref.ask(lambda ctx: ctx.timers.start_timer_at_fixed_rate("k", "x", 0.0))
    timers = await ref.ask(lambda ctx: ctx.timers)
    with pytest.raises(RuntimeError, match="outside"):
        timers.start_single_timer("k", "x", 1.0)
