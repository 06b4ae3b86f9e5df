"""``python -m atomr.profiler``: the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from atomr.profiler._scenarios import SCENARIOS, run

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the profiler as ``python -m atomr.profiler [ARGS]`` does; returns 0.

    ``--scenario {tell,ask,fanout,cpu,all}`` (default ``all``),
    ``-n/--messages N`` (every scenario's count), ``--format {md,json}``
    (default ``md``), ``-o/--output FILE`` (default: stdout).
    """
    parser = argparse.ArgumentParser(
        prog="python -m atomr.profiler",
        description="Measures atomr's message throughput and latency on this machine.")
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all",
                        help="what to run (default: all)")
    parser.add_argument("-n", "--messages", type=int, default=None, metavar="N",
                        help="messages per scenario (default: each scenario's own)")
    parser.add_argument("--format", choices=("md", "json"), default="md",
                        help="report format (default: md)")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="write the report to FILE (default: stdout)")
    args = parser.parse_args(argv)
    if args.messages is not None and args.messages < 1:
        parser.error("--messages must be at least 1")
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    report = run(scenarios, args.messages)
    text = (report.to_json() if args.format == "json" else report.to_markdown()) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0
