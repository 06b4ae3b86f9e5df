"""Core actor benchmarks: atomr raced against a pure-asyncio actor and Pykka.

Every scenario runs on the three implementations in the same session; the
summary at the end of the run gives each one's rate per operation and the
ratio atomr / baseline. Round sizes differ per implementation (the
baselines are up to two orders of magnitude slower) so that a round takes
roughly 0.1-0.5 s; the whole suite takes about a minute on 2 cores.

Run: ``tox -e bench`` or ``python3 -m pytest benchmarks``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import pykka
import pytest

from atomr import Actor, ActorSystem, Config, props
from baselines import (
    AsyncioCounter, AsyncioEcho, AsyncioLatch, AsyncioPinger, AsyncioPonger, AsyncioWorker,
    PykkaCounter, PykkaEcho, PykkaPinger, PykkaPonger, PykkaWorker, ThreadLatch,
    stop_asyncio_actors, stop_pykka_actors,
)
from report import ACTOR_IMPLEMENTATIONS

#: Operations per round, per scenario and implementation. Message rates are
#: linear in the round size, so each implementation gets a size that makes
#: its rounds last ~0.1-0.5 s. The spawn rate is not (the garbage collector
#: traverses every live actor), so atomr and asyncio spawn the same K; Pykka
#: needs a thread per actor and spawns fewer.
SIZES = {
    "tell": {"atomr": 1_000_000, "asyncio": 300_000, "pykka": 100_000},
    "ping-pong": {"atomr": 1_000_000, "asyncio": 60_000, "pykka": 10_000},
    "ask-in-loop": {"atomr": 200_000, "asyncio": 30_000, "pykka": 4_000},
    "ask-blocking": {"atomr": 10_000, "atomr-spin": 10_000, "asyncio": 4_000, "pykka": 5_000,
                     "lock-floor": 10_000},
    "spawn": {"atomr": 30_000, "asyncio": 30_000, "pykka": 1_000},
}
ROUNDS = 10
WAIT = 60.0  # seconds any single wait may take before the round fails


# ---------------------------------------------------------------------------
# atomr actors (the same behaviour as the baselines' actors)


class Counter(Actor):
    """Counts the messages it handled; answers with the running count."""

    def __init__(self) -> None:
        self.count = 0

    async def handle(self, ctx, msg):
        self.count += 1
        return self.count


class Echo(Actor):
    """Answers every message with itself."""

    async def handle(self, ctx, msg):
        return msg


class Ponger(Actor):
    """Sends every ball straight back to its sender."""

    async def handle(self, ctx, msg):
        ctx.sender.tell_with_sender(msg, ctx.self_ref)


class Pinger(Actor):
    """Serves a ball and returns it until `rounds` returns came back, then
    resolves the `done` future with the last ball.

    Start it with ``pinger.tell(("serve", ponger, rounds, done))``.
    """

    def __init__(self) -> None:
        self.remaining = 0
        self.done: asyncio.Future | None = None

    async def handle(self, ctx, msg):
        if type(msg) is tuple:
            _, ponger, self.remaining, self.done = msg
            ponger.tell_with_sender(0, ctx.self_ref)
            return
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set_result(msg)
        else:
            ctx.sender.tell_with_sender(msg + 1, ctx.self_ref)


class Worker(Actor):
    """Counts down the latch it is sent."""

    async def handle(self, ctx, msg):
        msg.count_down()


# ---------------------------------------------------------------------------
# Harness helpers


@contextmanager
def atomr_in_loop(name: str) -> Iterator[tuple[asyncio.Runner, ActorSystem]]:
    """A loop (an ``asyncio.Runner``) and a system bound to it; terminated on exit."""
    with asyncio.Runner() as runner:
        system = runner.run(ActorSystem.create(name))
        try:
            yield runner, system
        finally:
            runner.run(system.terminate())
            assert system.is_terminated


@contextmanager
def asyncio_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running forever on its own thread; stopped and closed on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="asyncio-baseline-loop")
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@contextmanager
def pykka_actors(*classes: type) -> Iterator[list[pykka.ActorRef]]:
    """Started Pykka actors of `classes`; stopped (threads ended) on exit."""
    refs = [cls.start() for cls in classes]
    try:
        yield refs
    finally:
        stop_pykka_actors(refs)


def _checked_delta(expected: int):
    """A check that successive running counts grow by exactly `expected`."""
    last = [0]

    def check(count: int) -> None:
        assert count - last[0] == expected, (count, last[0], expected)
        last[0] = count

    return check


def _by_impl(impl: str, **factories: Any) -> Any:
    return factories[impl]


async def _make(cls: type) -> Any:
    """Builds an asyncio-baseline actor on the running loop."""
    return cls()


# ---------------------------------------------------------------------------
# 1. tell throughput


@contextmanager
def _tell_atomr(n: int):
    with atomr_in_loop("bench-tell") as (runner, system):
        ref = system.actor_of(props(Counter), "counter")
        check = _checked_delta(n + 1)

        async def one_round():
            tell = ref.tell
            for i in range(n):
                tell(i)
            return await ref.ask(None, timeout=WAIT)

        yield (lambda: check(runner.run(one_round()))), None


@contextmanager
def _tell_asyncio(n: int):
    with asyncio.Runner() as runner:
        actor = runner.run(_make(AsyncioCounter))
        check = _checked_delta(n + 1)

        async def one_round():
            tell = actor.tell
            for i in range(n):
                tell(i)
            return await actor.ask(None)

        try:
            yield (lambda: check(runner.run(one_round()))), None
        finally:
            runner.run(actor.stop())


@contextmanager
def _tell_pykka(n: int):
    with pykka_actors(PykkaCounter) as (ref,):
        check = _checked_delta(n + 1)

        def one_round():
            tell = ref.tell
            for i in range(n):
                tell(i)
            check(ref.ask(None, timeout=WAIT))

        yield one_round, None


@pytest.mark.parametrize("impl", ACTOR_IMPLEMENTATIONS)
def test_tell_throughput(race, impl):
    """Tell throughput to one actor whose async handler counts messages: N
    tells from one sender, then one ask for the count, which returns once
    all N were handled. Rate = N / round time (msg/s). Raced against the
    asyncio baseline (Queue + Task) and Pykka (ThreadingActor)."""
    race("tell", impl, SIZES["tell"][impl], ROUNDS,
         _by_impl(impl, atomr=_tell_atomr, asyncio=_tell_asyncio, pykka=_tell_pykka))


# ---------------------------------------------------------------------------
# 2. ping-pong


@contextmanager
def _pingpong_atomr(n: int):
    with atomr_in_loop("bench-pingpong") as (runner, system):
        ponger = system.actor_of(props(Ponger), "ponger")
        pinger = system.actor_of(props(Pinger), "pinger")
        returns = n // 2

        async def one_round():
            done = asyncio.get_running_loop().create_future()
            pinger.tell(("serve", ponger, returns, done))
            assert await asyncio.wait_for(done, WAIT) == returns - 1

        yield (lambda: runner.run(one_round())), None


@contextmanager
def _pingpong_asyncio(n: int):
    with asyncio.Runner() as runner:
        ponger = runner.run(_make(AsyncioPonger))
        pinger = runner.run(_make(AsyncioPinger))
        returns = n // 2

        async def one_round():
            done = asyncio.get_running_loop().create_future()
            pinger.tell(("serve", ponger, returns, done))
            assert await asyncio.wait_for(done, WAIT) == returns - 1

        try:
            yield (lambda: runner.run(one_round())), None
        finally:
            runner.run(stop_asyncio_actors([ponger, pinger]))


@contextmanager
def _pingpong_pykka(n: int):
    with pykka_actors(PykkaPonger, PykkaPinger) as (ponger, pinger):
        returns = n // 2

        def one_round():
            done: concurrent.futures.Future = concurrent.futures.Future()
            pinger.tell(("serve", ponger, returns, done))
            assert done.result(WAIT) == returns - 1

        yield one_round, None


@pytest.mark.parametrize("impl", ACTOR_IMPLEMENTATIONS)
def test_ping_pong(race, impl):
    """Ping-pong between two actors: a ball bounced N times (N/2 returns),
    each hop a tell carrying the sender (atomr: ``tell_with_sender`` and
    ``ctx.sender``), async handlers. Rate = N / round time (msg/s). Raced
    against the asyncio baseline and Pykka."""
    race("ping-pong", impl, SIZES["ping-pong"][impl], ROUNDS,
         _by_impl(impl, atomr=_pingpong_atomr, asyncio=_pingpong_asyncio,
                  pykka=_pingpong_pykka))


# ---------------------------------------------------------------------------
# 3. ask from the actors' own loop


@contextmanager
def _ask_loop_atomr(n: int):
    with atomr_in_loop("bench-ask") as (runner, system):
        ref = system.actor_of(props(Echo), "echo")

        async def one_round():
            ask = ref.ask
            for i in range(n):
                assert await ask(i, timeout=WAIT) == i

        yield (lambda: runner.run(one_round())), None


@contextmanager
def _ask_loop_asyncio(n: int):
    with asyncio.Runner() as runner:
        actor = runner.run(_make(AsyncioEcho))

        async def one_round():
            ask = actor.ask
            for i in range(n):
                assert await ask(i) == i

        try:
            yield (lambda: runner.run(one_round())), None
        finally:
            runner.run(actor.stop())


@contextmanager
def _ask_loop_pykka(n: int):
    with asyncio.Runner() as runner, pykka_actors(PykkaEcho) as (ref,):

        async def one_round():
            ask = ref.ask
            for i in range(n):
                assert await ask(i, block=False) == i

        yield (lambda: runner.run(one_round())), None


@pytest.mark.parametrize("impl", ACTOR_IMPLEMENTATIONS)
def test_ask_in_loop(race, impl):
    """Sequential asks awaited on an asyncio loop: ``await ref.ask(i)`` N
    times to an echo actor, each awaited before the next. atomr's system is
    bound to that same loop; the asyncio baseline's actor runs on it too;
    Pykka's actor runs on its own thread and its future is awaited
    (``await ref.ask(i, block=False)``). Rate = N / round time (asks/s)."""
    race("ask-in-loop", impl, SIZES["ask-in-loop"][impl], ROUNDS,
         _by_impl(impl, atomr=_ask_loop_atomr, asyncio=_ask_loop_asyncio,
                  pykka=_ask_loop_pykka))


# ---------------------------------------------------------------------------
# 4. blocking ask from another thread


@contextmanager
def _ask_blocking_atomr(n: int, config: Config | None = None):
    system = ActorSystem.create_blocking("bench-ask-blocking", config)
    try:
        ref = system.actor_of(props(Echo), "echo")

        def one_round():
            ask = ref.ask_blocking
            for i in range(n):
                assert ask(i, WAIT) == i

        yield one_round, None
    finally:
        system.terminate_blocking(timeout=WAIT)
        assert system.is_terminated


def _ask_blocking_atomr_spin(n: int):
    """atomr with ``actor.idle-strategy = "spin"``: the waits spin whatever
    the load (the default, "adaptive", parks while the machine is busy)."""
    return _ask_blocking_atomr(n, Config.from_dict({"actor": {"idle-strategy": "spin"}}))


async def _ask_echo(actor: AsyncioEcho, msg: Any) -> Any:
    return await actor.ask(msg)


@contextmanager
def _ask_blocking_asyncio(n: int):
    with asyncio_loop_thread() as loop:
        actor = asyncio.run_coroutine_threadsafe(_make(AsyncioEcho), loop).result(WAIT)
        try:

            def one_round():
                submit = asyncio.run_coroutine_threadsafe
                for i in range(n):
                    assert submit(_ask_echo(actor, i), loop).result(WAIT) == i

            yield one_round, None
        finally:
            asyncio.run_coroutine_threadsafe(actor.stop(), loop).result(WAIT)


@contextmanager
def _ask_blocking_pykka(n: int):
    with pykka_actors(PykkaEcho) as (ref,):

        def one_round():
            ask = ref.ask
            for i in range(n):
                assert ask(i, timeout=WAIT) == i

        yield one_round, None


@contextmanager
def _ask_blocking_lock_floor(n: int):
    """Two plain threads, each round trip a hand-off through two locks."""
    request, response = threading.Lock(), threading.Lock()
    request.acquire()
    response.acquire()
    box: list[Any] = [None]
    stop = [False]

    def echo() -> None:
        while True:
            request.acquire()
            if stop[0]:
                return
            response.release()

    thread = threading.Thread(target=echo, name="lock-floor-echo")
    thread.start()
    try:

        def one_round():
            for i in range(n):
                box[0] = i
                request.release()
                if not response.acquire(True, WAIT):
                    raise AssertionError("the echo thread did not answer")
                assert box[0] == i

        yield one_round, None
    finally:
        stop[0] = True
        request.release()
        thread.join()


@pytest.mark.parametrize("impl", (*ACTOR_IMPLEMENTATIONS, "atomr-spin", "lock-floor"))
def test_ask_blocking(race, impl):
    """Sequential blocking asks from a thread that is not the actor's: N
    times ``ref.ask_blocking(i)`` from the test thread to an echo actor of a
    ``create_blocking`` system (its own loop thread). Baselines: asyncio
    actor on a loop thread asked with
    ``run_coroutine_threadsafe(...).result()``; Pykka ``ref.ask(i)``.
    Rate = N / round time (asks/s). "atomr-spin" is atomr with
    ``actor.idle-strategy = "spin"`` (the default, "adaptive", parks while
    the machine is busy). Beside them, the floor of the machine:
    "lock-floor" is two plain Python threads ping-ponging N round trips
    through two ``threading.Lock`` objects (no actor; one cross-thread sleep
    and wake each way unless the waits overlap)."""
    race("ask-blocking", impl, SIZES["ask-blocking"][impl], ROUNDS,
         _by_impl(impl, atomr=_ask_blocking_atomr, asyncio=_ask_blocking_asyncio,
                  pykka=_ask_blocking_pykka, **{"atomr-spin": _ask_blocking_atomr_spin,
                                                "lock-floor": _ask_blocking_lock_floor}))


# ---------------------------------------------------------------------------
# 5. spawn and first message


@contextmanager
def _spawn_atomr(k: int):
    with asyncio.Runner() as runner:
        state: dict[str, Any] = {"system": None, "count": 0}

        def fresh_system():
            # Untimed: the previous round's system (and its k actors) goes.
            old = state["system"]
            if old is not None:
                runner.run(old.terminate())
                assert old.is_terminated
            state["count"] += 1
            state["system"] = runner.run(ActorSystem.create(f"bench-spawn-{state['count']}"))

        async def one_round():
            system = state["system"]
            latch = AsyncioLatch(k)
            spawn = system.actor_of
            worker = props(Worker)
            for _ in range(k):
                spawn(worker).tell(latch)
            await asyncio.wait_for(latch.done, WAIT)

        try:
            yield (lambda: runner.run(one_round())), fresh_system
        finally:
            if state["system"] is not None:
                runner.run(state["system"].terminate())


@contextmanager
def _spawn_asyncio(k: int):
    with asyncio.Runner() as runner:
        actors: list[AsyncioWorker] = []

        def cleanup():
            runner.run(stop_asyncio_actors(actors))
            actors.clear()

        async def one_round():
            latch = AsyncioLatch(k)
            append = actors.append
            for _ in range(k):
                actor = AsyncioWorker()
                actor.tell(latch)
                append(actor)
            await asyncio.wait_for(latch.done, WAIT)

        try:
            yield (lambda: runner.run(one_round())), cleanup
        finally:
            cleanup()


@contextmanager
def _spawn_pykka(k: int):
    refs: list[pykka.ActorRef] = []

    def cleanup():
        stop_pykka_actors(refs)
        refs.clear()

    def one_round():
        latch = ThreadLatch(k)
        append = refs.append
        for _ in range(k):
            ref = PykkaWorker.start()
            ref.tell(latch)
            append(ref)
        assert latch.done.wait(WAIT)

    try:
        yield one_round, cleanup
    finally:
        cleanup()


@pytest.mark.parametrize("impl", ACTOR_IMPLEMENTATIONS)
def test_spawn_and_first_message(race, impl):
    """Spawn rate: K top-level actors spawned (atomr: ``system.actor_of``
    with generated names), each sent one message as it is spawned, until
    every one has handled it (a latch counted down by the handlers).
    Cleanup of the K actors is untimed. Rate = K / round time (actors/s).
    Raced against the asyncio baseline (a Queue + Task per actor) and Pykka
    (a thread per actor)."""
    race("spawn", impl, SIZES["spawn"][impl], ROUNDS,
         _by_impl(impl, atomr=_spawn_atomr, asyncio=_spawn_asyncio, pykka=_spawn_pykka))
