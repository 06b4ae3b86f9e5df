"""Interpreter pools: CPU-bound handlers (a pure-Python loop of about
1 ms) on 4 actors, in a ``python-process-pool`` of 2 worker processes
(implementation ``atomr``) against the same 4 actors on ``python-pinned``
(one loop thread, one GIL) and against 4 plain threads sharing the GIL (the
design of a "pool" of threads, for reference), in interleaved rounds (see
``_pool_harness``: the median per-round ratio is the figure to read). Also
the cost of a tell and an ask crossing to a worker process, against a
local actor.

Run: ``python3 -m pytest -q -p no:cacheprovider benchmarks/test_bench_pools.py``.
The worker processes import the actor classes by name from
``_pool_actors`` (benchmarks/ is on their ``sys.path``).
"""

from __future__ import annotations

import pytest

from _pool_harness import ask_factory, cpu_race, tell_factory

ROUNDS = 5
TELLS = 5_000
ASKS = 500


def _cpu_pool(system) -> None:
    system.configure_interpreter("cpu", "python-process-pool", count=2)


def _io_pool(system) -> None:
    system.configure_interpreter("io", "python-process-pool", count=1)


def test_pool_cpu() -> None:
    cpu_race("pool-cpu", "bench-pools", _cpu_pool)


@pytest.mark.parametrize("impl", ["atomr", "python-pinned"])
def test_pool_tell(race, impl):
    race("pool-tell", impl, TELLS, ROUNDS, tell_factory("bench-pools", _io_pool, impl == "atomr"))


@pytest.mark.parametrize("impl", ["atomr", "python-pinned"])
def test_pool_ask(race, impl):
    race("pool-ask", impl, ASKS, ROUNDS, ask_factory("bench-pools", _io_pool, impl == "atomr"))
