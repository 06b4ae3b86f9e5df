"""Every element the engine takes is released: after a run (completed,
failed, cancelled, with elements dropped or held in flight) no element stays
alive."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from atomr.streams import Keep, KillSwitches, Sink, Source


class Elem:
    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return f"Elem({self.n})"


def tracked(n):
    alive = weakref.WeakSet()

    def gen():
        for i in range(n):
            e = Elem(i)
            alive.add(e)
            yield e

    return alive, gen


def assert_all_released(alive):
    gc.collect()
    assert len(alive) == 0, f"elements still referenced: {sorted(e.n for e in alive)[:10]}"


@pytest.mark.parametrize("build", [
    lambda s: s.map(lambda e: e).filter(lambda e: e.n % 3).to(Sink.seq()),
    lambda s: s.grouped(7).map_concat(lambda g: g).to(Sink.last_option()),
    lambda s: s.sliding(5, 3).to(Sink.ignore()),
    lambda s: s.scan(Elem(-1), lambda a, e: e).to(Sink.fold(Elem(-2), lambda a, e: e)),
    lambda s: s.take(10).to(Sink.head_option()),
    lambda s: s.zip(Source.from_iter([Elem(-3)] * 5)).to(Sink.seq()),
    lambda s: s.merge(Source.repeat(Elem(-4)).take(50)).to(Sink.seq()),
    lambda s: s.take_while(lambda e: e.n < 40, inclusive=True).to(Sink.reduce(lambda a, b: b)),
])
def test_sync_graphs_release_every_element(build):
    alive, gen = tracked(100)
    build(Source.from_iter(gen())).run_blocking()
    assert_all_released(alive)


def test_a_failed_stream_releases_every_element():
    alive, gen = tracked(100)

    def boom(e):
        if e.n == 50:
            raise ValueError(e)
        return e

    with pytest.raises(ValueError):
        Source.from_iter(gen()).grouped(8).map_concat(lambda g: g).map(boom).to(Sink.seq()) \
            .run_blocking()
    assert_all_released(alive)


def test_resumed_failures_release_the_failing_element_and_the_exception():
    alive, gen = tracked(100)

    def boom(e):
        if e.n % 2:
            raise ValueError(e)
        return e

    out = Source.from_iter(gen()).map(boom).with_supervision(default="resume").run_blocking_collect()
    assert len(out) == 50
    del out
    assert_all_released(alive)


def test_async_stages_buffers_and_kill_switches_release_every_element():
    alive, gen = tracked(1000)

    async def main():
        never = asyncio.Event()

        async def stuck(e):
            if e.n > 20:
                await never.wait()
            return e

        switch, fut = (Source.from_iter(gen()).buffer(16, "drop_head").map_async(stuck, 4)
                       .via_mat(KillSwitches.single(), Keep.right)
                       .to_mat(Sink.seq(), Keep.both).run())
        await asyncio.sleep(0.01)
        switch.shutdown()
        return len(await asyncio.wait_for(fut, 10.0))

    assert asyncio.run(main()) >= 1
    assert_all_released(alive)
