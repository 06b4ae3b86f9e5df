"""CRDT merge benchmarks: atomr's native merge raced against straightforward
pure-Python implementations of the same types (``ddata_baselines.py``).

Each operation is one full-state merge of replica B into replica A, both
built by the same random history (concurrent adds and removes, so the
merge has real work: shared dots, unseen dots and removals). The merge is
repeated on the same pair: after the first, A already holds B's state, but
both implementations still walk every entry of both states.

Run: ``tox -e bench`` or ``python3 -m pytest benchmarks/test_bench_ddata.py``.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest

from atomr.ddata import GCounter, ORMap, ORSet
from ddata_baselines import PyGCounter, PyORMap, PyORSet

#: Merges per round, per scenario and implementation (rounds of ~0.1-0.5 s).
SIZES = {
    "gcounter-merge": {"atomr": 100_000, "python": 20_000},
    "orset-merge": {"atomr": 200, "python": 20},
    "ormap-merge": {"atomr": 2_000, "python": 300},
}
ROUNDS = 7
GCOUNTER_NODES = 100
ORSET_ELEMENTS = 10_000
ORMAP_KEYS = 1_000


def _gcounters(impl: str) -> tuple[Any, Any]:
    rng = random.Random(1)
    a, b = (GCounter(), GCounter()) if impl == "atomr" else (PyGCounter(), PyGCounter())
    for i in range(GCOUNTER_NODES):
        a.increment(f"node-{i:03d}", rng.randint(1, 1000))
        b.increment(f"node-{i:03d}", rng.randint(1, 1000))
    return a, b


def _orsets(impl: str) -> tuple[Any, Any]:
    """Two replicas of 10K elements: B saw A's first half and removed some
    of it; both then added elements of their own."""
    rng = random.Random(2)
    if impl == "atomr":
        a, b = ORSet(node="A"), ORSet(node="B")
        add_a, add_b = a.add, b.add
    else:
        a, b = PyORSet(), PyORSet()
        add_a, add_b = (lambda e: a.add("A", e)), (lambda e: b.add("B", e))
    half = ORSET_ELEMENTS // 2
    for i in range(half):
        add_a(f"e{i}")
    b.merge(a)
    for i in rng.sample(range(half), half // 10):
        b.remove(f"e{i}")
    for i in range(half, ORSET_ELEMENTS):
        add_a(f"e{i}")
        add_b(f"f{i}")
    return a, b


def _ormaps(impl: str) -> tuple[Any, Any]:
    """Two replicas of 1K PN-counter keys, overlapping, with removals."""
    rng = random.Random(3)
    if impl == "atomr":
        a, b = ORMap.of_pn_counter(node="A"), ORMap.of_pn_counter(node="B")

        def update(m, node, key, by):
            m.update(key, lambda c: c.increment(node, by))
    else:
        a, b = PyORMap(), PyORMap()

        def update(m, node, key, by):
            m.update(node, key, by)
    half = ORMAP_KEYS // 2
    for i in range(half):
        update(a, "A", f"k{i}", rng.randint(1, 9))
    b.merge(a)
    for i in rng.sample(range(half), half // 10):
        b.remove(f"k{i}")
    for i in range(half, ORMAP_KEYS):
        update(a, "A", f"k{i}", rng.randint(1, 9))
        update(b, "B", f"k{i}", rng.randint(1, 9))
    return a, b


BUILDERS: dict[str, Callable[[str], tuple[Any, Any]]] = {
    "gcounter-merge": _gcounters,
    "orset-merge": _orsets,
    "ormap-merge": _ormaps,
}


def _check(scenario: str, impl: str, a: Any) -> None:
    """The merged state is the same on both implementations."""
    if scenario == "gcounter-merge":
        assert len(a.entries() if impl == "atomr" else a.counts) == GCOUNTER_NODES
    elif scenario == "orset-merge":
        n = len(a) if impl == "atomr" else len(a.elements)
        assert n == ORSET_ELEMENTS - (ORSET_ELEMENTS // 20) + ORSET_ELEMENTS // 2
    else:
        n = len(a) if impl == "atomr" else len(a.keys.elements)
        assert n == ORMAP_KEYS - ORMAP_KEYS // 20


@contextmanager
def merge_rounds(scenario: str, impl: str, ops: int) -> Iterator[tuple[Callable[[], None], None]]:
    a, b = BUILDERS[scenario](impl)
    merge = a.merge

    def run() -> None:
        for _ in range(ops):
            merge(b)
        _check(scenario, impl, a)

    yield run, None


@pytest.mark.parametrize("impl", ["atomr", "python"])
def test_gcounter_merge_100_nodes(race, impl):
    """Merging two 100-node GCounters (pointwise max): native vs a dict loop."""
    ops = SIZES["gcounter-merge"][impl]
    race("gcounter-merge", impl, ops, ROUNDS, lambda n: merge_rounds("gcounter-merge", impl, n))


@pytest.mark.parametrize("impl", ["atomr", "python"])
def test_orset_merge_10k_elements(race, impl):
    """Merging two 10K-element add-wins ORSets (dots and version vectors):
    native dot-kernel join vs dict-of-sets."""
    ops = SIZES["orset-merge"][impl]
    race("orset-merge", impl, ops, ROUNDS, lambda n: merge_rounds("orset-merge", impl, n))


@pytest.mark.parametrize("impl", ["atomr", "python"])
def test_ormap_merge_1k_pncounter_keys(race, impl):
    """Merging two ORMaps of 1K PN-counter keys: keys by observed-remove,
    values by their own merge."""
    ops = SIZES["ormap-merge"][impl]
    race("ormap-merge", impl, ops, ROUNDS, lambda n: merge_rounds("ormap-merge", impl, n))
