"""Timed, rate-decoupling and substream operators.

Each of these needs the loop (a timer, or elements moving while downstream
does not pull) or several streams at once, which the fused interpreter has
no native stage for. Such an operator splits the island where it stands
(``_channel.cut``): upstream runs on as its own island into a bounded
channel, and the operator is an async source of the downstream island
reading that channel (an async generator yielding batches of elements).
Substreams run as islands of their own, each into a bounded channel.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any, AsyncIterator, Callable, Iterable, Optional

from atomr.errors import StreamTimeoutError
from atomr.streams import _dsl
from atomr.streams._channel import (
    CAPACITY,
    OFFERS_IN_FLIGHT,
    Channel,
    consume,
    cut,
    feed,
    single_offer,
    watch_consumer,
)
from atomr.streams._run import Run

_Decider = Callable[[BaseException], int]
_EOS = object()


class _Timeout(Exception):
    pass


def _seconds(value: Any, what: str, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    v = float(value)
    if not (0.0 <= v if zero_ok else 0.0 < v) or v > 9.0e9:
        raise ValueError(f"{what} must be a {'non-negative' if zero_ok else 'positive'} "
                         f"number of seconds, got {value!r}")
    return v


async def _take(chan: Channel, timeout: Optional[float] = None) -> Any:
    """The next element of `chan`, or _EOS at its end; raises its failure,
    or _Timeout when nothing came within `timeout` seconds."""
    if not chan.buf and not chan.closed:
        ready = chan.ready()
        if timeout is None:
            await ready
        else:
            done, _ = await asyncio.wait([ready], timeout=max(0.0, timeout))
            if not done:
                raise _Timeout
    if chan.buf:
        return chan.take_one()
    if chan.failure is not None:
        raise chan.failure
    return _EOS


def _drain(chan: Channel) -> list[Any]:
    batch = list(chan.buf)
    chan.buf.clear()
    chan._wake_room()
    return batch


def _cut_op(make: Callable[[Run, Channel], AsyncIterator[list[Any]]],
            channel: Optional[Callable[[Run], Channel]] = None) -> "_dsl.Flow[Any, Any]":
    """A flow that cuts the island and reads the channel with `make(run, chan)`."""

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        chan = cut(run, CAPACITY, channel(run) if channel is not None else None)
        consume(run, make(run, chan))
        return None

    return _dsl.Flow(build, True)


class _Owned:
    """Channels an operator opened while running; cancelled when the
    island reading them finishes."""

    def __init__(self, run: Run) -> None:
        self.chans: list[Channel] = []
        run.finishers.append(self.cancel_all)

    def cancel_all(self, exc: Optional[BaseException] = None) -> None:
        for chan in self.chans:
            chan.cancel(exc)


def start_source(run: Run, source: Any, capacity: int = CAPACITY, start: bool = True) -> Channel:
    """Runs `source` as a new island of `run`'s materialization into a
    channel; the channel."""
    if not isinstance(source, _dsl.Source):
        raise TypeError(f"expected a Source, got {type(source).__name__}")
    assert run.loop is not None
    chan = Channel(run.loop, capacity)
    child = run.spawn()
    source._build(child, None)
    feed(child, single_offer(child, chan), [chan], OFFERS_IN_FLIGHT)
    if start:
        child.start()
    return chan


def channel_source(chan: Channel) -> "_dsl.Source[Any]":
    """A one-shot Source reading `chan` (run it on the same loop)."""
    used = threading.Lock()

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        if not used.acquire(blocking=False):
            raise RuntimeError("this substream Source has already been run; it runs once")
        if run.loop is not chan.loop:
            raise RuntimeError("a substream runs on the loop of the stream that made it")
        consume(run, chan)
        watch_consumer(run, chan)
        return None

    return _dsl.Source(build, True)


# --------------------------------------------------------------------------- timing


def initial_delay(delay: float) -> "_dsl.Flow[Any, Any]":
    """Holds the first element back until `delay` seconds after the stream
    started, then passes everything."""
    d = _seconds(delay, "initial_delay's delay", zero_ok=True)

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        await asyncio.sleep(d)
        async for batch in chan:
            yield batch

    return _cut_op(gen)


def keep_alive(max_idle: float, inject: Callable[[], Any]) -> "_dsl.Flow[Any, Any]":
    """Emits ``inject()`` whenever upstream has given no element for
    `max_idle` seconds while downstream waits."""
    d = _seconds(max_idle, "keep_alive's idle time")
    _dsl._check_callable(inject, "keep_alive's injection")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        while True:
            try:
                x = await _take(chan, d)
            except _Timeout:
                yield [inject()]
                continue
            if x is _EOS:
                return
            yield [x, *_drain(chan)]

    return _cut_op(gen)


def _timeout_op(what: str, timeout: float, mode: str) -> "_dsl.Flow[Any, Any]":
    d = _seconds(timeout, f"{what}'s timeout")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        assert run.loop is not None
        loop = run.loop
        deadline = loop.time() + d
        first = True
        while True:
            if mode == "idle":
                wait: Optional[float] = d
            elif mode == "completion" or first:
                wait = deadline - loop.time()
            else:
                wait = None
            try:
                x = await _take(chan, wait)
            except _Timeout:
                raise StreamTimeoutError(f"the stream's {what} of {d}s passed") from None
            if x is _EOS:
                return
            first = False
            yield [x, *_drain(chan)]

    return _cut_op(gen)


def idle_timeout(timeout: float) -> "_dsl.Flow[Any, Any]":
    """Fails the stream with StreamTimeoutError when no element came for
    `timeout` seconds."""
    return _timeout_op("idle timeout", timeout, "idle")


def initial_timeout(timeout: float) -> "_dsl.Flow[Any, Any]":
    """Fails the stream with StreamTimeoutError when the first element did
    not come within `timeout` seconds."""
    return _timeout_op("initial timeout", timeout, "initial")


def completion_timeout(timeout: float) -> "_dsl.Flow[Any, Any]":
    """Fails the stream with StreamTimeoutError when it has not completed
    within `timeout` seconds."""
    return _timeout_op("completion timeout", timeout, "completion")


def grouped_within(n: int, within: float) -> "_dsl.Flow[Any, Any]":
    """Emits lists of up to `n` elements: a list goes out when it is full
    or `within` seconds after its first element came, whichever is first."""
    size = _dsl._check_count(n, "grouped_within's size", 1)
    d = _seconds(within, "grouped_within's time")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        assert run.loop is not None
        loop = run.loop
        while True:
            x = await _take(chan)
            if x is _EOS:
                return
            group = [x]
            deadline = loop.time() + d
            ended = False
            while len(group) < size:
                if chan.buf:
                    group.append(chan.take_one())
                    continue
                try:
                    y = await _take(chan, deadline - loop.time())
                except _Timeout:
                    break
                if y is _EOS:
                    ended = True
                    break
                group.append(y)
            yield [group]
            if ended:
                return

    return _cut_op(gen)


# --------------------------------------------------------------------------- rate decoupling


class _Aggregating(Channel):
    """A channel that folds what downstream has not taken yet into its
    last element (conflate, batch): upstream is not slowed down until
    `max_weight` elements are folded into one."""

    __slots__ = ("seed", "agg", "weight", "max_weight")

    def __init__(self, loop: asyncio.AbstractEventLoop, seed: Callable[[Any], Any],
                 agg: Callable[[Any, Any], Any], max_weight: Optional[int]) -> None:
        super().__init__(loop, 1)
        self.seed = seed
        self.agg = agg
        self.weight = 0
        self.max_weight = max_weight

    def room(self) -> int:
        if not self.buf:
            return 1
        return 1 if self.max_weight is None or self.weight < self.max_weight else 0

    def put(self, x: Any) -> None:
        if self.buf:
            self.buf[-1] = self.agg(self.buf[-1], x)
            self.weight += 1
            return
        self.weight = 1
        super().put(self.seed(x))

    def _drain(self) -> list[Any]:
        self.weight = 0
        return super()._drain()


def conflate_with_seed(seed: Callable[[Any], Any], aggregate: Callable[[Any, Any], Any]
                       ) -> "_dsl.Flow[Any, Any]":
    """While downstream is slower than upstream, folds the elements it has
    not taken into one: ``aggregate(seed(x1), x2)...``; upstream is never
    slowed down."""
    _dsl._check_callable(seed, "conflate's seed")
    _dsl._check_callable(aggregate, "conflate's aggregate")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        async for batch in chan:
            yield batch

    return _cut_op(gen, lambda run: _Aggregating(_loop(run), seed, aggregate, None))


def _loop(run: Run) -> asyncio.AbstractEventLoop:
    if run.loop is None:
        raise RuntimeError("this stage needs an event loop")
    return run.loop


def _identity(x: Any) -> Any:
    return x


def conflate(aggregate: Callable[[Any, Any], Any]) -> "_dsl.Flow[Any, Any]":
    """``conflate_with_seed`` with the first element as the seed."""
    return conflate_with_seed(_identity, aggregate)


def batch(max_weight: int, seed: Callable[[Any], Any], aggregate: Callable[[Any, Any], Any]
          ) -> "_dsl.Flow[Any, Any]":
    """As conflate_with_seed, but at most `max_weight` elements are folded
    into one; then upstream is back-pressured until downstream takes it."""
    limit = _dsl._check_count(max_weight, "batch's maximum", 1)
    _dsl._check_callable(seed, "batch's seed")
    _dsl._check_callable(aggregate, "batch's aggregate")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        async for b in chan:
            yield b

    return _cut_op(gen, lambda run: _Aggregating(_loop(run), seed, aggregate, limit))


def expand(extrapolate: Callable[[Any], Iterable[Any]]) -> "_dsl.Flow[Any, Any]":
    """While downstream is faster than upstream, emits more elements from
    the iterator ``extrapolate(x)`` of the last element `x` (its first
    element as soon as `x` comes); a new element replaces the iterator."""
    _dsl._check_callable(extrapolate, "expand's function")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        it: Optional[Any] = None
        while True:
            if chan.buf:
                it = iter(extrapolate(chan.take_one()))
            elif chan.closed:
                if chan.failure is not None:
                    raise chan.failure
                return
            elif it is None:
                await chan.ready()
                continue
            y = next(it, _EOS)
            if y is _EOS:
                it = None
                continue
            yield [y]

    return _cut_op(gen)


# --------------------------------------------------------------------------- fan-in


def merge_sorted(other: "_dsl.Source[Any]", key: Optional[Callable[[Any], Any]] = None
                 ) -> "_dsl.Flow[Any, Any]":
    """Merges two sorted streams into one sorted stream (by `key`, the
    elements themselves by default): waits for an element of each side
    before emitting the smaller one."""
    if not isinstance(other, _dsl.Source):
        raise TypeError(f"merge_sorted needs a Source, not {type(other).__name__}")
    k = key if key is not None else _identity

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        left = cut(run)
        right = start_source(run, other, start=False)
        watch_consumer(run, right)

        async def gen() -> AsyncIterator[list[Any]]:
            a = await _take(left)
            b = await _take(right)
            while a is not _EOS and b is not _EOS:
                if k(b) < k(a):
                    yield [b]
                    b = await _take(right)
                else:
                    yield [a]
                    a = await _take(left)
            for rest, side in ((a, left), (b, right)):
                while rest is not _EOS:
                    yield [rest, *_drain(side)]
                    rest = await _take(side)

        consume(run, gen())
        return None

    return _dsl.Flow(build, True)


def merge_prioritized(other: "_dsl.Source[Any]", left_priority: int, right_priority: int,
                      eager_complete: bool = False) -> "_dsl.Flow[Any, Any]":
    """Merges upstream and `other`; when both have an element waiting,
    picks one side at random in proportion to the priorities."""
    if not isinstance(other, _dsl.Source):
        raise TypeError(f"merge_prioritized needs a Source, not {type(other).__name__}")
    lp = _dsl._check_count(left_priority, "merge_prioritized's left priority", 1)
    rp = _dsl._check_count(right_priority, "merge_prioritized's right priority", 1)
    eager = bool(eager_complete)

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        left = cut(run)
        right = start_source(run, other, start=False)
        watch_consumer(run, right)

        async def gen() -> AsyncIterator[list[Any]]:
            sides = [(left, lp), (right, rp)]
            while True:
                live = []
                for side, weight in sides:
                    if side.buf:
                        live.append((side, weight))
                    elif side.closed:
                        if side.failure is not None:
                            raise side.failure
                        if eager:
                            return
                sides = [(s, w) for s, w in sides if not (s.closed and not s.buf)]
                if not sides:
                    return
                if not live:
                    await asyncio.wait([s.ready() for s, _ in sides],
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                if len(live) == 1:
                    chosen = live[0][0]
                else:
                    total = live[0][1] + live[1][1]
                    chosen = live[0][0] if random.random() * total < live[0][1] else live[1][0]
                yield [chosen.take_one()]

        consume(run, gen())
        return None

    return _dsl.Flow(build, True)


# --------------------------------------------------------------------------- failures


def recover_with_retries(attempts: int, fn: Callable[[BaseException], Any]
                         ) -> "_dsl.Flow[Any, Any]":
    """On an upstream failure, goes on with the elements of the Source
    ``fn(exc)`` (None: the failure passes on), at most `attempts` times
    (-1: without limit); the next failure after that fails the stream."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < -1:
        raise ValueError(f"recover_with_retries' attempts is -1 or at least 0, got {attempts!r}")
    _dsl._check_callable(fn, "recover_with_retries' function")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        owned = _Owned(run)
        retries = 0
        while True:
            try:
                async for b in chan:
                    yield b
                return
            except Exception as exc:
                if 0 <= attempts <= retries:
                    raise
                replacement = fn(exc)
                if replacement is None:
                    raise
                retries += 1
                chan = start_source(run, replacement)
                owned.chans.append(chan)

    return _cut_op(gen)


# --------------------------------------------------------------------------- substreams


def flat_map_concat(fn: Callable[[Any], Any]) -> "_dsl.Flow[Any, Any]":
    """Runs the Source ``fn(x)`` of each element to its end, one after the
    other, emitting their elements."""
    _dsl._check_callable(fn, "flat_map_concat's function")

    async def gen(run: Run, chan: Channel) -> AsyncIterator[list[Any]]:
        owned = _Owned(run)
        while True:
            x = await _take(chan)
            if x is _EOS:
                return
            sub = start_source(run, fn(x))
            owned.chans.append(sub)
            async for b in sub:
                yield b
            owned.chans.remove(sub)

    return _cut_op(gen)


def flat_map_merge(breadth: int, fn: Callable[[Any], Any]) -> "_dsl.Flow[Any, Any]":
    """Runs the Sources ``fn(x)`` of up to `breadth` elements at once,
    emitting their elements as they come."""
    width = _dsl._check_count(breadth, "flat_map_merge's breadth", 1)
    _dsl._check_callable(fn, "flat_map_merge's function")

    async def gen(run: Run, up: Channel) -> AsyncIterator[list[Any]]:
        owned = _Owned(run)
        active = owned.chans
        while True:
            while len(active) < width and up.buf:
                active.append(start_source(run, fn(up.take_one())))
            out: list[Any] = []
            for sub in list(active):
                if sub.buf:
                    out.extend(_drain(sub))
                elif sub.closed:
                    if sub.failure is not None:
                        raise sub.failure
                    active.remove(sub)
            if out:
                yield out
                continue
            if up.closed and not up.buf:
                if up.failure is not None:
                    raise up.failure
                if not active:
                    return
            waits = [sub.ready() for sub in active]
            if len(active) < width and not up.closed:
                waits.append(up.ready())
            if waits:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)

    return _cut_op(gen)


#: Seconds a tail or substream Source waits to be run before its upstream is cancelled.
SUBSCRIPTION_TIMEOUT = 5.0


def _cancel_unless_run(loop: asyncio.AbstractEventLoop, chan: Channel, used: list[bool]) -> None:
    def check() -> None:
        if not used[0]:
            chan.cancel()

    loop.call_later(SUBSCRIPTION_TIMEOUT, check)


def _tracked_source(chan: Channel) -> "_dsl.Source[Any]":
    used = [False]
    src = channel_source(chan)
    inner = src._build

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        used[0] = True
        return inner(run, decider)

    _cancel_unless_run(chan.loop, chan, used)
    return _dsl.Source(build, True)


def prefix_and_tail(n: int) -> "_dsl.Flow[Any, Any]":
    """Emits one element, ``(prefix, tail)``: a list of the first `n`
    elements and a Source of the rest (run it on the same loop, within
    SUBSCRIPTION_TIMEOUT seconds), then completes."""
    count = _dsl._check_count(n, "prefix_and_tail's count")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        up = cut(run)
        run.finishers.remove(up.cancel)  # the tail reads on after this island ends

        async def gen() -> AsyncIterator[list[Any]]:
            prefix: list[Any] = []
            while len(prefix) < count:
                x = await _take(up)
                if x is _EOS:
                    break
                prefix.append(x)
            yield [(prefix, _tracked_source(up))]

        consume(run, gen())
        return None

    return _dsl.Flow(build, True)


def _split(pred: Callable[[Any], Any], after: bool) -> "_dsl.Flow[Any, Any]":
    _dsl._check_callable(pred, "the split predicate")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        up = cut(run)
        run.finishers.remove(up.cancel)  # the substreams read on after this island ends
        loop = _loop(run)
        outer = Channel(loop, 1)
        pump_task: list[Any] = []

        async def pump() -> None:
            current: Optional[Channel] = None
            try:
                while True:
                    x = await _take(up)
                    if x is _EOS:
                        break
                    split_before = (not after) and current is not None and bool(pred(x))
                    if current is None or split_before:
                        if current is not None:
                            current.close()
                        current = Channel(loop, CAPACITY)
                        await outer.wait_room()
                        if not outer.cancelled:
                            outer.put(_tracked_source(current))
                    if not current.cancelled:  # a cancelled substream's rest is dropped
                        await current.wait_room()
                        current.put(x)
                    if after and bool(pred(x)):
                        current.close()
                        current = None
                    if outer.cancelled and (current is None or current.cancelled):
                        break
            except BaseException as exc:
                if current is not None:
                    current.close(exc if isinstance(exc, Exception) else None)
                outer.close(exc if isinstance(exc, Exception) else None)
                up.cancel()
                raise
            if current is not None:
                current.close()
            outer.close()
            up.cancel()

        async def gen() -> AsyncIterator[list[Any]]:
            if not pump_task:
                task = loop.create_task(pump())
                task.add_done_callback(_quiet)
                pump_task.append(task)
            async for b in outer:
                yield b

        run.finishers.append(outer.cancel)
        consume(run, gen())
        return None

    return _dsl.Flow(build, True)


def _quiet(task: "asyncio.Task[Any]") -> None:
    if not task.cancelled():
        task.exception()


def split_when(pred: Callable[[Any], Any]) -> "_dsl.Flow[Any, Any]":
    """Emits a Source per substream: a new one starts with each element for
    which ``pred(x)`` holds (the first element always starts one). Run
    each substream on the same loop; a substream not run within
    SUBSCRIPTION_TIMEOUT seconds, or cancelled, has its elements dropped."""
    return _split(pred, False)


def split_after(pred: Callable[[Any], Any]) -> "_dsl.Flow[Any, Any]":
    """As split_when, but a substream ends after each element for which
    ``pred(x)`` holds."""
    return _split(pred, True)

