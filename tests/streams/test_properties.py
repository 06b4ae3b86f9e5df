"""Hypothesis properties of the stream operators against plain Python."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from atomr.streams import Sink, Source

ints = st.lists(st.integers(min_value=-1000, max_value=1000), max_size=200)


@settings(max_examples=60, deadline=None)
@given(ints, st.integers(min_value=1, max_value=7), st.integers(min_value=-5, max_value=5))
def test_map_filter_fold_equal_the_comprehension(xs, mod, k):
    graph = (Source.from_iter(xs).map(lambda x: x * k).filter(lambda x: x % mod == 0)
             .to(Sink.fold(0, lambda a, b: a + b)))
    assert graph.run_blocking() == sum(y for y in (x * k for x in xs) if y % mod == 0)
    assert (Source.from_iter(xs).map(lambda x: x * k).filter(lambda x: x % mod == 0)
            .run_blocking_collect()) == [y for y in (x * k for x in xs) if y % mod == 0]


@settings(max_examples=60, deadline=None)
@given(ints, st.integers(min_value=1, max_value=12))
def test_grouped_then_concatenated_is_the_identity(xs, n):
    groups = Source.from_iter(xs).grouped(n).run_blocking_collect()
    assert [x for g in groups for x in g] == xs
    assert all(len(g) == n for g in groups[:-1])
    assert Source.from_iter(xs).grouped(n).map_concat(lambda g: g).run_blocking_collect() == xs


@settings(max_examples=60, deadline=None)
@given(ints, ints)
def test_merge_preserves_the_multiset_and_concat_the_order(xs, ys):
    merged = Source.from_iter(xs).merge(Source.from_iter(ys)).run_blocking_collect()
    assert sorted(merged) == sorted(xs + ys)
    assert Source.from_iter(xs).concat(Source.from_iter(ys)).run_blocking_collect() == xs + ys


@settings(max_examples=60, deadline=None)
@given(ints, st.integers(min_value=0, max_value=250), st.integers(min_value=0, max_value=250))
def test_take_and_skip_equal_slicing(xs, a, b):
    assert Source.from_iter(xs).skip(a).take(b).run_blocking_collect() == xs[a:a + b]


@settings(max_examples=60, deadline=None)
@given(ints, st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=6))
def test_sliding_windows_are_slices(xs, n, step):
    windows = Source.from_iter(xs).sliding(n, step).run_blocking_collect()
    full = [xs[i:i + n] for i in range(0, max(len(xs) - n + 1, 0), step)]
    if not full:
        expected = [xs] if xs else []
    else:
        # A last, shorter window only for elements no full window covered
        # (and that a step larger than the window did not skip).
        rest, last_end = len(full) * step, (len(full) - 1) * step + n
        expected = full + ([xs[rest:]] if rest < len(xs) and last_end < len(xs) else [])
    assert windows == expected


@settings(max_examples=40, deadline=None)
@given(ints)
def test_scan_equals_itertools_accumulate(xs):
    import itertools

    assert Source.from_iter(xs).scan(0, lambda a, b: a + b).run_blocking_collect() \
        == list(itertools.accumulate(xs, initial=0))
