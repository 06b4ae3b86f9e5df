"""Reads this machine's CPU load and memory from /proc."""

from __future__ import annotations

import time
from typing import Optional

from atomr.cluster_metrics._types import Ewma, NodeMetrics

__all__ = ["ProcCollector", "read_cpu_times", "read_memory"]


def read_cpu_times(path: str = "/proc/stat") -> Optional[tuple[int, int]]:
    """(busy, total) jiffies of all CPUs since boot, or None when unreadable."""
    try:
        with open(path, encoding="ascii") as f:
            first = f.readline().split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    values = [int(v) for v in first[1:]]
    # user nice system idle iowait irq softirq steal (guest time is in user).
    total = sum(values[:8])
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return total - idle, total


def read_memory(path: str = "/proc/meminfo") -> Optional[tuple[int, int]]:
    """(used, total) bytes of memory, used = MemTotal − MemAvailable; None
    when unreadable."""
    fields: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts:
                    fields[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    except (OSError, ValueError):
        return None
    total = fields.get("MemTotal")
    available = fields.get("MemAvailable", fields.get("MemFree"))
    if total is None or available is None:
        return None
    return max(0, total - available), total


class ProcCollector:
    """Samples the node's metrics from /proc, smoothing the CPU load and
    the memory in use with :class:`Ewma` averages of half-life
    `half_life_samples` samples.

    The CPU load of a sample is the busy share of all CPUs' time since the
    previous sample (0.0 for the first one).
    """

    def __init__(self, address: str, half_life_samples: float = 3.0,
                 stat_path: str = "/proc/stat", meminfo_path: str = "/proc/meminfo") -> None:
        self._address = address
        self._stat_path = stat_path
        self._meminfo_path = meminfo_path
        self._half_life = half_life_samples
        self._cpu: Optional[Ewma] = None
        self._mem: Optional[Ewma] = None
        self._last_cpu = read_cpu_times(stat_path)

    def sample(self) -> NodeMetrics:
        """A new smoothed sample of this node."""
        load = 0.0
        now_cpu = read_cpu_times(self._stat_path)
        if now_cpu is not None and self._last_cpu is not None:
            busy = now_cpu[0] - self._last_cpu[0]
            total = now_cpu[1] - self._last_cpu[1]
            if total > 0:
                load = min(1.0, max(0.0, busy / total))
        if now_cpu is not None:
            self._last_cpu = now_cpu
        if self._cpu is None:
            self._cpu = Ewma.from_half_life(load, self._half_life)
        else:
            self._cpu.update(load)
        used, total_mem = read_memory(self._meminfo_path) or (0, 0)
        if self._mem is None:
            self._mem = Ewma.from_half_life(float(used), self._half_life)
        else:
            self._mem.update(float(used))
        return NodeMetrics(self._address, int(time.time() * 1000), self._cpu.value,
                           int(self._mem.value), total_mem)
