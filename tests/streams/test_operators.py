"""Every operator's values, completion and failures (atomr.streams)."""

from __future__ import annotations

import pytest

from atomr.errors import EmptyStreamError, InvalidGraphError
from atomr.streams import Flow, Keep, Sink, Source


def run(source: Source) -> list:
    return source.to(Sink.seq()).run_blocking()


def test_map_and_filter_transform_and_select():
    assert run(Source.from_iter(range(6)).via(Flow.map(lambda x: x * 10))) == [0, 10, 20, 30, 40, 50]
    assert run(Source.from_iter(range(6)).filter(lambda x: x % 2)) == [1, 3, 5]
    assert run(Source.from_iter(range(6)).filter_not(lambda x: x % 2)) == [0, 2, 4]
    assert run(Source.from_iter(range(3)).via(Flow.from_fn(str))) == ["0", "1", "2"]


def test_take_and_skip():
    assert run(Source.from_iter(range(10)).take(3)) == [0, 1, 2]
    assert run(Source.from_iter(range(10)).take(0)) == []
    assert run(Source.from_iter(range(2)).take(5)) == [0, 1]
    assert run(Source.from_iter(range(5)).skip(3)) == [3, 4]
    assert run(Source.from_iter(range(5)).drop(9)) == []


def test_take_while_and_drop_while():
    xs = [1, 2, 5, 1, 7]
    assert run(Source.from_iter(xs).take_while(lambda x: x < 3)) == [1, 2]
    assert run(Source.from_iter(xs).take_while(lambda x: x < 3, inclusive=True)) == [1, 2, 5]
    assert run(Source.from_iter(xs).drop_while(lambda x: x < 3)) == [5, 1, 7]


def test_map_concat_flattens_each_iterable_lazily():
    assert run(Source.from_iter([0, 1, 2, 3]).map_concat(lambda n: range(n))) == [0, 0, 1, 0, 1, 2]
    # Only as much of an infinite iterable as downstream demands is read.
    import itertools
    assert run(Source.single(1).map_concat(lambda _: itertools.count()).take(4)) == [0, 1, 2, 3]


def test_scan_emits_zero_then_every_accumulator():
    assert run(Source.from_iter([1, 2, 3]).scan(0, lambda a, b: a + b)) == [0, 1, 3, 6]
    assert run(Source.empty().scan(10, lambda a, b: a + b)) == [10]


def test_fold_and_reduce_as_flows_and_sinks():
    src = Source.from_iter([1, 2, 3, 4])
    assert run(src.fold(100, lambda a, b: a + b)) == [110]
    assert run(src.reduce(lambda a, b: a * b)) == [24]
    assert src.to(Sink.fold(0, lambda a, b: a + b)).run_blocking() == 10
    assert src.to(Sink.reduce(max)).run_blocking() == 4
    assert run(Source.empty().fold(0, lambda a, b: a + b)) == [0]


def test_reduce_of_an_empty_stream_fails_with_empty_stream_error():
    with pytest.raises(EmptyStreamError):
        Source.empty().to(Sink.reduce(max)).run_blocking()
    with pytest.raises(EmptyStreamError):
        run(Source.empty().reduce(max))


def test_grouped_and_sliding():
    assert run(Source.from_iter(range(7)).grouped(3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert run(Source.empty().grouped(3)) == []
    assert run(Source.from_iter(range(5)).sliding(2)) == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert run(Source.from_iter(range(6)).sliding(3, 2)) == [[0, 1, 2], [2, 3, 4], [4, 5]]
    assert run(Source.from_iter(range(5)).sliding(3, 2)) == [[0, 1, 2], [2, 3, 4]]
    assert run(Source.from_iter(range(2)).sliding(3)) == [[0, 1]]
    assert run(Source.from_iter(range(9)).sliding(2, 4)) == [[0, 1], [4, 5], [8]]


def test_sinks_seq_head_last_foreach_ignore():
    src = Source.from_iter([3, 1, 2])
    assert src.to(Sink.collect()).run_blocking() == [3, 1, 2]
    assert src.to(Sink.head_option()).run_blocking() == 3
    assert src.to(Sink.last_option()).run_blocking() == 2
    assert Source.empty().to(Sink.head_option()).run_blocking() is None
    seen = []
    assert src.to(Sink.foreach(seen.append)).run_blocking() is None
    assert seen == [3, 1, 2]
    assert src.to(Sink.ignore()).run_blocking() is None


def test_sources_single_repeat_empty_failed():
    assert run(Source.single("x")) == ["x"]
    assert run(Source.repeat(7).take(3)) == [7, 7, 7]
    assert run(Source.empty()) == []
    with pytest.raises(KeyError, match="gone"):
        run(Source.failed(KeyError("gone")))


def test_concat_merge_zip_interleave():
    a = Source.from_iter([1, 2, 3])
    b = Source.from_iter(["a", "b"])
    assert run(a.concat(b)) == [1, 2, 3, "a", "b"]
    assert sorted(map(str, run(a.merge(b)))) == ["1", "2", "3", "a", "b"]
    assert run(a.zip(b)) == [(1, "a"), (2, "b")]
    assert run(a.zip_with(b, lambda x, y: f"{x}{y}")) == ["1a", "2b"]
    assert run(a.interleave(b, 2)) == [1, 2, "a", "b", 3]
    assert run(Source.from_iter([1, 2]).merge(Source.repeat(0), eager_complete=True).take(10)) \
        .count(0) <= 2


def test_flow_composition_and_keep():
    f = Flow.map(lambda x: x + 1).filter(lambda x: x % 2 == 0).via(Flow.map(lambda x: -x))
    assert run(Source.from_iter(range(6)).via(f)) == [-2, -4, -6]
    sink = Flow.map(lambda x: x * 2).to(Sink.fold(0, lambda a, b: a + b))
    assert Source.from_iter([1, 2]).to(sink).run_blocking() == 6
    assert Source.from_iter([1]).to_mat(Sink.seq(), Keep.left).run_blocking() is None
    assert Source.from_iter([1]).to_mat(Sink.seq(), Keep.both).run_blocking() == (None, [1])
    assert Source.from_iter([1]).to_mat(Sink.seq(), Keep.none).run_blocking() is None
    assert Flow.identity().map(str).to(Sink.seq()) is not None
    assert run(Source.from_iter([1, 2]).via(Flow.identity())) == [1, 2]


def test_an_exception_in_a_stage_fails_the_stream_and_closes_the_source():
    closed = []

    def gen():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    def boom(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        Source.from_iter(gen()).map(boom).to(Sink.seq()).run_blocking()
    assert closed == [True]


def test_a_failing_source_fails_the_stream_with_its_exception():
    def gen():
        yield 1
        raise OSError("disk")

    with pytest.raises(OSError, match="disk"):
        run(Source.from_iter(gen()))


def test_exceptions_of_predicates_sinks_and_fan_in_functions_fail_the_stream():
    with pytest.raises(ZeroDivisionError):
        run(Source.from_iter([1, 0]).filter(lambda x: 1 / x))
    with pytest.raises(ZeroDivisionError):
        Source.from_iter([1, 0]).to(Sink.foreach(lambda x: 1 / x)).run_blocking()
    with pytest.raises(ZeroDivisionError):
        Source.from_iter([1, 0]).to(Sink.fold(0, lambda a, x: a + 1 / x)).run_blocking()
    with pytest.raises(ZeroDivisionError):
        run(Source.from_iter([1, 0]).zip_with(Source.repeat(1), lambda x, y: y / x))
    with pytest.raises(TypeError):
        run(Source.from_iter([1]).map_concat(lambda x: x))  # an int is not iterable


def test_supervision_resume_drops_the_failing_element():
    def bad(x):
        if x % 3 == 0:
            raise ValueError(x)
        return x

    src = Source.from_iter(range(7)).map(bad)
    assert run(src.with_supervision([("ValueError", "resume")])) == [1, 2, 4, 5]
    assert run(src.with_supervision([("builtins.ValueError", "resume")])) == [1, 2, 4, 5]
    assert run(src.with_supervision([(ArithmeticError, "resume")], default="resume")) \
        == [1, 2, 4, 5]
    assert run(src.with_supervision(lambda exc: "resume")) == [1, 2, 4, 5]
    with pytest.raises(ValueError):
        run(src.with_supervision([("KeyError", "resume")]))


def test_supervision_restart_resets_accumulating_state():
    def add(a, b):
        if b == 3:
            raise ValueError("three")
        return a + b

    src = Source.from_iter([1, 2, 3, 4, 5]).scan(0, add)
    assert run(src.with_supervision([(ValueError, "restart")])) == [0, 1, 3, 4, 9]
    assert run(src.with_supervision([(ValueError, "resume")])) == [0, 1, 3, 7, 12]
    total = Source.from_iter([1, 2, 3, 4]).to(
        Sink.fold(0, add).with_supervision(default="restart")).run_blocking()
    assert total == 4


def test_an_inner_decider_wins_over_an_outer_one():
    def bad(x):
        if x == 1:
            raise ValueError
        return x

    inner = Flow.map(bad).with_supervision(default="resume")
    graph = Source.from_iter([0, 1, 2]).via(inner).map(bad).to(Sink.seq())
    assert graph.with_supervision(default="stop").run_blocking() == [0, 2]


def test_a_raising_decider_stops_the_stream():
    def decider(exc):
        raise RuntimeError("decider broke")

    with pytest.raises(ValueError):
        run(Source.from_iter([1]).map(lambda x: int("x")).with_supervision(decider))


def test_recover_emits_a_last_element_for_a_failure():
    def gen():
        yield 1
        raise KeyError("k")

    assert run(Source.from_iter(gen()).recover(lambda e: type(e).__name__)) == [1, "KeyError"]

    def only_value_errors(exc):
        if isinstance(exc, ValueError):
            return "fallback"
        raise exc

    with pytest.raises(KeyError):
        run(Source.from_iter(gen()).recover(only_value_errors))


def test_bad_arguments_are_refused_at_the_call_site():
    with pytest.raises(TypeError):
        Flow.map(3)
    with pytest.raises(ValueError):
        Flow.take(-1)
    with pytest.raises(TypeError):
        Flow.take(1.5)
    with pytest.raises(ValueError):
        Flow.grouped(0)
    with pytest.raises(ValueError):
        Flow.sliding(2, 0)
    with pytest.raises(ValueError):
        Flow.buffer(4, "drop_everything")
    with pytest.raises(ValueError):
        Flow.map_async(lambda x: x, parallelism=0)
    with pytest.raises(ValueError):
        Flow.throttle(1, -1.0)
    with pytest.raises(ValueError):
        Flow.throttle(1, 1.0, mode="loose")
    with pytest.raises(TypeError):
        Source.from_iter(5)
    with pytest.raises(TypeError):
        Source.from_async_iter([1])
    with pytest.raises(TypeError):
        Source.empty().via(Sink.seq())
    with pytest.raises(TypeError):
        Source.empty().to(Flow.identity())
    with pytest.raises(TypeError):
        Source.empty().concat([1, 2])
    with pytest.raises(ValueError):
        Flow.map(str).with_supervision([("ValueError", "escalate")])
    with pytest.raises(TypeError):
        Flow.map(str).with_supervision(42)


def test_the_native_builder_refuses_malformed_graphs():
    from atomr._native import _core

    island = _core.StreamIsland()
    with pytest.raises(InvalidGraphError):
        island.map(str)
    island.source_empty()
    island.source_empty()
    with pytest.raises(InvalidGraphError):
        island.sink_seq()
    with pytest.raises(ValueError):
        island.grouped(0)


def test_the_streams_guide_example_runs():
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[2] / "docs" / "streams.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "docs/streams.md", "exec"), {"__name__": "streams_guide"})
