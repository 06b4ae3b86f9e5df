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
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import threading
from typing import Any, Optional

import pykka

__all__ = [
    "AsyncioActor",
    "AsyncioCounter",
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
