"""The stream DSL: Source, Flow, Sink and RunnableGraph as reusable blueprints.

A blueprint is a build function that, given a fresh run, adds its stages
to the run's island and returns its materialized value. Composing builds a
new blueprint; nothing runs until ``run()`` / ``run_blocking()``, and every
run materializes the whole graph again (fresh stage state, fresh iterators
of the source iterables). A source over a one-shot iterator or generator can
run once: a second run raises RuntimeError instead of emitting nothing.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Generic, Iterable, Optional, TypeVar, Union

from atomr.errors import StreamAbortedError
from atomr.streams import _graph, _sources, _timed
from atomr.streams._run import AsyncNext, Run, resolve, run_set

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M")

#: A normalized supervision decider: exception -> 0 stop, 1 resume, 2 restart.
_Decider = Callable[[BaseException], int]
#: What a blueprint does to a run: adds its stages, returns its materialized value.
_Build = Callable[[Run, Optional[_Decider]], Any]

_DIRECTIVES = {"stop": 0, "resume": 1, "restart": 2}


class Keep:
    """Materialized-value combiners for ``via_mat`` / ``to_mat`` (Akka's Keep)."""

    @staticmethod
    def left(left: Any, right: Any) -> Any:
        """The left (upstream) value."""
        return left

    @staticmethod
    def right(left: Any, right: Any) -> Any:
        """The right (downstream) value."""
        return right

    @staticmethod
    def both(left: Any, right: Any) -> Any:
        """Both, as a tuple ``(left, right)``."""
        return (left, right)

    @staticmethod
    def none(left: Any, right: Any) -> Any:
        """Neither: None."""
        return None


def _directive(value: Any) -> int:
    if isinstance(value, str) and value.lower() in _DIRECTIVES:
        return _DIRECTIVES[value.lower()]
    raise ValueError(f"a stream supervision directive is one of 'stop', 'resume', 'restart', "
                     f"got {value!r}")


def _class_paths(cls: type) -> tuple[str, str]:
    qual = cls.__qualname__
    return (f"{cls.__module__}.{qual}", qual)


def make_decider(decider: Any = None, default: Any = "stop") -> _Decider:
    """A supervision decider from its user forms.

    Args:
        decider: A callable ``exc -> directive``; or pairs ``(key,
            directive)`` where `key` is an exception class (matched with
            isinstance) or a class path (``"builtins.ValueError"``, the bare
            name ``"ValueError"``, or ``"module.Qualname"``), looked up along
            the exception's MRO, the exact path before the bare name; or
            None (every failure gets `default`).
        default: The directive when no pair matches: ``"stop"`` (fail the
            stream), ``"resume"`` (drop the element) or ``"restart"`` (drop
            it and reset the stage's state).

    Returns:
        The normalized decider.

    Raises:
        ValueError: an unknown directive.
        TypeError: a decider of another form.
    """
    fallback = _directive("stop" if default is None else default)
    if decider is None:
        return lambda exc: fallback
    if callable(decider):
        fn = decider

        def call(exc: BaseException) -> int:
            return _directive(fn(exc))

        return call
    if isinstance(decider, (str, bytes)) or not isinstance(decider, Iterable):
        raise TypeError(f"decider must be a callable or (class or class path, directive) pairs, "
                        f"not {type(decider).__name__}")
    by_class: list[tuple[type, int]] = []
    by_path: dict[str, int] = {}
    for pair in decider:
        key, value = pair
        directive = _directive(value)
        if isinstance(key, type) and issubclass(key, BaseException):
            by_class.append((key, directive))
        elif isinstance(key, str):
            by_path.setdefault(key, directive)
        else:
            raise TypeError(f"a decider key is an exception class or a class path, not {key!r}")

    def lookup(exc: BaseException) -> int:
        for cls, directive in by_class:
            if isinstance(exc, cls):
                return directive
        for klass in type(exc).__mro__:
            full, bare = _class_paths(klass)
            for path in (full, bare):
                if path in by_path:
                    return by_path[path]
        return fallback

    return lookup


def _check_callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} must be callable, not {type(fn).__name__}")


def _check_count(n: Any, what: str, minimum: int = 0) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    if n < minimum or n > 2**62:
        raise ValueError(f"{what} must be at least {minimum}, got {n}")
    return n


_OVERFLOW_STRATEGIES = ("backpressure", "drop_head", "drop_tail", "drop_buffer", "drop_new",
                        "fail")


class _Operator:
    """An operator spelled both ways: ``Flow.map(fn)`` builds a Flow, and
    ``source.map(fn)`` / ``flow.map(fn)`` appends it (``.via(Flow.map(fn))``)."""

    def __init__(self, factory: Callable[..., "Flow[Any, Any]"],
                 combine: Optional[Callable[[Any, Any], Any]] = None) -> None:
        self.factory = factory
        self.combine = combine  # appending keeps the flow's value too (via_mat)
        self.__doc__ = factory.__doc__
        self.__wrapped__ = factory  # its signature, for inspect and the reference pages

    def __call__(self, *args: Any, **kwargs: Any) -> "Flow[Any, Any]":
        return self.factory(*args, **kwargs)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self.factory
        factory, combine = self.factory, self.combine

        def append(*args: Any, **kwargs: Any) -> Any:
            if combine is not None:
                return obj.via_mat(factory(*args, **kwargs), combine)
            return obj.via(factory(*args, **kwargs))

        append.__doc__ = factory.__doc__
        return append


def _linear(step: Callable[[Any, Optional[_Decider]], None], is_async: bool = False
            ) -> "Flow[Any, Any]":
    def build(run: Run, decider: Optional[_Decider]) -> Any:
        step(run.island, decider)
        return None

    return Flow(build, is_async)


# ---------------------------------------------------------------------------- operators


def _map(fn: Callable[[Any], Any]) -> "Flow[Any, Any]":
    """Transforms every element with ``fn(x)``. An exception fails the stream
    unless the supervision decider resumes or restarts (then the element is
    dropped)."""
    _check_callable(fn, "map's function")
    return _linear(lambda isl, d: isl.map(fn, d))


def _filter(pred: Callable[[Any], Any]) -> "Flow[Any, Any]":
    """Keeps the elements for which ``pred(x)`` is truthy."""
    _check_callable(pred, "filter's predicate")
    return _linear(lambda isl, d: isl.filter(pred, d, False))


def _filter_not(pred: Callable[[Any], Any]) -> "Flow[Any, Any]":
    """Keeps the elements for which ``pred(x)`` is falsy."""
    _check_callable(pred, "filter_not's predicate")
    return _linear(lambda isl, d: isl.filter(pred, d, True))


def _take(n: int) -> "Flow[Any, Any]":
    """Passes the first `n` elements, then completes and cancels upstream."""
    count = _check_count(n, "take's count")
    return _linear(lambda isl, d: isl.take(count))


def _skip(n: int) -> "Flow[Any, Any]":
    """Drops the first `n` elements (Akka's drop)."""
    count = _check_count(n, "skip's count")
    return _linear(lambda isl, d: isl.skip(count))


def _take_while(pred: Callable[[Any], Any], inclusive: bool = False) -> "Flow[Any, Any]":
    """Passes elements while ``pred(x)`` holds, then completes (with the
    first failing element too when `inclusive`)."""
    _check_callable(pred, "take_while's predicate")
    inc = bool(inclusive)
    return _linear(lambda isl, d: isl.take_while(pred, d, inc))


def _drop_while(pred: Callable[[Any], Any]) -> "Flow[Any, Any]":
    """Drops elements while ``pred(x)`` holds, then passes everything."""
    _check_callable(pred, "drop_while's predicate")
    return _linear(lambda isl, d: isl.drop_while(pred, d))


def _map_concat(fn: Callable[[Any], Iterable[Any]]) -> "Flow[Any, Any]":
    """Emits every element of the iterable ``fn(x)``, one at a time (the
    iterable is read as downstream demands)."""
    _check_callable(fn, "map_concat's function")
    return _linear(lambda isl, d: isl.map_concat(fn, d))


def _scan(zero: Any, fn: Callable[[Any, Any], Any]) -> "Flow[Any, Any]":
    """Emits `zero`, then ``acc = fn(acc, x)`` after every element. Restart
    resets the accumulator to `zero`."""
    _check_callable(fn, "scan's function")
    return _linear(lambda isl, d: isl.scan(zero, fn, d))


def _fold(zero: Any, fn: Callable[[Any, Any], Any]) -> "Flow[Any, Any]":
    """Emits the final ``fn(...fn(zero, x1)..., xn)`` when upstream completes."""
    _check_callable(fn, "fold's function")
    return _linear(lambda isl, d: isl.fold(zero, fn, d))


def _reduce(fn: Callable[[Any, Any], Any]) -> "Flow[Any, Any]":
    """As fold, seeded with the first element; an empty stream fails with
    EmptyStreamError."""
    _check_callable(fn, "reduce's function")
    return _linear(lambda isl, d: isl.reduce(fn, d))


def _grouped(n: int) -> "Flow[Any, Any]":
    """Emits lists of `n` elements (the last one may be shorter)."""
    size = _check_count(n, "grouped's size", 1)
    return _linear(lambda isl, d: isl.grouped(size))


def _sliding(n: int, step: int = 1) -> "Flow[Any, Any]":
    """Emits windows (lists) of `n` elements, each `step` after the previous;
    a shorter last window only if it holds elements no window had."""
    size = _check_count(n, "sliding's window", 1)
    every = _check_count(step, "sliding's step", 1)
    return _linear(lambda isl, d: isl.sliding(size, every))


def _recover(fn: Callable[[BaseException], Any]) -> "Flow[Any, Any]":
    """On an upstream failure, emits ``fn(exc)`` and completes. To pass a
    failure on, `fn` re-raises it (or raises another)."""
    _check_callable(fn, "recover's function")
    return _linear(lambda isl, d: isl.recover(fn))


_ERROR_TAG = "__atomr_stream_error__"


def _error_class_path(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _try_map(fn: Callable[[Any], Any]) -> "Flow[Any, Any]":
    """As map, for callables expected to fail: under a supervision decider
    (``with_supervision``) a failure is decided as for any stage (resume
    and restart drop the element, stop fails the stream); without one, the
    failure becomes the element ``("__atomr_stream_error__", class_path)``
    (the bare class name for builtins, else ``module.qualname``)."""
    _check_callable(fn, "try_map's function")

    def tagged(x: Any) -> Any:
        try:
            return fn(x)
        except Exception as exc:
            return (_ERROR_TAG, _error_class_path(exc))

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        if decider is None:
            run.island.map(tagged, None)
        else:
            run.island.map(fn, decider)
        return None

    return Flow(build)


def _select_error(fn: Callable[[BaseException], BaseException]) -> "Flow[Any, Any]":
    """Replaces an upstream failure with the exception ``fn(exc)`` (Akka's
    mapError); elements pass unchanged."""
    _check_callable(fn, "select_error's function")

    def rethrow(exc: BaseException) -> Any:
        replacement = fn(exc)
        if not isinstance(replacement, BaseException):
            raise TypeError(f"select_error's function must return an exception, "
                            f"not {type(replacement).__name__}")
        raise replacement from exc

    return _linear(lambda isl, d: isl.recover(rethrow))


def _map_async(fn: Callable[[Any], Any], parallelism: int = 1, ordered: bool = True
               ) -> "Flow[Any, Any]":
    """Calls ``fn(x)`` (returning an awaitable) for up to `parallelism`
    elements at once and emits the results, in upstream order (or as they
    finish when `ordered` is false). An async boundary: the graph then needs
    an event loop (``run()``; ``run_blocking()`` runs one). A failed result
    fails the stream unless the decider resumes or restarts."""
    _check_callable(fn, "map_async's function")
    par = _check_count(parallelism, "map_async's parallelism", 1)
    order = bool(ordered)
    return _linear(lambda isl, d: isl.map_async(fn, par, order, d), True)


def _map_async_unordered(fn: Callable[[Any], Any], parallelism: int = 1) -> "Flow[Any, Any]":
    """map_async emitting results as they finish."""
    return _map_async(fn, parallelism, False)


def _buffer(size: int, overflow_strategy: str = "backpressure") -> "Flow[Any, Any]":
    """Lets upstream run up to `size` elements ahead while downstream waits
    for an async stage; when full, ``"backpressure"`` stops pulling, and
    ``"drop_head"``, ``"drop_tail"``, ``"drop_buffer"``, ``"drop_new"``
    drop elements, ``"fail"`` fails with BufferOverflowError."""
    cap = _check_count(size, "buffer's size", 1)
    strategy = str(getattr(overflow_strategy, "value", overflow_strategy)).lower()
    if strategy not in _OVERFLOW_STRATEGIES:
        raise ValueError(f"buffer's overflow strategy is one of {', '.join(_OVERFLOW_STRATEGIES)}, "
                         f"got {overflow_strategy!r}")
    return _linear(lambda isl, d: isl.buffer(cap, strategy))


def _throttle(elements: int, per: float, maximum_burst: int = 1, mode: str = "shaping"
              ) -> "Flow[Any, Any]":
    """Passes at most `elements` per `per` seconds, up to `maximum_burst` at
    once. ``mode="shaping"`` delays elements; ``"enforcing"`` fails with
    RateExceededError instead. Needs an event loop (its timer)."""
    count = _check_count(elements, "throttle's elements", 1)
    if isinstance(per, bool) or not isinstance(per, (int, float)):
        raise TypeError(f"throttle's period must be a number of seconds, not {type(per).__name__}")
    if not 0.0 < float(per) <= 9.0e9:
        raise ValueError(f"throttle's period must be a positive number of seconds, got {per!r}")
    burst = _check_count(maximum_burst, "throttle's maximum burst", 1)
    if mode not in ("shaping", "enforcing"):
        raise ValueError(f"throttle's mode is 'shaping' or 'enforcing', got {mode!r}")
    enforcing = mode == "enforcing"
    period = float(per)
    return _linear(lambda isl, d: isl.throttle(count, period, burst - 1, enforcing), True)


def _fan_in(name: str, other: "Source[Any]", op: Callable[[Any], None]) -> "Flow[Any, Any]":
    if not isinstance(other, Source):
        raise TypeError(f"{name} needs a Source, not {type(other).__name__}")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        other._build(run, decider)
        op(run.island)
        return None

    return Flow(build, other._async)


def _concat(other: "Source[Any]") -> "Flow[Any, Any]":
    """Emits upstream's elements, then `other`'s."""
    return _fan_in("concat", other, lambda isl: isl.concat())


def _merge(other: "Source[Any]", eager_complete: bool = False) -> "Flow[Any, Any]":
    """Emits the elements of upstream and `other` as they come (alternating
    while both have elements); completes when both have (either one with
    `eager_complete`)."""
    eager = bool(eager_complete)
    return _fan_in("merge", other, lambda isl: isl.merge(eager))


def _zip(other: "Source[Any]") -> "Flow[Any, Any]":
    """Emits ``(x, y)`` pairs of upstream's and `other`'s elements; completes
    with the shorter side."""
    return _fan_in("zip", other, lambda isl: isl.zip(None))


def _zip_with(other: "Source[Any]", fn: Callable[[Any, Any], Any]) -> "Flow[Any, Any]":
    """Emits ``fn(x, y)`` for pairs of upstream's and `other`'s elements."""
    _check_callable(fn, "zip_with's function")
    return _fan_in("zip_with", other, lambda isl: isl.zip(fn))


def _interleave(other: "Source[Any]", segment_size: int) -> "Flow[Any, Any]":
    """Emits `segment_size` elements of upstream, then of `other`, in turn;
    when one side completes the other goes on alone."""
    seg = _check_count(segment_size, "interleave's segment size", 1)
    return _fan_in("interleave", other, lambda isl: isl.interleave(seg))


class _Blueprint:
    __slots__ = ("_build", "_async")

    def __init__(self, build: _Build, is_async: bool = False) -> None:
        self._build = build
        self._async = is_async

    def _with_decider(self, decider: Any, default: Any) -> _Build:
        normalized = make_decider(decider, default)
        inner = self._build

        def build(run: Run, outer: Optional[_Decider]) -> Any:
            return inner(run, normalized)

        return build


class _Operators:
    """The operators Source and Flow share: ``Flow.map(fn)`` builds a flow,
    ``source.map(fn)`` / ``flow.map(fn)`` appends one."""

    __slots__ = ()

    map = _Operator(_map)
    filter = _Operator(_filter)
    filter_not = _Operator(_filter_not)
    take = _Operator(_take)
    skip = _Operator(_skip)
    drop = _Operator(_skip)
    take_while = _Operator(_take_while)
    drop_while = _Operator(_drop_while)
    map_concat = _Operator(_map_concat)
    scan = _Operator(_scan)
    fold = _Operator(_fold)
    reduce = _Operator(_reduce)
    grouped = _Operator(_grouped)
    sliding = _Operator(_sliding)
    recover = _Operator(_recover)
    map_async = _Operator(_map_async)
    map_async_unordered = _Operator(_map_async_unordered)
    buffer = _Operator(_buffer)
    throttle = _Operator(_throttle)
    concat = _Operator(_concat)
    merge = _Operator(_merge)
    zip = _Operator(_zip)
    zip_with = _Operator(_zip_with)
    interleave = _Operator(_interleave)
    async_ = _Operator(_graph.async_boundary)
    also_to = _Operator(_graph.also_to)
    wire_tap = _Operator(_graph.wire_tap)
    #: Appended, the future is the materialized value (``Keep.right``).
    watch_termination = _Operator(_graph.watch_termination, Keep.right)
    try_map = _Operator(_try_map)
    select_error = _Operator(_select_error)
    recover_with_retries = _Operator(_timed.recover_with_retries)
    initial_delay = _Operator(_timed.initial_delay)
    keep_alive = _Operator(_timed.keep_alive)
    idle_timeout = _Operator(_timed.idle_timeout)
    initial_timeout = _Operator(_timed.initial_timeout)
    completion_timeout = _Operator(_timed.completion_timeout)
    grouped_within = _Operator(_timed.grouped_within)
    conflate = _Operator(_timed.conflate)
    conflate_with_seed = _Operator(_timed.conflate_with_seed)
    batch = _Operator(_timed.batch)
    expand = _Operator(_timed.expand)
    merge_sorted = _Operator(_timed.merge_sorted)
    merge_prioritized = _Operator(_timed.merge_prioritized)
    flat_map_concat = _Operator(_timed.flat_map_concat)
    flat_map_merge = _Operator(_timed.flat_map_merge)
    prefix_and_tail = _Operator(_timed.prefix_and_tail)
    split_when = _Operator(_timed.split_when)
    split_after = _Operator(_timed.split_after)


class Flow(_Blueprint, _Operators, Generic[T, U]):
    """A processing step with one input and one output: a reusable blueprint.

    Build one with the operators (``Flow.map(fn)``, ``Flow.filter(p)``, ...)
    and chain more onto it (``Flow.map(f).filter(p)``); ``flow.via(other)``
    composes two.
    """

    __slots__ = ()

    @staticmethod
    def identity() -> "Flow[Any, Any]":
        """A flow that passes every element."""
        return Flow(lambda run, decider: None)

    @staticmethod
    def from_fn(fn: Callable[[Any], Any]) -> "Flow[Any, Any]":
        """The same as ``Flow.map(fn)``."""
        return _map(fn)


    def via(self, flow: "Flow[Any, Any]") -> "Flow[Any, Any]":
        """This flow followed by `flow` (materialized value: this one's)."""
        return self.via_mat(flow, Keep.left)

    def via_mat(self, flow: "Flow[Any, Any]", combine: Callable[[Any, Any], Any]
                ) -> "Flow[Any, Any]":
        """This flow followed by `flow`, their materialized values combined
        with `combine` (a :class:`Keep` function or any ``f(left, right)``)."""
        if not isinstance(flow, Flow):
            raise TypeError(f"via needs a Flow, not {type(flow).__name__}")
        first, second = self._build, flow._build

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            left = first(run, decider)
            return combine(left, second(run, decider))

        return Flow(build, self._async or flow._async)

    def to(self, sink: "Sink[Any, Any]") -> "Sink[Any, Any]":
        """A sink: this flow into `sink` (materialized value: the sink's)."""
        return self.to_mat(sink, Keep.right)

    def to_mat(self, sink: "Sink[Any, Any]", combine: Callable[[Any, Any], Any]
               ) -> "Sink[Any, Any]":
        """A sink: this flow into `sink`, materialized values combined."""
        if not isinstance(sink, Sink):
            raise TypeError(f"to needs a Sink, not {type(sink).__name__}")
        first, second = self._build, sink._build

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            left = first(run, decider)
            return combine(left, second(run, decider))

        return Sink(build, self._async or sink._async)

    def with_supervision(self, decider: Any = None, default: Any = "stop") -> "Flow[T, U]":
        """This flow with a supervision decider for the failures of its
        stages' callables (see :func:`make_decider` for the forms). An inner
        decider wins over an outer one."""
        return Flow(self._with_decider(decider, default), self._async)


class Source(_Blueprint, _Operators, Generic[T]):
    """A stage with one output: a reusable blueprint of where elements come from."""

    __slots__ = ()

    @staticmethod
    def from_iter(iterable: Iterable[T]) -> "Source[T]":
        """The elements of `iterable`, read lazily as downstream demands. A
        collection is iterated afresh by every run; a one-shot iterator or
        generator serves one run, and a second run raises RuntimeError."""
        if not hasattr(iterable, "__iter__"):
            raise TypeError(f"from_iter needs an iterable, not {type(iterable).__name__}")
        used = threading.Lock()

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            it = iter(iterable)
            if it is iterable and not used.acquire(blocking=False):
                raise RuntimeError("this Source reads a one-shot iterator that an earlier run "
                                   "already consumed; build a new Source (or pass a collection)")
            run.island.source_iter(it)
            return None

        return Source(build)

    @staticmethod
    def from_async_iter(aiterable: Any) -> "Source[Any]":
        """The elements of an async iterable (``__aiter__``), awaited one at
        a time as downstream demands. Needs an event loop. A one-shot async
        iterator (an async generator) serves one run."""
        if not hasattr(aiterable, "__aiter__"):
            raise TypeError(f"from_async_iter needs an async iterable, "
                            f"not {type(aiterable).__name__}")
        used = threading.Lock()

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            it = aiterable.__aiter__()
            if it is aiterable and not used.acquire(blocking=False):
                raise RuntimeError("this Source reads a one-shot async iterator that an earlier "
                                   "run already consumed; build a new Source")
            run.island.source_async(AsyncNext(it))
            return None

        return Source(build, True)

    @staticmethod
    def empty() -> "Source[Any]":
        """Completes at once."""
        return Source(lambda run, decider: run.island.source_empty())

    @staticmethod
    def single(element: T) -> "Source[T]":
        """Emits `element`, then completes."""
        return Source(lambda run, decider: run.island.source_single(element))

    @staticmethod
    def repeat(element: T) -> "Source[T]":
        """Emits `element` forever (bound it with ``take`` or a kill switch)."""
        return Source(lambda run, decider: run.island.source_repeat(element))

    @staticmethod
    def tick(initial_delay: float, interval: float, element: Any) -> "Source[Any]":
        """Emits `element` after `initial_delay` seconds, then every
        `interval` seconds while downstream keeps up (a tick it was not
        ready for is dropped). Materializes a Cancellable (``cancel()``
        completes the stream)."""
        return _sources.tick(initial_delay, interval, element)

    @staticmethod
    def from_queue(buffer_size: Optional[int] = None, overflow_strategy: str = "dropnew"
                   ) -> "tuple[Source[Any], _sources.SourceQueue]":
        """``(source, queue)``: a Source emitting what is offered to the
        :class:`SourceQueue` (from any thread; unbounded by default), run once."""
        return _sources.from_queue(buffer_size, overflow_strategy)

    @staticmethod
    def queue(buffer_size: int, overflow_strategy: str = "dropnew") -> "Source[Any]":
        """A Source whose every run materializes its own
        :class:`SourceQueue` of `buffer_size` (Akka's Source.queue)."""
        return _sources.queue_source(buffer_size, overflow_strategy)

    @staticmethod
    def actor_ref(buffer_size: int, overflow_strategy: str = "dropnew",
                  completion_matcher: Optional[Callable[[Any], bool]] = None,
                  failure_matcher: Optional[Callable[[Any], Optional[BaseException]]] = None
                  ) -> "Source[Any]":
        """A Source whose every run materializes an ActorSourceRef: what is
        told to it is emitted (see :func:`atomr.streams.ActorSourceRef`)."""
        return _sources.actor_ref_source(buffer_size, overflow_strategy, completion_matcher,
                                         failure_matcher)

    @staticmethod
    def failed(exc: BaseException) -> "Source[Any]":
        """Fails at once with `exc`."""
        if not isinstance(exc, BaseException):
            raise TypeError(f"failed needs an exception, not {type(exc).__name__}")
        return Source(lambda run, decider: run.island.source_failed(exc))


    def via(self, flow: Flow[Any, Any]) -> "Source[Any]":
        """This source followed by `flow` (materialized value: the source's)."""
        return self.via_mat(flow, Keep.left)

    def via_mat(self, flow: Flow[Any, Any], combine: Callable[[Any, Any], Any]) -> "Source[Any]":
        """This source followed by `flow`, materialized values combined."""
        if not isinstance(flow, Flow):
            raise TypeError(f"via needs a Flow, not {type(flow).__name__}")
        first, second = self._build, flow._build

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            left = first(run, decider)
            return combine(left, second(run, decider))

        return Source(build, self._async or flow._async)

    def to(self, sink: "Sink[Any, Any]") -> "RunnableGraph[Any]":
        """The runnable graph of this source into `sink`; its materialized
        value is the sink's (as ``to_mat(sink, Keep.right)``)."""
        return self.to_mat(sink, Keep.right)

    def to_mat(self, sink: "Sink[Any, Any]", combine: Callable[[Any, Any], Any]
               ) -> "RunnableGraph[Any]":
        """The runnable graph of this source into `sink`, materialized values
        combined with `combine`."""
        if not isinstance(sink, Sink):
            raise TypeError(f"to needs a Sink, not {type(sink).__name__}")
        first, second = self._build, sink._build

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            left = first(run, decider)
            return combine(left, second(run, decider))

        return RunnableGraph(build, self._async or sink._async)

    def with_supervision(self, decider: Any = None, default: Any = "stop") -> "Source[T]":
        """This source with a supervision decider for its stages (see
        :meth:`Flow.with_supervision`)."""
        return Source(self._with_decider(decider, default), self._async)

    def kill_switch(self) -> "tuple[Source[T], KillSwitch]":
        """This source gated by a new kill switch: ``shutdown()`` completes
        the streams it runs in, ``abort(error)`` fails them. The switch
        serves every run of the returned source."""
        switch = KillSwitch()
        return self.via(switch.flow()), switch

    def run_with(self, sink: "Sink[Any, M]") -> Any:
        """``self.to(sink).run()``: starts the graph on the running loop."""
        return self.to(sink).run()

    def run_collect_async(self) -> "asyncio.Future[list[Any]]":
        """Starts the graph into ``Sink.seq()`` on the running loop; the
        awaitable list of every element."""
        return self.to(Sink.seq()).run()

    def run_blocking_collect(self) -> "list[Any]":
        """Runs the graph into ``Sink.seq()`` on this thread; every element."""
        result: list[Any] = self.to(Sink.seq()).run_blocking()
        return result


class Sink(_Blueprint, Generic[T, M]):
    """A stage with one input: where elements go, with a materialized value
    (an awaitable result in ``run()``, the result itself in ``run_blocking()``)."""

    __slots__ = ()

    @staticmethod
    def _completing(attach: Callable[[Any, Optional[_Decider]], None]) -> "Sink[Any, Any]":
        """A sink ``attach(island, decider)`` ends the island with; it
        materializes to the run's completion."""

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            attach(run.island, decider)
            return run.completion

        return Sink(build)

    @staticmethod
    def seq() -> "Sink[Any, list[Any]]":
        """Every element, as a list."""
        return Sink._completing(lambda isl, _: isl.sink_seq())

    @staticmethod
    def collect() -> "Sink[Any, list[Any]]":
        """The same as :meth:`seq`."""
        return Sink.seq()

    @staticmethod
    def fold(zero: Any, fn: Callable[[Any, Any], Any]) -> "Sink[Any, Any]":
        """``fn(...fn(zero, x1)..., xn)``. A raising `fn` fails the stream
        unless the decider resumes (skip the element) or restarts (back to
        `zero`)."""
        _check_callable(fn, "fold's function")
        return Sink._completing(lambda isl, d: isl.sink_fold(zero, fn, d))

    @staticmethod
    def reduce(fn: Callable[[Any, Any], Any]) -> "Sink[Any, Any]":
        """As fold, seeded with the first element; an empty stream fails
        with EmptyStreamError."""
        _check_callable(fn, "reduce's function")
        return Sink._completing(lambda isl, d: isl.sink_reduce(fn, d))

    @staticmethod
    def head_option() -> "Sink[Any, Any]":
        """The first element (then upstream is cancelled), or None."""
        return Sink._completing(lambda isl, _: isl.sink_head_option())

    @staticmethod
    def last_option() -> "Sink[Any, Any]":
        """The last element, or None."""
        return Sink._completing(lambda isl, _: isl.sink_last_option())

    @staticmethod
    def foreach(fn: Callable[[Any], Any]) -> "Sink[Any, None]":
        """Calls ``fn(x)`` for every element, in order; None at completion."""
        _check_callable(fn, "foreach's function")
        return Sink._completing(lambda isl, d: isl.sink_foreach(fn, d))

    @staticmethod
    def ignore() -> "Sink[Any, None]":
        """Drains the stream; None at completion."""
        return Sink._completing(lambda isl, _: isl.sink_ignore())

    @staticmethod
    def queue(source: "Optional[Source[Any]]" = None, buffer_size: int = 16) -> Any:
        """``Sink.queue()``: a Sink materializing a :class:`SinkQueue`
        (``await q.pull()`` / ``q.pull_blocking()``, None at the end).
        ``Sink.queue(source)`` runs `source` into one now and returns it."""
        return _sources.queue_sink(source, buffer_size)

    @staticmethod
    def actor_ref_with_backpressure(ref: Any, on_complete: Any = None,
                                    on_failure: Optional[Callable[[BaseException], Any]] = None,
                                    timeout: float = 5.0) -> "Sink[Any, Any]":
        """Asks the actor `ref` with every element and waits for its reply
        (the acknowledgement) before sending the next; tells it
        `on_complete` at the end, ``on_failure(exc)`` on failure."""
        return _sources.actor_ref_sink(ref, on_complete, on_failure, timeout)

    actor_ref_with_ack = actor_ref_with_backpressure

    def with_supervision(self, decider: Any = None, default: Any = "stop") -> "Sink[T, M]":
        """This sink with a supervision decider (see :meth:`Flow.with_supervision`)."""
        return Sink(self._with_decider(decider, default), self._async)


class RunnableGraph(_Blueprint, Generic[M]):
    """A source connected to a sink: ready to run, any number of times."""

    __slots__ = ()

    def _materialize(self, loop: Optional[asyncio.AbstractEventLoop]) -> tuple[Run, Any]:
        run = Run(loop)
        mat = self._build(run, None)
        return run, mat

    def run(self) -> Any:
        """Materializes and starts the graph on the running event loop's
        thread, in slices that give the loop back between them.

        Returns:
            The materialized value, at once. The sink's part of it is an
            awaitable (an asyncio Future) of the sink's result; with the
            default ``to`` that is the whole value, so ``await graph.run()``
            gives the result. Cancelling that future cancels the stream.

        Raises:
            RuntimeError: no running event loop, or a one-shot source already ran.
        """
        loop = asyncio.get_running_loop()
        run, mat = self._materialize(loop)
        run.start()
        return mat

    def run_blocking(self) -> Any:
        """Runs the graph to its end on this thread (any thread) and returns
        the materialized value with the sink's result in place of its
        awaitable; the stream's failure is raised. A graph with an async
        stage gets a private event loop for the run (on this thread, or on
        a helper thread when this one already runs a loop)."""
        if not self._async:
            run, mat = self._materialize(None)
            result = run.run_to_end()
            return resolve(mat, run.completion, result, run.side_completions())
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run_and_wait())
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = asyncio.run(self._run_and_wait())
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=target, name="atomr-stream-run", daemon=True)
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    async def _run_and_wait(self) -> Any:
        loop = asyncio.get_running_loop()
        run, mat = self._materialize(loop)
        run.start()
        try:
            result = await run.completion
        finally:
            # The other islands of the graph (side sinks, fan-out branches)
            # finish too: a blocking run returns when all of them have.
            others = ([other.completion for other in run.family] + run.background
                      + run.side_completions())
            if others:
                await asyncio.wait(others)
        return resolve(mat, run.completion, result, others)

    def with_supervision(self, decider: Any = None, default: Any = "stop") -> "RunnableGraph[M]":
        """This graph with a supervision decider for every stage that has
        none of its own."""
        return RunnableGraph(self._with_decider(decider, default), self._async)


class KillSwitch:
    """Stops the streams it gates from outside, from any thread.

    ``shutdown()`` completes them (upstream cancelled, downstream
    completed); ``abort(error)`` fails them with `error`. The first call
    wins; later ones do nothing. Usable standalone, as the switch of
    ``source.kill_switch()``, or gating any graph through :meth:`flow`.
    """

    def __init__(self) -> None:
        from atomr._native import _core

        self._state = _core.KillSwitchState()
        self._error: Optional[BaseException] = None
        self._runs = run_set()
        self._lock = threading.Lock()

    def flow(self) -> Flow[Any, Any]:
        """A flow gated by this switch (every run of every graph it is in)."""
        state = self._state

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            run.island.gate(state, self)
            run.watch_switch(self)
            return self

        return Flow(build)

    def shutdown(self) -> None:
        """Completes the gated streams."""
        with self._lock:
            flipped = self._state.shutdown()
        if flipped:
            self._wake()

    def abort(self, error: Union[BaseException, str, None] = None) -> None:
        """Fails the gated streams with `error` (an exception; a message
        becomes a StreamAbortedError; default ``"aborted"``)."""
        if error is None:
            error = "aborted"
        exc = error if isinstance(error, BaseException) else StreamAbortedError(str(error))
        with self._lock:  # the error is set before any island can see the flip
            if self._state.state() != 0:
                return
            self._error = exc
            self._state.abort()
        self._wake()

    def is_shut_down(self) -> bool:
        """True after shutdown() or abort()."""
        return bool(self._state.state() != 0)

    def error(self) -> Optional[str]:
        """The abort's message, or None."""
        if self._state.state() != 2 or self._error is None:
            return None
        return str(self._error)

    def _abort_failure(self) -> BaseException:
        return self._error if self._error is not None else StreamAbortedError("aborted")

    def _watch(self, run: Run) -> None:
        with self._lock:
            self._runs.add(run)

    def _unwatch(self, run: Run) -> None:
        with self._lock:
            self._runs.discard(run)

    def _wake(self) -> None:
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.wake()


class UniqueKillSwitch(KillSwitch):
    """The kill switch one materialization of ``KillSwitches.single()`` gives."""


class SharedKillSwitch(KillSwitch):
    """A named kill switch for any number of streams (``KillSwitches.shared``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __repr__(self) -> str:
        return f"SharedKillSwitch({self.name!r})"


class KillSwitches:
    """Kill switch factories (Akka's KillSwitches)."""

    @staticmethod
    def single() -> Flow[Any, Any]:
        """A flow whose every materialization creates its own
        :class:`UniqueKillSwitch` (its materialized value: use
        ``via_mat(KillSwitches.single(), Keep.right)``)."""

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            switch = UniqueKillSwitch()
            return switch.flow()._build(run, decider)

        return Flow(build)

    @staticmethod
    def shared(name: str) -> SharedKillSwitch:
        """A :class:`SharedKillSwitch`; gate graphs with its ``flow()``."""
        if not isinstance(name, str):
            raise TypeError(f"a shared kill switch's name is a str, not {type(name).__name__}")
        return SharedKillSwitch(name)
