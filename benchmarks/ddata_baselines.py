"""Straightforward pure-Python CRDTs, the baselines the ddata benchmarks
race atomr's native merge against.

Each is what a Python programmer would write for the type: dicts and sets,
the textbook merge. They keep the same state as atomr's types (per-node
counts; per-element dots and a version vector), without deltas or a wire
format.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PyGCounter", "PyPNCounter", "PyORSet", "PyORMap"]

Dot = tuple[str, int]


class PyGCounter:
    """node -> count; merge is the pointwise maximum."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def increment(self, node: str, delta: int = 1) -> None:
        self.counts[node] = self.counts.get(node, 0) + delta

    def value(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: "PyGCounter") -> None:
        counts = self.counts
        for node, n in other.counts.items():
            if n > counts.get(node, 0):
                counts[node] = n


class PyPNCounter:
    """Two grow-only counters."""

    __slots__ = ("p", "n")

    def __init__(self) -> None:
        self.p = PyGCounter()
        self.n = PyGCounter()

    def increment(self, node: str, delta: int = 1) -> None:
        self.p.increment(node, delta)

    def value(self) -> int:
        return self.p.value() - self.n.value()

    def merge(self, other: "PyPNCounter") -> None:
        self.p.merge(other.p)
        self.n.merge(other.n)

    def copy(self) -> "PyPNCounter":
        c = PyPNCounter()
        c.p.counts = dict(self.p.counts)
        c.n.counts = dict(self.n.counts)
        return c


def _seen(vv: dict[str, int], dot: Dot) -> bool:
    return dot[1] <= vv.get(dot[0], 0)


class PyORSet:
    """Add-wins observed-remove set: element -> set of dots, plus a version
    vector of every dot seen."""

    __slots__ = ("elements", "vv")

    def __init__(self) -> None:
        self.elements: dict[Any, set[Dot]] = {}
        self.vv: dict[str, int] = {}

    def add(self, node: str, element: Any) -> None:
        counter = self.vv.get(node, 0) + 1
        self.vv[node] = counter
        self.elements[element] = {(node, counter)}

    def remove(self, element: Any) -> None:
        self.elements.pop(element, None)

    def merge(self, other: "PyORSet") -> None:
        mine_vv, their_vv = self.vv, other.vv
        merged: dict[Any, set[Dot]] = {}
        theirs_all = other.elements
        for element, mine in self.elements.items():
            theirs = theirs_all.get(element)
            if theirs is None:
                keep = {d for d in mine if not _seen(their_vv, d)}
            else:
                keep = (mine & theirs) | {d for d in mine - theirs if not _seen(their_vv, d)} \
                    | {d for d in theirs - mine if not _seen(mine_vv, d)}
            if keep:
                merged[element] = keep
        for element, theirs in theirs_all.items():
            if element not in self.elements:
                keep = {d for d in theirs if not _seen(mine_vv, d)}
                if keep:
                    merged[element] = keep
        vv = dict(mine_vv)
        for node, n in their_vv.items():
            if n > vv.get(node, 0):
                vv[node] = n
        self.elements = merged
        self.vv = vv


class PyORMap:
    """Observed-remove map of PN-counters: the keys are a PyORSet, each
    surviving key's counters are merged."""

    __slots__ = ("keys", "values")

    def __init__(self) -> None:
        self.keys = PyORSet()
        self.values: dict[Any, PyPNCounter] = {}

    def update(self, node: str, key: Any, delta: int) -> None:
        value = self.values.get(key)
        value = PyPNCounter() if value is None else value.copy()
        value.increment(node, delta)
        self.keys.add(node, key)
        self.values[key] = value

    def remove(self, key: Any) -> None:
        self.keys.remove(key)
        self.values.pop(key, None)

    def merge(self, other: "PyORMap") -> None:
        self.keys.merge(other.keys)
        values: dict[Any, PyPNCounter] = {}
        for key in self.keys.elements:
            mine = self.values.get(key)
            theirs = other.values.get(key)
            if mine is None:
                values[key] = theirs.copy() if theirs is not None else PyPNCounter()
            else:
                if theirs is not None:
                    mine.merge(theirs)
                values[key] = mine
        self.values = values
