"""GraphDsl with fan-in and fan-out junctions, BidiFlow, also_to, wire_tap
and watch_termination: values, back-pressure, failure and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from atomr.streams import (
    Balance,
    BidiFlow,
    Broadcast,
    Concat,
    Flow,
    GraphDsl,
    Interleave,
    Keep,
    Merge,
    Partition,
    Sink,
    Source,
    Zip,
    ZipWith,
)

from atomr.streams._channel import OFFERS_IN_FLIGHT

from .test_backpressure import Counted


def _broadcast_graph(source, *sinks, **kw):
    g = GraphDsl()
    s = g.add(source)
    b = g.add(Broadcast(len(sinks), **kw))
    g.edge(s, b)
    for sink in sinks:
        g.edge(b, g.add(sink))
    return g


def test_broadcast_sends_every_element_to_every_output():
    g = GraphDsl()
    src = g.add(Source.from_iter(range(10)))
    b = g.add(Broadcast(2))
    f = g.add(Flow.map(lambda x: x * 10))
    s1 = g.add(Sink.seq())
    s2 = g.add(Sink.fold(0, lambda a, x: a + x))
    g.edge(src, b)
    g.edge(b, f)
    g.edge(f, s1)
    g.edge(b, s2)
    assert g.run_blocking() == ([x * 10 for x in range(10)], 45)
    assert g.run_blocking() == ([x * 10 for x in range(10)], 45)  # runs again


def test_broadcast_waits_for_the_slowest_output():
    src = Counted(200)
    ahead = []

    async def slow(x):
        ahead.append(src.pulled - x)
        await asyncio.sleep(0)
        return x

    g = _broadcast_graph(Source.from_iter(src), Flow.map_async(slow).to(Sink.ignore()),
                         Sink.ignore(), buffer_size=4)
    g.run_blocking()
    assert len(ahead) == 200
    # its channel's buffer, a batch in hand and the junction's offers in flight
    assert max(ahead) <= 4 + 4 + OFFERS_IN_FLIGHT


def test_broadcast_cancels_upstream_once_every_output_cancelled():
    src = Counted()
    g = _broadcast_graph(Source.from_iter(src), Flow.take(3).to(Sink.seq()),
                         Flow.take(5).to(Sink.seq()))
    assert g.run_blocking() == ([0, 1, 2], [0, 1, 2, 3, 4])
    assert src.closed


def test_broadcast_eager_cancel_completes_the_other_outputs():
    g = _broadcast_graph(Source.repeat(1), Flow.take(3).to(Sink.seq()), Sink.seq(),
                         eager_cancel=True)
    first, second = g.run_blocking()
    assert first == [1, 1, 1]
    assert len(second) >= 3


def test_an_upstream_failure_fails_every_output():
    g = _broadcast_graph(Source.from_iter([1, 2]).map(lambda x: 1 // (x - 2)),
                         Sink.seq(), Sink.ignore())
    with pytest.raises(ZeroDivisionError):
        g.run_blocking()


async def test_balance_spreads_elements_and_loses_none():
    g = GraphDsl()
    src = g.add(Source.from_iter(range(300)))
    bal = g.add(Balance(3))
    m = g.add(Merge())
    seen = [[], [], []]
    for i in range(3):
        f = g.add(Flow.map(lambda x, i=i: seen[i].append(x) or x))
        g.edge(bal, f)
        g.edge(f, m)
    out = g.add(Sink.seq())
    g.edge(src, bal)
    g.edge(m, out)
    assert sorted(await g.run()) == list(range(300))
    assert all(seen)  # every output got some


def test_partition_routes_by_index_and_fails_on_a_bad_one():
    g = GraphDsl()
    src = g.add(Source.from_iter(range(10)))
    p = g.add(Partition(2, lambda x: x % 2))
    g.edge(src, p)
    g.edge(p, g.add(Sink.seq()))
    g.edge(p, g.add(Sink.seq()))
    assert g.run_blocking() == ([0, 2, 4, 6, 8], [1, 3, 5, 7, 9])

    g = GraphDsl()
    src = g.add(Source.from_iter(range(10)))
    p = g.add(Partition(2, lambda x: 5))
    g.edge(src, p)
    g.edge(p, g.add(Sink.seq()))
    g.edge(p, g.add(Sink.seq()))
    with pytest.raises(IndexError):
        g.run_blocking()


def test_fan_in_junctions_run_fused():
    def two(junction, a, b):
        g = GraphDsl()
        j = g.add(junction)
        g.edge(g.add(Source.from_iter(a)), j)
        g.edge(g.add(Source.from_iter(b)), j)
        s = g.add(Sink.seq())
        g.edge(j, s)
        return g.run_blocking()

    assert two(Zip(), [1, 2, 3], "ab") == [(1, "a"), (2, "b")]
    assert two(ZipWith(lambda a, b: a * b), [1, 2], [3, 4]) == [3, 8]
    assert two(Concat(), [1, 2], [3]) == [1, 2, 3]
    assert two(Interleave(2), [1, 2, 3, 4], [9, 9]) == [1, 2, 9, 9, 3, 4]
    assert sorted(two(Merge(), [1, 2], [3, 4])) == [1, 2, 3, 4]


def test_a_linear_graph_runs_on_this_thread():
    g = GraphDsl()
    a = g.add(Source.from_iter([1, 2, 3]))
    b = g.add(Flow.map(lambda x: x + 1))
    c = g.add(Sink.seq())
    g.edge(a, b)
    g.edge(b, c)
    assert g.run_blocking() == [2, 3, 4]


def test_bad_graphs_are_refused():
    g = GraphDsl()
    with pytest.raises(ValueError):
        g.add(42)
    a = g.add(Source.single(1))
    with pytest.raises(ValueError):
        g.edge(a, 5)
    with pytest.raises(ValueError):
        g.run_blocking()  # no sink
    c = g.add(Sink.seq())
    with pytest.raises(ValueError):
        g.edge(c, a)
    g.edge(a, c)
    assert g.run_blocking() == [1]
    g = GraphDsl()
    a = g.add(Source.single(1))
    f1 = g.add(Flow.map(lambda x: x))
    m = g.add(Merge(2))
    s = g.add(Sink.seq())
    g.edge(a, m)
    g.edge(m, f1)
    g.edge(f1, m)
    g.edge(m, s)
    with pytest.raises(ValueError):
        g.run_blocking()  # a merge with two outputs, and a cycle


def test_bidi_flow_join_and_atop():
    codec = BidiFlow.from_functions(lambda s: s.encode(), lambda b: b.decode())
    framing = BidiFlow.from_flows(Flow.map(lambda b: b + b"|"), Flow.map(lambda b: b[:-1]))
    stack = codec.atop(framing)
    echo = stack.join(Flow.map(lambda b: b.upper()))
    assert Source.from_iter(["ab", "c"]).via(echo).run_blocking_collect() == ["AB", "C"]
    assert Source.single("x").via(codec.join()).run_blocking_collect() == ["x"]
    assert (Source.single(b"x").via(codec.reversed().join()).run_blocking_collect() == [b"x"])
    with pytest.raises(TypeError):
        BidiFlow.from_flows(Flow.identity(), 3)


def test_also_to_sends_every_element_to_the_side_sink():
    side = []
    out = (Source.from_iter(range(5)).also_to(Sink.foreach(side.append))
           .to(Sink.seq()).run_blocking())
    assert out == [0, 1, 2, 3, 4]
    assert side == [0, 1, 2, 3, 4]


def test_also_to_backpressures_and_its_failure_fails_the_stream():
    src = Counted(100)
    ahead = []

    async def slow(x):
        ahead.append(src.pulled - x)
        await asyncio.sleep(0)

    out = (Source.from_iter(src).also_to(Flow.map_async(slow).to(Sink.ignore()))
           .to(Sink.seq()).run_blocking())
    assert out == list(range(100))
    assert max(ahead) <= 16 + 16 + OFFERS_IN_FLIGHT

    def boom(x):
        raise KeyError(x)

    with pytest.raises(KeyError):
        Source.repeat(1).also_to(Sink.foreach(boom)).to(Sink.ignore()).run_blocking()


def test_wire_tap_never_slows_the_stream():
    got = []

    async def never(x):
        await asyncio.Future()

    out = (Source.from_iter(range(100))
           .wire_tap(Flow.map_async(never).to(Sink.ignore()), buffer_size=2)
           .wire_tap(Sink.foreach(got.append))
           .to(Sink.seq()))

    async def main():
        return await asyncio.wait_for(out.run(), 10)

    assert asyncio.run(main()) == list(range(100))


async def test_watch_termination_completes_fails_and_sees_cancellation():
    done, out = (Source.from_iter(range(3)).watch_termination()
                 .to_mat(Sink.seq(), Keep.both).run())
    assert await out == [0, 1, 2]
    assert await done is None

    done, out = (Source.failed(ValueError("x")).watch_termination()
                 .to_mat(Sink.seq(), Keep.both).run())
    with pytest.raises(ValueError):
        await done
    with pytest.raises(ValueError):
        await out

    done, out = (Source.repeat(1).via_mat(Flow.watch_termination(), Keep.right).take(2)
                 .to_mat(Sink.seq(), Keep.both).run())
    assert await out == [1, 1]
    assert await asyncio.wait_for(done, 5) is None


def test_watch_termination_in_a_blocking_run():
    done, out = (Source.from_iter([1]).watch_termination()
                 .to_mat(Sink.seq(), Keep.both).run_blocking())
    assert out == [1]
    assert done.done() and done.result() is None
