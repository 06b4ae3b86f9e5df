"""Actor-core benchmarks: supervision restarts, periodic timers and the
stash, atomr raced against the pure-asyncio baselines (and Pykka where it
has the feature to race).

As in test_bench_core.py, every scenario runs on each implementation in
the same session, with a round size per implementation that makes a round
last ~0.1-0.5 s (the timer rounds last ~1.1 s by design); the summary at
the end of the run gives each rate per operation, the ratio atomr /
baseline, and the timer scenario's other figures (scheduling cost, CPU per
tick, lateness). The scenarios have no targets: the ratios are reported.

Run: ``tox -e bench`` or ``python3 -m pytest benchmarks``.
"""

from __future__ import annotations

import array
import asyncio
import logging
import math
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import pykka
import pytest

import atomr
from atomr import Actor, props
from baselines import (
    LOGGER, AsyncioFaulty, AsyncioLatch, AsyncioStasher, AsyncioSupervisor, AsyncioTicker,
    BenchFailure, PykkaFaulty, PykkaSupervisor, ThreadLatch, TickBook, TickRound,
    stop_asyncio_actors, stop_pykka_actors,
)
from report import ACTOR_IMPLEMENTATIONS
from test_bench_core import WAIT, atomr_in_loop

#: Operations per round, per scenario and implementation (see the module
#: docstring); timers: ticks per round (= TIMER_ACTORS * TIMERS_PER_ACTOR *
#: TICKS, the same everywhere).
SIZES = {
    "restart-storm": {"atomr": 50_000, "asyncio": 50_000, "pykka": 2_000},
    "stash-replay": {"atomr": 300_000, "asyncio": 100_000},
}
ROUNDS = 10

TIMER_ACTORS = 100
TIMERS_PER_ACTOR = 100          # 10,000 concurrent timers
TIMER_INTERVAL = 0.05           # seconds
TICKS = 20                      # per timer: each round runs ~1.05 s
TIMER_ROUNDS = 3


# ---------------------------------------------------------------------------
# atomr actors (the same behaviour as the baselines' actors)


class Faulty(Actor):
    """Raises on every message; `on_build` runs once per incarnation."""

    def __init__(self, on_build: Callable[[], None]) -> None:
        on_build()

    async def handle(self, ctx, msg):
        raise BenchFailure(msg)


class Ticker(Actor):
    """Schedules its timers on ``(first, TickRound)`` with
    ``ctx.schedule_periodically`` and handles their ticks (ints) with a
    :class:`TickBook` -- the baseline ticker's code."""

    def __init__(self) -> None:
        self.book = TickBook()

    async def handle(self, ctx, msg):
        if type(msg) is int:
            self.book.tick(msg)
        else:
            first, rnd = msg
            self.book.start(rnd, first, ctx.schedule_periodically)


class Stasher(Actor):
    """Stashes every message until ``("open", n, done)``; then unstashes all
    and handles the `n` replayed messages, resolves `done` and goes back
    to stashing."""

    def __init__(self) -> None:
        self.open = False
        self.left = 0
        self.done: Optional[asyncio.Future] = None

    async def handle(self, ctx, msg):
        if self.open:
            self.left -= 1
            if self.left == 0:
                self.open = False
                self.done.set_result(None)
            return
        if type(msg) is tuple:
            _, self.left, self.done = msg
            self.open = True
            ctx.unstash_all()
            return
        ctx.stash()


# ---------------------------------------------------------------------------
# Harness helpers


class BuildCounter:
    """Counts actor instances: :meth:`built` (the factories' `on_build`)
    counts them in `total` and counts down the armed latch, if any."""

    __slots__ = ("latch", "total")

    def __init__(self) -> None:
        self.latch: Any = None
        self.total = 0

    def built(self) -> None:
        self.total += 1
        latch = self.latch
        if latch is not None:
            latch.count_down()

    def wait_first(self, pause: Callable[[], None]) -> None:
        """Calls `pause` until the first instance was built (so that the
        rounds count only restarts)."""
        deadline = time.monotonic() + WAIT
        while self.total == 0:
            assert time.monotonic() < deadline, "the supervised actor never started"
            pause()


@contextmanager
def quiet_failures() -> Iterator[None]:
    """Silences the failure logs of atomr, Pykka and the baselines (each
    logs every failure with its traceback): the restart figures are then
    the supervision machinery, not the log handlers pytest installs."""
    loggers = [logging.getLogger(name) for name in ("atomr", "pykka", LOGGER.name)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _by_impl(impl: str, **factories: Any) -> Any:
    return factories[impl]


async def _make(cls: type, *args: Any) -> Any:
    """``cls(*args)`` built on the running loop (asyncio actors and latches need one)."""
    return cls(*args)


# ---------------------------------------------------------------------------
# 1. supervised restart storm

#: Restart on any failure, with a budget the storm never exhausts.
RESTART_ALWAYS = atomr.SupervisorStrategy.one_for_one(default="restart", max_retries=10**9,
                                                      within_seconds=1.0)


@contextmanager
def _restart_atomr(n: int):
    with quiet_failures(), atomr_in_loop("bench-restart") as (runner, system):
        counter = BuildCounter()
        faulty = props(Faulty, factory=lambda: Faulty(counter.built))
        ref = system.actor_of(faulty.with_supervisor_strategy(RESTART_ALWAYS), "faulty")
        counter.wait_first(lambda: runner.run(asyncio.sleep(0.001)))

        def arm():
            counter.latch = runner.run(_make(AsyncioLatch, n))

        async def one_round():
            latch = counter.latch
            tell = ref.tell
            for i in range(n):
                tell(i)
            await asyncio.wait_for(latch.done, WAIT)

        yield (lambda: runner.run(one_round())), arm


@contextmanager
def _restart_asyncio(n: int):
    with quiet_failures(), asyncio.Runner() as runner:
        counter = BuildCounter()
        actor = runner.run(_make(AsyncioSupervisor, lambda: AsyncioFaulty(counter.built)))

        def arm():
            counter.latch = runner.run(_make(AsyncioLatch, n))

        async def one_round():
            latch = counter.latch
            tell = actor.tell
            for i in range(n):
                tell(i)
            await asyncio.wait_for(latch.done, WAIT)

        try:
            yield (lambda: runner.run(one_round())), arm
        finally:
            runner.run(actor.stop())


@contextmanager
def _restart_pykka(n: int):
    counter = BuildCounter()

    def start_child(supervisor: pykka.ActorRef) -> pykka.ActorRef:
        return PykkaFaulty.start(supervisor, counter.built)

    def arm():
        counter.latch = ThreadLatch(n)

    with quiet_failures():
        ref = PykkaSupervisor.start(start_child)
        try:
            counter.wait_first(lambda: time.sleep(0.001))

            def one_round():
                latch = counter.latch
                tell = ref.tell
                for i in range(n):
                    tell(i)
                assert latch.done.wait(WAIT)

            yield one_round, arm
        finally:
            stop_pykka_actors([ref])  # its on_stop stops the child


@pytest.mark.parametrize("impl", ACTOR_IMPLEMENTATIONS)
def test_restart_storm(race, impl):
    """Supervised restart storm: one actor whose async handler raises on
    every message, supervised with restart-always (atomr: one_for_one,
    default "restart", budget 10**9 restarts per 1 s window, on the
    actor's Props); N tells, the round ends when N fresh instances were
    built (the factory counts them). Rate = N / round time (restarts/s).
    Failure logs are silenced on every side (see `quiet_failures`).
    Baselines: an asyncio actor whose task catches the exception and
    rebuilds the child object (mailbox kept); Pykka, where a failed actor
    stops, so a supervisor actor holds the mail, hands it to its child one
    message at a time and starts a new child (a new thread) on each
    ``on_failure`` report."""
    race("restart-storm", impl, SIZES["restart-storm"][impl], ROUNDS,
         _by_impl(impl, atomr=_restart_atomr, asyncio=_restart_asyncio, pykka=_restart_pykka))


# ---------------------------------------------------------------------------
# 2. 10,000 concurrent periodic timers


class TimerFigures:
    """Per-round figures of the timer scenario, summarised after the race."""

    def __init__(self) -> None:
        self.rounds: "list[tuple[float, float, array.array]]" = []  # schedule s, CPU s, lateness

    def add(self, schedule_secs: float, cpu_secs: float, lateness: "list[float]") -> None:
        self.rounds.append((schedule_secs, cpu_secs, array.array("d", lateness)))

    def report(self, race) -> None:
        """Notes the figures of the timed rounds (the warmup rounds' dropped)."""
        timed = self.rounds[race.warmup_rounds:]
        if not timed:
            return
        timers = TIMER_ACTORS * TIMERS_PER_ACTOR
        ticks = timers * TICKS
        schedule = sum(r[0] for r in timed) / len(timed)
        cpu = sum(r[1] for r in timed) / len(timed)
        lateness = sorted(x for r in timed for x in r[2])
        assert len(lateness) == ticks * len(timed), (len(lateness), ticks)
        p99 = lateness[min(len(lateness) - 1, math.ceil(0.99 * len(lateness)) - 1)]
        race.note("schedule 10K timers", schedule * 1e3, "ms")
        race.note("schedule per timer", schedule / timers * 1e6, "us")
        race.note("CPU per tick", cpu / ticks * 1e6, "us")
        race.note("lateness mean", sum(lateness) / len(lateness) * 1e3, "ms")
        race.note("lateness p99", p99 * 1e3, "ms")
        race.note("lateness max", lateness[-1] * 1e3, "ms")


def _timer_round(refs: list, figures: TimerFigures):
    """One timer round over `refs` (atomr refs or asyncio tickers): each
    actor gets ``(first, round)``; timed until every timer ticked TICKS
    times."""

    async def one_round():
        rnd = TickRound(len(refs), TIMERS_PER_ACTOR, TICKS, TIMER_INTERVAL)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for i, ref in enumerate(refs):
            ref.tell((i * TIMERS_PER_ACTOR, rnd))
        await asyncio.wait_for(rnd.scheduled.done, WAIT)
        scheduled = time.perf_counter() - t0
        await asyncio.wait_for(rnd.done.done, WAIT)
        figures.add(scheduled, time.process_time() - cpu0, rnd.lateness)

    return one_round


@contextmanager
def _timers_atomr(figures: TimerFigures):
    with atomr_in_loop("bench-timers") as (runner, system):
        refs = [system.actor_of(props(Ticker)) for _ in range(TIMER_ACTORS)]
        one_round = _timer_round(refs, figures)
        yield (lambda: runner.run(one_round())), None


@contextmanager
def _timers_asyncio(figures: TimerFigures):
    with asyncio.Runner() as runner:
        actors = [runner.run(_make(AsyncioTicker)) for _ in range(TIMER_ACTORS)]
        one_round = _timer_round(actors, figures)
        try:
            yield (lambda: runner.run(one_round())), None
        finally:
            runner.run(stop_asyncio_actors(actors))


@pytest.mark.parametrize("impl", ["atomr", "asyncio"])
def test_periodic_timers(race, impl):
    """10,000 concurrent fixed-rate periodic timers: 100 actors each
    schedule 100 timers (atomr: ``ctx.schedule_periodically(initial,
    interval=0.05, msg=j)``) with initial delays spread evenly over
    0.05-0.1 s; each timer is cancelled by its handler after 20 ticks, so a
    round lasts ~1.05 s. Rate = 200,000 ticks / round time (ticks/s; both
    sides keep up, so ~1x is the expected ratio). Other figures, over the
    timed rounds: the time from the first start message until all 10K
    timers were scheduled (total and per timer), process CPU time per
    tick, and the lateness of every delivery measured in the handler
    (``time.monotonic()`` against scheduled-at + initial + k * interval):
    mean, p99, max. Baseline: asyncio actors with ``loop.call_at`` timers
    re-armed at a fixed rate; the same handler code on both sides
    (`TickBook`)."""
    figures = TimerFigures()
    ops = TIMER_ACTORS * TIMERS_PER_ACTOR * TICKS
    race("timers", impl, ops, TIMER_ROUNDS,
         lambda _: _by_impl(impl, atomr=_timers_atomr, asyncio=_timers_asyncio)(figures))
    figures.report(race)


# ---------------------------------------------------------------------------
# 3. stash and replay


@contextmanager
def _stash_atomr(n: int):
    with atomr_in_loop("bench-stash") as (runner, system):
        ref = system.actor_of(props(Stasher), "stasher")

        async def one_round():
            done = asyncio.get_running_loop().create_future()
            tell = ref.tell
            for i in range(n):
                tell(i)
            tell(("open", n, done))
            await asyncio.wait_for(done, WAIT)

        yield (lambda: runner.run(one_round())), None


@contextmanager
def _stash_asyncio(n: int):
    with asyncio.Runner() as runner:
        actor = runner.run(_make(AsyncioStasher))

        async def one_round():
            done = asyncio.get_running_loop().create_future()
            tell = actor.tell
            for i in range(n):
                tell(i)
            tell(("open", n, done))
            await asyncio.wait_for(done, WAIT)

        try:
            yield (lambda: runner.run(one_round())), None
        finally:
            runner.run(actor.stop())


@pytest.mark.parametrize("impl", ["atomr", "asyncio"])
def test_stash_replay(race, impl):
    """Stash and replay: N tells to an actor that stashes each one
    (atomr: ``ctx.stash()``), then an "open" message on which it unstashes
    all (``ctx.unstash_all()``) and handles the N replayed messages; the
    round ends when the last was handled. Async handlers. Rate = N / round
    time (msg/s, each message told, stashed, replayed and handled once).
    Baseline: an asyncio actor with a deque stash replayed ahead of its
    queue."""
    race("stash-replay", impl, SIZES["stash-replay"][impl], ROUNDS,
         _by_impl(impl, atomr=_stash_atomr, asyncio=_stash_asyncio))
