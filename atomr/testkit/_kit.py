"""TestKit, TestScheduler, EventFilter and ``within``."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import re
import threading
import time
import warnings
import weakref
from typing import Any, Awaitable, Callable, Optional

from atomr.config import Config
from atomr.errors import AtomrError
from atomr.event_stream import EventStream
from atomr.system import ActorSystem
from atomr.testkit._probe import ProbeTimeoutError, TestProbe

__all__ = ["TestKit", "TestScheduler", "ScheduledToken", "EventFilter", "within", "LeakWarning"]


class LeakWarning(UserWarning):
    """Actors, timers, threads or other actor systems were still alive when
    a TestKit shut down."""


#: Seconds :meth:`TestKit.shutdown` gives threads and other systems started
#: during the test to end (they may be finishing) before it reports them.
_LEAK_GRACE = 2.0


def _owned_elsewhere(t: threading.Thread) -> bool:
    """Threads that are not the test's to stop: a foreign (C++) thread seen
    from Python (it never "ends"), and the default-executor workers of an
    event loop (``asyncio_<n>``), which end when the loop's runner closes
    it, possibly only after the test's teardown."""
    return (isinstance(t, threading._DummyThread) or t is threading.current_thread()
            or t.name.startswith("asyncio_"))


def _describe_thread(t: threading.Thread) -> str:
    return f"{t.name!r}{' (daemon)' if t.daemon else ''}"


def _describe_system(system: ActorSystem) -> str:
    try:  # read from this thread while the system may still be running
        actors, timers = len(system.top_level_refs()), len(system.live_timers())
    except RuntimeError:  # its actor tree changed under the walk
        return repr(system.name)
    return f"{system.name!r} ({actors} actor(s), {timers} timer(s))"


class _Within:
    """``await kit.within(max, body)`` or ``async with kit.within(min, max):``."""

    def __init__(self, lo: float, hi: float, body: Optional[Callable[[float], Awaitable]]) -> None:
        if hi < lo or lo < 0:
            raise ValueError(f"within({lo}, {hi}): need 0 <= min <= max")
        self._lo = lo
        self._hi = hi
        self._body = body
        self._start = 0.0

    def __await__(self):
        return self._run().__await__()

    async def _run(self) -> Any:
        if self._body is None:
            raise TypeError("within(...) without a body must be used with `async with`")
        start = time.monotonic()
        try:
            result = await asyncio.wait_for(self._body(self._hi), self._hi)
        except asyncio.TimeoutError:
            raise ProbeTimeoutError(f"block did not finish within {self._hi:g}s") from None
        self._check(time.monotonic() - start)
        return result

    def _check(self, elapsed: float) -> None:
        if elapsed > self._hi:
            raise ProbeTimeoutError(f"block took {elapsed:.3f}s, more than the maximum "
                                    f"{self._hi:g}s")
        if elapsed < self._lo:
            raise ProbeTimeoutError(f"block took {elapsed:.3f}s, less than the minimum "
                                    f"{self._lo:g}s")

    async def __aenter__(self) -> "_Within":
        self._start = time.monotonic()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._check(time.monotonic() - self._start)

    @property
    def remaining(self) -> float:
        """Seconds left before the maximum (inside ``async with``)."""
        return max(0.0, self._hi - (time.monotonic() - self._start))


def within(a: float, b: Any = None, body: Optional[Callable[[float], Awaitable]] = None) -> _Within:
    """A time box.

    ``await within(timeout, body)`` calls ``body(timeout)`` (which returns an
    awaitable) and fails unless it finishes in time; ``async with
    within(min, max):`` fails unless the block takes between `min` and
    `max` seconds.
    """
    if callable(b):
        return _Within(0.0, float(a), b)
    if b is None:
        return _Within(0.0, float(a), body)
    return _Within(float(a), float(b), body)


class ScheduledToken:
    """A callback scheduled on a :class:`TestScheduler`.

    Attributes:
        deadline: The virtual time at which it fires.
        seq: Its scheduling order (breaks ties between equal deadlines).
        callback: The zero-argument callable it runs.
    """

    __slots__ = ("deadline", "seq", "callback", "_state")

    def __init__(self, deadline: float, seq: int, callback: Callable[[], Any]) -> None:
        self.deadline = deadline
        self.seq = seq
        self.callback = callback
        self._state = "pending"

    def __lt__(self, other: "ScheduledToken") -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)

    def cancel(self) -> bool:
        """True only if it was still pending."""
        if self._state != "pending":
            return False
        self._state = "cancelled"
        return True

    def fired(self) -> bool:
        """Whether the scheduler has run the callback."""
        return self._state == "fired"


class TestScheduler:
    """A virtual clock starting at 0.

    Callbacks scheduled with :meth:`schedule_after` fire only when the test
    moves time with :meth:`advance`. Bound to a system created with the
    virtual clock (``TestKit(virtual_time=True)`` does that), advancing also
    fires the system's actor timers and receive timeouts, interleaved with
    the callbacks in deadline order.
    """

    __test__ = False

    def __init__(self, system: Optional[ActorSystem] = None) -> None:
        self._lock = threading.RLock()
        self._heap: list[ScheduledToken] = []
        self._seq = itertools.count()
        self._native = None
        self._now = 0.0
        if system is not None:
            scheduler = system.scheduler
            if not getattr(scheduler, "virtual", False):
                raise ValueError("the system does not run on a virtual clock; create it with "
                                 "Config.from_dict({'scheduler': {'clock': 'virtual'}})")
            self._native = scheduler

    def now(self) -> float:
        """The virtual time in seconds."""
        if self._native is not None:
            return self._native.now()
        return self._now

    def schedule_after(self, delay: float, callback: Callable[[], Any]) -> ScheduledToken:
        """Calls `callback()` once the clock has moved `delay` seconds on."""
        if not callable(callback):
            raise TypeError("callback must be a zero-argument callable")
        if not delay >= 0:
            raise ValueError(f"delay must be >= 0, got {delay!r}")
        with self._lock:
            token = ScheduledToken(self.now() + delay, next(self._seq), callback)
            heapq.heappush(self._heap, token)
            return token

    def pending(self) -> int:
        """Callbacks (and, when bound, actor timers) not fired yet."""
        with self._lock:
            own = sum(1 for t in self._heap if t._state == "pending")
        native = self._native.pending() if self._native is not None else 0
        return own + native

    def next_deadline(self) -> Optional[float]:
        """The virtual time of the earliest callback scheduled with
        :meth:`schedule_after` and still pending, or None (a bound
        system's actor timers are not included)."""
        with self._lock:
            while self._heap and self._heap[0]._state != "pending":
                heapq.heappop(self._heap)
            return self._heap[0].deadline if self._heap else None

    def advance_blocking(self, seconds: float) -> int:
        """Moves time forward by `seconds`, firing everything due (deadline
        order, deadlines equal to the new time included). Returns the number
        of callbacks and timers fired."""
        if not seconds >= 0:
            raise ValueError(f"cannot advance time by {seconds!r} seconds")
        fired = 0
        with self._lock:
            target = self.now() + seconds
            while True:
                while self._heap and self._heap[0]._state != "pending":
                    heapq.heappop(self._heap)
                nxt = self._heap[0] if self._heap and self._heap[0].deadline <= target else None
                step_to = nxt.deadline if nxt is not None else target
                if self._native is not None:
                    fired += self._native.advance(max(0.0, step_to - self._native.now()))
                else:
                    self._now = step_to
                if nxt is None:
                    break
                heapq.heappop(self._heap)
                nxt._state = "fired"
                fired += 1
                try:
                    nxt.callback()
                except Exception as exc:  # a callback's error is reported, not raised
                    warnings.warn(f"TestScheduler callback {nxt.callback!r} raised {exc!r}",
                                  RuntimeWarning, stacklevel=2)
        return fired

    async def advance(self, seconds: float) -> int:
        """:meth:`advance_blocking`, then lets the loop run once so that
        actors on this loop can start handling what fired."""
        fired = self.advance_blocking(seconds)
        await asyncio.sleep(0)
        return fired


def _manifest(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class EventFilter:
    """Counts events published (after its creation) that match.

    Args:
        source: a :class:`TestProbe`, :class:`TestKit`, ``ActorSystem`` or
            :class:`EventStream` whose events to watch.
        cls_path: the event's ``module.qualname`` must equal this.
        message_regex: ``re.search`` must find it in ``repr(event)`` (or in
            a log event's message).
    """

    def __init__(self, source: Any, cls_path: Optional[str] = None,
                 message_regex: Optional[str] = None) -> None:
        stream = _stream_of(source)
        self._cls_path = cls_path
        self._regex = re.compile(message_regex) if message_regex is not None else None
        self._count = 0
        self._cond = threading.Condition()
        self._stream = stream
        stream.subscribe(self._on_event)

    def _matches(self, event: Any) -> bool:
        if self._cls_path is not None and _manifest(event) != self._cls_path:
            return False
        if self._regex is not None:
            text = getattr(event, "message", None)
            if not (isinstance(text, str) and self._regex.search(text)) and \
                    not self._regex.search(repr(event)):
                return False
        return True

    def _on_event(self, event: Any) -> None:
        if self._matches(event):
            with self._cond:
                self._count += 1
                self._cond.notify_all()

    def count(self) -> int:
        """How many matching events were seen so far."""
        with self._cond:
            return self._count

    async def await_count(self, n: int, timeout: float = 1.0) -> bool:
        """True once `n` matching events were seen; False after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            if self.count() >= n:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)

    def await_count_blocking(self, n: int, timeout: float = 1.0) -> bool:
        """Blocks until `n` matching events were seen (True) or `timeout`
        seconds passed (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._count < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        """Stops counting."""
        self._stream.unsubscribe(self._on_event)


def _stream_of(source: Any) -> EventStream:
    if isinstance(source, EventStream):
        return source
    if isinstance(source, TestProbe):
        return source._system.event_stream
    if isinstance(source, TestKit):
        return source.system.event_stream
    if isinstance(source, ActorSystem):
        return source.event_stream
    raise TypeError(f"EventFilter needs a probe, TestKit, ActorSystem or EventStream, not "
                    f"{type(source).__name__}")


class TestKit:
    """A private actor system for a test, with probes and assertions.

    The system runs its own loop on a dedicated thread, so the kit works
    from plain and from ``async`` tests alike.

    Args:
        name: the system's name.
        config: its :class:`atomr.Config`.
        virtual_time: run the system on a virtual clock driven by
            :attr:`scheduler` (actor timers and receive timeouts fire only
            when the test advances time).
    """

    __test__ = False

    def __init__(self, name: str = "test-system", config: Optional[Config] = None, *,
                 virtual_time: bool = False) -> None:
        if virtual_time:
            tree = config.extract_root() if config is not None else {}
            tree.setdefault("scheduler", {})["clock"] = "virtual"
            config = Config.from_dict(tree)
        self._system = ActorSystem.create_blocking(name, config)
        self._probe_ids = itertools.count(1)
        self._probes: list[TestProbe] = []
        self._scheduler = TestScheduler(self._system) if virtual_time else None
        self._shut = False
        # What ran before the test: only threads and systems started after
        # this point can be the test's leaks.
        self._threads_before = set(threading.enumerate())
        self._systems_before: weakref.WeakSet[ActorSystem] = weakref.WeakSet(
            ActorSystem.live_systems())

    @property
    def system(self) -> ActorSystem:
        """The kit's actor system."""
        return self._system

    @property
    def scheduler(self) -> TestScheduler:
        """The virtual clock (only with ``virtual_time=True``)."""
        if self._scheduler is None:
            raise AtomrError("this TestKit runs on the real clock; create it with "
                             "TestKit(virtual_time=True)")
        return self._scheduler

    def probe(self, name: Optional[str] = None) -> TestProbe:
        """A new probe, named ``probe-<n>`` unless `name` is given."""
        probe = TestProbe(self._system, name or f"probe-{next(self._probe_ids)}")
        self._probes.append(probe)
        return probe

    def within(self, a: float, b: Any = None,
               body: Optional[Callable[[float], Awaitable]] = None) -> _Within:
        """See :func:`within`."""
        return within(a, b, body)

    async def await_condition(self, predicate: Callable[[], Any], timeout: float = 3.0,
                              interval: float = 0.01, message: str = "") -> None:
        """Polls `predicate` until it is truthy; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise ProbeTimeoutError(
                    f"condition not met within {timeout:g}s" + (f": {message}" if message else ""))
            await asyncio.sleep(interval)

    def await_condition_blocking(self, predicate: Callable[[], Any], timeout: float = 3.0,
                                 interval: float = 0.01, message: str = "") -> None:
        """Blocks, polling `predicate` every `interval` seconds, until it is
        truthy.

        Raises:
            ProbeTimeoutError: `predicate` was still falsy after `timeout`
                seconds (`message` is appended to the error).
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise ProbeTimeoutError(
                    f"condition not met within {timeout:g}s" + (f": {message}" if message else ""))
            time.sleep(interval)

    async def expect_terminated(self, ref: Any, timeout: float = 3.0) -> Any:
        """Waits for `ref` to stop (through a fresh watching probe)."""
        probe = self.probe()
        try:
            return await probe.expect_terminated(ref, timeout)
        finally:
            probe.ref_.stop()

    def leaks(self) -> tuple[list[str], int]:
        """Paths of live top-level actors other than probes, and the number
        of pending timers owned by the system's actors."""
        probe_paths = {p.ref_.path for p in self._probes}
        actors = [r.path for r in self._system.top_level_refs()
                  if r.path not in probe_paths]
        return actors, len(self._system.live_timers())

    def _outliving(self, grace: float) -> tuple[list[threading.Thread], list[ActorSystem]]:
        """Threads and actor systems started since the kit was made (other
        than its own) that are still running, after giving them `grace`
        seconds to end."""
        deadline = time.monotonic() + grace
        while True:
            threads = [t for t in threading.enumerate()
                       if t not in self._threads_before and not _owned_elsewhere(t)]
            systems = [s for s in ActorSystem.live_systems()
                       if s is not self._system and s not in self._systems_before]
            if not (threads or systems) or time.monotonic() >= deadline:
                return threads, systems
            time.sleep(0.01)

    def shutdown(self, verify: bool = True, timeout: float = 10.0,
                 report: Optional[Callable[[str], Any]] = None, *,
                 own_actors_ok: bool = False) -> None:
        """Terminates the system.

        With `verify`, reports leaks (to `report`, else as a
        :class:`LeakWarning`): threads started since the kit was made and
        actor systems other than its own still running after its system
        terminated, and, unless `own_actors_ok`, the actors and timers of
        its own system still alive at shutdown (its termination stops
        them: the ``testkit`` fixture passes ``own_actors_ok=True``). It
        fails if the system does not terminate within `timeout` or a timer
        survives the termination.
        """
        if self._shut:
            return
        self._shut = True
        found: list[str] = []
        actors, timers = self.leaks() if verify and not own_actors_ok else ([], 0)
        if actors or timers:
            found.append(f"TestKit {self._system.name}: {len(actors)} actor(s) still running "
                         f"at shutdown {actors[:10]}, {timers} timer(s) pending")
        try:
            self._system.terminate_blocking(timeout)
        except TimeoutError:
            if verify:
                raise AssertionError(f"actor system {self._system.name} did not terminate "
                                     f"within {timeout:g}s") from None
            return
        if verify:
            left = len(self._system.live_timers())
            if left:
                raise AssertionError(f"{left} timer(s) still pending after termination")
            threads, systems = self._outliving(_LEAK_GRACE)
            if threads:
                found.append(f"TestKit {self._system.name}: {len(threads)} thread(s) started "
                             f"during the test still running after shutdown: "
                             f"{', '.join(_describe_thread(t) for t in threads[:10])}")
            if systems:
                found.append(f"TestKit {self._system.name}: {len(systems)} other actor "
                             f"system(s) started during the test still running after "
                             f"shutdown: {', '.join(_describe_system(s) for s in systems[:10])}")
        if found:
            text = "\n".join(found)
            if report is not None:
                report(text)
            else:
                warnings.warn(text, LeakWarning, stacklevel=2)

    def __enter__(self) -> "TestKit":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown(verify=exc[0] is None)

    def __repr__(self) -> str:
        return f"<TestKit {self._system.name}>"
