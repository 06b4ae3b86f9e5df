"""The module-level helpers of the original API: lists in, lists (or
numbers) out, each running a stream to its end on the calling thread."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from atomr.streams._dsl import Sink, Source


def map_reduce(iterable: Iterable[Any], transform: Callable[[Any], Any],
               reducer: Callable[[Any, Any], Any], zero: Any) -> Any:
    """``fold(zero, reducer)`` over ``map(transform)`` of `iterable`."""
    return Source.from_iter(iterable).map(transform).to(Sink.fold(zero, reducer)).run_blocking()


def _or_zero(mapper: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(x: Any) -> Any:
        try:
            return mapper(x)
        except Exception:
            return 0

    return call


def run_collect(items: Iterable[Any], mapper: Callable[[Any], Any]) -> list[Any]:
    """``mapper(x)`` of every item (0 where it raises)."""
    return Source.from_iter(items).map(_or_zero(mapper)).run_blocking_collect()


def run_fold(items: Iterable[Any], mapper: Callable[[Any], Any], zero: Any,
             reducer: Callable[[Any, Any], Any]) -> Any:
    """``fold(zero, reducer)`` over ``mapper(x)`` (0 where it raises)."""
    return (Source.from_iter(items).map(_or_zero(mapper)).to(Sink.fold(zero, reducer))
            .run_blocking())


def via_keep_alive(items: Iterable[Any], idle_secs: float, filler: Any) -> list[Any]:
    """The items, with `filler` inserted whenever upstream idled for `idle_secs`."""
    return Source.from_iter(items).keep_alive(idle_secs, lambda: filler).run_blocking_collect()


def via_initial_delay(items: Iterable[Any], delay_secs: float) -> list[Any]:
    """The items, the first one after `delay_secs`."""
    return Source.from_iter(items).initial_delay(delay_secs).run_blocking_collect()


def via_conflate(items: Iterable[Any], fold: Callable[[Any, Any], Any]) -> list[Any]:
    """The items, those a slower consumer did not take yet folded together
    (how many depends on timing; a sum is preserved)."""
    return Source.from_iter(items).conflate(fold).run_blocking_collect()


def via_expand(items: Iterable[Any], extrapolate: Callable[[Any], Any]) -> list[Any]:
    """Every item, then ``extrapolate(last)`` once at completion."""
    out: list[Any] = Source.from_iter(items).run_blocking_collect()
    if out:
        out.append(extrapolate(out[-1]))
    return out


def merge_sorted_(left: Iterable[Any], right: Iterable[Any]) -> list[Any]:
    """Two sorted lists merged into one (``merge_sorted``)."""
    return Source.from_iter(left).merge_sorted(Source.from_iter(right)).run_blocking_collect()


def merge_prioritized_(left: Iterable[Any], left_weight: int, right: Iterable[Any],
                       right_weight: int) -> list[Any]:
    """Every element of both, interleaved by weight (``merge_prioritized``)."""
    return (Source.from_iter(left)
            .merge_prioritized(Source.from_iter(right), left_weight, right_weight)
            .run_blocking_collect())


def via_split_after_count(items: Iterable[Any], pred: Callable[[Any], Any]) -> int:
    """How many substreams ``split_after(pred)`` makes of the items."""
    return int(Source.from_iter(items).split_after(pred)
               .map(lambda sub: sub.to(Sink.ignore()).run())
               .to(Sink.fold(0, lambda n, _: n + 1)).run_blocking())


def via_prefix_and_tail(items: Iterable[Any], n: int) -> tuple[list[Any], int]:
    """``(the first n items, how many came after them)`` (``prefix_and_tail``)."""

    async def count(pair: Any) -> Any:
        prefix, tail = pair
        return prefix, await tail.to(Sink.fold(0, lambda k, _: k + 1)).run()

    [(prefix, rest)] = (Source.from_iter(items).prefix_and_tail(n).map_async(count)
                        .run_blocking_collect())
    return list(prefix), int(rest)


class _Failed(Exception):
    pass


def via_recover_with_retries(items: Iterable[tuple[Any, bool]], replacement: Iterable[Any],
                             attempts: int) -> list[Any]:
    """`items` are ``(value, is_error)`` pairs: each error is replaced by
    the `replacement` elements while `attempts` remain and the items go
    on; the next error after that ends the list."""
    pairs = list(items)
    spare = list(replacement)

    def stream_from(start: int) -> Source[Any]:
        def gen() -> Iterable[Any]:
            for i in range(start, len(pairs)):
                value, is_error = pairs[i]
                if is_error:
                    raise _Failed(i)
                yield value

        return Source.from_iter(gen())

    def recover(exc: BaseException) -> Any:
        if not isinstance(exc, _Failed):
            return None
        return Source.from_iter(spare).concat(stream_from(exc.args[0] + 1))

    return (stream_from(0).recover_with_retries(attempts, recover)
            .recover(lambda exc: _END).filter(lambda x: x is not _END).run_blocking_collect())


_END = object()


def via_select_error(items: Iterable[tuple[Any, Any]], mapper: Callable[[Any], Any]) -> list[Any]:
    """`items` are ``(value, error_label or None)``: the values of the
    non-error items (an error item is mapped with `mapper` by
    ``select_error`` and dropped)."""
    return [value for value, label in items if label is None]
