"""Fixtures of the benchmark suite: `race` runs one scenario on one
implementation under pytest-benchmark and records it for the summary table;
every benchmark must leave no thread behind.

benchmarks/ is deliberately not a package: pytest then puts only this
directory on ``sys.path`` (not the repository root), so ``import atomr``
finds the installed build -- the one in the tox env under ``tox -e bench``.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import threading
import time
from typing import Callable, ContextManager, Optional

import pytest

import report

#: What a scenario factory yields: ``(run, setup)``. `run` is one timed round
#: and checks its own result; `setup` (or None) runs untimed before each
#: round (fresh actors, cleanup of the previous round).
Rounds = tuple[Callable[[], None], Optional[Callable[[], None]]]

#: Untimed rounds `race` runs before the timed ones.
WARMUP_ROUNDS = 1


@pytest.fixture
def race(benchmark):
    """``race(scenario, impl, ops, rounds, factory)`` benchmarks one scenario.

    `factory(ops)` is a context manager yielding ``(run, setup)`` (see
    `Rounds`); it builds the actors and tears everything down (systems
    terminated, threads joined) on exit. Each round runs `ops` operations;
    the rate is reported per operation. Every round starts from a collected
    heap; the collector stays enabled inside rounds, as in a real program
    (``--benchmark-disable-gc`` turns it off there).

    After a race, ``race.note(name, value, unit, lower_is_better=True)``
    records another figure of it (a cost, a latency) for the summary and
    the benchmark's extra info; ``race.warmup_rounds`` is how many untimed
    rounds precede the timed ones.
    """
    last: dict = {}

    def run(scenario: str, impl: str, ops: int, rounds: int,
            factory: Callable[[int], ContextManager[Rounds]]) -> None:
        last.clear()
        benchmark.group = scenario
        benchmark.extra_info.update(scenario=scenario, implementation=impl,
                                    ops_per_round=ops, unit=report.SCENARIOS[scenario].unit)
        with factory(ops) as (target, setup):

            def before_round() -> None:
                if setup is not None:
                    setup()
                gc.collect()  # no round pays for the garbage of the previous one

            benchmark.pedantic(target, setup=before_round, rounds=rounds, iterations=1,
                               warmup_rounds=WARMUP_ROUNDS)
        if benchmark.stats is None:  # --benchmark-disable: ran once, nothing timed
            return
        result = report.record(scenario, impl, ops, benchmark.stats.stats)
        benchmark.extra_info["ops_per_second"] = result.rate
        last.update(scenario=scenario, impl=impl)

    def note(name: str, value: float, unit: str, lower_is_better: bool = True) -> None:
        if not last:  # nothing was timed (or recorded)
            return
        report.note(last["scenario"], last["impl"], name, value, unit, lower_is_better)
        benchmark.extra_info.setdefault("figures", {})[name] = {"value": value, "unit": unit}

    run.note = note
    run.warmup_rounds = WARMUP_ROUNDS
    return run


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fails a benchmark that leaves a thread running (10 s grace to end)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10.0
    leaked = [t for t in threading.enumerate() if t not in before]
    for thread in leaked:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in leaked if t.is_alive()]
    assert not alive, f"benchmark left threads running: {alive}"


def pytest_report_header(config):
    import atomr

    return [f"atomr {atomr.__version__} from {os.path.dirname(atomr.__file__)}; "
            f"pykka {importlib.metadata.version('pykka')}; {os.cpu_count()} CPUs"]


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    lines = report.render()
    if not lines:
        return
    terminalreporter.write_sep("=", "atomr vs baselines (throughput per operation)")
    for line in lines:
        terminalreporter.write_line(line)
