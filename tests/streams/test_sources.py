"""Queues, tick, hubs, Restart* and actor interop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from atomr import Actor, props
from atomr.streams import (
    BroadcastHub,
    Flow,
    Keep,
    MergeHub,
    QueueOfferResult,
    RestartFlow,
    RestartSettings,
    RestartSink,
    RestartSource,
    Sink,
    Source,
)

from .test_backpressure import Counted


async def test_source_queue_takes_offers_from_any_thread():
    src, queue = Source.from_queue()
    out = src.run_collect_async()

    def offer():
        for i in range(100):
            assert queue.offer(i) == "Enqueued"
        queue.complete()

    t = threading.Thread(target=offer)
    t.start()
    assert await asyncio.wait_for(out, 10) == list(range(100))
    t.join()
    assert queue.offer(1) == QueueOfferResult.QUEUE_CLOSED
    assert queue.is_closed()
    with pytest.raises(RuntimeError):
        src.run_collect_async()  # a queue's source runs once


async def test_source_queue_drops_when_full_and_fails_on_request():
    queue_src = Source.queue(2)
    queue, out = queue_src.to_mat(Sink.seq(), Keep.both).run()
    results = [queue.offer(i) for i in range(4)]
    assert results[:2] == ["Enqueued", "Enqueued"]
    assert results[2:] == ["Dropped", "Dropped"]
    queue.fail(KeyError("stop"))
    with pytest.raises(KeyError):
        await out
    with pytest.raises(ValueError):
        Source.queue(2, "sideways")


async def test_sink_queue_pulls_and_back_pressures():
    src = Counted(100)
    queue = Sink.queue(Source.from_iter(src), buffer_size=4)
    first = await queue.pull()
    await asyncio.sleep(0.05)
    assert src.pulled <= 4 + 1 + 16 + 1  # its buffer, one in hand, one island's batch
    rest = []
    while (x := await queue.pull()) is not None:
        rest.append(x)
    assert [first, *rest] == list(range(100))
    assert await queue.pull() is None


def test_sink_queue_without_a_loop_and_with_a_failure():
    queue = Sink.queue(Source.from_iter([1, 2]))
    assert [queue.pull_blocking(5), queue.pull_blocking(5), queue.pull_blocking(5)] == [1, 2, None]
    failing = Sink.queue(Source.failed(ValueError("x")))
    with pytest.raises(ValueError):
        failing.pull_blocking(5)


async def test_sink_queue_cancel_stops_the_stream():
    src = Counted()
    queue = Source.from_iter(src).to(Sink.queue()).run()
    assert await queue.pull() == 0
    queue.cancel()
    for _ in range(200):
        if src.closed:
            break
        await asyncio.sleep(0.01)
    assert src.closed


async def test_tick_emits_until_cancelled():
    handle, out = Source.tick(0.0, 0.01, "t").to_mat(Sink.seq(), Keep.both).run()
    await asyncio.sleep(0.1)
    handle.cancel()
    ticks = await asyncio.wait_for(out, 5)
    assert 1 <= len(ticks) <= 20 and set(ticks) == {"t"}
    assert handle.is_cancelled()
    assert Source.tick(0, 0.01, 1).take(3).run_blocking_collect() == [1, 1, 1]


async def test_broadcast_hub_waits_for_its_first_consumer_and_feeds_all():
    src = Counted(50)
    hub = BroadcastHub.attach(Source.from_iter(src), buffer_size=4)
    await asyncio.sleep(0.05)
    assert src.pulled <= 2  # back-pressured: nobody consumes yet
    a = hub.consumer().run_collect_async()
    b = hub.consumer().run_collect_async()
    assert await a == list(range(50)) and await b == list(range(50))
    assert hub.consumer_count() == 2
    assert await hub.consumer().run_collect_async() == []  # after the end


async def test_merge_hub_merges_attached_sources_until_closed():
    hub = MergeHub()
    out = hub.source().run_collect_async()
    hub.attach(Source.from_iter(range(20)))
    hub.attach(Source.from_iter(range(100, 120)))
    await asyncio.sleep(0.01)
    assert not out.done()
    hub.close()
    assert sorted(await asyncio.wait_for(out, 10)) == list(range(20)) + list(range(100, 120))


async def test_merge_hub_fails_with_an_attached_source():
    hub = MergeHub()
    out = hub.source().run_collect_async()
    hub.attach(Source.failed(KeyError("k")))
    with pytest.raises(KeyError):
        await asyncio.wait_for(out, 10)


async def test_restart_source_counts_restarts_as_akka():
    calls = []

    def factory():
        calls.append(1)
        return Source.from_iter([len(calls)]).concat(Source.failed(ValueError("x")))

    with pytest.raises(ValueError):
        await RestartSource(min_backoff=0.001, max_backoff=0.01,
                            max_restarts=3).via_source(factory).run_collect_async()
    assert len(calls) == 4  # the first run and three restarts

    calls.clear()
    settings = RestartSettings(0.001, 0.01, max_restarts=2)
    out = await (RestartSource.with_backoff(settings, lambda: Source.single(len(calls)))
                 .run_collect_async())
    assert out == [0, 0, 0]  # completion restarts too
    done = await (RestartSource.on_failures_with_backoff(settings, lambda: Source.single(7))
                  .run_collect_async())
    assert done == [7]  # completion ends it


async def test_restart_count_resets_after_a_long_enough_run():
    calls = []

    async def slow_first(x):
        await asyncio.sleep(0.05)
        return x

    def factory():
        calls.append(1)
        if len(calls) in (2, 3):  # long runs reset the count
            return Source.single(0).map_async(slow_first).concat(Source.failed(KeyError()))
        if len(calls) >= 4:
            return Source.empty()
        return Source.failed(KeyError())

    settings = RestartSettings(0.001, 0.002, max_restarts=1, max_restarts_within=0.02)
    out = await RestartSource.on_failures_with_backoff(settings, factory).run_collect_async()
    assert out == [0, 0]
    assert len(calls) == 4
    assert settings.max_restarts == 1 and settings.min_backoff == 0.001

    calls.clear()
    no_reset = RestartSettings(0.001, 0.002, max_restarts=1, max_restarts_within=10.0)
    with pytest.raises(KeyError):
        await RestartSource.on_failures_with_backoff(no_reset, factory).run_collect_async()
    assert len(calls) == 2


async def test_restart_flow_reads_on_after_a_failure():
    made = []

    def factory():
        made.append(1)
        return Flow.map(lambda x: 12 // (x % 4))

    settings = RestartSettings(0.001, 0.01, max_restarts=5)
    out = await (Source.from_iter(range(1, 12))
                 .via(RestartFlow.on_failures_with_backoff(settings, factory))
                 .run_collect_async())
    assert out == [12, 6, 4, 12, 6, 4, 12, 6, 4]
    assert len(made) == 3


async def test_restart_sink_restarts_and_gives_up():
    got = []

    def factory():
        def each(x):
            if x % 5 == 4:
                raise KeyError(x)
            got.append(x)

        return Sink.foreach(each)

    settings = RestartSettings(0.001, 0.01, max_restarts=10)
    await Source.from_iter(range(12)).to(RestartSink.with_backoff(settings, factory)).run()
    assert got == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11]

    src = Counted()
    never = RestartSettings(0.001, 0.01, max_restarts=0)
    await asyncio.wait_for(Source.from_iter(src).to(RestartSink.with_backoff(
        never, lambda: Sink.foreach(lambda x: 1 // 0))).run(), 10)
    for _ in range(200):
        if src.closed:
            break
        await asyncio.sleep(0.01)
    assert src.closed


class Acker(Actor):
    def __init__(self, seen):
        self.seen = seen

    async def handle(self, ctx, msg):
        self.seen.append(msg)
        if isinstance(msg, tuple) and msg[0] == "feed":
            target = msg[1]
            for i in range(3):
                target.tell(i)
            target.tell("done")
        return "ack"


async def test_actor_sink_waits_for_acks_and_actor_source_emits(system):
    seen = []
    ref = system.actor_of(props(lambda: Acker(seen)), "acker")
    await Source.from_iter(range(5)).to(
        Sink.actor_ref_with_backpressure(ref, on_complete="end")).run()
    for _ in range(200):
        if "end" in seen:
            break
        await asyncio.sleep(0.01)
    assert seen == [0, 1, 2, 3, 4, "end"]

    target, out = (Source.actor_ref(16, completion_matcher=lambda m: m == "done")
                   .to_mat(Sink.seq(), Keep.both).run())
    ref.tell(("feed", target))
    assert await asyncio.wait_for(out, 10) == [0, 1, 2]


async def test_partition_hub_routes_each_element_to_one_consumer():
    from atomr.streams import PartitionHub

    hub = PartitionHub.attach(Source.from_iter(range(40)), partitioner=lambda n, x: x % n,
                              start_after_nr_of_consumers=2)
    first = hub.consumer().run_collect_async()
    await asyncio.sleep(0.02)
    assert not first.done()  # waits for the second consumer
    second = hub.consumer().run_collect_async()
    a, b = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert a == list(range(0, 40, 2)) and b == list(range(1, 40, 2))

    bad = PartitionHub.attach(Source.from_iter(range(3)), partitioner=lambda n, x: 7)
    with pytest.raises(IndexError):
        await asyncio.wait_for(bad.consumer().run_collect_async(), 10)
