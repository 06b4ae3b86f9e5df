"""Timers: ``ctx.schedule_once`` / ``schedule_periodically`` /
``schedule_with_fixed_delay`` return an ``atomr.Cancelable``; timers of a
stopped actor never fire. Semantics are checked on the virtual clock
(deterministic); the real clock gets accuracy checks with generous bounds."""

from __future__ import annotations

import time

import pytest

import atomr
from atomr import Actor, Cancelable, props

from _helpers import GET, Recorder, running_system, virtual_config, wait_until


@pytest.fixture
async def vsystem():
    async with running_system("vtimers", virtual_config()) as s:
        yield s


@pytest.fixture
async def system():
    async with running_system("timers") as s:
        yield s


class Timed(Actor):
    """Runs callables it is sent with its context (returning their result);
    records every other message with the scheduler clock time it arrived."""

    def __init__(self, log: list, clock) -> None:
        self.log = log
        self.clock = clock

    def handle(self, ctx, msg):
        if callable(msg):
            return msg(ctx)
        if msg == GET:
            return [m for m, _ in self.log]
        self.log.append((msg, self.clock()))
        return None


def timed(system, name="timed"):
    log: list = []
    clock = system.scheduler.now
    return system.actor_of(props(Timed, factory=lambda: Timed(log, clock)), name), log


def messages(log):
    return [m for m, _ in log]


# -- virtual clock: exact semantics ------------------------------------------------------------


async def test_schedule_once_delivers_after_the_delay_and_not_before(vsystem):
    ref, log = timed(vsystem)
    token = await ref.ask(lambda ctx: ctx.schedule_once(5.0, "tick"))
    assert isinstance(token, Cancelable) and isinstance(token, atomr.Cancelable)
    vsystem.advance_time(4.999)
    assert await ref.ask(GET) == []
    assert vsystem.advance_time(0.001) == 1
    assert await ref.ask(GET) == ["tick"]
    assert log[0][1] == pytest.approx(5.0)
    vsystem.advance_time(100.0)
    assert await ref.ask(GET) == ["tick"]


async def test_schedule_once_accepts_the_delay_keyword_and_a_target(vsystem):
    ref, _ = timed(vsystem)
    rec_log: list = []
    rec = vsystem.actor_of(props(Recorder, factory=lambda: Recorder(rec_log)), "rec")
    await ref.ask(lambda ctx: ctx.schedule_once(delay=1.0, msg="to-rec", target=rec))
    await ref.ask(lambda ctx: ctx.schedule_once(2.0, "to-self"))
    vsystem.advance_time(2.0)
    assert await rec.ask(GET) == ["to-rec"]
    assert await ref.ask(GET) == ["to-self"]


async def test_timers_with_equal_deadlines_fire_in_scheduling_order(vsystem):
    ref, _ = timed(vsystem)

    def schedule(ctx):
        for i in range(5):
            ctx.schedule_once(1.0, i)
        ctx.schedule_once(0.5, "first")

    await ref.ask(schedule)
    vsystem.advance_time(1.0)
    assert await ref.ask(GET) == ["first", 0, 1, 2, 3, 4]


async def test_cancel_before_the_deadline_prevents_the_delivery(vsystem):
    ref, _ = timed(vsystem)
    token = await ref.ask(lambda ctx: ctx.schedule_once(1.0, "never"))
    assert not token.is_cancelled()
    assert token.cancel() is True
    assert token.is_cancelled()
    assert token.cancel() is False
    assert token.is_cancelled()
    assert vsystem.advance_time(5.0) == 0
    assert await ref.ask(GET) == []


async def test_cancel_after_a_one_shot_timer_delivered_returns_false(vsystem):
    ref, _ = timed(vsystem)
    token = await ref.ask(lambda ctx: ctx.schedule_once(1.0, "tick"))
    vsystem.advance_time(1.0)
    assert await ref.ask(GET) == ["tick"]
    assert token.cancel() is False
    assert not token.is_cancelled()


async def test_a_fired_but_not_yet_handled_timer_can_still_be_cancelled(vsystem):
    ref, _ = timed(vsystem)
    token = await ref.ask(lambda ctx: ctx.schedule_once(1.0, "late"))
    vsystem.advance_time(1.0)  # fired: the envelope waits in the mailbox
    assert token.cancel() is True
    assert await ref.ask(GET) == []


async def test_schedule_periodically_fires_first_after_initial_then_every_interval(vsystem):
    ref, log = timed(vsystem)
    await ref.ask(lambda ctx: ctx.schedule_periodically(initial=1.0, interval=2.0, msg="p"))
    vsystem.advance_time(0.5)
    assert await ref.ask(GET) == []
    vsystem.advance_time(0.5)
    assert await ref.ask(GET) == ["p"]
    assert vsystem.advance_time(8.0) == 4  # due at 3, 5, 7, 9
    assert await ref.ask(GET) == ["p"] * 5


async def test_schedule_periodically_accepts_positional_and_secs_keywords(vsystem):
    ref, _ = timed(vsystem)
    await ref.ask(lambda ctx: ctx.schedule_periodically(1.0, 1.0, "pos"))
    await ref.ask(lambda ctx: ctx.schedule_periodically(initial_secs=0.5, interval_secs=1.0,
                                                        msg="kw"))
    vsystem.advance_time(2.0)
    assert sorted(await ref.ask(GET)) == ["kw", "kw", "pos", "pos"]


async def test_schedule_with_fixed_delay_repeats_after_each_delivery(vsystem):
    ref, log = timed(vsystem)
    token = await ref.ask(
        lambda ctx: ctx.schedule_with_fixed_delay(initial=1.0, delay=0.5, msg="beat"))
    assert token.is_periodic
    vsystem.advance_time(2.0)  # 1.0, 1.5, 2.0
    assert await ref.ask(GET) == ["beat"] * 3
    assert [t for _, t in log] == pytest.approx([2.0, 2.0, 2.0])  # handled after the advance


async def test_cancelling_a_periodic_timer_stops_further_deliveries(vsystem):
    ref, _ = timed(vsystem)
    token = await ref.ask(lambda ctx: ctx.schedule_periodically(initial=1.0, interval=1.0,
                                                                msg="p"))
    vsystem.advance_time(3.0)
    assert await ref.ask(GET) == ["p"] * 3
    assert token.cancel() is True
    assert vsystem.advance_time(10.0) == 0
    assert await ref.ask(GET) == ["p"] * 3
    assert vsystem.scheduler.pending() == 0


async def test_a_periodic_timer_cancelled_by_its_own_handler_delivers_nothing_more(vsystem):
    seen: list = []

    class ThreeTicks(Actor):
        def pre_start(self, ctx):
            self.token = ctx.schedule_periodically(initial=1.0, interval=1.0, msg="tick")

        def handle(self, ctx, msg):
            if msg == GET:
                return list(seen)
            seen.append(msg)
            if len(seen) == 3:
                self.token.cancel()

    ref = vsystem.actor_of(props(ThreeTicks), "three")
    await ref.ask(GET)  # started
    vsystem.advance_time(50.0)  # 50 fires queue up before the actor handles any
    assert await ref.ask(GET) == ["tick"] * 3
    vsystem.advance_time(50.0)
    assert await ref.ask(GET) == ["tick"] * 3


async def test_timers_of_a_stopped_actor_never_fire(vsystem):
    rec_log: list = []
    rec = vsystem.actor_of(props(Recorder, factory=lambda: Recorder(rec_log)), "rec")
    ref, _ = timed(vsystem)

    def schedule(ctx):
        ctx.schedule_once(1.0, "once", target=rec)
        ctx.schedule_periodically(initial=1.0, interval=1.0, msg="periodic", target=rec)
        ctx.schedule_with_fixed_delay(initial=1.0, delay=1.0, msg="fixed", target=rec)

    await ref.ask(schedule)
    assert vsystem.scheduler.pending() == 3
    ref.stop()
    await wait_until(ref.is_terminated)
    assert vsystem.scheduler.pending() == 0
    assert vsystem.advance_time(10.0) == 0
    assert await rec.ask(GET) == []


async def test_a_timer_to_a_stopped_target_is_dropped(vsystem):
    ref, _ = timed(vsystem)
    rec = vsystem.actor_of(props(Recorder), "rec")
    await ref.ask(lambda ctx: ctx.schedule_periodically(initial=1.0, interval=1.0, msg="x",
                                                        target=rec))
    rec.stop()
    await wait_until(rec.is_terminated)
    vsystem.advance_time(5.0)
    assert await ref.ask(GET) == []  # the scheduling actor carries on
    assert vsystem.scheduler.pending() == 0  # a refused fire retires the timer


async def test_scheduler_now_and_pending_follow_virtual_time(vsystem):
    ref, _ = timed(vsystem)
    assert vsystem.scheduler.now() == 0.0
    await ref.ask(lambda ctx: ctx.schedule_once(3.0, "x"))
    await ref.ask(lambda ctx: ctx.schedule_periodically(initial=1.0, interval=1.0, msg="y"))
    assert vsystem.scheduler.pending() == 2
    assert vsystem.advance_time(2.5) == 2  # y at 1 and 2
    assert vsystem.scheduler.now() == pytest.approx(2.5)
    assert vsystem.scheduler.pending() == 2
    assert vsystem.advance_time(1.0) == 2  # x and y at 3
    assert vsystem.scheduler.pending() == 1
    with pytest.raises(ValueError):
        vsystem.advance_time(-1.0)


async def test_advance_time_on_a_real_clock_system_raises_runtime_error(system):
    with pytest.raises(RuntimeError):
        system.advance_time(1.0)


async def test_virtual_time_is_per_system():
    async with running_system("a", virtual_config()) as a, \
            running_system("b", virtual_config()) as b:
        ref_a, _ = timed(a)
        ref_b, _ = timed(b)
        await ref_a.ask(lambda ctx: ctx.schedule_once(1.0, "a"))
        await ref_b.ask(lambda ctx: ctx.schedule_once(1.0, "b"))
        a.advance_time(1.0)
        assert await ref_a.ask(GET) == ["a"]
        assert await ref_b.ask(GET) == []
        assert b.scheduler.now() == 0.0


async def test_many_periodic_timers_cancelled_deliver_nothing_more_on_virtual_time(vsystem):
    n = 1000
    counts = [0] * n
    tokens: list = []

    class Ticker(Actor):
        def __init__(self, i):
            self.i = i

        def pre_start(self, ctx):
            tokens.append(ctx.schedule_periodically(initial=0.01, interval=0.01, msg="t"))

        def handle(self, ctx, msg):
            if msg == "t":
                counts[self.i] += 1

    refs = [vsystem.actor_of(props(Ticker, factory=lambda i=i: Ticker(i)), f"t{i}")
            for i in range(n)]
    await wait_until(lambda: len(tokens) == n)
    vsystem.advance_time(0.05)
    await refs[-1].ask("sync")
    await wait_until(lambda: all(c >= 5 for c in counts))
    before = sum(counts)
    assert [t.cancel() for t in tokens] == [True] * n
    assert vsystem.scheduler.pending() == 0
    assert vsystem.advance_time(1.0) == 0
    for r in refs[:: n // 10]:
        await r.ask("sync")
    assert sum(counts) == before


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("call, exc", [
    (lambda ctx: ctx.schedule_once(-1.0, "x"), ValueError),
    (lambda ctx: ctx.schedule_once(float("inf"), "x"), ValueError),
    (lambda ctx: ctx.schedule_once("soon", "x"), TypeError),
    (lambda ctx: ctx.schedule_once(1.0), TypeError),
    (lambda ctx: ctx.schedule_once(1.0, "x", target="not a ref"), TypeError),
    (lambda ctx: ctx.schedule_periodically(initial=1.0, interval=0.0, msg="x"), ValueError),
    (lambda ctx: ctx.schedule_periodically(initial=1.0, interval=-1.0, msg="x"), ValueError),
    (lambda ctx: ctx.schedule_periodically(initial=1.0, msg="x"), TypeError),
    (lambda ctx: ctx.schedule_periodically(initial=1.0, interval=1.0), TypeError),
    (lambda ctx: ctx.schedule_with_fixed_delay(initial=1.0, delay=0.0, msg="x"), ValueError),
])
async def test_bad_timer_arguments_are_rejected_at_the_call(vsystem, call, exc):
    ref, _ = timed(vsystem)
    with pytest.raises(exc):
        await ref.ask(call)
    assert vsystem.scheduler.pending() == 0


def test_cancelable_cannot_be_constructed_directly():
    with pytest.raises(TypeError):
        Cancelable()


# -- real clock: accuracy with generous bounds ------------------------------------------------


async def test_schedule_once_on_the_real_clock_is_not_early_and_not_very_late(system):
    arrived: list = []

    class Once(Actor):
        def handle(self, ctx, msg):
            if msg == "go":
                self.t0 = time.monotonic()
                return ctx.schedule_once(0.2, "tick")
            arrived.append(time.monotonic() - self.t0)

    ref = system.actor_of(props(Once), "once")
    await ref.ask("go")
    await wait_until(lambda: arrived)
    assert 0.19 <= arrived[0] <= 0.2 + 3.0


async def test_periodic_timer_on_the_real_clock_keeps_its_rate(system):
    stamps: list = []

    class Periodic(Actor):
        def pre_start(self, ctx):
            self.token = ctx.schedule_periodically(initial=0.05, interval=0.05, msg="p")

        def handle(self, ctx, msg):
            stamps.append(time.monotonic())
            if len(stamps) == 6:
                self.token.cancel()

    t0 = time.monotonic()
    system.actor_of(props(Periodic), "periodic")
    await wait_until(lambda: len(stamps) >= 6)
    # Six deliveries at a fixed 50 ms rate: the sixth is due 300 ms after the
    # start, and never comes earlier than 250 ms after the first.
    assert stamps[5] - t0 >= 0.29
    assert stamps[5] - stamps[0] >= 0.24
    assert stamps[5] - t0 <= 0.3 + 5.0


async def test_cancelling_1000_periodic_timers_under_load_stops_every_delivery(system):
    n = 1000
    counts = [0] * n
    tokens: list = [None] * n
    witness: list = []

    class Ticker(Actor):
        def __init__(self, i):
            self.i = i

        def pre_start(self, ctx):
            tokens[self.i] = ctx.schedule_periodically(initial=0.005, interval=0.01, msg="t")

        def handle(self, ctx, msg):
            counts[self.i] += 1

    class Witness(Actor):
        def pre_start(self, ctx):
            ctx.schedule_periodically(initial=0.01, interval=0.01, msg="w")

        def handle(self, ctx, msg):
            witness.append(msg)

    for i in range(n):
        system.actor_of(props(Ticker, factory=lambda i=i: Ticker(i)), f"t{i}")
    await wait_until(lambda: all(counts), timeout=30.0, message="every ticker ticked")
    cancelled = [t.cancel() for t in tokens]
    frozen = list(counts)
    assert cancelled == [True] * n
    assert all(t.is_cancelled() for t in tokens)
    # Let time pass for the timer thread, measured by an uncancelled witness
    # timer (10 more fires = at least 100 ms), rather than sleeping and hoping.
    system.actor_of(props(Witness), "witness")
    await wait_until(lambda: len(witness) >= 10, timeout=30.0)
    assert counts == frozen


# -- per-system timer state ---------------------------------------------------------------------


async def test_each_system_keeps_its_own_timers_and_real_clock_service():
    async with running_system("timers-a") as a, running_system("timers-b") as b:
        ref_a, log_a = timed(a, "ta")
        ref_b, log_b = timed(b, "tb")
        token_a = await ref_a.ask(lambda ctx: ctx.schedule_once(60.0, "a"))
        await ref_b.ask(lambda ctx: ctx.schedule_once(0.01, "b"))
        assert a.scheduler is not b.scheduler
        assert a._core.live_timers() == [token_a]
        await wait_until(lambda: messages(log_b) == ["b"])
        assert b._core.live_timers() == []
        assert a._core.live_timers() == [token_a]
        assert token_a.cancel()
        assert a._core.live_timers() == []
        assert log_a == []
