"""Sources and sinks that meet the world outside a graph: tick, queues,
hubs, restarting sources/flows/sinks and actor interop.

Each reads or feeds a bounded channel (``_channel``) from an async stage
on the graph's loop. Queues take offers and pulls from any thread; hubs
and restarted graphs run on the loop they were started from.
"""

from __future__ import annotations

import asyncio
import enum
import random
import threading
from collections import deque
from typing import Any, AsyncIterator, Callable, Optional

from atomr.streams import _dsl
from atomr.streams._channel import (
    CAPACITY,
    OFFERS_IN_FLIGHT,
    END,
    Channel,
    consume,
    cut,
    done_future,
    feed,
    single_offer,
    watch_consumer,
)
from atomr.streams._run import Run
from atomr.streams._timed import _EOS, _Owned, _seconds, _take, start_source

_Decider = Callable[[BaseException], int]


class Cancellable:
    """What ``Source.tick`` materializes to: ``cancel()`` completes the stream."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()

    def cancel(self) -> bool:
        """Stops the ticks; True when this call did."""
        if self._cancelled.is_set():
            return False
        self._cancelled.set()
        return True

    def is_cancelled(self) -> bool:
        """True after cancel()."""
        return self._cancelled.is_set()


def tick(initial_delay: float, interval: float, element: Any) -> "_dsl.Source[Any]":
    """Emits `element` after `initial_delay` seconds, then every `interval`
    seconds while downstream keeps up (a tick downstream was not ready for
    is dropped, as Akka's). Materializes a :class:`Cancellable`."""
    first = _seconds(initial_delay, "tick's initial delay", zero_ok=True)
    every = _seconds(interval, "tick's interval")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        loop = _loop(run)
        handle = Cancellable()

        async def gen() -> AsyncIterator[list[Any]]:
            due = loop.time() + first
            while not handle.is_cancelled():
                now = loop.time()
                if due > now:
                    await asyncio.sleep(min(due - now, 0.05))
                    continue
                yield [element]
                now = loop.time()
                due += every
                if due < now:  # ticks missed while downstream was slow: dropped
                    due += ((now - due) // every + 1) * every

        consume(run, gen())
        return handle

    return _dsl.Source(build, True)


def _loop(run: Run) -> asyncio.AbstractEventLoop:
    if run.loop is None:
        raise RuntimeError("this stage needs an event loop")
    return run.loop


# --------------------------------------------------------------------------- queues


class QueueOfferResult(str, enum.Enum):
    """What ``SourceQueue.offer`` answers (equal to its name as a string)."""

    ENQUEUED = "Enqueued"
    DROPPED = "Dropped"
    QUEUE_CLOSED = "QueueClosed"
    FAILURE = "Failure"

    def __str__(self) -> str:
        return self.value


_QUEUE_STRATEGIES = ("dropnew", "drophead", "droptail", "dropbuffer", "fail")


class SourceQueue:
    """The feeding end of ``Source.from_queue`` / ``Source.queue``: offers
    from any thread. Bounded by `buffer_size` (None: unbounded); a full
    queue drops by `overflow_strategy` (``"dropnew"``: the offer answers
    Dropped; ``"drophead"``, ``"droptail"``, ``"dropbuffer"``: older
    elements make room; ``"fail"``: the stream fails)."""

    def __init__(self, buffer_size: Optional[int] = None,
                 overflow_strategy: str = "dropnew") -> None:
        if buffer_size is not None:
            _dsl._check_count(buffer_size, "the queue's buffer size", 1)
        strategy = str(overflow_strategy).lower().replace("_", "")
        if strategy not in _QUEUE_STRATEGIES:
            raise ValueError(f"a queue's overflow strategy is one of "
                             f"{', '.join(_QUEUE_STRATEGIES)}, got {overflow_strategy!r}")
        self._size = buffer_size
        self._strategy = strategy
        self._lock = threading.Lock()
        self._buf: deque[Any] = deque()
        self._closed = False
        self._failure: Optional[BaseException] = None
        self._cancelled = False
        self._waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = None
        self._used = False

    def offer(self, element: Any) -> QueueOfferResult:
        """Adds `element`: Enqueued, Dropped (full, ``dropnew``), or
        QueueClosed (after complete(), fail() or the stream's end)."""
        with self._lock:
            if self._closed or self._cancelled:
                return QueueOfferResult.QUEUE_CLOSED
            if self._size is not None and len(self._buf) >= self._size:
                if self._strategy == "dropnew":
                    return QueueOfferResult.DROPPED
                if self._strategy == "drophead":
                    self._buf.popleft()
                elif self._strategy == "droptail":
                    self._buf.pop()
                elif self._strategy == "dropbuffer":
                    self._buf.clear()
                else:
                    self._closed = True
                    self._failure = _errors().BufferOverflowError(
                        f"the queue's buffer of {self._size} is full")
                    self._wake()
                    return QueueOfferResult.FAILURE
            self._buf.append(element)
            self._wake()
        return QueueOfferResult.ENQUEUED

    def complete(self) -> None:
        """The stream completes once it has emitted what is queued."""
        with self._lock:
            self._closed = True
            self._wake()

    def fail(self, exc: BaseException) -> None:
        """The stream fails (after what is queued)."""
        if not isinstance(exc, BaseException):
            raise TypeError(f"fail needs an exception, not {type(exc).__name__}")
        with self._lock:
            if not self._closed:
                self._closed = True
                self._failure = exc
            self._wake()

    def is_closed(self) -> bool:
        """True after complete(), fail(), or the stream cancelled it."""
        return self._closed or self._cancelled

    def __len__(self) -> int:
        return len(self._buf)

    def _wake(self) -> None:  # with the lock held
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, fut = waiter
            try:
                loop.call_soon_threadsafe(_set_none, fut)
            except RuntimeError:
                pass

    # the stream's side, on its loop
    def _source(self) -> "_dsl.Source[Any]":
        def build(run: Run, decider: Optional[_Decider]) -> Any:
            with self._lock:
                if self._used:
                    raise RuntimeError("this queue's Source has already been run; it runs once")
                self._used = True
            loop = _loop(run)
            run.finishers.append(lambda exc: self._cancel())
            consume(run, self._batches(loop))
            return self

        return _dsl.Source(build, True)

    def _cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._buf.clear()

    async def _batches(self, loop: asyncio.AbstractEventLoop) -> AsyncIterator[list[Any]]:
        while True:
            with self._lock:
                if self._buf:
                    batch = list(self._buf)
                    self._buf.clear()
                elif self._closed:
                    if self._failure is not None:
                        raise self._failure
                    return
                else:
                    batch = []
                    fut = loop.create_future()
                    self._waiter = (loop, fut)
            if batch:
                yield batch
            else:
                await fut


def _set_none(fut: "asyncio.Future[Any]") -> None:
    if not fut.done():
        fut.set_result(None)


def _errors() -> Any:
    from atomr import errors

    return errors


def from_queue(buffer_size: Optional[int] = None, overflow_strategy: str = "dropnew"
               ) -> "tuple[_dsl.Source[Any], SourceQueue]":
    """A Source fed by a new :class:`SourceQueue`, and the queue (the
    Source runs once)."""
    queue = SourceQueue(buffer_size, overflow_strategy)
    return queue._source(), queue


def queue_source(buffer_size: int, overflow_strategy: str = "dropnew") -> "_dsl.Source[Any]":
    """A Source whose every run materializes a new :class:`SourceQueue`
    feeding it (Akka's Source.queue)."""
    _dsl._check_count(buffer_size, "the queue's buffer size", 1)
    SourceQueue(buffer_size, overflow_strategy)  # checks the strategy now

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        queue = SourceQueue(buffer_size, overflow_strategy)
        return queue._source()._build(run, decider)

    return _dsl.Source(build, True)


class SinkQueue:
    """The pulling end of ``Sink.queue``: ``await pull()`` (from any loop)
    or ``pull_blocking()`` (any thread) gives the next element, None at the
    end (the stream's failure is raised). At most `buffer_size` elements
    wait in it; then the stream is back-pressured. ``cancel()`` stops it."""

    def __init__(self, buffer_size: int = CAPACITY) -> None:
        self._size = _dsl._check_count(buffer_size, "the sink queue's buffer size", 1)
        self._cond = threading.Condition()
        self._buf: deque[Any] = deque()
        self._closed = False
        self._failure: Optional[BaseException] = None
        self._cancelled = False
        self._pullers: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        self._room: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = None

    async def pull(self) -> Any:
        """The next element; None once the stream completed."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                got, value = self._take()
                if got:
                    return value
                fut = loop.create_future()
                self._pullers.append((loop, fut))
            await fut

    def pull_blocking(self, timeout: Optional[float] = None) -> Any:
        """The next element (waiting up to `timeout` seconds; TimeoutError
        after); None once the stream completed."""
        with self._cond:
            while True:
                got, value = self._take()
                if got:
                    return value
                if not self._cond.wait(timeout):
                    raise TimeoutError("no element within the timeout")

    def cancel(self) -> None:
        """Cancels the stream feeding this queue."""
        with self._cond:
            self._cancelled = True
            self._buf.clear()
            self._wake_room()

    def _take(self) -> tuple[bool, Any]:  # with the lock held
        if self._buf:
            x = self._buf.popleft()
            self._wake_room()
            return True, x
        if self._closed or self._cancelled:
            if self._failure is not None:
                raise self._failure
            return True, None
        return False, None

    def _wake_room(self) -> None:
        room, self._room = self._room, None
        if room is not None:
            loop, fut = room
            try:
                loop.call_soon_threadsafe(_set_none, fut)
            except RuntimeError:
                pass

    def _wake_pullers(self) -> None:  # with the lock held
        self._cond.notify_all()
        pullers, self._pullers = self._pullers, []
        for loop, fut in pullers:
            try:
                loop.call_soon_threadsafe(_set_none, fut)
            except RuntimeError:
                pass

    def _close(self, exc: Optional[BaseException]) -> None:
        with self._cond:
            self._closed = True
            self._failure = exc
            self._wake_pullers()

    def _offer(self, loop: asyncio.AbstractEventLoop) -> Callable[[Any], Any]:
        done = done_future(loop, None)
        end = done_future(loop, END)

        async def wait_and_put(x: Any) -> Any:
            while True:
                with self._cond:
                    if self._cancelled:
                        return END
                    if len(self._buf) < self._size:
                        self._buf.append(x)
                        self._wake_pullers()
                        return None
                    fut = loop.create_future()
                    self._room = (loop, fut)
                await fut

        def offer(x: Any) -> Any:
            with self._cond:
                if self._cancelled:
                    return end
                if len(self._buf) < self._size:
                    self._buf.append(x)
                    self._wake_pullers()
                    return done
            return wait_and_put(x)

        return offer


def queue_sink(source: Optional["_dsl.Source[Any]"] = None, buffer_size: int = CAPACITY) -> Any:
    """``Sink.queue()``: a Sink materializing a :class:`SinkQueue`.
    ``Sink.queue(source)``: runs `source` into one now (on the running
    loop, or on a helper thread's loop when there is none) and returns the
    queue."""
    SinkQueue(buffer_size)  # checks the size now

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        queue = SinkQueue(buffer_size)
        feed(run, queue._offer(_loop(run)), [])
        run.finishers.append(queue._close)
        return queue

    sink: _dsl.Sink[Any, Any] = _dsl.Sink(build, True)
    if source is None:
        return sink
    if not isinstance(source, _dsl.Source):
        raise TypeError(f"Sink.queue needs a Source, not {type(source).__name__}")
    graph = source.to(sink)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_on_thread(graph)
    return graph.run()


def _run_on_thread(graph: Any) -> Any:
    """Runs `graph` on a helper thread's loop until its SinkQueue is done; the queue."""
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        box["queue"] = graph.run()
        ready.set()
        while not (box["queue"]._closed or box["queue"]._cancelled):
            await asyncio.sleep(0.01)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # a failed start: raised to the caller below
            box["error"] = exc
            ready.set()

    threading.Thread(target=target, name="atomr-stream-queue", daemon=True).start()
    ready.wait()
    if "error" in box:
        raise box["error"]
    return box["queue"]


# --------------------------------------------------------------------------- hubs


class BroadcastHub:
    """A running source whose elements go to every consumer attached at
    the time (``consumer()`` gives a Source per consumer; a late one misses
    earlier elements). The source is back-pressured until the first
    consumer runs, and then by the slowest one (`buffer_size` each).
    Consumers complete when the source does; they run on the loop the hub
    was attached on."""

    def __init__(self, loop: asyncio.AbstractEventLoop, buffer_size: int) -> None:
        self._loop = loop
        self._size = buffer_size
        self._chans: list[Channel] = []
        self._created = 0
        self._closed = False
        self._failure: Optional[BaseException] = None
        self._joined: Optional[asyncio.Future[Any]] = None

    @staticmethod
    def attach(source: "_dsl.Source[Any]", buffer_size: int = CAPACITY) -> "BroadcastHub":
        """Starts `source` into a new hub on the running loop."""
        if not isinstance(source, _dsl.Source):
            raise TypeError(f"BroadcastHub.attach needs a Source, not {type(source).__name__}")
        size = _dsl._check_count(buffer_size, "the hub's buffer size", 1)
        loop = asyncio.get_running_loop()
        hub = BroadcastHub(loop, size)
        run = Run(loop)
        source._build(run, None)
        feed(run, hub._offer(), [])
        run.finishers.append(hub._close)
        run.start()
        return hub

    def consumer(self) -> "_dsl.Source[Any]":
        """A Source of the elements from when it runs on."""
        self._created += 1
        used = threading.Lock()

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            if not used.acquire(blocking=False):
                raise RuntimeError("a hub consumer Source runs once; call consumer() again")
            if run.loop is not self._loop:
                raise RuntimeError("a hub's consumers run on the loop it was attached on")
            chan = Channel(self._loop, self._size)
            if self._closed:
                chan.close(self._failure)
            else:
                self._chans.append(chan)
                joined, self._joined = self._joined, None
                if joined is not None and not joined.done():
                    joined.set_result(None)
            consume(run, chan)
            watch_consumer(run, chan)
            return None

        return _dsl.Source(build, True)

    def consumer_count(self) -> int:
        """How many consumers were created."""
        return self._created

    def _close(self, exc: Optional[BaseException]) -> None:
        self._closed = True
        self._failure = exc
        for chan in self._chans:
            chan.close(exc)

    def _offer(self) -> Callable[[Any], Any]:
        async def offer(x: Any) -> Any:
            while True:
                self._chans = [c for c in self._chans if not c.cancelled]
                if not self._chans:
                    self._joined = self._loop.create_future()
                    await self._joined
                    continue
                full = [c for c in self._chans if c.room() <= 0]
                if not full:
                    for c in self._chans:
                        c.put(x)
                    return None
                await full[0].wait_room()

        return offer


class PartitionHub(BroadcastHub):
    """A running source whose every element goes to one consumer:
    ``partitioner(consumer_count, element)`` gives its index among the
    consumers running at the time (in the order they started). The source
    is back-pressured until `start_after_nr_of_consumers` consumers run,
    then by the chosen consumer's buffer; an index outside the consumers
    fails the stream with IndexError."""

    def __init__(self, loop: asyncio.AbstractEventLoop, buffer_size: int,
                 partitioner: Callable[[int, Any], int], start_after: int) -> None:
        super().__init__(loop, buffer_size)
        self._partitioner = partitioner
        self._start_after = start_after
        self._started = False

    @staticmethod
    def attach(source: "_dsl.Source[Any]", buffer_size: int = CAPACITY,
               partitioner: Optional[Callable[[int, Any], int]] = None,
               start_after_nr_of_consumers: int = 1) -> "PartitionHub":
        """Starts `source` into a new hub on the running loop (`partitioner`
        is required)."""
        if not isinstance(source, _dsl.Source):
            raise TypeError(f"PartitionHub.attach needs a Source, not {type(source).__name__}")
        if partitioner is None:
            raise TypeError("PartitionHub.attach needs a partitioner")
        _dsl._check_callable(partitioner, "the partitioner")
        size = _dsl._check_count(buffer_size, "the hub's buffer size", 1)
        start = _dsl._check_count(start_after_nr_of_consumers, "start_after_nr_of_consumers")
        loop = asyncio.get_running_loop()
        hub = PartitionHub(loop, size, partitioner, start)
        run = Run(loop)
        source._build(run, None)
        feed(run, hub._offer(), [])
        run.finishers.append(hub._close)
        run.start()
        return hub

    def _offer(self) -> Callable[[Any], Any]:
        async def offer(x: Any) -> Any:
            while True:
                self._chans = [c for c in self._chans if not c.cancelled]
                if not self._started and len(self._chans) >= max(1, self._start_after):
                    self._started = True
                if not self._started or not self._chans:
                    self._joined = self._loop.create_future()
                    await self._joined
                    continue
                i = self._partitioner(len(self._chans), x)
                if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self._chans):
                    raise IndexError(f"the partitioner gave {i!r}, not a consumer index in "
                                     f"range({len(self._chans)})")
                chan = self._chans[i]
                if chan.room() <= 0:
                    await chan.wait_room()
                    continue
                chan.put(x)
                return None

        return offer


class MergeHub:
    """Merges any number of attached sources into one Source (``source()``,
    run once). Back-pressured as one stream: the attached sources wait
    while the merged one is not read. It completes when ``close()`` was
    called and every attached source has completed."""

    def __init__(self, buffer_size: int = CAPACITY) -> None:
        self._size = _dsl._check_count(buffer_size, "the hub's buffer size", 1)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._chan: Optional[Channel] = None
        self._active = 0
        self._closing = False
        self._used = False

    def _channel(self) -> Channel:
        loop = asyncio.get_running_loop() if self._loop is None else self._loop
        if self._chan is None:
            self._loop = loop
            self._chan = Channel(loop, self._size)
        return self._chan

    def attach(self, source: "_dsl.Source[Any]") -> None:
        """Starts `source` into the hub (on the running loop)."""
        if not isinstance(source, _dsl.Source):
            raise TypeError(f"MergeHub.attach needs a Source, not {type(source).__name__}")
        if self._closing:
            raise RuntimeError("the hub is closed")
        chan = self._channel()
        assert self._loop is not None
        run = Run(self._loop)
        source._build(run, None)
        self._active += 1
        feed(run, single_offer(run, chan), [], OFFERS_IN_FLIGHT)
        run.finishers.append(self._detached)
        run.start()

    def _detached(self, exc: Optional[BaseException]) -> None:
        self._active -= 1
        chan = self._chan
        if chan is not None and exc is not None:
            chan.close(exc)
        elif chan is not None and self._closing and self._active == 0:
            chan.close()

    def close(self) -> None:
        """No more sources: the merged Source completes once the attached ones have."""
        self._closing = True
        if self._active == 0 and self._chan is not None:
            self._chan.close()

    def source(self) -> "_dsl.Source[Any]":
        """The merged Source (runs once, on the hub's loop)."""

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            if self._used:
                raise RuntimeError("a MergeHub's source runs once")
            self._used = True
            chan = self._channel()
            if run.loop is not self._loop:
                raise RuntimeError("a MergeHub's source runs on the loop it was created on")
            if self._closing and self._active == 0:
                chan.close()
            consume(run, chan)
            watch_consumer(run, chan)
            return None

        return _dsl.Source(build, True)


# --------------------------------------------------------------------------- restarts


class RestartSettings:
    """Backoff and restart limits of the Restart* stages (Akka's).

    A restart waits ``min(max_backoff, min_backoff * 2**n) * (1 + r *
    random_factor)`` (r random in [0, 1)) for the n-th restart in a row.
    At most `max_restarts` restarts (None: unbounded) are made within
    `max_restarts_within` seconds (default `min_backoff`): a run that lasted
    longer than that resets the count (and the backoff)."""

    def __init__(self, min_backoff: float = 0.1, max_backoff: float = 30.0,
                 random_factor: float = 0.0, max_restarts: Optional[int] = 5,
                 max_restarts_within: Optional[float] = None) -> None:
        self._min = _seconds(min_backoff, "min_backoff", zero_ok=True)
        self._max = _seconds(max_backoff, "max_backoff", zero_ok=True)
        if self._max < self._min:
            raise ValueError("max_backoff must not be below min_backoff")
        if isinstance(random_factor, bool) or not isinstance(random_factor, (int, float)) \
                or random_factor < 0:
            raise ValueError(f"random_factor must be a non-negative number, got {random_factor!r}")
        self._random = float(random_factor)
        if max_restarts is not None:
            _dsl._check_count(max_restarts, "max_restarts")
        self._restarts = max_restarts
        self._within = (self._min if max_restarts_within is None
                        else _seconds(max_restarts_within, "max_restarts_within"))

    @property
    def min_backoff(self) -> float:
        return self._min

    @property
    def max_backoff(self) -> float:
        return self._max

    @property
    def random_factor(self) -> float:
        return self._random

    @property
    def max_restarts(self) -> Optional[int]:
        return self._restarts

    @property
    def max_restarts_within(self) -> float:
        return self._within

    def delay(self, n: int) -> float:
        """The backoff before the n-th restart in a row (from 0)."""
        base = min(self._max, self._min * (2.0 ** min(n, 60)))
        return base * (1.0 + random.random() * self._random)

    def __repr__(self) -> str:
        return (f"RestartSettings(min_backoff={self._min}, max_backoff={self._max}, "
                f"random_factor={self._random}, max_restarts={self._restarts}, "
                f"max_restarts_within={self._within})")


class _Restarts:
    """Akka's restart count: reset when the last start is older than
    `max_restarts_within`."""

    def __init__(self, settings: RestartSettings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.loop = loop
        self.count = 0
        self.started = loop.time()

    def start(self) -> None:
        self.started = self.loop.time()

    def next_delay(self) -> Optional[float]:
        """The delay before the next restart, or None when none is left."""
        if self.loop.time() - self.started > self.settings.max_restarts_within:
            self.count = 0
        limit = self.settings.max_restarts
        if limit is not None and self.count >= limit:
            return None
        delay = self.settings.delay(self.count)
        self.count += 1
        return delay


def _settings_of(settings: Any) -> RestartSettings:
    if not isinstance(settings, RestartSettings):
        raise TypeError(f"expected RestartSettings, not {type(settings).__name__}")
    return settings


def restart_source(settings: RestartSettings, factory: Callable[[], "_dsl.Source[Any]"],
                   only_on_failures: bool = False) -> "_dsl.Source[Any]":
    """A Source running ``factory()`` and, when it completes (only when it
    fails with `only_on_failures`), a new ``factory()`` after a backoff;
    when the restarts are used up it ends as the last run did."""
    rs = _settings_of(settings)
    _dsl._check_callable(factory, "the restart factory")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        loop = _loop(run)

        async def gen() -> AsyncIterator[list[Any]]:
            owned = _Owned(run)
            restarts = _Restarts(rs, loop)
            while True:
                restarts.start()
                chan = start_source(run, factory())
                owned.chans.append(chan)
                failure: Optional[BaseException] = None
                try:
                    async for b in chan:
                        yield b
                except Exception as exc:
                    failure = exc
                owned.chans.remove(chan)
                if failure is None and only_on_failures:
                    return
                delay = restarts.next_delay()
                if delay is None:
                    if failure is not None:
                        raise failure
                    return
                await asyncio.sleep(delay)

        consume(run, gen())
        return None

    return _dsl.Source(build, True)


def _borrowed(chan: Channel) -> "_dsl.Source[Any]":
    """A Source reading `chan` one element at a time that leaves it open
    when it ends (the next incarnation of a restarted stage reads on; one
    that fails loses at most the element it held)."""

    async def one_by_one() -> AsyncIterator[list[Any]]:
        while True:
            x = await _take(chan)
            if x is _EOS:
                return
            yield [x]

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        consume(run, one_by_one())
        return None

    return _dsl.Source(build, True)


def restart_flow(settings: RestartSettings, factory: Callable[[], "_dsl.Flow[Any, Any]"],
                 only_on_failures: bool = False) -> "_dsl.Flow[Any, Any]":
    """A Flow running ``factory()`` and, when it completes or fails (only
    fails with `only_on_failures`) while upstream goes on, a new one after
    a backoff, reading on from upstream (elements inside the failed one are
    lost); when the restarts are used up it ends as the last run did."""
    rs = _settings_of(settings)
    _dsl._check_callable(factory, "the restart factory")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        up = cut(run)
        loop = _loop(run)

        async def gen() -> AsyncIterator[list[Any]]:
            owned = _Owned(run)
            restarts = _Restarts(rs, loop)
            while True:
                restarts.start()
                flow = factory()
                if not isinstance(flow, _dsl.Flow):
                    raise TypeError(f"the restart factory must return a Flow, "
                                    f"not {type(flow).__name__}")
                chan = start_source(run, _borrowed(up).via(flow))
                owned.chans.append(chan)
                failure: Optional[BaseException] = None
                try:
                    async for b in chan:
                        yield b
                except Exception as exc:
                    failure = exc
                owned.chans.remove(chan)
                if up.closed and not up.buf:
                    if up.failure is not None:
                        raise up.failure
                    if failure is not None:
                        raise failure
                    return
                if failure is None and only_on_failures:
                    return
                delay = restarts.next_delay()
                if delay is None:
                    if failure is not None:
                        raise failure
                    return
                await asyncio.sleep(delay)

        consume(run, gen())
        return None

    return _dsl.Flow(build, True)


def restart_sink(settings: RestartSettings, factory: Callable[[], "_dsl.Sink[Any, Any]"]
                 ) -> "_dsl.Sink[Any, Any]":
    """A Sink running ``factory()`` and, when it completes or fails before
    upstream has, a new one after a backoff, reading on; when the restarts
    are used up, upstream is cancelled. Materializes an awaitable done
    (None) when the last incarnation has finished."""
    rs = _settings_of(settings)
    _dsl._check_callable(factory, "the restart factory")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        loop = _loop(run)
        chan = Channel(loop, CAPACITY)
        feed(run, single_offer(run, chan), [chan])

        async def drive() -> None:
            restarts = _Restarts(rs, loop)
            while True:
                restarts.start()
                sink = factory()
                if not isinstance(sink, _dsl.Sink):
                    raise TypeError(f"the restart factory must return a Sink, "
                                    f"not {type(sink).__name__}")
                inner = run.spawn()
                _borrowed(chan).to(sink)._build(inner, None)
                inner.start()
                try:
                    await inner.completion
                except Exception:
                    pass
                if chan.closed and not chan.buf:
                    return
                delay = restarts.next_delay()
                if delay is None:
                    chan.cancel()
                    return
                await asyncio.sleep(delay)

        task = loop.create_task(drive())
        run.background.append(task)
        def stop(exc: Optional[BaseException]) -> None:
            if exc is not None:
                task.cancel()

        run.finishers.append(stop)
        return task

    return _dsl.Sink(build, True)


class RestartSource:
    """Restarting sources (Akka's RestartSource): the static
    ``with_backoff(settings, factory)`` / ``on_failures_with_backoff``, or
    an instance holding the settings with ``via_source(factory)``."""

    def __init__(self, min_backoff: float = 0.1, max_backoff: float = 30.0,
                 random_factor: float = 0.0, max_restarts: Optional[int] = 5) -> None:
        self.settings = RestartSettings(min_backoff, max_backoff, random_factor, max_restarts)

    def via_source(self, factory: Callable[[], "_dsl.Source[Any]"]) -> "_dsl.Source[Any]":
        """The restarting Source over `factory` (restarted on completion and failure)."""
        return restart_source(self.settings, factory)

    @staticmethod
    def with_backoff(settings: RestartSettings, factory: Callable[[], "_dsl.Source[Any]"]
                     ) -> "_dsl.Source[Any]":
        """Restarted when it completes or fails."""
        return restart_source(settings, factory)

    @staticmethod
    def on_failures_with_backoff(settings: RestartSettings,
                                 factory: Callable[[], "_dsl.Source[Any]"]
                                 ) -> "_dsl.Source[Any]":
        """Restarted only when it fails; its completion completes the stream."""
        return restart_source(settings, factory, only_on_failures=True)


class RestartFlow:
    """Restarting flows (Akka's RestartFlow)."""

    @staticmethod
    def with_backoff(settings: RestartSettings, factory: Callable[[], "_dsl.Flow[Any, Any]"]
                     ) -> "_dsl.Flow[Any, Any]":
        """Restarted when it completes or fails while upstream goes on."""
        return restart_flow(settings, factory)

    @staticmethod
    def on_failures_with_backoff(settings: RestartSettings,
                                 factory: Callable[[], "_dsl.Flow[Any, Any]"]
                                 ) -> "_dsl.Flow[Any, Any]":
        """Restarted only when it fails."""
        return restart_flow(settings, factory, only_on_failures=True)


class RestartSink:
    """Restarting sinks (Akka's RestartSink)."""

    @staticmethod
    def with_backoff(settings: RestartSettings, factory: Callable[[], "_dsl.Sink[Any, Any]"]
                     ) -> "_dsl.Sink[Any, Any]":
        """Restarted when it completes or fails before upstream has."""
        return restart_sink(settings, factory)


# --------------------------------------------------------------------------- actors


def actor_ref_sink(ref: Any, on_complete: Any = None,
                   on_failure: Optional[Callable[[BaseException], Any]] = None,
                   timeout: float = 5.0) -> "_dsl.Sink[Any, Any]":
    """Sends every element to the actor `ref` with ``ref.ask`` and waits
    for its reply (the acknowledgement) before the next one: the actor
    back-pressures the stream. At completion `on_complete` is told (when
    not None); on failure ``on_failure(exc)`` is told (when given). A reply
    that does not come within `timeout` seconds fails the stream."""
    if not hasattr(ref, "ask") or not hasattr(ref, "tell"):
        raise TypeError(f"actor_ref_sink needs an actor ref, not {type(ref).__name__}")
    t = _seconds(timeout, "the acknowledgement timeout")

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        def send(x: Any) -> Any:
            return ref.ask(x, t)

        run.island.map_async(send, 1, True, decider)
        run.island.sink_ignore()

        def finished(exc: Optional[BaseException]) -> None:
            if exc is None and on_complete is not None:
                ref.tell(on_complete)
            elif exc is not None and on_failure is not None:
                ref.tell(on_failure(exc))

        run.finishers.append(finished)
        return run.completion

    return _dsl.Sink(build, True)


class ActorSourceRef:
    """What ``Source.actor_ref`` materializes to: ``tell(msg)`` (any
    thread) emits `msg`, unless it is the completion message (then the
    stream completes) or a failure matched by the failure matcher (then it
    fails). Usable as the `sender`-less target an actor replies to."""

    def __init__(self, queue: SourceQueue, completion: Callable[[Any], bool],
                 failure: Callable[[Any], Optional[BaseException]]) -> None:
        self._queue = queue
        self._completion = completion
        self._failure = failure

    def tell(self, msg: Any, sender: Any = None) -> None:
        """Emits `msg` (dropped by the buffer's strategy when full)."""
        if self._completion(msg):
            self._queue.complete()
            return
        exc = self._failure(msg)
        if exc is not None:
            self._queue.fail(exc)
            return
        self._queue.offer(msg)

    def tell_with_sender(self, msg: Any, sender: Any) -> None:
        """As tell (the sender is not used)."""
        self.tell(msg)


def actor_ref_source(buffer_size: int, overflow_strategy: str = "dropnew",
                     completion_matcher: Optional[Callable[[Any], bool]] = None,
                     failure_matcher: Optional[Callable[[Any], Optional[BaseException]]] = None
                     ) -> "_dsl.Source[Any]":
    """A Source whose every run materializes an :class:`ActorSourceRef`:
    messages told to it are emitted (up to `buffer_size` buffered, then
    dropped by `overflow_strategy`); `completion_matcher(msg)` true
    completes the stream, `failure_matcher(msg)` returning an exception
    fails it. Hand it to actors as a reply target."""
    _dsl._check_count(buffer_size, "the actor source's buffer size", 1)
    done = completion_matcher if completion_matcher is not None else (lambda m: False)
    fail = failure_matcher if failure_matcher is not None else (lambda m: None)

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        queue = SourceQueue(buffer_size, overflow_strategy)
        queue._source()._build(run, decider)
        return ActorSourceRef(queue, done, fail)

    return _dsl.Source(build, True)

