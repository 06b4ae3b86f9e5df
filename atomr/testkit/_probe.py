"""TestProbe: an actor whose mail a test inspects."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Any, Callable

from atomr.actor import Actor
from atomr.errors import AtomrError
from atomr.supervision import Terminated

__all__ = ["TestProbe", "ProbeTimeoutError", "fish_for_message"]


class ProbeTimeoutError(AssertionError, AtomrError):
    """A probe expectation was not met in time (an ``AssertionError``)."""


def _show(msg: Any) -> str:
    text = repr(msg)
    return text if len(text) <= 300 else text[:297] + "..."


class _Watch:
    __slots__ = ("ref",)

    def __init__(self, ref: Any) -> None:
        self.ref = ref


class _Unwatch(_Watch):
    __slots__ = ()


class _ProbeActor(Actor):
    def __init__(self, probe: "TestProbe") -> None:
        self._probe = probe

    def handle(self, ctx: Any, msg: Any) -> None:
        if type(msg) is _Watch:
            ctx.watch(msg.ref)
        elif type(msg) is _Unwatch:
            ctx.unwatch(msg.ref)
        else:
            self._probe._arrived(msg, ctx.sender)


class TestProbe:
    """Records every message told to its ref (``probe.ref_``) so a test can
    assert on them, in arrival order.

    Expectations are ``async`` (awaitable from any loop) and have ``_blocking``
    twins for plain tests. A failed expectation raises
    :class:`ProbeTimeoutError` (an ``AssertionError``) saying what was
    expected and what arrived.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, system: Any, name: str) -> None:
        from atomr._props import props

        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[Any, Any]] = collections.deque()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._last_sender: Any = None
        self._system = system
        self.ref_ = system.actor_of(props(_ProbeActor, factory=lambda: _ProbeActor(self)), name)

    # -- arrival (on the system's loop thread) ---------------------------------

    def _arrived(self, msg: Any, sender: Any) -> None:
        with self._cond:
            self._queue.append((msg, sender))
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:
                pass  # that loop is closed

    # -- inspection --------------------------------------------------------------

    @property
    def ref(self) -> Any:
        """Alias of ``ref_``."""
        return self.ref_

    @property
    def last_sender(self) -> Any:
        """The sender of the last message taken from the probe (or None)."""
        return self._last_sender

    def messages(self) -> list:
        """The messages not consumed yet, oldest first."""
        with self._cond:
            return [m for m, _ in self._queue]

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def _take(self) -> Any:
        msg, sender = self._queue.popleft()
        self._last_sender = sender
        return msg

    # -- waiting -------------------------------------------------------------------

    async def _next(self, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if self._queue:
                    return self._take()
                loop = asyncio.get_running_loop()
                fut = loop.create_future()
                self._waiters.append((loop, fut))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._drop_waiter(fut)
                raise ProbeTimeoutError(f"timeout ({timeout:g}s) while waiting for {what}; "
                                        "no message arrived")
            try:
                await asyncio.wait_for(fut, remaining)
            except asyncio.TimeoutError:
                self._drop_waiter(fut)

    def _drop_waiter(self, fut: asyncio.Future) -> None:
        with self._cond:
            self._waiters = [(lp, f) for lp, f in self._waiters if f is not fut]

    def _next_blocking(self, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProbeTimeoutError(f"timeout ({timeout:g}s) while waiting for {what}; "
                                            "no message arrived")
                self._cond.wait(remaining)
            return self._take()

    # -- expectations --------------------------------------------------------------

    async def expect_message(self, timeout: float = 1.0) -> Any:
        """The next message (the oldest not yet consumed)."""
        return await self._next(timeout, "a message")

    def expect_message_blocking(self, timeout: float = 1.0) -> Any:
        """Blocking :meth:`expect_message`: waits up to `timeout` seconds for
        the next message and returns it.

        Raises:
            ProbeTimeoutError: no message arrived in time.
        """
        return self._next_blocking(timeout, "a message")

    async def expect_msg_eq(self, expected: Any, timeout: float = 1.0) -> Any:
        """The next message, which must equal `expected`."""
        msg = await self._next(timeout, f"{_show(expected)}")
        if msg != expected:
            raise ProbeTimeoutError(f"expected {_show(expected)}, got {_show(msg)}")
        return msg

    def expect_msg_eq_blocking(self, expected: Any, timeout: float = 1.0) -> Any:
        """Blocking :meth:`expect_msg_eq`: the next message, which must equal
        `expected`.

        Raises:
            ProbeTimeoutError: no message arrived within `timeout` seconds,
                or it differs from `expected` (it is consumed all the same).
        """
        msg = self._next_blocking(timeout, f"{_show(expected)}")
        if msg != expected:
            raise ProbeTimeoutError(f"expected {_show(expected)}, got {_show(msg)}")
        return msg

    async def expect_message_type(self, cls: type, timeout: float = 1.0) -> Any:
        """The next message, which must be an instance of `cls`."""
        msg = await self._next(timeout, f"a {cls.__qualname__}")
        if not isinstance(msg, cls):
            raise ProbeTimeoutError(f"expected a message of type {cls.__qualname__}, got "
                                    f"{type(msg).__qualname__}: {_show(msg)}")
        return msg

    async def expect_msg_all_of_in_order(self, expected: list, timeout: float = 1.0) -> None:
        """The next ``len(expected)`` messages must equal `expected`, in order."""
        deadline = time.monotonic() + timeout
        for i, want in enumerate(expected):
            remaining = max(0.0, deadline - time.monotonic())
            msg = await self._next(remaining, f"message {i + 1} of {len(expected)} "
                                              f"({_show(want)})")
            if msg != want:
                raise ProbeTimeoutError(f"message {i + 1} of {len(expected)}: expected "
                                        f"{_show(want)}, got {_show(msg)}")

    async def receive_n(self, n: int, timeout: float = 1.0) -> list:
        """The next `n` messages, oldest first."""
        deadline = time.monotonic() + timeout
        out = []
        for i in range(n):
            remaining = max(0.0, deadline - time.monotonic())
            try:
                out.append(await self._next(remaining, f"{n} messages"))
            except ProbeTimeoutError:
                raise ProbeTimeoutError(
                    f"expected {n} messages within {timeout:g}s, got {len(out)}: "
                    f"{_show(out)}") from None
        return out

    async def expect_no_message(self, duration: float = 0.1) -> None:
        """Asserts that nothing arrives for `duration` seconds."""
        try:
            msg = await self._next(duration, "silence")
        except ProbeTimeoutError:
            return
        raise ProbeTimeoutError(f"expected no message for {duration:g}s, got {_show(msg)}")

    def expect_no_message_blocking(self, duration: float = 0.1) -> None:
        """Blocking :meth:`expect_no_message`: asserts that nothing arrives
        for `duration` seconds.

        Raises:
            ProbeTimeoutError: a message arrived (it is consumed).
        """
        try:
            msg = self._next_blocking(duration, "silence")
        except ProbeTimeoutError:
            return
        raise ProbeTimeoutError(f"expected no message for {duration:g}s, got {_show(msg)}")

    async def fish_for_message(self, predicate: Callable[[Any], Any],
                               timeout: float = 1.0) -> Any:
        """Consumes messages, oldest first, until `predicate` accepts one; returns it."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                msg = await self._next(remaining, "a matching message")
            except ProbeTimeoutError:
                raise ProbeTimeoutError(f"no message matched within {timeout:g}s; skipped "
                                        f"{_show(seen)}") from None
            if predicate(msg):
                return msg
            seen.append(msg)

    async def expect_terminated(self, ref: Any, timeout: float = 3.0) -> Terminated:
        """Watches `ref` and waits for its ``Terminated``."""
        self.watch(ref)
        return await self.fish_for_message(
            lambda m: isinstance(m, Terminated) and m.path == ref.path, timeout)

    # -- acting ----------------------------------------------------------------------

    def reply(self, msg: Any) -> None:
        """Sends `msg` to the sender of the last message taken, from the probe."""
        if self._last_sender is None:
            raise AtomrError("the last message taken has no sender to reply to")
        self._last_sender.tell_with_sender(msg, self.ref_)

    def send(self, target: Any, msg: Any) -> None:
        """Tells `msg` to `target` with the probe as sender."""
        target.tell_with_sender(msg, self.ref_)

    def watch(self, ref: Any) -> Any:
        """The probe watches `ref`: its ``Terminated`` arrives as a message."""
        self.ref_.tell(_Watch(ref))
        return ref

    def unwatch(self, ref: Any) -> Any:
        """The probe stops watching `ref` (undoes :meth:`watch`); returns `ref`."""
        self.ref_.tell(_Unwatch(ref))
        return ref

    def __repr__(self) -> str:
        return f"<TestProbe {self.ref_.path} queued={len(self)}>"


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


async def fish_for_message(probe: TestProbe, predicate: Callable[[Any], Any],
                           timeout: float = 1.0) -> Any:
    """Consumes `probe`'s messages until `predicate` accepts one; returns it."""
    return await probe.fish_for_message(predicate, timeout)
