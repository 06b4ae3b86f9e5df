"""Timed, rate-decoupling, failure and substream operators: values,
back-pressure, failure and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from atomr.errors import StreamTimeoutError
from atomr.streams import Flow, Sink, Source

from atomr.streams._channel import OFFERS_IN_FLIGHT

from .test_backpressure import Counted


async def slowly(x):
    await asyncio.sleep(0.001)
    return x


def test_try_map_tags_failures_or_defers_to_the_decider():
    def inv(x):
        return 1 // (x - 2)

    out = Source.from_iter(range(4)).try_map(inv).run_blocking_collect()
    assert out == [-1, -1, ("__atomr_stream_error__", "ZeroDivisionError"), 1]
    resumed = (Source.from_iter(range(4)).via(Flow.try_map(inv).with_supervision(
        [("builtins.ZeroDivisionError", "resume")])).run_blocking_collect())
    assert resumed == [-1, -1, 1]
    with pytest.raises(ZeroDivisionError):
        Source.from_iter(range(4)).via(Flow.try_map(inv).with_supervision()).run_blocking_collect()


def test_select_error_replaces_the_failure():
    with pytest.raises(LookupError) as info:
        (Source.from_iter([1]).concat(Source.failed(ValueError("inner")))
         .select_error(lambda e: LookupError(f"mapped {e}")).run_blocking_collect())
    assert str(info.value) == "mapped inner"
    assert Source.from_iter([1, 2]).select_error(KeyError).run_blocking_collect() == [1, 2]


def test_recover_with_retries_switches_sources_then_gives_up():
    failing = Source.from_iter([1]).concat(Source.failed(ValueError("x")))
    out = (failing.recover_with_retries(2, lambda e: failing).recover(lambda e: "gave up")
           .run_blocking_collect())
    assert out == [1, 1, 1, "gave up"]
    out = failing.recover_with_retries(-1, lambda e: Source.single(9)).run_blocking_collect()
    assert out == [1, 9]
    with pytest.raises(ValueError):
        failing.recover_with_retries(3, lambda e: None).run_blocking_collect()


async def test_grouped_within_emits_on_size_or_time():
    assert (await Source.from_iter(range(7)).grouped_within(3, 5.0).run_collect_async()
            == [[0, 1, 2], [3, 4, 5], [6]])
    ticks = Source.from_iter(range(4)).throttle(1, 0.05)
    groups = await ticks.grouped_within(100, 0.01).run_collect_async()
    assert [x for g in groups for x in g] == [0, 1, 2, 3]
    assert len(groups) >= 2  # time split them


async def test_initial_delay_holds_the_first_element():
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await Source.from_iter([1, 2]).initial_delay(0.05).run_collect_async() == [1, 2]
    assert loop.time() - start >= 0.045


async def test_keep_alive_injects_while_upstream_idles():
    out = await (Source.from_iter([1, 2]).throttle(1, 0.15).keep_alive(0.02, lambda: "ka")
                 .run_collect_async())
    assert [x for x in out if x != "ka"] == [1, 2]
    assert "ka" in out


async def test_timeouts_fail_with_stream_timeout_error():
    slow = Source.repeat(1).throttle(1, 10.0)
    with pytest.raises(StreamTimeoutError):
        await slow.idle_timeout(0.05).run_collect_async()
    with pytest.raises(StreamTimeoutError):
        await Source.repeat(1).throttle(50, 0.1).completion_timeout(0.1).run_collect_async()
    with pytest.raises(StreamTimeoutError):
        await (Source.single(1).initial_delay(1.0).initial_timeout(0.05)
               .run_collect_async())
    assert await Source.from_iter([1, 2]).idle_timeout(5).run_collect_async() == [1, 2]


async def test_conflate_folds_what_a_slow_consumer_has_not_taken():
    out = await (Source.from_iter(range(500)).conflate(lambda a, b: a + b)
                 .map_async(slowly).run_collect_async())
    assert sum(out) == sum(range(500))
    assert len(out) < 500


async def test_batch_bounds_its_weight_and_back_pressures():
    src = Counted(300)
    out = await (Source.from_iter(src).batch(5, lambda x: [x], lambda acc, x: acc + [x])
                 .map_async(slowly).run_collect_async())
    assert [x for b in out for x in b] == list(range(300))
    assert max(len(b) for b in out) <= 5


async def test_expand_extrapolates_while_upstream_is_slow():
    out = await (Source.from_iter([1, 2]).throttle(1, 0.1).expand(lambda x: iter([x] * 1000))
                 .take(20).run_collect_async())
    assert len(out) == 20 and set(out) <= {1, 2}


def test_merge_sorted_and_merge_prioritized():
    out = Source.from_iter([1, 4, 7, 8]).merge_sorted(Source.from_iter([2, 3, 9])).run_blocking_collect()
    assert out == [1, 2, 3, 4, 7, 8, 9]
    keyed = (Source.from_iter(["a", "ccc"]).merge_sorted(Source.from_iter(["bb"]), key=len)
             .run_blocking_collect())
    assert keyed == ["a", "bb", "ccc"]
    merged = (Source.from_iter(range(50)).merge_prioritized(Source.from_iter(range(100, 150)), 1, 5)
              .run_blocking_collect())
    assert sorted(merged) == list(range(50)) + list(range(100, 150))
    with pytest.raises(KeyError):
        Source.from_iter([1]).merge_sorted(Source.failed(KeyError("r"))).run_blocking_collect()


def test_flat_map_concat_and_merge():
    out = Source.from_iter([1, 2, 3]).flat_map_concat(lambda n: Source.from_iter([n] * n))
    assert out.run_blocking_collect() == [1, 2, 2, 3, 3, 3]
    merged = Source.from_iter([1, 2, 3]).flat_map_merge(2, lambda n: Source.from_iter([n] * n))
    assert sorted(merged.run_blocking_collect()) == [1, 2, 2, 3, 3, 3]
    with pytest.raises(ValueError):
        (Source.from_iter([1, 2]).flat_map_merge(2, lambda n: Source.failed(ValueError(n)))
         .run_blocking_collect())


def test_flat_map_concat_cancels_an_endless_substream():
    subs = []

    def sub(n):
        c = Counted()
        subs.append(c)
        return Source.from_iter(c)

    assert Source.single(1).flat_map_concat(sub).take(5).run_blocking_collect() == [0, 1, 2, 3, 4]
    assert subs[0].closed


async def test_prefix_and_tail():
    [(prefix, tail)] = await Source.from_iter(range(6)).prefix_and_tail(2).run_collect_async()
    assert prefix == [0, 1]
    assert await tail.run_collect_async() == [2, 3, 4, 5]
    with pytest.raises(RuntimeError):
        tail.run_collect_async()
    [(prefix, tail)] = await Source.from_iter([1]).prefix_and_tail(3).run_collect_async()
    assert prefix == [1] and await tail.run_collect_async() == []


async def test_split_when_and_split_after_make_substreams():
    sums = await (Source.from_iter(range(7)).split_when(lambda x: x % 3 == 0)
                  .flat_map_concat(lambda s: s.fold(0, lambda a, b: a + b)).run_collect_async())
    assert sums == [3, 12, 6]
    groups = await (Source.from_iter(range(7)).split_after(lambda x: x % 3 == 0)
                    .flat_map_concat(lambda s: s.grouped(100)).run_collect_async())
    assert groups == [[0], [1, 2, 3], [4, 5, 6]]
    with pytest.raises(ZeroDivisionError):
        await (Source.from_iter([1, 2, 0]).map(lambda x: 1 // x).split_when(lambda x: False)
               .flat_map_concat(lambda s: s).run_collect_async())


async def test_a_slow_consumer_bounds_a_cut_upstream():
    src = Counted(200)
    ahead = []

    async def record(x):
        ahead.append(src.pulled - x)
        await asyncio.sleep(0)
        return x

    await Source.from_iter(src).idle_timeout(10).map_async(record).to(Sink.ignore()).run()
    assert max(ahead) <= 2 * 16 + OFFERS_IN_FLIGHT  # buffer, batch, offers in flight


_CUT_OPERATORS = {
    "initial_delay": lambda s: s.initial_delay(0.0),
    "keep_alive": lambda s: s.keep_alive(5.0, lambda: None),
    "idle_timeout": lambda s: s.idle_timeout(5.0),
    "completion_timeout": lambda s: s.completion_timeout(30.0),
    "conflate": lambda s: s.conflate(lambda a, b: b),
    "batch": lambda s: s.batch(4, lambda x: x, lambda a, b: b),
    "expand": lambda s: s.expand(lambda x: iter([x])),
    "recover_with_retries": lambda s: s.recover_with_retries(1, lambda e: Source.empty()),
    "flat_map_concat": lambda s: s.flat_map_concat(Source.single),
    "flat_map_merge": lambda s: s.flat_map_merge(2, Source.single),
    "merge_sorted": lambda s: s.merge_sorted(Source.empty()),
    "merge_prioritized": lambda s: s.merge_prioritized(Source.empty(), 1, 1),
    "also_to": lambda s: s.also_to(Sink.ignore()),
    "wire_tap": lambda s: s.wire_tap(Sink.ignore()),
}


@pytest.mark.parametrize("name", sorted(_CUT_OPERATORS))
def test_downstream_cancellation_reaches_the_source(name):
    src = Counted()
    out = _CUT_OPERATORS[name](Source.from_iter(src)).take(3).run_blocking_collect()
    assert len(out) == 3
    assert src.closed


@pytest.mark.parametrize("name", sorted(set(_CUT_OPERATORS) - {"recover_with_retries"}))
def test_an_upstream_failure_fails_the_stream(name):
    failing = Source.from_iter([1, 2]).map(lambda x: 1 // (x - 2))
    with pytest.raises(ZeroDivisionError):
        _CUT_OPERATORS[name](failing).run_blocking_collect()
