"""Collects the benchmark rounds and renders the end-of-session table:
operations per second per scenario and implementation, the ratio of atomr
to each baseline, and the targets the issue set.

Throughput is ``operations per round / mean round time`` (and, in the
"best" column, ``/ fastest round``), so implementations measured with
different round sizes compare per operation.

A scenario may also note other figures of a run (costs, latencies: see
:func:`note`); they follow the throughput table, with atomr's value over
each baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["Result", "Figure", "SCENARIOS", "IMPLEMENTATIONS", "ACTOR_IMPLEMENTATIONS", "record", "results", "note",
           "figures", "render"]

#: Implementations in display order; the first is the one the ratios are of.
IMPLEMENTATIONS = ("atomr", "atomr-spin", "asyncio", "pykka", "python", "lock-floor")

#: The implementations the actor scenarios race (the "python" baselines are
#: pure-Python CRDTs, raced only by the ddata merges).
ACTOR_IMPLEMENTATIONS = ("atomr", "asyncio", "pykka")


@dataclass(frozen=True)
class Target:
    """A goal: a minimum atomr rate, or a minimum atomr/baseline ratio."""

    min_rate: Optional[float] = None
    baseline: Optional[str] = None
    min_ratio: Optional[float] = None


@dataclass(frozen=True)
class Scenario:
    unit: str
    targets: tuple = ()


#: Scenario name -> unit and targets (the benchmark group names).
SCENARIOS = {
    "tell": Scenario("msg/s", (Target(min_rate=5e6), Target(baseline="asyncio", min_ratio=3.0))),
    "ping-pong": Scenario("msg/s", (Target(baseline="asyncio", min_ratio=15.0),)),
    "ask-in-loop": Scenario("asks/s", (Target(min_rate=3e5),)),
    # "lock-floor": two plain threads ping-ponging through locks, the cost of
    # a cross-thread sleep and wake on this machine (no actor involved).
    "ask-blocking": Scenario("asks/s", (Target(baseline="pykka", min_ratio=3.0),)),
    "spawn": Scenario("actors/s", (Target(min_rate=2e5),)),
    # actor core (test_bench_actor_core.py) and routing (test_bench_routing.py):
    # the ratios are reported.
    "restart-storm": Scenario("restarts/s", (Target(baseline="asyncio", min_ratio=1.0),)),
    "timers": Scenario("ticks/s"),
    "stash-replay": Scenario("msg/s"),
    "router-round-robin": Scenario("msg/s"),
    "router-consistent-hash": Scenario("msg/s"),
    "persist-1": Scenario("events/s"),
    "persist-100": Scenario("events/s", (Target(baseline="jsonl-fsync", min_ratio=1.0),)),
    "recover": Scenario("events/s", (Target(baseline="jsonl-fsync", min_ratio=1.0),)),
    # PostgreSQL journal (test_bench_persistence_postgres.py), raced against
    # the LMDB journal and a plain asyncpg insert loop; the ratios are reported.
    "pg-persist-1": Scenario("events/s"),
    "pg-persist-100": Scenario("events/s"),
    "pg-recover": Scenario("events/s"),
    # Persistence queries: current events_by_tag over the tag indexes of
    # PostgreSQL and LMDB, the old LMDB scan, plain asyncpg pages.
    "events-by-tag": Scenario("events/s"),
    # Codecs (test_bench_codecs.py): no targets, the ratios are reported.
    "codec-json-encode": Scenario("msg/s"),
    "codec-json-decode": Scenario("msg/s"),
    "codec-msgpack-encode": Scenario("msg/s"),
    "codec-msgpack-decode": Scenario("msg/s"),
    "codec-dataclass-encode": Scenario("msg/s"),
    "codec-dataclass-decode": Scenario("msg/s"),
    # CRDT merges, raced against pure-Python implementations of the same type.
    "gcounter-merge": Scenario("merges/s", (Target(baseline="python", min_ratio=1.0),)),
    "orset-merge": Scenario("merges/s", (Target(baseline="python", min_ratio=1.0),)),
    "ormap-merge": Scenario("merges/s", (Target(baseline="python", min_ratio=1.0),)),
    # Distributed data between three processes (test_bench_ddata_cluster.py):
    # majority updates raced against local ones; an ORMap's 10K key changes
    # converging through deltas raced against full states.
    "ddata-majority-update": Scenario("updates/s"),
    "ddata-ormap-converge": Scenario("keys/s"),
    # Remoting (test_bench_remote.py): two processes on loopback, raced
    # against a pure-asyncio TCP actor; the ratios are reported.
    "remote-tell": Scenario("msg/s", (Target(min_rate=5e5),)),
    "remote-ask-seq": Scenario("asks/s", (Target(min_rate=2e4),)),
    "remote-ask-100": Scenario("asks/s", (Target(min_rate=1.5e5),)),
    # Cluster sharding (test_bench_sharding.py): three processes over TCP,
    # tells through the regions raced against direct remote tells.
    "sharding-tell-10k": Scenario("msg/s"),
    "sharding-rebalance": Scenario("rebalances/s"),
    "sharding-graceful-leave": Scenario("hand-offs/s"),
    # Serial links (test_bench_remote_serial.py): one process, a socket pair,
    # raced against asyncio streams with length-prefixed frames.
    "serial-tell": Scenario("msg/s"),
    # Streams (test_bench_streams.py): from_iter -> map -> filter -> fold with
    # trivial callables, raced against a plain for-loop calling the same
    # callables, reactivex and aiostream.
    "stream-map-filter-fold": Scenario("elements/s", (
        Target(baseline="python-loop", min_ratio=0.5),
        Target(baseline="reactivex", min_ratio=10.0),
        Target(baseline="aiostream", min_ratio=10.0))),
    # map_async(parallelism=8) over a trivial coroutine against asyncio.gather
    # in batches of 8, and a length-framed TCP echo (bytes echoed) against
    # the same protocol on asyncio streams: the ratios are reported.
    "stream-map-async": Scenario("elements/s"),
    # A broadcast to two folding sinks (fused in one island), against the
    # same graph split by channels, a plain loop and reactivex.
    "stream-broadcast": Scenario("elements/s"),
    "stream-tcp-echo": Scenario("bytes/s"),
    # FileIO.from_path into a fold against a plain Python read loop.
    "stream-file-read": Scenario("bytes/s"),
    # Interpreter pools (test_bench_pools.py): CPU-bound handlers on 4 actors
    # in a 2-worker process pool against python-pinned (one loop, one GIL);
    # "threads" is 4 threads sharing the GIL, the reference design.
    "pool-cpu": Scenario("handlers/s", (Target(baseline="python-pinned", min_ratio=1.7),)),
    "pool-tell": Scenario("msg/s"),
    "pool-ask": Scenario("asks/s"),
    # The same 4 CPU-bound actors in a pool of 2 own-GIL subinterpreters
    # (test_bench_subpools.py, Python 3.12+), and the cost of crossing into one.
    "subpool-cpu": Scenario("handlers/s", (Target(baseline="python-pinned", min_ratio=1.8),)),
    "subpool-tell": Scenario("msg/s"),
    "subpool-ask": Scenario("asks/s"),
}


@dataclass(frozen=True)
class Result:
    """The rounds of one scenario on one implementation."""

    scenario: str
    impl: str
    ops: int          # operations (messages, asks, actors) per round
    rounds: int
    mean: float       # seconds per round
    min: float
    stddev: float

    @property
    def rate(self) -> float:
        return self.ops / self.mean

    @property
    def best_rate(self) -> float:
        return self.ops / self.min


@dataclass(frozen=True)
class Figure:
    """Another figure of one scenario on one implementation (a cost or a
    latency, say), besides its throughput."""

    scenario: str
    impl: str
    name: str
    value: float
    unit: str
    lower_is_better: bool = True


_results: "dict[tuple[str, str], Result]" = {}
_figures: "dict[tuple[str, str, str], Figure]" = {}


def record(scenario: str, impl: str, ops: int, stats) -> Result:
    """Stores the pytest-benchmark `stats` (mean/min/stddev/rounds, seconds)
    of one benchmark that ran `ops` operations per round."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    result = Result(scenario, impl, ops, int(stats.rounds), float(stats.mean),
                    float(stats.min), float(stats.stddev))
    _results[(scenario, impl)] = result
    return result


def results() -> "dict[tuple[str, str], Result]":
    return dict(_results)


def note(scenario: str, impl: str, name: str, value: float, unit: str,
         lower_is_better: bool = True) -> Figure:
    """Stores figure `name` (`value` in `unit`) of a scenario run on `impl`."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    figure = Figure(scenario, impl, name, float(value), unit, lower_is_better)
    _figures[(scenario, impl, name)] = figure
    return figure


def figures() -> "dict[tuple[str, str, str], Figure]":
    return dict(_figures)


def _num(value: float) -> str:
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2e}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _render_figures(figs: "dict[tuple[str, str, str], Figure]") -> "list[str]":
    rows = [["scenario", "implementation", "figure", "value", "atomr / this", "atomr is"]]
    names: "dict[str, list[str]]" = {}
    for (scenario, _, name) in figs:
        names.setdefault(scenario, [])
        if name not in names[scenario]:
            names[scenario].append(name)
    for scenario in SCENARIOS:
        for name in names.get(scenario, ()):
            impls = sorted((impl for (s, impl, n) in figs if s == scenario and n == name),
                           key=_order)
            ours = figs.get((scenario, "atomr", name))
            for impl in impls:
                f = figs[(scenario, impl, name)]
                if impl == "atomr":
                    ratio, verdict = "-", ""
                elif ours is None or f.value == 0:
                    ratio, verdict = "n/a", ""
                else:
                    r = ours.value / f.value
                    ratio = f"{r:.2f}x"
                    better = r < 1 if f.lower_is_better else r > 1
                    verdict = "better" if better else ("same" if r == 1 else "worse")
                rows.append([scenario, impl, name, f"{_num(f.value)} {f.unit}", ratio, verdict])
    lines = _table(rows, right={3, 4})
    lines.append("atomr / this = atomr's value / this value; costs and latencies: lower is better")
    return lines


def _si(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            return f"{value / factor:.2f}{suffix}"
    return f"{value:.0f}"


def _table(rows: "list[list[str]]", right: "set[int]") -> "list[str]":
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _order(impl: str) -> "tuple[int, str]":
    return (IMPLEMENTATIONS.index(impl), impl) if impl in IMPLEMENTATIONS else (99, impl)


def render(res: "Optional[dict[tuple[str, str], Result]]" = None) -> "list[str]":
    """The summary lines: one row per scenario and implementation, then the
    targets. Empty when nothing was recorded."""
    res = _results if res is None else res
    if not res:
        return []
    figs = {key: f for key, f in _figures.items() if (f.scenario, f.impl) in res}
    header = ["scenario", "implementation", "ops/round", "rounds", "mean round",
              "rate (mean)", "rate (best)", "atomr / this"]
    rows = [header]
    for scenario, spec in SCENARIOS.items():
        impls = sorted((impl for (s, impl) in res if s == scenario), key=_order)
        ours = res.get((scenario, "atomr"))
        for impl in impls:
            r = res[(scenario, impl)]
            if impl == "atomr":
                ratio = "-"
            elif ours is not None:
                ratio = f"{ours.rate / r.rate:.1f}x"
            else:
                ratio = "n/a"
            rows.append([scenario, impl, f"{r.ops:,}", str(r.rounds),
                         f"{r.mean * 1e3:.1f} ms +- {r.stddev * 1e3:.1f}",
                         f"{_si(r.rate)} {spec.unit}", f"{_si(r.best_rate)} {spec.unit}", ratio])
    lines = _table(rows, right={2, 3, 4, 5, 6, 7})
    lines.append("rate = ops per round / round time; atomr / this = atomr's rate (mean) / this rate (mean)")
    if figs:
        lines.append("")
        lines.append("other figures (over the timed rounds; how each is taken: the benchmark's "
                     "docstring):")
        lines.extend(_render_figures(figs))
    lines.append("")
    lines.append("targets (atomr, rate from the mean round):")
    for scenario, spec in SCENARIOS.items():
        ours = res.get((scenario, "atomr"))
        for target in spec.targets:
            if target.min_rate is not None:
                goal = f">= {_si(target.min_rate)} {spec.unit}"
                if ours is None:
                    lines.append(f"  {scenario}: {goal}: not measured")
                    continue
                got = f"{_si(ours.rate)} {spec.unit}"
                met = ours.rate >= target.min_rate
            else:
                goal = f">= {target.min_ratio:g}x {target.baseline}"
                base = res.get((scenario, target.baseline))
                if ours is None or base is None:
                    lines.append(f"  {scenario}: {goal}: not measured")
                    continue
                ratio = ours.rate / base.rate
                got = f"{ratio:.1f}x {target.baseline}"
                met = ratio >= target.min_ratio
            lines.append(f"  {scenario}: {got} (target {goal}): {'met' if met else 'MISSED'}")
    return lines
