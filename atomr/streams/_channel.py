"""Bounded channels between the islands of one materialization.

A graph that fans out (a broadcast, a side sink) or needs a stage the fused
interpreter has no native form for (timers, substreams) is split into
islands, each run by its own :class:`~atomr.streams._run.Run` on the same
loop. A :class:`Channel` joins two of them: the producing island ends in an
*offer* stage (an async call that completes when the channel has room, so a
full channel back-pressures the producer) and the consuming island starts
with an async source that takes every element the channel holds at once (a
batch, flattened by a ``map_concat``), so a busy channel costs one loop
callback per batch rather than per element.

Everything here runs on the loop's thread; nothing is locked.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable, Optional

from atomr.streams._run import AsyncNext, Run

#: What an offer answers when the consumer is gone: the producer completes.
END = object()

#: Default capacity of a channel (Akka's default async-boundary buffer).
CAPACITY = 16


def _same(batch: Any) -> Any:
    return batch


def _not_end(x: Any) -> bool:
    return x is not END


class Channel:
    """A bounded single-consumer queue of elements between two islands.

    The producer side: :meth:`room`, :meth:`put`, :meth:`wait_room`,
    :meth:`close` (completion, or failure with an exception). The consumer
    side is an async iterator of non-empty batches (lists): ``__anext__``
    returns a future of the next batch, raising StopAsyncIteration at the
    end and the producer's failure when it failed; :meth:`cancel` says the
    consumer is gone (with the failure that ended it, if any).
    """

    __slots__ = ("loop", "capacity", "buf", "closed", "failure", "cancelled", "cause",
                 "_getter", "_room_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = CAPACITY) -> None:
        self.loop = loop
        self.capacity = capacity
        self.buf: deque[Any] = deque()
        self.closed = False
        self.failure: Optional[BaseException] = None
        self.cancelled = False
        self.cause: Optional[BaseException] = None
        self._getter: Optional[asyncio.Future[Any]] = None
        self._room_waiters: list[asyncio.Future[Any]] = []

    # -- producer ----------------------------------------------------------------------

    def room(self) -> int:
        """How many more elements fit."""
        return self.capacity - len(self.buf)

    def put(self, x: Any) -> None:
        """Appends `x` (the caller checked there is room) and wakes the consumer."""
        if self.cancelled or self.closed:
            return
        self.buf.append(x)
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(self._drain())

    async def wait_room(self) -> None:
        """Returns when the channel has room or the consumer is gone."""
        while not self.cancelled and self.room() <= 0:
            waiter = self.loop.create_future()
            self._room_waiters.append(waiter)
            await waiter

    def room_waiter(self) -> "asyncio.Future[Any]":
        """A future done when the channel next gets room (or is cancelled)."""
        waiter = self.loop.create_future()
        if self.cancelled or self.room() > 0:
            waiter.set_result(None)
        else:
            self._room_waiters.append(waiter)
        return waiter

    def close(self, failure: Optional[BaseException] = None) -> None:
        """No more elements: the consumer completes once it has taken what
        is buffered (fails with `failure` after it, when given)."""
        if self.closed:
            return
        self.closed = True
        self.failure = failure
        getter = self._getter
        if getter is not None and not self.buf:
            self._getter = None
            if not getter.done():
                getter.set_exception(failure if failure is not None else StopAsyncIteration())

    # -- consumer ----------------------------------------------------------------------

    def _drain(self) -> list[Any]:
        batch = list(self.buf)
        self.buf.clear()
        self._wake_room()
        return batch

    def _wake_room(self) -> None:
        waiters, self._room_waiters = self._room_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def __aiter__(self) -> "Channel":
        return self

    def __anext__(self) -> "asyncio.Future[Any]":
        fut = self.loop.create_future()
        if self.buf:
            fut.set_result(self._drain())
        elif self.closed:
            fut.set_exception(self.failure if self.failure is not None else StopAsyncIteration())
        else:
            self._getter = fut
        return fut

    def take_one(self) -> Any:
        """Removes and returns the oldest buffered element (there is one)."""
        x = self.buf.popleft()
        self._wake_room()
        return x

    def ready(self) -> "asyncio.Future[Any]":
        """A future done (with None) when an element is buffered or the
        channel is closed; the elements stay buffered."""
        fut = self.loop.create_future()
        if self.buf or self.closed:
            fut.set_result(None)
            return fut
        outer = fut

        def fill(batch_fut: "asyncio.Future[Any]") -> None:
            if batch_fut.cancelled():
                return
            exc = batch_fut.exception()
            if exc is None:
                self.buf.extendleft(reversed(batch_fut.result()))
            if not outer.done():
                outer.set_result(None)

        getter = self.loop.create_future()
        getter.add_done_callback(fill)
        self._getter = getter
        return fut

    def cancel(self, cause: Optional[BaseException] = None) -> None:
        """The consumer is gone: buffered elements are dropped, a waiting
        producer is woken (and then sees :data:`END`)."""
        if self.cancelled:
            return
        self.cancelled = True
        self.cause = cause
        self.buf.clear()
        self._wake_room()


def done_future(loop: asyncio.AbstractEventLoop, value: Any) -> "asyncio.Future[Any]":
    """A completed future of `value` (completed futures may be shared: a
    done callback added to one is scheduled at once)."""
    fut = loop.create_future()
    fut.set_result(value)
    return fut


def consume(run: Run, source: Any) -> None:
    """Pushes an async source reading batches from `source` (a channel or
    another async iterator of lists) onto `run`'s island; the channel is
    cancelled when `run` finishes."""
    run.island.source_async(AsyncNext(source))
    run.island.map_concat(_same, None)


#: What a `try_put` of :func:`ordered_offer` answers when it cannot put yet.
BLOCKED = object()

#: Offers a producing island keeps in flight (they complete in one loop
#: callback when the channel has room, so a slice moves this many elements).
OFFERS_IN_FLIGHT = 16


def ordered_offer(run: Run, try_put: Callable[[Any], Any],
                  wait: Callable[[], Any]) -> Callable[[Any], Any]:
    """An offer call that keeps the elements' order with several offers in
    flight: ``try_put(x)`` puts `x` now and answers the offer's result (or
    raises), or answers :data:`BLOCKED`; then `x` and every later element
    queue behind it, and a task puts them in order, awaiting ``wait()``
    (something changed: room, a cancellation) between tries."""
    assert run.loop is not None
    loop = run.loop
    pending: deque[tuple[Any, asyncio.Future[Any]]] = deque()
    drainer: list[Optional[asyncio.Task[Any]]] = [None]

    async def drain() -> None:
        while pending:
            x, fut = pending[0]
            if fut.done():  # cancelled: the island ended
                pending.popleft()
                continue
            try:
                r = try_put(x)
            except Exception as exc:
                pending.popleft()
                fut.set_exception(exc)
                continue
            if r is BLOCKED:
                await wait()
                continue
            pending.popleft()
            fut.set_result(r)

    def offer(x: Any) -> Any:
        if not pending:
            r = try_put(x)
            if r is not BLOCKED:
                return done_future(loop, r)
        fut = loop.create_future()
        pending.append((x, fut))
        task = drainer[0]
        if task is None or task.done():
            drainer[0] = loop.create_task(drain())
        return fut

    def stop(exc: Optional[BaseException]) -> None:
        task = drainer[0]
        if task is not None:
            task.cancel()

    run.finishers.append(stop)
    return offer


def single_offer(run: Run, chan: Channel, fail_on_cause: bool = False
                 ) -> Callable[[Any], Any]:
    """The async call that puts one element into `chan`: completes with the
    element once it is in, with :data:`END` when the consumer is gone (or
    fails with the consumer's failure when `fail_on_cause`)."""

    def try_put(x: Any) -> Any:
        if chan.cancelled:
            if fail_on_cause and chan.cause is not None:
                raise chan.cause
            return END
        if chan.room() > 0:
            chan.put(x)
            return x
        return BLOCKED

    return ordered_offer(run, try_put, chan.wait_room)


def feed(run: Run, offer: Callable[[Any], Any], closes: list[Channel],
         parallelism: int = 1) -> None:
    """Ends `run`'s island with `offer` (an async call per element, up to
    `parallelism` at once: more than one only for an offer that keeps the
    order itself, see :func:`ordered_offer`) and a sink that drains; an
    offer answering :data:`END` completes the island. When the island
    finishes, the channels in `closes` are closed with its failure (or
    completed)."""
    run.island.map_async(offer, parallelism, True, None)
    run.island.take_while(_not_end, None, False)
    run.island.sink_ignore()

    def close_all(exc: Optional[BaseException]) -> None:
        for chan in closes:
            chan.close(exc)

    run.finishers.append(close_all)


def watch_consumer(run: Run, chan: Channel) -> None:
    """Cancels `chan` when `run` (its consumer) finishes."""
    run.finishers.append(chan.cancel)


def cut(run: Run, capacity: int = CAPACITY, chan: Optional[Channel] = None) -> Channel:
    """Splits `run`'s island at this point of the build: what is built so
    far moves to a new island of the materialization that feeds a channel,
    and `run`'s island starts again, empty. Returns the channel (the caller
    pushes a source reading it). `chan`: the channel to feed (default: a
    new one of `capacity`)."""
    if run.loop is None:
        raise RuntimeError("this stage needs an event loop: run the graph with "
                           "`await graph.run()` or `graph.run_blocking()`")
    up = run.spawn()
    run.island, up.island = up.island, run.island
    run.island.starter = run._start_async
    up.island.starter = up._start_async
    up.finishers, run.finishers = run.finishers, []  # they watch the stages that move
    up.sides, run.sides = run.sides, []  # fused side sinks move with their island
    switches, run._switches = run._switches, []
    for switch in switches:
        switch._unwatch(run)
        up.watch_switch(switch)
    if chan is None:
        chan = Channel(run.loop, capacity)
    feed(up, single_offer(up, chan), [chan], OFFERS_IN_FLIGHT)
    watch_consumer(run, chan)
    return chan
