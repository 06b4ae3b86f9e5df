"""The profiler: message throughput and latency of atomr on this machine.

``python -m atomr.profiler --scenario all --format md`` runs the scenarios
-- ``tell`` (one-way messages to one actor), ``ask`` (sequential
request/reply, with latency percentiles), ``fanout`` (one message to each
of many new actors) and ``cpu`` (a CPU-bound handler) -- on one actor
system and prints a Markdown table or JSON. Not imported by ``import
atomr``.

Example:
    >>> fmt_ns(2_500_000)
    '2.50ms'
    >>> percentile([1, 2, 3, 4], 50)
    3
"""

from __future__ import annotations

from atomr.profiler._cli import main
from atomr.profiler._probes import (
    best_dispatcher_for,
    cpu_time_ns,
    host_tag,
    peak_rss_bytes,
    rss_bytes,
)
from atomr.profiler._report import (
    Measurement,
    ProfilerReport,
    fmt_ns,
    fmt_opt_delta,
    fmt_rate,
    percentile,
)
from atomr.profiler._scenarios import DEFAULT_MESSAGES, SCENARIOS, run

__all__ = [
    "SCENARIOS",
    "DEFAULT_MESSAGES",
    "run",
    "main",
    "Measurement",
    "ProfilerReport",
    "percentile",
    "fmt_ns",
    "fmt_rate",
    "fmt_opt_delta",
    "best_dispatcher_for",
    "rss_bytes",
    "peak_rss_bytes",
    "cpu_time_ns",
    "host_tag",
]
