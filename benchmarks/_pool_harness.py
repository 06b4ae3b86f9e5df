"""The harness the interpreter-pool benchmarks share (test_bench_pools.py:
worker processes; test_bench_subpools.py: own-GIL subinterpreters).

The CPU race puts 4 actors with handlers of about 1 ms of pure-Python work
in a pool of 2 workers against the same 4 actors on ``python-pinned`` (one
loop thread, one GIL) and against 4 plain threads sharing the GIL (the
reference design of a thread "pool"). On a 2-core machine other work
steals CPU from one implementation's rounds and not the other's, so the
rounds are *interleaved*: every setup is built once and stays up, and each
round runs every implementation once, in an order that alternates
(A B C, C B A, ...); the ratio is taken per round (the baseline's time over
atomr's) and its median reported, with the load average before and after
and the cores each implementation's rounds used (CPU seconds of this
process and its child processes per wall second). Where the scheduler
shares the CPU out per process group (Linux autogroups, cgroups), a loaded
machine gives this process a fixed share however many threads it runs: the
cores used bound the ratio, and a median below 1.8x with atomr's rounds
using fewer than 1.8 cores says the machine, not the pool, was the limit.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Optional

import atomr.interpreter as interp
from atomr import ActorSystem, props

import report
from _pool_actors import Cpu, Echo, spin

ACTORS = 4
#: CPU-bound messages per actor per round.
PER_ACTOR = 200
#: Interleaved rounds of the CPU race (after one untimed round of each).
CPU_ROUNDS = 9
WAIT = 120.0


def _timed(n: int) -> float:
    start = time.perf_counter()
    spin(n)
    return time.perf_counter() - start


def calibrate() -> int:
    """Steps of `spin` that take about 1 ms here (best of 5)."""
    n = 20_000
    best = min(_timed(n) for _ in range(5))
    return max(1_000, int(n * 0.001 / best))


STEPS = calibrate()


@contextlib.contextmanager
def pool_system(name: str) -> Iterator[ActorSystem]:
    """An actor system; on exit its pools are shut down and it terminates."""
    system = ActorSystem.create_blocking(name)
    try:
        yield system
    finally:
        interp.shutdown_pools()
        system.terminate_blocking()


def cpu_round(refs: list) -> None:
    """PER_ACTOR handlers of STEPS steps on each actor, then one ask each
    (after all their mail)."""
    for _ in range(PER_ACTOR):
        for r in refs:
            r.tell(STEPS)
    for r in refs:
        r.ask_blocking("done", WAIT)


def threads_round() -> None:
    """The same work on ACTORS plain threads sharing the GIL."""
    threads = [threading.Thread(target=lambda: [spin(STEPS) for _ in range(PER_ACTOR)])
               for _ in range(ACTORS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def cpu_actors(system: ActorSystem, role: Any = None) -> list:
    """ACTORS Cpu actors, started (on `role`'s pool, or python-pinned)."""
    recipe = props(Cpu) if role is None else props(Cpu, interpreter_role=role)
    refs = [system.actor_of(recipe, f"cpu{i}") for i in range(ACTORS)]
    for r in refs:
        r.ask_blocking("done", WAIT)  # started (and a worker's connection up)
    return refs


def cpu_seconds() -> float:
    """CPU seconds used so far by this process (every thread, so every
    subinterpreter) and its live child processes (a pool's workers)."""
    total = time.process_time()
    me = str(os.getpid())
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return total
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[1].decode() == me:  # ppid; utime and stime follow at 11, 12
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def interleaved(runs: dict[str, Callable[[], None]], rounds: int,
                cores: Optional[dict[str, list[float]]] = None) -> dict[str, list[float]]:
    """Each of `runs` once untimed, then `rounds` timed rounds in which each
    runs once, the order reversed every other round; the seconds of each
    (and in `cores`, the cores each round used)."""
    names = list(runs)
    for name in names:
        runs[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in (names if i % 2 == 0 else names[::-1]):
            cpu = cpu_seconds()
            start = time.perf_counter()
            runs[name]()
            wall = time.perf_counter() - start
            times[name].append(wall)
            if cores is not None:
                cores.setdefault(name, []).append((cpu_seconds() - cpu) / wall)
    return times


def record_cpu_race(scenario: str, times: dict[str, list[float]], load: tuple,
                    cores: dict[str, list[float]]) -> float:
    """Records every implementation's rounds for the summary, and as other
    figures the median per-round ratio python-pinned / atomr, the worst and
    best round ratio and the load average before and after. Returns the
    median ratio."""
    ops = ACTORS * PER_ACTOR
    for impl, secs in times.items():
        stats = SimpleNamespace(rounds=len(secs), mean=statistics.fmean(secs), min=min(secs),
                                stddev=statistics.pstdev(secs))
        report.record(scenario, impl, ops, stats)
    ratios = [b / a for a, b in zip(times["atomr"], times["python-pinned"])]
    median = statistics.median(ratios)
    report.note(scenario, "atomr", "median round ratio vs python-pinned", median, "x",
                lower_is_better=False)
    report.note(scenario, "atomr", "worst round ratio", min(ratios), "x", lower_is_better=False)
    report.note(scenario, "atomr", "best round ratio", max(ratios), "x", lower_is_better=False)
    report.note(scenario, "atomr", "load average before", load[0], "")
    report.note(scenario, "atomr", "load average after", load[1], "")
    report.note(scenario, "atomr", "steps per handler", STEPS, "", lower_is_better=False)
    for impl, used in cores.items():
        report.note(scenario, impl, "cores used (median round)", statistics.median(used), "",
                    lower_is_better=False)
    return median


def cpu_race(scenario: str, name: str, configure: Callable[[ActorSystem], None],
             rounds: int = CPU_ROUNDS) -> float:
    """The interleaved CPU race of a pool (`configure` sets up pool
    ``"cpu"`` in the system it gets) against python-pinned and threads."""
    with pool_system(name) as pooled, pool_system(name + "-pinned") as pinned:
        configure(pooled)
        mine = cpu_actors(pooled, "cpu")
        base = cpu_actors(pinned)
        load_before = os.getloadavg()[0]
        cores: dict[str, list[float]] = {}
        times = interleaved({"atomr": lambda: cpu_round(mine),
                             "python-pinned": lambda: cpu_round(base),
                             "threads": threads_round}, rounds, cores)
        load_after = os.getloadavg()[0]
    median = record_cpu_race(scenario, times, (load_before, load_after), cores)
    print(f"\n{scenario}: median round ratio vs python-pinned {median:.2f}x over {rounds} "
          f"rounds (load average {load_before:.1f} -> {load_after:.1f}; cores used: atomr "
          f"{statistics.median(cores['atomr']):.2f}, python-pinned "
          f"{statistics.median(cores['python-pinned']):.2f})")
    return median


@contextlib.contextmanager
def echo(name: str, configure: Callable[[ActorSystem], None], pooled: bool) -> Iterator[Any]:
    """An Echo actor in pool ``"io"`` (set up by `configure`), or python-pinned."""
    with pool_system(name) as system:
        if pooled:
            configure(system)
            ref = system.actor_of(props(Echo, interpreter_role="io"), "echo")
        else:
            ref = system.actor_of(props(Echo), "echo")
        assert ref.ask_blocking("ready", WAIT) == "ready"
        yield ref


def tell_factory(name: str, configure: Callable[[ActorSystem], None], pooled: bool) -> Any:
    """A `race` factory: `ops` tells, then an ask after them."""

    @contextlib.contextmanager
    def factory(ops: int) -> Iterator[tuple]:
        with echo(name, configure, pooled) as ref:
            def run() -> None:
                for i in range(ops):
                    ref.tell(i)
                assert ref.ask_blocking("end", WAIT) == "end"  # after every tell
            yield run, None

    return factory


def ask_factory(name: str, configure: Callable[[ActorSystem], None], pooled: bool) -> Any:
    """A `race` factory: `ops` asks in sequence."""

    @contextlib.contextmanager
    def factory(ops: int) -> Iterator[tuple]:
        with echo(name, configure, pooled) as ref:
            def run() -> None:
                for i in range(ops):
                    assert ref.ask_blocking(i, WAIT) == i
            yield run, None

    return factory
