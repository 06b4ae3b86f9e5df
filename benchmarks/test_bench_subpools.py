"""Subinterpreter pools (Python 3.12+; skipped elsewhere): CPU-bound
handlers (a pure-Python loop of about 1 ms) on 4 actors in a
``python-subinterpreter-pool`` of 2 own-GIL subinterpreters
(implementation ``atomr``) against the same 4 actors on ``python-pinned``
(one loop thread, one GIL) and against 4 plain threads sharing the GIL
(the reference design of a thread "pool"). Also the cost of a tell and an
ask crossing into a subinterpreter, against a local actor.

Run (3.12 and 3.13 builds of the tree): ``make bench-subinterpreters``,
or ``python3.12 -m pytest -q -p no:cacheprovider benchmarks/test_bench_subpools.py``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Iterator

import pytest

import atomr
import atomr.interpreter as interp
from atomr import ActorSystem, props

from _pool_actors import Cpu, Echo, spin

pytestmark = pytest.mark.skipif(not atomr.subinterpreters_supported(),
                                reason="needs own-GIL subinterpreters (Python 3.12+)")

POOL = "python-subinterpreter-pool"
ACTORS = 4
#: CPU-bound messages per actor per round.
PER_ACTOR = 200
ROUNDS = 5
TELLS = 20_000
ASKS = 2_000
WAIT = 120.0


def _timed(n: int) -> float:
    start = time.perf_counter()
    spin(n)
    return time.perf_counter() - start


def _calibrate() -> int:
    """Steps of `spin` that take about 1 ms here (best of 5)."""
    n = 20_000
    best = min(_timed(n) for _ in range(5))
    return max(1_000, int(n * 0.001 / best))


STEPS = _calibrate()


@contextlib.contextmanager
def _system() -> Iterator[ActorSystem]:
    system = ActorSystem.create_blocking("bench-subpools")
    try:
        yield system
    finally:
        interp.shutdown_pools()
        system.terminate_blocking()


def _cpu_round(refs: list) -> None:
    for _ in range(PER_ACTOR):
        for r in refs:
            r.tell(STEPS)
    for r in refs:
        r.ask_blocking("done", WAIT)


@contextlib.contextmanager
def _actors(kind: str, ops: int) -> Iterator[tuple]:
    with _system() as system:
        if kind == "atomr":
            system.configure_interpreter("cpu", POOL, count=2)
            recipe = props(Cpu, interpreter_role="cpu")
        else:
            recipe = props(Cpu)
        refs = [system.actor_of(recipe, f"cpu{i}") for i in range(ACTORS)]
        for r in refs:
            r.ask_blocking("done", WAIT)  # started
        yield (lambda: _cpu_round(refs)), None


@contextlib.contextmanager
def _threads(ops: int) -> Iterator[tuple]:
    def run() -> None:
        threads = [threading.Thread(target=lambda: [spin(STEPS) for _ in range(PER_ACTOR)])
                   for _ in range(ACTORS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    yield run, None


@pytest.mark.parametrize("impl", ["atomr", "python-pinned", "threads"])
def test_subpool_cpu(race, impl):
    ops = ACTORS * PER_ACTOR
    factory = _threads if impl == "threads" else (lambda n: _actors(impl, n))
    race("subpool-cpu", impl, ops, ROUNDS, factory)
    race.note("load average", os.getloadavg()[0], "", lower_is_better=True)
    race.note("steps per handler", STEPS, "", lower_is_better=False)


@contextlib.contextmanager
def _echo(kind: str) -> Iterator[Any]:
    with _system() as system:
        if kind == "atomr":
            system.configure_interpreter("io", POOL, count=1)
            ref = system.actor_of(props(Echo, interpreter_role="io"), "echo")
        else:
            ref = system.actor_of(props(Echo), "echo")
        assert ref.ask_blocking("ready", WAIT) == "ready"
        yield ref


@pytest.mark.parametrize("impl", ["atomr", "python-pinned"])
def test_subpool_tell(race, impl):
    @contextlib.contextmanager
    def factory(ops: int) -> Iterator[tuple]:
        with _echo(impl) as ref:
            def run() -> None:
                for i in range(ops):
                    ref.tell(i)
                assert ref.ask_blocking("end", WAIT) == "end"  # after every tell
            yield run, None

    race("subpool-tell", impl, TELLS, ROUNDS, factory)


@pytest.mark.parametrize("impl", ["atomr", "python-pinned"])
def test_subpool_ask(race, impl):
    @contextlib.contextmanager
    def factory(ops: int) -> Iterator[tuple]:
        with _echo(impl) as ref:
            def run() -> None:
                for i in range(ops):
                    assert ref.ask_blocking(i, WAIT) == i
            yield run, None

    race("subpool-ask", impl, ASKS, ROUNDS, factory)
