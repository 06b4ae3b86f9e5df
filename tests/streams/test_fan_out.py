"""Fan-out fused in one island: a synchronous graph that broadcasts,
balances or partitions (and also_to / wire_tap into a synchronous sink)
runs on the calling thread with no event loop and no channel, each sink
with its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from atomr.streams import (
    Balance,
    Broadcast,
    Flow,
    GraphDsl,
    Merge,
    Partition,
    Sink,
    Source,
    Zip,
)

from .test_backpressure import Counted


def _no_loop(x):
    """Passes x; fails when called from an event loop's callback (the
    graph should run fused, on the caller's thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return x
    raise AssertionError("ran on an event loop: the graph was split into islands")


def _fan(junction, source, *branches):
    g = GraphDsl()
    j = g.add(junction)
    g.edge(g.add(source), j)
    for branch in branches:
        g.edge(j, g.add(branch))
    return g


def test_a_synchronous_broadcast_runs_fused_without_a_loop():
    g = _fan(Broadcast(2), Source.from_iter(range(1000)).map(_no_loop),
             Flow.map(_no_loop).to(Sink.seq()), Sink.fold(0, lambda a, x: a + x))
    assert g.to_graph()._async is False
    assert g.run_blocking() == (list(range(1000)), sum(range(1000)))


def test_a_diamond_of_broadcast_and_zip_runs_fused():
    g = GraphDsl()
    src = g.add(Source.from_iter(range(50)))
    b = g.add(Broadcast(2, buffer_size=1))
    double = g.add(Flow.map(lambda x: 2 * x))
    z = g.add(Zip())
    out = g.add(Sink.seq())
    g.edge(src, b)
    g.edge(b, double)
    g.edge(b, z)
    g.edge(double, z)
    g.edge(z, out)
    # the first edge into the Zip is its left input: the untouched branch
    assert g.run_blocking() == [(x, 2 * x) for x in range(50)]


def test_a_fused_balance_spreads_elements_and_loses_none():
    seen = [0, 0]

    def count(i):
        def f(x):
            seen[i] += 1
            return x
        return f

    g = GraphDsl()
    bal = g.add(Balance(2))
    m = g.add(Merge())
    g.edge(g.add(Source.from_iter(range(500))), bal)
    for i in range(2):
        f = g.add(Flow.map(count(i)))
        g.edge(bal, f)
        g.edge(f, m)
    out = g.add(Sink.seq())
    g.edge(m, out)
    assert sorted(g.run_blocking()) == list(range(500))
    assert seen[0] > 0 and seen[1] > 0


def test_a_fused_partition_drops_for_a_cancelled_output_and_cancels_when_all_did():
    src = Counted(100)
    g = _fan(Partition(2, lambda x: x % 2), Source.from_iter(src),
             Flow.take(3).to(Sink.seq()), Flow.take(2).to(Sink.seq()))
    assert g.run_blocking() == ([0, 2, 4], [1, 3])
    assert src.closed


def test_a_failing_sink_fails_only_its_own_outcome():
    def boom(x):
        if x == 3:
            raise KeyError(x)

    async def main():
        got, failed = _fan(Broadcast(2), Source.from_iter(range(10)),
                           Sink.seq(), Sink.foreach(boom)).run()
        assert await got == list(range(10))
        with pytest.raises(KeyError):
            await failed

    asyncio.run(main())
    with pytest.raises(KeyError):
        _fan(Broadcast(2), Source.from_iter(range(10)), Sink.seq(), Sink.foreach(boom)
             ).run_blocking()


def test_an_upstream_failure_fails_every_fused_sink():
    async def main():
        outs = _fan(Broadcast(3), Source.from_iter([1, 0]).map(lambda x: 1 // x),
                    Sink.seq(), Sink.ignore(), Sink.head_option()).run()
        results = await asyncio.gather(*outs, return_exceptions=True)
        assert results[2] == 1  # head_option completed with the first element
        assert all(isinstance(r, ZeroDivisionError) for r in results[:2])

    asyncio.run(main())


def test_fused_also_to_runs_without_a_loop_and_its_cancel_completes_the_stream():
    side = []
    src = Counted()
    out = (Source.from_iter(src).also_to(Flow.map(_no_loop).take(3).to(Sink.foreach(side.append)))
           .take(100).to(Sink.seq()))
    assert out._async is False
    got = out.run_blocking()
    assert side == [0, 1, 2]
    assert got[:3] == [0, 1, 2] and len(got) <= 4  # eager cancel: the stream completes
    assert src.closed


def test_fused_wire_tap_ignores_its_sinks_failure():
    def boom(x):
        raise ValueError(x)

    out = (Source.from_iter(range(20)).wire_tap(Sink.foreach(boom)).map(_no_loop)
           .to(Sink.seq()))
    assert out.run_blocking() == list(range(20))


def test_a_fused_side_sink_survives_a_later_island_split():
    side = []
    out = (Source.from_iter(range(30)).also_to(Sink.foreach(side.append))
           .initial_delay(0.001).to(Sink.seq()))
    assert out.run_blocking() == list(range(30))
    assert side == list(range(30))


def test_native_junction_arguments_are_checked():
    from atomr._native import _core

    isl = _core.StreamIsland()
    isl.source_single(1)
    with pytest.raises(ValueError):
        isl.broadcast(0)
    isl.source_single(1)
    with pytest.raises(TypeError):
        isl.partition(2, 3)


def test_async_boundary_splits_the_island():
    from atomr.streams._channel import OFFERS_IN_FLIGHT

    def ahead_of(flow_between):
        src = Counted(300)
        ahead = []
        graph = (Source.from_iter(src).via(flow_between)
                 .to(Sink.foreach(lambda x: ahead.append(src.pulled - (x + 1)))))
        graph.run_blocking()
        assert len(ahead) == 300
        return graph, max(ahead)

    fused, fused_ahead = ahead_of(Flow.map(lambda x: x))
    split, split_ahead = ahead_of(Flow.map(lambda x: x).async_(buffer_size=4))
    assert fused._async is False and fused_ahead == 0
    assert split._async is True
    assert 0 < split_ahead <= 4 + 4 + OFFERS_IN_FLIGHT
    # elements, order and failures cross the boundary
    assert Source.from_iter(range(100)).async_().map(lambda x: x * 2).run_blocking_collect() == [
        2 * x for x in range(100)]
    with pytest.raises(ZeroDivisionError):
        Source.from_iter([1, 0]).map(lambda x: 1 // x).async_().run_blocking_collect()
    with pytest.raises(ValueError):
        Flow.async_(buffer_size=0)


def test_map_async_takes_an_already_done_future_at_once(monkeypatch):
    from atomr.streams import _run

    completions = []
    original = _run.Run._async_done

    def counting(self, *args):
        completions.append(args)
        return original(self, *args)

    monkeypatch.setattr(_run.Run, "_async_done", counting)

    async def main():
        loop = asyncio.get_running_loop()

        def done(x):
            fut = loop.create_future()
            fut.set_result(x * 2)
            return fut

        def failed(x):
            fut = loop.create_future()
            fut.set_exception(KeyError(x))
            return fut

        assert await Source.from_iter(range(500)).map_async(done, 4).run_collect_async() == [
            2 * x for x in range(500)]
        assert completions == []  # no loop callback per element
        with pytest.raises(KeyError):
            await Source.from_iter(range(5)).map_async(failed).run_collect_async()

    asyncio.run(main())
