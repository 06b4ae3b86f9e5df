"""Subinterpreter pools (Python 3.12+; skipped elsewhere): CPU-bound
handlers (a pure-Python loop of about 1 ms) on 4 actors in a
``python-subinterpreter-pool`` of 2 own-GIL subinterpreters
(implementation ``atomr``) against the same 4 actors on ``python-pinned``
(one loop thread, one GIL) and against 4 plain threads sharing the GIL (the
reference design of a thread "pool"), in interleaved rounds (see
``_pool_harness``: the median per-round ratio is the figure to read). Also
the cost of a tell and an ask crossing into a subinterpreter, against a
local actor.

Run (3.12 and 3.13 builds of the tree): ``make bench-subinterpreters``,
or ``python3.12 -m pytest -q -p no:cacheprovider benchmarks/test_bench_subpools.py``.
"""

from __future__ import annotations

import pytest

import atomr

from _pool_harness import ask_factory, cpu_race, tell_factory

pytestmark = pytest.mark.skipif(not atomr.subinterpreters_supported(),
                                reason="needs own-GIL subinterpreters (Python 3.12+)")

POOL = "python-subinterpreter-pool"
ROUNDS = 5
TELLS = 20_000
ASKS = 2_000


def _cpu_pool(system) -> None:
    system.configure_interpreter("cpu", POOL, count=2)


def _io_pool(system) -> None:
    system.configure_interpreter("io", POOL, count=1)


def test_subpool_cpu() -> None:
    cpu_race("subpool-cpu", "bench-subpools", _cpu_pool)


@pytest.mark.parametrize("impl", ["atomr", "python-pinned"])
def test_subpool_tell(race, impl):
    race("subpool-tell", impl, TELLS, ROUNDS,
         tell_factory("bench-subpools", _io_pool, impl == "atomr"))


@pytest.mark.parametrize("impl", ["atomr", "python-pinned"])
def test_subpool_ask(race, impl):
    race("subpool-ask", impl, ASKS, ROUNDS,
         ask_factory("bench-subpools", _io_pool, impl == "atomr"))
