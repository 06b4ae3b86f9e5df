"""Stream benchmarks: a fused atomr stream raced against the same pipeline
written as a plain Python for-loop, with reactivex and with aiostream.

Scenario ``stream-map-filter-fold``: ``from_iter(range(N)) -> map(f) ->
filter(p) -> fold(0, g)`` with trivial callables (``x + 1``, ``x & 1 == 0``,
``a + b``); one operation is one source element. Implementations:

* ``atomr``: ``Source.from_iter(range(N)).map(f).filter(p).to(Sink.fold(0, g))
  .run_blocking()`` -- the C++ island calls the three callables per element.
* ``python-loop``: ``for x in range(N): y = f(x); if p(y): acc = g(acc, y)``,
  the floor any Python-callable pipeline pays (target: atomr >= 0.5x).
* ``reactivex``: ``rx.from_iterable(range(N)).pipe(ops.map(f), ops.filter(p),
  ops.reduce(g, 0))`` subscribed synchronously (target: atomr >= 10x).
* ``aiostream``: ``stream.iterate(range(N)) | pipe.map(f) | pipe.filter(p)
  | pipe.reduce(g, 0)`` awaited on an asyncio loop (target: atomr >= 10x).

Each checks its result against the loop's. Run: ``tox -e bench`` or
``python3 -m pytest benchmarks/test_bench_streams.py``.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import pytest

from atomr.streams import Sink, Source

SCENARIO = "stream-map-filter-fold"
SIZES = {"atomr": 1_000_000, "python-loop": 1_000_000, "reactivex": 200_000, "aiostream": 50_000}
ROUNDS = 7


def f(x):
    return x + 1


def p(x):
    return x & 1 == 0


def g(a, b):
    return a + b


def expected(n: int) -> int:
    acc = 0
    for x in range(n):
        y = f(x)
        if p(y):
            acc = g(acc, y)
    return acc


@contextmanager
def _atomr(n: int):
    graph = Source.from_iter(range(n)).map(f).filter(p).to(Sink.fold(0, g))
    want = expected(n)

    def one_round():
        assert graph.run_blocking() == want

    yield one_round, None


@contextmanager
def _python_loop(n: int):
    want = expected(n)

    def one_round():
        acc = 0
        for x in range(n):
            y = f(x)
            if p(y):
                acc = g(acc, y)
        assert acc == want

    yield one_round, None


@contextmanager
def _reactivex(n: int):
    rx = pytest.importorskip("reactivex")
    from reactivex import operators as ops

    want = expected(n)

    def one_round():
        out = []
        rx.from_iterable(range(n)).pipe(ops.map(f), ops.filter(p), ops.reduce(g, 0)).subscribe(
            on_next=out.append)
        assert out == [want]

    yield one_round, None


@contextmanager
def _aiostream(n: int):
    pytest.importorskip("aiostream")
    from aiostream import pipe, stream

    want = expected(n)
    loop = asyncio.new_event_loop()

    async def pipeline():
        return await (stream.iterate(range(n)) | pipe.map(f) | pipe.filter(p) | pipe.reduce(g, 0))

    def one_round():
        assert loop.run_until_complete(pipeline()) == want

    try:
        yield one_round, None
    finally:
        loop.close()


@pytest.mark.parametrize("impl, factory", [
    ("atomr", _atomr),
    ("python-loop", _python_loop),
    ("reactivex", _reactivex),
    ("aiostream", _aiostream),
])
def test_stream_map_filter_fold(race, impl, factory):
    """from_iter -> map -> filter -> fold, elements per second, on each implementation."""
    race(SCENARIO, impl, SIZES[impl], ROUNDS, factory)
