"""Receive timeout: after ``ctx.set_receive_timeout(seconds)`` of silence the
actor receives an ``atomr.ReceiveTimeout()``; again after further silence;
``None`` turns it off. Checked on the virtual clock, plus one real-clock run."""

from __future__ import annotations

import time

import pytest

import atomr
from atomr import Actor, ReceiveTimeout, props

from _helpers import running_system, virtual_config, wait_until


@pytest.fixture
async def vsystem():
    async with running_system("rt", virtual_config()) as s:
        yield s


class Idle(Actor):
    """Runs callables it is sent with its context; records every other
    message with the scheduler time it was handled at.

    Tests observe the shared log directly: asking the actor would itself be
    mail and reset the silence being measured.
    """

    def __init__(self, log: list, clock) -> None:
        self.log = log
        self.clock = clock

    def handle(self, ctx, msg):
        if callable(msg):
            return msg(ctx)
        self.log.append((msg, self.clock()))
        return None


def idle(system, name="idle"):
    log: list = []
    clock = system.scheduler.now
    return system.actor_of(props(Idle, factory=lambda: Idle(log, clock)), name), log


def timeouts(log):
    return [t for m, t in log if isinstance(m, ReceiveTimeout)]


async def arm(ref, seconds):
    return await ref.ask(lambda ctx: ctx.set_receive_timeout(seconds))


async def advance(system, seconds):
    """Advances virtual time; when the receive-timeout timer fired, waits
    until the actor handled the fire (it then re-arms: a timer is pending)."""
    fired = system.advance_time(seconds)
    if fired:
        await wait_until(lambda: system.scheduler.pending() >= 1,
                         message="the actor handled the receive-timeout fire")
    return fired


async def test_receive_timeout_is_delivered_after_the_silence(vsystem):
    ref, log = idle(vsystem)
    await arm(ref, 5.0)
    assert await advance(vsystem, 4.9) == 0
    assert log == []
    assert await advance(vsystem, 0.1) == 1
    assert timeouts(log) == [pytest.approx(5.0)]
    msg = log[0][0]
    assert isinstance(msg, atomr.ReceiveTimeout)
    assert msg == ReceiveTimeout()


async def test_receive_timeout_repeats_after_each_further_silence(vsystem):
    ref, log = idle(vsystem)
    await arm(ref, 2.0)
    for expected in ([2.0], [2.0, 4.0], [2.0, 4.0, 6.0]):
        await advance(vsystem, 2.0)
        assert timeouts(log) == pytest.approx(expected)


async def test_mail_postpones_the_receive_timeout(vsystem):
    ref, log = idle(vsystem)
    await arm(ref, 5.0)
    await advance(vsystem, 3.0)
    ref.tell("activity at t=3")
    await wait_until(lambda: log)
    assert await advance(vsystem, 3.0) == 1  # t=6: the timer fires, finds 3 s of silence
    assert timeouts(log) == []
    assert await advance(vsystem, 1.9) == 0  # t=7.9
    assert await advance(vsystem, 0.1) == 1  # t=8: 5 s after the last message
    assert timeouts(log) == [pytest.approx(8.0)]


async def test_every_message_counts_as_activity(vsystem):
    ref, log = idle(vsystem)
    await arm(ref, 5.0)
    for i in range(4):
        await advance(vsystem, 4.0)
        ref.tell(i)
        await wait_until(lambda: len(log) == i + 1)
    assert timeouts(log) == []  # t=16, last mail at 16
    await advance(vsystem, 4.9)
    assert timeouts(log) == []
    await advance(vsystem, 0.1)
    assert timeouts(log) == [pytest.approx(21.0)]


async def test_none_turns_the_receive_timeout_off(vsystem):
    ref, log = idle(vsystem)
    await arm(ref, 1.0)
    assert await ref.ask(lambda ctx: ctx.receive_timeout) == 1.0
    await arm(ref, None)
    assert await ref.ask(lambda ctx: ctx.receive_timeout) is None
    assert vsystem.scheduler.pending() == 0
    assert vsystem.advance_time(100.0) == 0
    assert log == []


async def test_setting_a_new_timeout_replaces_the_old_one(vsystem):
    ref, log = idle(vsystem)
    await arm(ref, 1.0)
    await arm(ref, 10.0)
    assert vsystem.scheduler.pending() == 1
    assert await advance(vsystem, 9.0) == 0
    assert await advance(vsystem, 1.0) == 1
    assert timeouts(log) == [pytest.approx(10.0)]


async def test_receive_timeout_can_be_set_in_pre_start(vsystem):
    seen: list = []

    class Armed(Actor):
        def pre_start(self, ctx):
            ctx.set_receive_timeout(3.0)

        def handle(self, ctx, msg):
            seen.append(msg)

    vsystem.actor_of(props(Armed), "armed")
    await wait_until(lambda: vsystem.scheduler.pending() == 1)
    assert await advance(vsystem, 3.0) == 1
    assert seen == [ReceiveTimeout()]


async def test_a_stopped_actor_gets_no_receive_timeout(vsystem):
    ref, _ = idle(vsystem)
    await arm(ref, 1.0)
    ref.stop()
    await wait_until(ref.is_terminated)
    assert vsystem.scheduler.pending() == 0
    assert vsystem.advance_time(10.0) == 0


async def test_the_handler_can_turn_the_timeout_off_when_it_fires(vsystem):
    seen: list = []

    class Once(Actor):
        def handle(self, ctx, msg):
            if callable(msg):
                return msg(ctx)
            seen.append(msg)
            ctx.set_receive_timeout(None)

    ref = vsystem.actor_of(props(Once), "once")
    await arm(ref, 1.0)
    assert vsystem.advance_time(1.0) == 1
    await wait_until(lambda: seen)
    assert vsystem.scheduler.pending() == 0
    assert vsystem.advance_time(10.0) == 0
    assert seen == [ReceiveTimeout()]


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1.0, ValueError),
                                      ("5s", TypeError), (float("nan"), ValueError)])
async def test_bad_receive_timeouts_are_rejected(vsystem, bad, exc):
    ref, _ = idle(vsystem)
    with pytest.raises(exc):
        await arm(ref, bad)


def test_receive_timeout_instances_are_all_equal():
    assert ReceiveTimeout() == ReceiveTimeout()
    assert hash(ReceiveTimeout()) == hash(ReceiveTimeout())
    assert ReceiveTimeout() != "ReceiveTimeout"
    assert repr(ReceiveTimeout()) == "ReceiveTimeout"


async def test_receive_timeout_on_the_real_clock():
    async with running_system("rt-real") as system:
        fired: list = []

        class Real(Actor):
            def handle(self, ctx, msg):
                if msg == "arm":
                    self.t0 = time.monotonic()
                    ctx.set_receive_timeout(0.1)
                elif isinstance(msg, ReceiveTimeout):
                    fired.append(time.monotonic() - self.t0)
                    ctx.set_receive_timeout(None)

        ref = system.actor_of(props(Real), "real")
        await ref.ask("arm")
        await wait_until(lambda: fired)
        assert 0.09 <= fired[0] <= 0.1 + 3.0
