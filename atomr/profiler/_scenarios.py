"""The profiler's scenarios, run on one actor system."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Optional

from atomr._native import __version__
from atomr.actor import Actor, ActorSystem, props
from atomr.errors import AtomrError
from atomr._util.validate import check_int
from atomr.profiler._probes import best_dispatcher_for, cpu_time_ns, peak_rss_bytes, rss_bytes
from atomr.profiler._report import Measurement, ProfilerReport, percentile
from atomr.profiler._probes import host_tag

__all__ = ["SCENARIOS", "DEFAULT_MESSAGES", "run"]

#: The scenarios, in the order ``all`` runs them.
SCENARIOS = ("tell", "ask", "fanout", "cpu")

#: Messages per scenario when ``messages`` is not given.
DEFAULT_MESSAGES = {"tell": 20000, "ask": 2000, "fanout": 500, "cpu": 2000}

_ASK_TIMEOUT = 60.0
_MASK = (1 << 64) - 1
_CPU_ROUNDS = 4096


class _Counter(Actor):
    def __init__(self) -> None:
        self.count = 0

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "count":
            return self.count
        self.count += 1
        return None


class _Echo(Actor):
    def handle(self, ctx: Any, msg: Any) -> Any:
        return msg


def _mix(seed: int) -> int:
    """A fixed 64-bit integer mixing loop (splitmix64's finaliser, repeated)."""
    x = seed & _MASK
    for _ in range(_CPU_ROUNDS):
        x = (x + 0x9E3779B97F4A7C15) & _MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        x ^= x >> 31
    return x


class _Cpu(Actor):
    def __init__(self) -> None:
        self.count = 0
        self.acc = 0

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "count":
            return self.count
        self.acc ^= _mix(msg)
        self.count += 1
        return None


def _check(what: str, got: Any, expected: Any) -> None:
    if got != expected:
        raise AtomrError(f"profiler scenario {what}: expected {expected!r}, got {got!r}")


def _tell(system: ActorSystem, n: int, dispatcher: str, role: str) -> Optional[list[int]]:
    ref = system.actor_of(props(_Counter, dispatcher=dispatcher, interpreter_role=role),
                          "prof-tell")
    for _ in range(n):
        ref.tell("inc")
    _check("tell", ref.ask_blocking("count", _ASK_TIMEOUT), n)
    return None


def _ask(system: ActorSystem, n: int, dispatcher: str, role: str) -> Optional[list[int]]:
    ref = system.actor_of(props(_Echo, dispatcher=dispatcher, interpreter_role=role),
                          "prof-ask")
    latencies = []
    clock = time.perf_counter_ns
    for i in range(n):
        started = clock()
        reply = ref.ask_blocking(i, _ASK_TIMEOUT)
        latencies.append(clock() - started)
        if reply != i:
            _check("ask", reply, i)
    return latencies


def _fanout(system: ActorSystem, n: int, dispatcher: str, role: str) -> Optional[list[int]]:
    recipe = props(_Counter, dispatcher=dispatcher, interpreter_role=role)
    refs = [system.actor_of(recipe, f"prof-fan-{i}") for i in range(n)]
    for ref in refs:
        ref.tell("inc")
    for ref in refs:
        _check("fanout", ref.ask_blocking("count", _ASK_TIMEOUT), 1)
    return None


def _cpu(system: ActorSystem, n: int, dispatcher: str, role: str) -> Optional[list[int]]:
    ref = system.actor_of(props(_Cpu, dispatcher=dispatcher, interpreter_role=role), "prof-cpu")
    for i in range(n):
        ref.tell(i)
    _check("cpu", ref.ask_blocking("count", _ASK_TIMEOUT), n)
    return None


_RUNNERS: dict[str, Callable[[ActorSystem, int, str, str], Optional[list[int]]]] = {
    "tell": _tell, "ask": _ask, "fanout": _fanout, "cpu": _cpu}


def _measure(system: ActorSystem, scenario: str, n: int) -> Measurement:
    dispatcher, role, count, _quota = best_dispatcher_for(scenario)
    config = dispatcher if dispatcher == "python-pinned" else f"{dispatcher} pool={count}"
    rss_before = rss_bytes()
    cpu_before = cpu_time_ns()
    started = time.perf_counter_ns()
    latencies = _RUNNERS[scenario](system, n, dispatcher, role)
    elapsed = time.perf_counter_ns() - started
    cpu_after = cpu_time_ns()
    rss_after = rss_bytes()
    measurement = Measurement(
        runtime="python", scenario=scenario, config=config, messages=n, elapsed_ns=elapsed,
        rss_delta_bytes=None if rss_before is None or rss_after is None
        else rss_after - rss_before,
        peak_rss_bytes=peak_rss_bytes(), cpu_delta_ns=max(0, cpu_after - cpu_before))
    if latencies:
        ordered = sorted(latencies)
        measurement.p50_ns = percentile(ordered, 50)  # type: ignore[assignment]
        measurement.p95_ns = percentile(ordered, 95)  # type: ignore[assignment]
        measurement.p99_ns = percentile(ordered, 99)  # type: ignore[assignment]
    return measurement


def run(scenarios: Iterable[str] = SCENARIOS, messages: Optional[int] = None,
        system_name: str = "profiler") -> ProfilerReport:
    """Runs `scenarios` in order on one actor system (terminated at the end).

    Args:
        scenarios: Names from :data:`SCENARIOS`.
        messages: Messages per scenario (None: :data:`DEFAULT_MESSAGES`).
        system_name: The system's name.

    Raises:
        ValueError: an unknown scenario, or `messages` < 1.
        TypeError: `messages` is not an int.
        AtomrError: a scenario's check failed (a lost or extra message).
    """
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    chosen = list(scenarios)
    for name in chosen:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    if messages is not None:
        messages = check_int("messages", messages, 1)
    report = ProfilerReport(runtime="python", version=__version__, host=host_tag())
    system = ActorSystem.create_blocking(system_name)
    try:
        for name in chosen:
            n = messages if messages is not None else DEFAULT_MESSAGES[name]
            report.measurements.append(_measure(system, name, n))
    finally:
        system.terminate_blocking(60.0)
    return report
