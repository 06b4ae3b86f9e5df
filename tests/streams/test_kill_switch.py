"""Kill switches: unique, shared and standalone; stopping a running stream
from another thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from atomr.errors import StreamAbortedError
from atomr.streams import Keep, KillSwitch, KillSwitches, SharedKillSwitch, Sink, Source


def test_a_standalone_kill_switch_records_its_first_transition():
    ks = KillSwitch()
    assert not ks.is_shut_down() and ks.error() is None
    ks.abort("bad input")
    assert ks.is_shut_down() and ks.error() == "bad input"
    ks.shutdown()
    ks.abort("later")
    assert ks.error() == "bad input"
    other = KillSwitch()
    other.shutdown()
    other.abort()
    assert other.is_shut_down() and other.error() is None


def test_source_kill_switch_shutdown_completes_a_running_stream_from_another_thread():
    src, ks = Source.repeat(1).kill_switch()
    started = threading.Event()
    results = []

    def consume(x):
        started.set()

    t = threading.Thread(target=lambda: results.append(
        src.to(Sink.foreach(consume)).run_blocking()))
    t.start()
    assert started.wait(10.0)
    ks.shutdown()
    t.join(10.0)
    assert not t.is_alive()
    assert results == [None]


def test_a_million_element_graph_stops_within_a_second_of_shutdown():
    ks = KillSwitches.shared("big")
    counted = [0]
    progressing = threading.Event()

    def slow_step(x):
        # Fast at first, then ~half a millisecond per element (sleeping, so
        # the GIL is free): the graph cannot finish on its own within minutes,
        # however fast the machine or however late the test thread runs.
        counted[0] += 1
        if counted[0] == 10_000:
            progressing.set()
        elif counted[0] > 10_000:
            time.sleep(0.0005)
        return x

    graph = (Source.from_iter(range(1_000_000)).via(ks.flow()).map(slow_step)
             .to(Sink.fold(0, lambda a, _: a + 1)))
    out = []
    t = threading.Thread(target=lambda: out.append(graph.run_blocking()))
    t.start()
    try:
        assert progressing.wait(30.0)
        stop = time.monotonic()
        ks.shutdown()
        t.join(1.0)
        assert not t.is_alive(), "the stream did not end within 1 s of the kill switch"
        assert time.monotonic() - stop < 1.0
        assert 10_000 <= out[0] < 1_000_000
    finally:
        ks.shutdown()
        t.join(30.0)


def test_abort_fails_the_stream_with_the_given_exception_or_message():
    src, ks = Source.repeat(1).kill_switch()
    ks.abort(KeyError("mine"))
    with pytest.raises(KeyError, match="mine"):
        src.to(Sink.ignore()).run_blocking()
    src2, ks2 = Source.repeat(1).kill_switch()
    ks2.abort()
    with pytest.raises(StreamAbortedError, match="aborted"):
        src2.to(Sink.ignore()).run_blocking()


def test_a_shared_switch_stops_every_stream_it_gates():
    ks = KillSwitches.shared("both")
    assert isinstance(ks, SharedKillSwitch) and "both" in repr(ks)

    async def main():
        a = Source.repeat(1).via(ks.flow()).to(Sink.ignore()).run()
        b = Source.repeat(2).via(ks.flow()).map(lambda x: x).to(Sink.ignore()).run()
        await asyncio.sleep(0.01)
        ks.shutdown()
        return await asyncio.wait_for(asyncio.gather(a, b), 10.0)

    assert asyncio.run(main()) == [None, None]


async def test_a_unique_switch_is_materialized_per_run_and_wakes_a_waiting_stream():
    never = asyncio.Event()

    async def stuck(x):
        await never.wait()
        return x

    # The switch sits after the async stage, so the stream is waiting on
    # that stage (not pulling the switch) when it is flipped.
    graph = (Source.repeat(1).map_async(stuck, 2)
             .via_mat(KillSwitches.single(), Keep.right).to_mat(Sink.seq(), Keep.both))
    switch1, fut1 = graph.run()
    switch2, fut2 = graph.run()
    assert switch1 is not switch2
    await asyncio.sleep(0.01)
    switch1.shutdown()  # the stream waits on map_async: the switch wakes it
    assert await asyncio.wait_for(fut1, 10.0) == []
    assert not fut2.done()
    switch2.abort(ValueError("stop"))
    with pytest.raises(ValueError, match="stop"):
        await asyncio.wait_for(fut2, 10.0)
