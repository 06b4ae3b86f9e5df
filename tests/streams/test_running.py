"""Running graphs: many runs, one-shot sources, loops and threads, async stages."""

from __future__ import annotations

import asyncio
import threading

import pytest

from atomr.errors import BufferOverflowError, RateExceededError
from atomr.streams import Flow, Sink, Source, collect, pipeline, run_pipeline


def test_a_graph_runs_many_times_with_fresh_state():
    graph = Source.from_iter([1, 2, 3]).scan(0, lambda a, b: a + b).to(Sink.seq())
    assert [graph.run_blocking() for _ in range(3)] == [[0, 1, 3, 6]] * 3


def test_a_one_shot_iterator_source_refuses_a_second_run():
    graph = Source.from_iter(iter([1, 2])).to(Sink.seq())
    assert graph.run_blocking() == [1, 2]
    with pytest.raises(RuntimeError, match="one-shot"):
        graph.run_blocking()

    gen_graph = Source.from_iter(x for x in "ab").to(Sink.seq())
    assert gen_graph.run_blocking() == ["a", "b"]
    with pytest.raises(RuntimeError, match="one-shot"):
        gen_graph.run_blocking()


def test_from_iter_reads_lazily_as_demanded():
    pulled = []

    def gen():
        for i in range(1000):
            pulled.append(i)
            yield i

    assert Source.from_iter(gen()).take(3).to(Sink.seq()).run_blocking() == [0, 1, 2]
    assert pulled == [0, 1, 2]


async def test_run_on_a_loop_returns_an_awaitable_result():
    total = await (Source.from_iter([1, 2, 3, 4])
                   .via(Flow.map(lambda x: x * 2))
                   .via(Flow.filter(lambda x: x > 2))
                   .to(Sink.fold(0, lambda a, b: a + b))
                   .run())
    assert total == 18
    assert await Source.from_iter("ab").run_collect_async() == ["a", "b"]
    assert await run_pipeline([1, 2], Flow.map(str)) == ["1", "2"]


async def test_a_long_stream_gives_the_loop_back_between_slices():
    ticks = 0
    done = False

    async def ticker():
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    total = await Source.from_iter(range(100_000)).to(Sink.fold(0, lambda a, b: a + b)).run()
    seen = ticks
    done = True
    await task
    assert total == sum(range(100_000))
    assert seen >= 5  # the ticker ran while the stream did


async def test_callables_run_on_the_loop_thread_in_run():
    threads = set()
    await Source.from_iter(range(10)).map(lambda x: threads.add(threading.get_ident())).run_collect_async()
    assert threads == {threading.get_ident()}


async def test_cancelling_the_result_cancels_the_stream():
    closed = asyncio.Event()

    def gen():
        try:
            while True:
                yield 1
        finally:
            closed.set()

    fut = Source.from_iter(gen()).to(Sink.ignore()).run()
    await asyncio.sleep(0)
    fut.cancel()
    await asyncio.wait_for(closed.wait(), 10.0)


async def test_failure_of_a_run_on_a_loop_raises_from_the_awaitable():
    with pytest.raises(ZeroDivisionError):
        await Source.from_iter([1, 0]).map(lambda x: 1 / x).run_collect_async()


def test_run_blocking_from_another_thread_and_from_a_loop():
    results = []
    t = threading.Thread(target=lambda: results.append(collect(range(4), Flow.map(lambda x: -x))))
    t.start()
    t.join(10.0)
    assert results == [[0, -1, -2, -3]]

    async def inside():
        # Blocking inside a loop: a sync graph runs here, an async one on a helper thread.
        sync = pipeline([1, 2]).run_blocking()
        asyn = Source.from_iter([1, 2]).map_async(_double, 2).run_blocking_collect()
        return sync, asyn

    assert asyncio.run(inside()) == ([1, 2], [2, 4])


async def _double(x):
    await asyncio.sleep(0)
    return x * 2


def test_map_async_keeps_order_and_unordered_emits_as_finished():
    async def late_for_small(x):
        await asyncio.sleep(0.002 * (4 - x))
        return x

    src = Source.from_iter(range(5))
    assert src.map_async(late_for_small, parallelism=5).run_blocking_collect() == [0, 1, 2, 3, 4]
    unordered = src.map_async_unordered(late_for_small, parallelism=5).run_blocking_collect()
    assert sorted(unordered) == [0, 1, 2, 3, 4]
    assert unordered[0] == 4  # the quickest one first


def test_map_async_failures_fail_the_stream_or_are_supervised():
    async def bad(x):
        await asyncio.sleep(0)
        if x == 2:
            raise ValueError("two")
        return x

    with pytest.raises(ValueError, match="two"):
        Source.from_iter(range(4)).map_async(bad, 2).run_blocking_collect()
    resumed = (Source.from_iter(range(4)).map_async(bad, 2)
               .with_supervision([(ValueError, "resume")]).run_blocking_collect())
    assert resumed == [0, 1, 3]

    def not_awaitable(x):
        return x

    with pytest.raises(TypeError):
        Source.from_iter([1]).map_async(not_awaitable).run_blocking_collect()


def test_map_async_at_most_parallelism_calls_at_once():
    running = 0
    peak = 0

    async def work(x):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        return x

    assert Source.from_iter(range(40)).map_async(work, 3).run_blocking_collect() == list(range(40))
    assert peak == 3


def test_async_iterable_source():
    async def agen():
        for i in range(5):
            await asyncio.sleep(0)
            yield i

    src = Source.from_async_iter(agen())
    assert src.map(lambda x: x * x).run_blocking_collect() == [0, 1, 4, 9, 16]
    with pytest.raises(RuntimeError, match="one-shot"):
        src.run_blocking_collect()

    class Countdown:
        def __aiter__(self):
            return CountdownIter()

    class CountdownIter:
        def __init__(self):
            self.n = 3

        async def __anext__(self):
            if self.n == 0:
                raise StopAsyncIteration
            self.n -= 1
            return self.n

    reusable = Source.from_async_iter(Countdown())
    assert reusable.run_blocking_collect() == [2, 1, 0]
    assert reusable.run_blocking_collect() == [2, 1, 0]


@pytest.mark.parametrize("strategy, expected", [
    ("backpressure", [1, 2, 3, 4, 5, 6, 7, 8]),
    ("drop_head", [1, 7, 8]),
    ("drop_tail", [1, 2, 8]),
    ("drop_buffer", [1, 8]),
    ("drop_new", [1, 2, 3]),
])
async def test_buffer_overflow_strategies_while_downstream_waits(strategy, expected, wait_until):
    gate = asyncio.Event()
    pulled = []

    def gen():
        for i in range(1, 9):
            pulled.append(i)
            yield i

    async def slow(x):
        await gate.wait()
        return x

    fut = Source.from_iter(gen()).buffer(2, strategy).map_async(slow, 1).run_collect_async()
    limit = 3 if strategy == "backpressure" else 8
    await wait_until(lambda: len(pulled) >= limit)
    await asyncio.sleep(0)
    assert len(pulled) == limit  # backpressure: 1 in flight + 2 buffered, no more
    gate.set()
    assert await fut == expected


async def test_buffer_fail_strategy_fails_with_buffer_overflow_error():
    gate = asyncio.Event()

    async def slow(x):
        await gate.wait()
        return x

    with pytest.raises(BufferOverflowError):
        await Source.from_iter(range(10)).buffer(2, "fail").map_async(slow, 1).run_collect_async()


def test_throttle_spaces_elements_and_enforcing_mode_fails():
    import time

    start = time.monotonic()
    assert Source.from_iter(range(6)).throttle(100, 1.0).run_blocking_collect() == list(range(6))
    assert time.monotonic() - start >= 0.045  # five gaps of 10 ms at least
    assert Source.from_iter(range(3)).throttle(1, 60.0, maximum_burst=3).run_blocking_collect() \
        == [0, 1, 2]
    with pytest.raises(RateExceededError):
        Source.from_iter(range(3)).throttle(1, 60.0, mode="enforcing").run_blocking_collect()
