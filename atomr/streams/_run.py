"""Running a materialized island: in slices on an asyncio loop's thread, or
to its end on the calling thread.

A run owns one :class:`~atomr._native._core.StreamIsland`. On a loop, each
slice pulls at most :data:`SLICE` elements from the island's sources and
then gives the loop back (``call_soon``), so other coroutines keep running
and the loop stays the only thread executing the stream's callables. A
slice that waits (an async result, a throttle's next token, a socket
with nothing to read or no room to write) ends; the async call's done
callback, a timer or the loop's readiness callback for the socket schedules
the next one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import weakref
from functools import partial
from typing import Any, Callable, Optional

from atomr._native import _core

#: Source pulls per slice of a run.
SLICE = 4096

_log = logging.getLogger("atomr.streams")


class AsyncNext:
    """The no-argument async call of an async source: ``it.__anext__()``.
    Its ``StopAsyncIteration`` ends the source rather than failing it."""

    __slots__ = ("it",)

    def __init__(self, it: Any) -> None:
        self.it = it

    def __call__(self) -> Any:
        return self.it.__anext__()


class Completion:
    """The placeholder a sink materializes to in a blocking run: replaced by
    the stream's result when the run ends."""

    __slots__ = ()


class Run:
    """One materialization of a graph and the state of its execution.

    Built on the thread that runs it; `loop` is the running loop for an
    async run, None for a blocking one (then no async stage may be in it).
    """

    def __init__(self, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        self.island = _core.StreamIsland()
        self.island.starter = self._start_async
        self.loop = loop
        self.completion: Any = loop.create_future() if loop is not None else Completion()
        self.finished = False
        self._scheduled = False
        self._timer: Optional[asyncio.TimerHandle] = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._switches: list[Any] = []
        self._started = False
        #: The other runs of the same materialization (islands split off by
        #: async boundaries: fan-out junctions, side sinks, timed stages),
        #: shared by every run of it; the first run starts them all.
        self.family: list[Run] = []
        #: Called with the failure (None: completed or cancelled) when this
        #: run finishes.
        self.finishers: list[Callable[[Optional[BaseException]], None]] = []
        #: Tasks of the materialization that drive its islands (a restarted
        #: sink's incarnations), shared like `family`: a blocking run waits
        #: for them too.
        self.background: list[asyncio.Future[Any]] = []
        #: The sinks of this island other than its primary one (fan-out
        #: branches fused into it): (sink index in the island, completion).
        self.sides: list[tuple[int, Any]] = []
        #: The descriptors watched on the loop for the island's I/O stages:
        #: (fd, write).
        self._io: set[tuple[int, bool]] = set()

    def spawn(self) -> "Run":
        """Another island of this materialization, on the same loop; it
        starts with this one."""
        child = Run(self.loop)
        child.family = self.family
        child.background = self.background
        if isinstance(child.completion, asyncio.Future):
            child.completion.add_done_callback(_retrieve)
        self.family.append(child)
        return child

    # -- building ----------------------------------------------------------------------

    def side_sink(self, build: Callable[[], Any]) -> Any:
        """Builds another sink into this island (a fused fan-out branch)
        with a completion of its own: `build()` runs with ``completion``
        set to it. Returns what `build` returns."""
        comp: Any
        if self.loop is not None:
            comp = self.loop.create_future()
            comp.add_done_callback(_retrieve)
        else:
            comp = concurrent.futures.Future()
        saved, self.completion = self.completion, comp
        try:
            mat = build()
        finally:
            self.completion = saved
        self.sides.append((self.island.sink_count() - 1, comp))
        return mat

    def side_completions(self) -> list[Any]:
        """The completions of the side sinks of every island of this
        materialization."""
        return [c for r in [self, *self.family] for _, c in r.sides]

    def _settle_sides(self) -> tuple[bool, Any]:
        """Settles the side sinks' completions from a completed island with
        several sinks; the primary sink's ``(ok, value)``."""
        side = dict(self.sides)
        primary: tuple[bool, Any] = (True, None)
        for i in range(self.island.sink_count()):
            ok, value = self.island.sink_outcome(i)
            comp = side.get(i)
            if comp is None:
                primary = (ok, value)
            elif not comp.done():
                if ok:
                    comp.set_result(value)
                else:
                    comp.set_exception(value)
        return primary

    def _abandon_sides(self, exc: Optional[BaseException]) -> None:
        for _, comp in self.sides:
            if not comp.done():
                if exc is not None:
                    comp.set_exception(exc)
                else:
                    comp.cancel()

    def watch_switch(self, switch: Any) -> None:
        """Wakes this run when `switch` is flipped (an async run may be
        waiting when it is)."""
        switch._watch(self)
        self._switches.append(switch)

    # -- async runs --------------------------------------------------------------------

    def start(self) -> None:
        """Starts an async run (the first slice runs from the loop)."""
        assert self.loop is not None
        if self._started:
            return
        self._started = True
        self.completion.add_done_callback(self._on_completion_done)
        self._schedule()
        for other in list(self.family):
            other.start()

    def wake(self) -> None:
        """Schedules a slice from any thread (a kill switch was flipped)."""
        loop = self.loop
        if loop is None or self.finished:
            return
        try:
            loop.call_soon_threadsafe(self._schedule)
        except RuntimeError:  # the loop is closed: nothing runs this stream any more
            pass

    def _schedule(self) -> None:
        if self._scheduled or self.finished:
            return
        self._scheduled = True
        assert self.loop is not None
        self.loop.call_soon(self._step)

    def _step(self) -> None:
        self._scheduled = False
        if self.finished:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            outcome = self.island.run(SLICE)
        except BaseException as exc:  # a C++ error, or a signal's exception
            self.island.cancel()
            self._finish(exc=exc)
            return
        if outcome == _core.ISLAND_YIELDED:
            self._schedule()
        elif outcome == _core.ISLAND_WAITING:
            if self._io:
                self._watch_io(set(self.island.io_waits()))
            else:
                waits = self.island.io_waits()
                if waits:
                    self._watch_io(set(waits))
            wake_at = self.island.wake_at()
            if wake_at is not None:
                assert self.loop is not None
                delay = max(0.0, wake_at - time.monotonic())
                self._timer = self.loop.call_later(delay, self._schedule)
        elif outcome == _core.ISLAND_COMPLETED:
            if self.sides:
                ok, value = self._settle_sides()
                if not ok:
                    self._finish(exc=value)
                    return
                self._finish(result=value)
                return
            self._finish(result=self.island.result())
        elif outcome == _core.ISLAND_FAILED:
            self._finish(exc=self.island.failure())

    def _watch_io(self, wanted: set[tuple[int, bool]]) -> None:
        """Watches exactly the descriptors in `wanted` on the loop: a ready
        one runs the next slice (a descriptor no stage waits for is not
        watched, so a socket the stream does not read stays unread)."""
        if wanted == self._io:
            return
        loop = self.loop
        assert loop is not None
        for fd, write in self._io - wanted:
            if write:
                loop.remove_writer(fd)
            else:
                loop.remove_reader(fd)
        for fd, write in wanted - self._io:
            if write:
                loop.add_writer(fd, self._on_io)
            else:
                loop.add_reader(fd, self._on_io)
        self._io = wanted

    def _on_io(self) -> None:
        if not self._scheduled and not self.finished:
            self._step()

    def _finish(self, result: Any = None, exc: Optional[BaseException] = None) -> None:
        self.finished = True
        if self._io:
            self._watch_io(set())
        for fut in list(self._inflight):
            fut.cancel()
        self._inflight.clear()
        self._release()
        self._abandon_sides(exc)
        fut = self.completion
        if isinstance(fut, asyncio.Future) and not fut.done():
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result)
        self._run_finishers(exc)

    def _run_finishers(self, exc: Optional[BaseException]) -> None:
        finishers, self.finishers = self.finishers, []
        for finisher in finishers:
            try:
                finisher(exc)
            except Exception:  # a finisher must not break the loop's callback
                _log.exception("atomr.streams: a stream's finish hook raised")

    def _release(self) -> None:
        """Unhooks a finished run from its kill switches and breaks the
        island -> starter -> run reference cycle."""
        for switch in self._switches:
            switch._unwatch(self)
        self._switches.clear()
        self.island.starter = None

    def _on_completion_done(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() and not self.finished:  # the caller cancelled the stream
            self.island.cancel()
            self._finish()

    def _start_async(self, fn: Callable[..., Any], arg: Any, ticket: int
                     ) -> Optional[tuple[Any]]:
        """Starts an async call of the island; ``(value,)`` when its
        awaitable is a future already done with a value (the island takes
        it at once, without a loop callback), else None."""
        if self.loop is None:
            raise RuntimeError("an async stage needs an event loop: run the graph with "
                               "`await graph.run()` or `graph.run_blocking()`")
        awaitable = fn() if arg is _core.STREAM_NO_ARG else fn(arg)
        if (isinstance(awaitable, asyncio.Future) and awaitable.done()
                and not awaitable.cancelled() and awaitable.exception() is None):
            return (awaitable.result(),)
        fut = asyncio.ensure_future(awaitable, loop=self.loop)
        self._inflight.add(fut)
        fut.add_done_callback(partial(self._async_done, ticket, isinstance(fn, AsyncNext)))
        return None

    def _async_done(self, ticket: int, is_source: bool, fut: asyncio.Future[Any]) -> None:
        self._inflight.discard(fut)
        if self.finished:
            return
        if fut.cancelled():
            self.island.complete_async(ticket, False, asyncio.CancelledError())
        else:
            exc = fut.exception()
            if exc is None:
                self.island.complete_async(ticket, True, fut.result())
            elif is_source and isinstance(exc, StopAsyncIteration):
                self.island.complete_async(ticket, True, None, True)
            else:
                self.island.complete_async(ticket, False, exc)
        self._schedule()

    # -- blocking runs -----------------------------------------------------------------

    def run_to_end(self) -> Any:
        """Runs a graph without async stages on this thread; its result, or
        raises its failure."""
        try:
            outcome = self.island.run_to_end(SLICE)
        finally:
            self.finished = True
            self._release()
            self._run_finishers(None)
        if outcome == _core.ISLAND_COMPLETED:
            if self.sides:
                ok, value = self._settle_sides()
                if not ok:
                    raise value
                return value
            return self.island.result()
        self._abandon_sides(None)
        if outcome == _core.ISLAND_FAILED:
            raise self.island.failure()
        self.island.cancel()
        raise RuntimeError("the stream waits for an async stage but has no event loop")


def _retrieve(fut: "asyncio.Future[Any]") -> None:
    """Marks a split-off island's failure as seen: it reaches the graph's
    sinks through its channels."""
    if not fut.cancelled():
        fut.exception()


def resolve(mat: Any, completion: Any, result: Any,
            others: "Optional[list[asyncio.Future[Any]]]" = None) -> Any:
    """`mat` with `completion` replaced by `result` (also inside tuples),
    and the (done) futures in `others` by their results (their failures
    raised)."""
    if mat is completion:
        return result
    if others:
        for other in others:
            if mat is other:
                return other.result()
    if isinstance(mat, tuple):
        return tuple(resolve(m, completion, result, others) for m in mat)
    return mat


#: Runs of kill switches are held weakly: a finished run drops out by itself.
def run_set() -> "weakref.WeakSet[Run]":
    """An empty weak set of runs."""
    return weakref.WeakSet()
