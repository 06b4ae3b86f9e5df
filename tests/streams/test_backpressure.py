"""Demand: how far a source is pulled ahead of a slow consumer, and
cancellation reaching the source."""

from __future__ import annotations

import asyncio

from atomr.streams import Flow, Sink, Source


class Counted:
    """An iterator that records every pull and whether it was closed (as a
    cancelled source closes its iterator)."""

    def __init__(self, n=None):
        self.n = n
        self.pulled = 0
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        if self.closed or (self.n is not None and self.pulled >= self.n):
            raise StopIteration
        self.pulled += 1
        return self.pulled - 1

    def close(self):
        self.closed = True


def test_a_fused_island_pulls_one_element_per_demand():
    src = Counted(1000)
    ahead = []

    def consume(x):
        ahead.append(src.pulled - (x + 1))

    (Source.from_iter(src).map(lambda x: x).filter(lambda x: True).scan(0, lambda a, b: b)
     .skip(1).to(Sink.foreach(consume)).run_blocking())
    assert len(ahead) == 1000
    assert max(ahead) == 0  # never more pulled than consumed, at any element


def test_grouped_pulls_at_most_one_group_ahead():
    src = Counted(100)
    ahead = []

    def consume(group):
        ahead.append(src.pulled - (group[-1] + 1))

    Source.from_iter(src).grouped(10).to(Sink.foreach(consume)).run_blocking()
    assert len(ahead) == 10
    assert max(ahead) == 0


async def test_a_slow_async_consumer_bounds_what_the_source_gives(wait_until):
    src = Counted()  # infinite
    gates = []

    async def slow(x):
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        return x

    fut = Source.from_iter(src).buffer(5).map_async(slow, 3).take(20).run_collect_async()
    for _ in range(20):
        await wait_until(lambda: any(not g.is_set() for g in gates))
        await asyncio.sleep(0)
        # in flight (3) + buffered (5) + the one being pulled: never more
        assert src.pulled - sum(g.is_set() for g in gates) <= 3 + 5 + 1
        next(g for g in gates if not g.is_set()).set()
    assert await fut == list(range(20))
    assert src.closed


def test_take_cancels_and_closes_an_infinite_source():
    src = Counted()
    assert Source.from_iter(src).map(lambda x: x * 2).take(5).to(Sink.seq()).run_blocking() \
        == [0, 2, 4, 6, 8]
    assert src.closed
    assert src.pulled == 5


def test_head_option_and_take_while_cancel_upstream():
    src = Counted()
    assert Source.from_iter(src).to(Sink.head_option()).run_blocking() == 0
    assert src.closed and src.pulled == 1
    src = Counted()
    assert Source.from_iter(src).take_while(lambda x: x < 3).to(Sink.seq()).run_blocking() \
        == [0, 1, 2]
    assert src.closed and src.pulled == 4


def test_zip_cancels_the_longer_side_when_the_shorter_ends():
    longer = Counted()
    pairs = Source.from_iter(range(3)).zip(Source.from_iter(longer)).to(Sink.seq()).run_blocking()
    assert pairs == [(0, 0), (1, 1), (2, 2)]
    assert longer.closed


def test_failure_downstream_cancels_every_source_of_a_fan_in():
    left, right = Counted(), Counted()

    def boom(x):
        raise ValueError("no")

    graph = Source.from_iter(left).merge(Source.from_iter(right)).via(Flow.map(boom))
    try:
        graph.to(Sink.ignore()).run_blocking()
    except ValueError:
        pass
    assert left.closed and right.closed
