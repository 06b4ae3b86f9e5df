"""The profiler's results: measurements, the report, and their formatting."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional, Sequence

__all__ = ["Measurement", "ProfilerReport", "percentile", "fmt_ns", "fmt_rate", "fmt_opt_delta"]


def percentile(sorted_vals: Sequence[float], p: float) -> Optional[float]:
    """The element of `sorted_vals` at index ``round(p / 100 * (len - 1))``
    (Python's ``round``: halves to even), clamped to the list; None when
    it is empty."""
    if not sorted_vals:
        return None
    index = round(p / 100 * (len(sorted_vals) - 1))
    return sorted_vals[min(max(index, 0), len(sorted_vals) - 1)]


def fmt_ns(ns: float) -> str:
    """Nanoseconds for people: ``1.50s``, ``2.25ms``, ``3.00µs`` or ``850ns``."""
    if ns >= 1e9:
        return "%.2fs" % (ns / 1e9)
    if ns >= 1e6:
        return "%.2fms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f\u00b5s" % (ns / 1e3)
    return f"{int(ns)}ns"


def fmt_rate(per_sec: float) -> str:
    """A rate for people: ``1.20M/s``, ``3.40k/s`` or ``12.00/s``."""
    if per_sec >= 1e6:
        return "%.2fM/s" % (per_sec / 1e6)
    if per_sec >= 1e3:
        return "%.2fk/s" % (per_sec / 1e3)
    return "%.2f/s" % per_sec


def fmt_opt_delta(delta: Optional[int]) -> str:
    """A signed byte count for people (``+1.50MiB``, ``-512B``), ``n/a`` for None."""
    if delta is None:
        return "n/a"
    sign = "-" if delta < 0 else "+"
    size = abs(delta)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return "%s%.2f%s" % (sign, size / scale, unit)
    return f"{sign}{size}B"


@dataclasses.dataclass
class Measurement:
    """One scenario's result.

    Attributes:
        runtime: ``"python"``.
        scenario: The scenario's name.
        config: The dispatcher (``"<dispatcher> pool=<count>"`` for a pool).
        messages: Messages sent.
        elapsed_ns: Wall time of the scenario.
        throughput_msgs_per_sec: ``messages * 1e9 / elapsed_ns`` (0.0 for no time).
        p50_ns, p95_ns, p99_ns: Latency percentiles (the ``ask`` scenario).
        rss_delta_bytes: Change of the resident set size, where known.
        peak_rss_bytes: The peak resident set size after it, where known.
        cpu_delta_ns: CPU time used (never negative).
    """

    runtime: str
    scenario: str
    config: str
    messages: int
    elapsed_ns: int
    throughput_msgs_per_sec: float = 0.0
    p50_ns: Optional[int] = None
    p95_ns: Optional[int] = None
    p99_ns: Optional[int] = None
    rss_delta_bytes: Optional[int] = None
    peak_rss_bytes: Optional[int] = None
    cpu_delta_ns: Optional[int] = None

    def __post_init__(self) -> None:
        if not self.throughput_msgs_per_sec:
            self.throughput_msgs_per_sec = (self.messages * 1e9 / self.elapsed_ns
                                            if self.elapsed_ns > 0 else 0.0)
        if self.cpu_delta_ns is not None and self.cpu_delta_ns < 0:
            self.cpu_delta_ns = 0

    def to_dict(self) -> dict[str, Any]:
        """The fields, leaving out those that are None."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


_COLUMNS = ("scenario", "config", "msgs", "elapsed", "throughput", "p50", "p95", "p99",
            "\u0394RSS", "CPU")


def _opt_ns(value: Optional[int]) -> str:
    return "n/a" if value is None else fmt_ns(value)


@dataclasses.dataclass
class ProfilerReport:
    """The measurements of one profiler run.

    Attributes:
        runtime: ``"python"``.
        version: ``atomr.__version__``.
        host: :func:`~atomr.profiler.host_tag`.
        measurements: One per scenario, in run order.
    """

    runtime: str
    version: str
    host: str
    measurements: list[Measurement] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {"runtime": self.runtime, "version": self.version, "host": self.host,
                "measurements": [m.to_dict() for m in self.measurements]}

    def to_json(self) -> str:
        """The report as JSON (indented by 2)."""
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """The report as a Markdown title, host line and table."""
        lines = [f"# atomr profiler \u2014 {self.runtime} ({self.version})", "",
                 f"host: `{self.host}`", "",
                 "| " + " | ".join(_COLUMNS) + " |",
                 "|" + "---|" * len(_COLUMNS)]
        for m in self.measurements:
            cells = [m.scenario, m.config, str(m.messages), fmt_ns(m.elapsed_ns),
                     fmt_rate(m.throughput_msgs_per_sec), _opt_ns(m.p50_ns), _opt_ns(m.p95_ns),
                     _opt_ns(m.p99_ns), fmt_opt_delta(m.rss_delta_bytes), _opt_ns(m.cpu_delta_ns)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
