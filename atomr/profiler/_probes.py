"""What the profiler measures the process with, and which dispatcher a
scenario runs on."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Optional

__all__ = ["best_dispatcher_for", "rss_bytes", "peak_rss_bytes", "cpu_time_ns", "host_tag"]

_QUOTA = {"max_actors": 64, "max_handler_ms": 1000}


def _supported(name: str) -> bool:
    """Whether this build has the interpreter machinery `name` asks about
    (``nogil_supported``, ``subinterpreters_supported``); this version of
    atomr has neither, so the answer is False unless a later one adds it."""
    probe = getattr(sys.modules["atomr"], name, None)  # the package this module is in
    return bool(probe()) if callable(probe) else False


def best_dispatcher_for(scenario: str) -> tuple[str, str, int, Optional[Any]]:
    """``(dispatcher, role, count, quota)`` for `scenario`.

    ``tell``, ``ask`` and ``fanout`` run pinned (``("python-pinned",
    "latency", 1, None)``); ``cpu`` runs on ``python-nogil`` (role
    ``nogil-cpu``, ``max(2, cpus)`` interpreters) where free threading is
    supported, else on ``python-subinterpreter-pool`` (role ``subi-cpu``,
    cpus clamped to 2..8) where subinterpreters are, both with a quota of
    64 actors and 1000 ms per handler; else ``("python-pinned",
    "fallback-cpu", 1, None)``.

    Raises:
        ValueError: an unknown scenario.
    """
    if scenario in ("tell", "ask", "fanout"):
        return ("python-pinned", "latency", 1, None)
    if scenario != "cpu":
        raise ValueError(f"unknown scenario {scenario!r}")
    cpus = os.cpu_count() or 1
    if _supported("nogil_supported"):
        return ("python-nogil", "nogil-cpu", max(2, cpus), dict(_QUOTA))
    if _supported("subinterpreters_supported"):
        return ("python-subinterpreter-pool", "subi-cpu", min(8, max(2, cpus)), dict(_QUOTA))
    return ("python-pinned", "fallback-cpu", 1, None)


def _status_kb(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> Optional[int]:
    """The process's resident set size (``VmRSS``), or None where unknown."""
    return _status_kb("VmRSS")


def peak_rss_bytes() -> Optional[int]:
    """The process's peak resident set size (``VmHWM``), or None where unknown."""
    return _status_kb("VmHWM")


def cpu_time_ns() -> int:
    """User plus system CPU time of the process and its children, in ns."""
    t = os.times()
    return int((t.user + t.system + t.children_user + t.children_system) * 1e9)


def host_tag() -> str:
    """``"<os>/<machine> cpus=<n> py=<version>"``."""
    return (f"{platform.system().lower()}/{platform.machine()} cpus={os.cpu_count() or 1} "
            f"py={platform.python_version()}")
