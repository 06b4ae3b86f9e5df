"""The idle strategy (``actor.idle-strategy``, ``actor.idle-spin``): waits
that spin before they sleep stay correct -- ask timeouts, replies that come
after the spin, termination, wake-ups from other threads -- and a loop
thread left idle ends its spin and sleeps.

Every wait here is a condition with a deadline; no test measures speed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from atomr import Actor, ActorSystem, Config, props
from atomr.errors import ActorTerminatedError, AskTimeoutError

DEADLINE = 10.0


def _wait_for(pred: Callable[[], Any], message: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not pred():
        assert time.monotonic() < deadline, f"not within {DEADLINE}s: {message}"
        time.sleep(0.001)


def _config(strategy: str, spin: str) -> Config:
    return Config.from_dict({"actor": {"idle-strategy": strategy, "idle-spin": spin}})


@pytest.fixture(params=[("spin", "10ms"), ("adaptive", "50us")], ids=["spin", "adaptive"])
def spinning_system(request) -> Iterator[ActorSystem]:
    """A system running its own loop whose waits spin (up to the longest
    allowed spin under "spin", so that every wait of the tests spins)."""
    strategy, spin = request.param
    system = ActorSystem.create_blocking("idle", _config(strategy, spin))
    try:
        yield system
    finally:
        system.terminate_blocking(DEADLINE)


class Echo(Actor):
    async def handle(self, ctx, msg):
        return msg


class Silent(Actor):
    """Never answers: each handler awaits a future nobody completes."""

    async def handle(self, ctx, msg):
        await asyncio.get_running_loop().create_future()


class Late(Actor):
    """Answers "late" after sleeping `msg` seconds on its loop."""

    async def handle(self, ctx, msg):
        await asyncio.sleep(msg)
        return "late"


def test_ask_blocking_under_spin_answers(spinning_system):
    ref = spinning_system.actor_of(props(Echo), "echo")
    for i in range(200):
        assert ref.ask_blocking(i, DEADLINE) == i
    stats = spinning_system._core.idle_stats()
    assert stats["ask"]["spin_ns"] > 0


def test_ask_blocking_under_a_long_spin_still_times_out_at_its_shorter_timeout():
    # A 10ms spin and a 1ms timeout: the wait gives up at the timeout
    # (AskTimeoutError), however long a spin may be.
    system = ActorSystem.create_blocking("idle", _config("spin", "10ms"))
    try:
        ref = system.actor_of(props(Silent), "silent")
        for _ in range(5):
            with pytest.raises(AskTimeoutError, match="timed out after 0.001s"):
                ref.ask_blocking("x", 0.001)
        assert system._core.idle_stats()["ask"]["spins"] >= 5
        echo = system.actor_of(props(Echo), "echo")
        assert echo.ask_blocking("after", DEADLINE) == "after"
    finally:
        system.terminate_blocking(DEADLINE)


def test_ask_blocking_gets_a_reply_that_comes_after_the_spin():
    system = ActorSystem.create_blocking("idle", _config("spin", "1us"))
    try:
        ref = system.actor_of(props(Late), "late")
        assert ref.ask_blocking(0.05, DEADLINE) == "late"
        stats = system._core.idle_stats()["ask"]
        assert stats["spins"] == 1 and stats["hits"] == 0  # it spun, missed, then parked
    finally:
        system.terminate_blocking(DEADLINE)


def test_ask_blocking_that_times_out_after_spinning_raises_ask_timeout(spinning_system):
    ref = spinning_system.actor_of(props(Silent), "silent")
    with pytest.raises(AskTimeoutError):
        ref.ask_blocking("x", 0.05)


def test_terminate_fails_an_ask_blocking_waiting_under_spin(spinning_system):
    entered = threading.Event()

    class Holding(Actor):
        async def handle(self, ctx, msg):
            entered.set()
            await asyncio.get_running_loop().create_future()

    ref = spinning_system.actor_of(props(Holding), "holding")
    started = threading.Event()
    outcome: concurrent.futures.Future = concurrent.futures.Future()

    def ask() -> None:
        started.set()
        try:
            outcome.set_result(ref.ask_blocking("x", 60.0))
        except BaseException as exc:
            outcome.set_exception(exc)

    asker = threading.Thread(target=ask, name="idle-asker")
    asker.start()
    try:
        assert started.wait(DEADLINE)
        assert entered.wait(DEADLINE)  # the asker is waiting for this handler's answer
        spinning_system.terminate_blocking(DEADLINE)
        with pytest.raises(ActorTerminatedError):
            outcome.result(DEADLINE)
    finally:
        asker.join(DEADLINE)
    assert not asker.is_alive()


def test_tells_and_callbacks_from_other_threads_reach_a_spinning_loop(spinning_system):
    seen: list[int] = []
    done = threading.Event()

    class Collect(Actor):
        async def handle(self, ctx, msg):
            seen.append(msg)
            if len(seen) == 4 * 250:
                done.set()

    ref = spinning_system.actor_of(props(Collect), "collect")

    def send(base: int) -> None:
        for i in range(250):
            ref.tell(base + i)

    senders = [threading.Thread(target=send, args=(n * 1000,)) for n in range(4)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(DEADLINE)
    assert done.wait(DEADLINE)
    assert sorted(seen) == sorted(n * 1000 + i for n in range(4) for i in range(250))

    # A plain loop callback scheduled from another thread runs too.
    ran = threading.Event()
    spinning_system.loop.call_soon_threadsafe(ran.set)
    assert ran.wait(DEADLINE)


def test_an_idle_loop_thread_ends_its_spin_and_sleeps():
    # The longest spin, always spinning: once nothing happens, the loop
    # thread's spin still ends and it goes to sleep on its own.
    system = ActorSystem.create_blocking("idle", _config("spin", "10ms"))
    try:
        ref = system.actor_of(props(Echo), "echo")
        assert ref.ask_blocking(1, DEADLINE) == 1
        _wait_for(lambda: system._core.idle_state() == "asleep", "the loop thread sleeps")
        assert system._core.idle_stats()["loop"]["spins"] >= 1
    finally:
        system.terminate_blocking(DEADLINE)


def test_park_never_spins_and_leaves_the_selector_alone():
    system = ActorSystem.create_blocking("idle", _config("park", "50us"))
    try:
        ref = system.actor_of(props(Echo), "echo")
        for i in range(50):
            assert ref.ask_blocking(i, DEADLINE) == i
        stats = system._core.idle_stats()
        assert stats["loop"]["spins"] == 0 and stats["ask"]["spins"] == 0
        assert getattr(system.loop._selector, "before_sleep", None) is None
    finally:
        system.terminate_blocking(DEADLINE)


def test_a_zero_spin_never_spins():
    system = ActorSystem.create_blocking("idle", _config("spin", "0s"))
    try:
        ref = system.actor_of(props(Echo), "echo")
        assert ref.ask_blocking(1, DEADLINE) == 1
        stats = system._core.idle_stats()
        assert stats["loop"]["spins"] == 0 and stats["ask"]["spins"] == 0
    finally:
        system.terminate_blocking(DEADLINE)


def test_terminating_detaches_the_idle_hook_from_the_selector():
    system = ActorSystem.create_blocking("idle", _config("spin", "50us"))
    selector = system.loop._selector
    assert selector.before_sleep is not None
    system.terminate_blocking(DEADLINE)
    assert selector.before_sleep is None


async def test_a_system_on_a_loop_of_its_caller_keeps_that_loop_and_answers_blocking_asks():
    # Bound to the test's loop: the loop is not replaced; blocking asks from
    # another thread still spin on the asker's side and get their answers.
    system = await ActorSystem.create("idle", _config("spin", "50us"))
    try:
        ref = system.actor_of(props(Echo), "echo")
        loop = asyncio.get_running_loop()
        assert not hasattr(loop._selector, "before_sleep")  # type: ignore[attr-defined]
        answers = await loop.run_in_executor(
            None, lambda: [ref.ask_blocking(i, DEADLINE) for i in range(20)])
        assert answers == list(range(20))
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


def test_concurrent_blocking_askers_under_spin_each_get_their_own_answers(spinning_system):
    ref = spinning_system.actor_of(props(Echo), "echo")
    results: dict[int, list[Any]] = {}

    def ask(n: int) -> None:
        results[n] = [ref.ask_blocking((n, i), DEADLINE) for i in range(200)]

    askers = [threading.Thread(target=ask, args=(n,), name=f"idle-asker-{n}") for n in range(4)]
    for t in askers:
        t.start()
    for t in askers:
        t.join(DEADLINE * 3)
    assert not any(t.is_alive() for t in askers)
    assert results == {n: [(n, i) for i in range(200)] for n in range(4)}
