"""The pure-Python actors the benchmarks race atomr against.

Two baselines, each written as plainly as its model allows:

* :class:`AsyncioActor` -- the actor a Python programmer writes by hand on
  asyncio: one ``asyncio.Queue`` as the mailbox and one ``Task`` draining it,
  handlers are coroutines, an ask is a future carried next to the message.
  Its ask takes no timeout (no timer per ask), which only favours it.
* Pykka -- ``pykka.ThreadingActor`` subclasses (one thread per actor);
  tells are ``ActorRef.tell``, asks ``ActorRef.ask``.

Every scenario has the same actors on each side: a counter, an echo, a
ponger/pinger pair and a worker that counts down a latch.

The actor-core and routing scenarios add, written the same plain way:

* supervision -- :class:`AsyncioSupervisor` (a child object rebuilt from its
  factory when its handler raises, mailbox kept) and, on Pykka,
  :class:`PykkaSupervisor` (a new child actor started when the old one fails);
* timers -- :class:`AsyncioPeriodicTimer` (``loop.call_at`` re-armed at a
  fixed rate) driving :class:`AsyncioTicker`; the tick bookkeeping
  (:class:`TickRound`, :class:`TickBook`) is shared with the atomr actor so
  both sides run the same handler code;
* stash -- :class:`AsyncioStashActor`, a deque stash replayed ahead of the
  queued mail;
* routers -- :class:`RoundRobinRouter` (``itertools.cycle``) and
  :class:`ConsistentHashRouter` (``bisect`` over a ring of virtual nodes)
  over any actors with a ``tell``.
"""

from __future__ import annotations

import abc
import asyncio
import bisect
import collections
import concurrent.futures
import itertools
import logging
import threading
import time
from typing import Any, Callable, Optional, Sequence

import pykka

__all__ = [
    "AsyncioActor",
    "AsyncioCounter",
    "AsyncioFaulty",
    "AsyncioPeriodicTimer",
    "AsyncioStashActor",
    "AsyncioStasher",
    "AsyncioSupervisor",
    "AsyncioTicker",
    "BenchFailure",
    "ConsistentHashRouter",
    "PykkaFaulty",
    "PykkaSupervisor",
    "RoundRobinRouter",
    "TickBook",
    "TickRound",
    "LOGGER",
    "AsyncioEcho",
    "AsyncioLatch",
    "AsyncioPinger",
    "AsyncioPonger",
    "AsyncioWorker",
    "PykkaCounter",
    "PykkaEcho",
    "PykkaPinger",
    "PykkaPonger",
    "PykkaWorker",
    "ThreadLatch",
    "stop_asyncio_actors",
    "stop_pykka_actors",
]


# ---------------------------------------------------------------------------
# asyncio: one Queue + one Task per actor


class AsyncioActor(abc.ABC):
    """A minimal asyncio actor: one ``asyncio.Queue`` and one ``Task``.

    Must be created on a running loop and used from that loop's thread.
    Subclasses implement ``async def handle(self, msg, sender)``; its return
    value answers an :meth:`ask`. One message is handled at a time, in order.
    """

    __slots__ = ("_queue", "_task")

    def __init__(self) -> None:
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    @abc.abstractmethod
    async def handle(self, msg: Any, sender: Optional["AsyncioActor"]) -> Any:
        """Handles one message; the return value answers an ask."""

    async def _run(self) -> None:
        get = self._queue.get
        handle = self.handle
        while True:
            msg, sender, reply = await get()
            try:
                result = await handle(msg, sender)
            except Exception as exc:
                if reply is not None and not reply.done():
                    reply.set_exception(exc)
                continue
            if reply is not None and not reply.done():
                reply.set_result(result)

    def tell(self, msg: Any, sender: Optional["AsyncioActor"] = None) -> None:
        """Enqueues `msg`; `sender` is handed to the handler."""
        self._queue.put_nowait((msg, sender, None))

    def ask(self, msg: Any) -> "asyncio.Future[Any]":
        """Enqueues `msg` and returns a future of the handler's return value."""
        fut = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((msg, None, fut))
        return fut

    async def stop(self) -> None:
        """Cancels the actor's task and waits for it to end."""
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def stop_asyncio_actors(actors: "list[AsyncioActor]") -> None:
    """Stops `actors` and waits until all their tasks have ended."""
    for actor in actors:
        actor._task.cancel()
    await asyncio.gather(*(a._task for a in actors), return_exceptions=True)


class AsyncioCounter(AsyncioActor):
    """Counts the messages it handled; answers with the running count."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def handle(self, msg: Any, sender: Any) -> int:
        self.count += 1
        return self.count


class AsyncioEcho(AsyncioActor):
    """Answers every message with itself."""

    __slots__ = ()

    async def handle(self, msg: Any, sender: Any) -> Any:
        return msg


class AsyncioPonger(AsyncioActor):
    """Sends every ball straight back to its sender."""

    __slots__ = ()

    async def handle(self, msg: Any, sender: Any) -> None:
        sender.tell(msg, self)


class AsyncioPinger(AsyncioActor):
    """Serves a ball to a ponger and returns it until `rounds` returns came
    back, then resolves the `done` future with the last ball.

    Start it with ``pinger.tell(("serve", ponger, rounds, done))``.
    """

    __slots__ = ("remaining", "done")

    def __init__(self) -> None:
        super().__init__()
        self.remaining = 0
        self.done: Optional[asyncio.Future] = None

    async def handle(self, msg: Any, sender: Any) -> None:
        if type(msg) is tuple:
            _, ponger, self.remaining, self.done = msg
            ponger.tell(0, self)
            return
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set_result(msg)
        else:
            sender.tell(msg + 1, self)


class AsyncioLatch:
    """Resolves `done` once :meth:`count_down` ran `count` times (one loop only)."""

    __slots__ = ("remaining", "done")

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def count_down(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set_result(None)


class AsyncioWorker(AsyncioActor):
    """Counts down the latch it is sent."""

    __slots__ = ()

    async def handle(self, msg: Any, sender: Any) -> None:
        msg.count_down()


# ---------------------------------------------------------------------------
# Pykka: one thread per actor


class PykkaCounter(pykka.ThreadingActor):
    """Counts the messages it handled; answers with the running count."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> int:
        self.count += 1
        return self.count


class PykkaEcho(pykka.ThreadingActor):
    """Answers every message with itself."""

    def on_receive(self, message: Any) -> Any:
        return message


class PykkaPonger(pykka.ThreadingActor):
    """Sends every ``(ball, sender)`` straight back to its sender."""

    def on_receive(self, message: Any) -> None:
        ball, sender = message
        sender.tell((ball, self.actor_ref))


class PykkaPinger(pykka.ThreadingActor):
    """Serves a ball to a ponger and returns it until `rounds` returns came
    back, then resolves the `done` ``concurrent.futures.Future`` with the
    last ball.

    Start it with ``pinger.tell(("serve", ponger, rounds, done))``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.remaining = 0
        self.done: Optional[concurrent.futures.Future] = None

    def on_receive(self, message: Any) -> None:
        if len(message) == 4:
            _, ponger, self.remaining, self.done = message
            ponger.tell((0, self.actor_ref))
            return None
        ball, sender = message
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set_result(ball)
        else:
            sender.tell((ball + 1, self.actor_ref))
        return None


class ThreadLatch:
    """Sets `done` once :meth:`count_down` ran `count` times (any threads)."""

    __slots__ = ("remaining", "done", "_lock")

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.done = threading.Event()
        self._lock = threading.Lock()

    def count_down(self) -> None:
        with self._lock:
            self.remaining -= 1
            last = self.remaining == 0
        if last:
            self.done.set()


class PykkaWorker(pykka.ThreadingActor):
    """Counts down the latch it is sent."""

    def on_receive(self, message: Any) -> None:
        message.count_down()


def stop_pykka_actors(refs: "list[pykka.ActorRef]", timeout: float = 30.0) -> None:
    """Stops the actors behind `refs` and waits until each has stopped."""
    futures = [ref.stop(block=False) for ref in refs]
    for fut in futures:
        fut.get(timeout=timeout)


# ---------------------------------------------------------------------------
# Supervision: a child rebuilt when its handler raises

#: The logger the baselines report failures under (as atomr logs under
#: ``atomr`` and Pykka under ``pykka``).
LOGGER = logging.getLogger("baselines")


class BenchFailure(Exception):
    """The failure every faulty actor raises, on every side."""


class AsyncioFaulty:
    """A supervised child that raises on every message; `on_build` runs once
    per instance (so the caller can count restarts)."""

    __slots__ = ()

    def __init__(self, on_build: Callable[[], None]) -> None:
        on_build()

    async def handle(self, msg: Any, sender: Any) -> Any:
        raise BenchFailure(msg)


class AsyncioSupervisor(AsyncioActor):
    """One supervised child behind one mailbox: the actor's task hands every
    message to ``child.handle``; when that raises, the failure is logged
    (``LOGGER.error`` with the exception, as atomr and Pykka do) and the
    child is replaced by a fresh ``factory()`` -- a restart that keeps the
    mailbox. An ask sees the exception."""

    __slots__ = ("_factory", "child", "restarts")

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self.child = factory()
        self.restarts = 0
        super().__init__()

    async def handle(self, msg: Any, sender: Any) -> Any:
        try:
            return await self.child.handle(msg, sender)
        except Exception as exc:
            LOGGER.error("child of %r failed while handling %r; restarting it", self, msg,
                         exc_info=exc)
            self.restarts += 1
            self.child = self._factory()
            raise


class _ChildFailed:
    __slots__ = ()


_CHILD_FAILED = _ChildFailed()


class PykkaFaulty(pykka.ThreadingActor):
    """A supervised Pykka child that raises on every message. Pykka logs
    the failure and stops the actor; ``on_failure`` then tells its
    supervisor. `on_build` runs once per instance."""

    def __init__(self, supervisor: pykka.ActorRef, on_build: Callable[[], None]) -> None:
        super().__init__()
        self.supervisor = supervisor
        on_build()

    def on_receive(self, message: Any) -> None:
        raise BenchFailure(message)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self.supervisor.tell(_CHILD_FAILED)


class PykkaSupervisor(pykka.ThreadingActor):
    """Supervises one child started by ``child_factory(supervisor_ref)``.

    Pykka has no supervision and drops the mail of a failed actor, so the
    supervisor keeps the mailbox: it holds the messages and hands the child
    one at a time; when the child reports its failure, the supervisor
    starts a fresh child (a new actor and thread) and hands it the next
    message. The child is stopped with the supervisor.
    """

    def __init__(self, child_factory: Callable[[pykka.ActorRef], pykka.ActorRef]) -> None:
        super().__init__()
        self._factory = child_factory
        self._pending: collections.deque = collections.deque()
        self._busy = False
        self.child: Optional[pykka.ActorRef] = None
        self.restarts = 0

    def on_start(self) -> None:
        self.child = self._factory(self.actor_ref)

    def on_receive(self, message: Any) -> None:
        if message is _CHILD_FAILED:
            self.restarts += 1
            self.child = self._factory(self.actor_ref)
            self._busy = False
        else:
            self._pending.append(message)
        if not self._busy and self._pending:
            self._busy = True
            self.child.tell(self._pending.popleft())

    def on_stop(self) -> None:
        if self.child is not None:
            self.child.stop()


# ---------------------------------------------------------------------------
# Timers: fixed-rate periodic timers on the loop


class AsyncioPeriodicTimer:
    """Tells `msg` to `target` after `initial` seconds, then every `interval`
    seconds at a fixed rate (deadlines ``start + initial + k * interval``,
    so late ticks do not shift the next ones), until cancelled. One
    ``loop.call_at`` handle at a time -- what ``call_later`` wraps."""

    __slots__ = ("_loop", "_interval", "_target", "_msg", "_deadline", "_handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, initial: float, interval: float,
                 target: AsyncioActor, msg: Any) -> None:
        self._loop = loop
        self._interval = interval
        self._target = target
        self._msg = msg
        self._deadline = loop.time() + initial
        self._handle = loop.call_at(self._deadline, self._fire)

    def _fire(self) -> None:
        self._target.tell(self._msg)
        self._deadline += self._interval
        self._handle = self._loop.call_at(self._deadline, self._fire)

    def cancel(self) -> None:
        self._handle.cancel()


class TickRound:
    """One round of the timer scenario, shared by every actor of the round
    (one loop only): `scheduled` resolves once each of `actors` actors
    scheduled its timers, `done` once each of the ``actors *
    timers_per_actor`` timers delivered `ticks` ticks; `lateness` collects,
    per delivery, how late it came (seconds after its ideal fixed-rate
    time)."""

    __slots__ = ("actors", "timers_per_actor", "ticks", "interval", "scheduled", "done",
                 "lateness")

    def __init__(self, actors: int, timers_per_actor: int, ticks: int, interval: float) -> None:
        self.actors = actors
        self.timers_per_actor = timers_per_actor
        self.ticks = ticks
        self.interval = interval
        self.scheduled = AsyncioLatch(actors)
        self.done = AsyncioLatch(actors * timers_per_actor)
        self.lateness: "list[float]" = []


class TickBook:
    """The timers of one actor and their bookkeeping -- the same code in
    the atomr actor and the asyncio baseline.

    :meth:`start` schedules the actor's timers through `schedule(initial,
    interval, msg)` (which returns something with ``cancel()``): timer `j`
    sends the int `j`; the initial delays are spread evenly over one
    interval across all the round's timers (`first` = this actor's first
    global timer number). :meth:`tick` handles one delivery: records its
    lateness against the ideal time ``scheduled at + initial + k *
    interval`` (``time.monotonic``) and cancels the timer after its last
    tick.
    """

    __slots__ = ("round", "base", "count", "timers")

    def __init__(self) -> None:
        self.round: Optional[TickRound] = None
        self.base: "list[float]" = []
        self.count: "list[int]" = []
        self.timers: "list[Any]" = []

    def start(self, rnd: TickRound, first: int,
              schedule: Callable[[float, float, Any], Any]) -> None:
        self.round = rnd
        n = rnd.timers_per_actor
        interval = rnd.interval
        total = rnd.actors * n
        self.base = base = [0.0] * n
        self.count = [0] * n
        self.timers = timers = [None] * n
        mono = time.monotonic
        for j in range(n):
            initial = interval + interval * (first + j) / total
            base[j] = mono() + initial
            timers[j] = schedule(initial, interval, j)
        rnd.scheduled.count_down()

    def tick(self, j: int) -> None:
        now = time.monotonic()
        rnd = self.round
        k = self.count[j]
        if k >= rnd.ticks:  # already fired before its cancel
            return
        rnd.lateness.append(now - (self.base[j] + k * rnd.interval))
        k += 1
        self.count[j] = k
        if k == rnd.ticks:
            self.timers[j].cancel()
            rnd.done.count_down()


class AsyncioTicker(AsyncioActor):
    """Schedules its timers on ``(first, TickRound)`` and handles their ticks
    (ints) with a :class:`TickBook`; the timers are
    :class:`AsyncioPeriodicTimer` handles telling this actor."""

    __slots__ = ("book",)

    def __init__(self) -> None:
        super().__init__()
        self.book = TickBook()

    def schedule_periodically(self, initial: float, interval: float,
                              msg: Any) -> AsyncioPeriodicTimer:
        return AsyncioPeriodicTimer(asyncio.get_running_loop(), initial, interval, self, msg)

    async def handle(self, msg: Any, sender: Any) -> None:
        if type(msg) is int:
            self.book.tick(msg)
        else:
            first, rnd = msg
            self.book.start(rnd, first, self.schedule_periodically)


# ---------------------------------------------------------------------------
# Stash: a deque replayed ahead of the mailbox


class AsyncioStashActor(AsyncioActor):
    """An asyncio actor with a stash: :meth:`stash` sets the message being
    handled aside (a deque); :meth:`unstash_all` puts the stashed messages
    back ahead of the queued mail, in the order they were stashed (the
    task drains that replay deque before the queue)."""

    __slots__ = ("_stash", "_replay", "_current")

    def __init__(self) -> None:
        self._stash: collections.deque = collections.deque()
        self._replay: collections.deque = collections.deque()
        self._current: Any = None
        super().__init__()

    async def _run(self) -> None:
        get = self._queue.get
        handle = self.handle
        replay = self._replay
        while True:
            envelope = replay.popleft() if replay else await get()
            self._current = envelope
            msg, sender, reply = envelope
            try:
                result = await handle(msg, sender)
            except Exception as exc:
                if reply is not None and not reply.done():
                    reply.set_exception(exc)
                continue
            if reply is not None and not reply.done():
                reply.set_result(result)

    def stash(self) -> None:
        """Stashes the message being handled (with its sender and reply)."""
        self._stash.append(self._current)

    def unstash_all(self) -> None:
        """Replays every stashed message before any other mail."""
        self._replay.extendleft(reversed(self._stash))
        self._stash.clear()


class AsyncioStasher(AsyncioStashActor):
    """Stashes every message until ``("open", n, done)``; then unstashes all
    and handles the `n` replayed messages, resolves `done` and goes back
    to stashing."""

    __slots__ = ("open", "left", "done")

    def __init__(self) -> None:
        super().__init__()
        self.open = False
        self.left = 0
        self.done: Optional[asyncio.Future] = None

    async def handle(self, msg: Any, sender: Any) -> None:
        if self.open:
            self.left -= 1
            if self.left == 0:
                self.open = False
                self.done.set_result(None)
            return
        if type(msg) is tuple:
            _, self.left, self.done = msg
            self.open = True
            self.unstash_all()
            return
        self.stash()


# ---------------------------------------------------------------------------
# Routers over actors with a tell (asyncio actors or Pykka refs)


class RoundRobinRouter:
    """Routes each message to the next routee in strict rotation
    (``itertools.cycle``)."""

    __slots__ = ("routees", "_next")

    def __init__(self, routees: Sequence[Any]) -> None:
        self.routees = list(routees)
        self._next = itertools.cycle(self.routees).__next__

    def tell(self, msg: Any) -> None:
        self._next().tell(msg)


_MASK64 = 0xFFFFFFFFFFFFFFFF


class ConsistentHashRouter:
    """A consistent-hash ring: `virtual_nodes` points per routee at
    ``hash(f"{routee}:{node}")``, sorted; a key goes to the owner of the
    first point at or after ``hash(key)`` (``bisect``), wrapping around.
    Uses the built-in ``hash`` (cached on str, stable within one process)."""

    __slots__ = ("routees", "_points", "_owners")

    def __init__(self, routees: Sequence[Any], virtual_nodes: int = 128) -> None:
        self.routees = list(routees)
        ring = sorted((hash(f"{i}:{v}") & _MASK64, i)
                      for i in range(len(self.routees)) for v in range(virtual_nodes))
        self._points = [point for point, _ in ring]
        self._owners = [self.routees[i] for _, i in ring]

    def routee_for_key(self, key: Any) -> Any:
        i = bisect.bisect_left(self._points, hash(key) & _MASK64)
        return self._owners[i if i < len(self._points) else 0]

    def tell_with_key(self, msg: Any, key: Any) -> None:
        points = self._points
        i = bisect.bisect_left(points, hash(key) & _MASK64)
        self._owners[i if i < len(points) else 0].tell(msg)
