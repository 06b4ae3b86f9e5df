"""Recovery permits: how many persistent actors may replay at the same time.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any, Optional

from atomr._util import public_module
from atomr.errors import AtomrError


@public_module("atomr.persistence")
class RecoveryPermitter:
    """Limits how many persistent actors recover at the same time.

    Recovery reads a whole event history; many actors starting at once
    (after a restart of the process) would otherwise all replay together.
    A permitter may be shared by actors of several systems and loops.

    Args:
        max_concurrent: Permits available at once (at least 1).

    Raises:
        ValueError: `max_concurrent` is below 1.
    """

    def __init__(self, max_concurrent: int = 50) -> None:
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TypeError(f"max_concurrent must be an int, not {type(max_concurrent).__name__}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self._capacity = max_concurrent
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False
        # FIFO of waiters: [loop, future] for coroutines, threading.Event for threads.
        self._waiters: collections.deque = collections.deque()

    def capacity(self) -> int:
        """The number of permits."""
        return self._capacity

    def available(self) -> int:
        """Permits free right now."""
        with self._lock:
            return self._capacity - self._in_flight

    def in_flight(self) -> int:
        """Permits held right now."""
        with self._lock:
            return self._in_flight

    def _closed_error(self) -> AtomrError:
        return AtomrError("the recovery permitter is closed")

    async def acquire(self) -> None:
        """Waits for a permit and takes it; :meth:`release` gives it back.

        Raises:
            AtomrError: the permitter is (or gets) closed.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._in_flight < self._capacity and not self._waiters:
                self._in_flight += 1
                return
            fut = loop.create_future()
            waiter = [loop, fut]
            self._waiters.append(waiter)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            # Granted already: if the grant resolved the future before the
            # cancellation, we hold the permit and pass it on (otherwise the
            # grant sees the cancelled future and does so itself).
            if fut.done() and not fut.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Returns a permit taken by :meth:`acquire` (hands it to the next waiter)."""
        with self._lock:
            if self._in_flight == 0:
                raise RuntimeError("release() without a matching acquire()")
            waiter = self._waiters.popleft() if self._waiters else None
            if waiter is None:
                self._in_flight -= 1
                return
        self._grant(waiter)

    def _grant(self, waiter: Any) -> None:
        """Hands a held permit to `waiter` (the count stays)."""
        if isinstance(waiter, threading.Event):
            waiter.set()
            return
        loop, fut = waiter

        def resolve() -> None:
            if fut.done():  # cancelled meanwhile: the permit goes on
                self.release()
            else:
                fut.set_result(None)

        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # its loop is closed: nobody will take it
            self.release()

    def permit(self) -> "_Permit":
        """``async with permitter.permit(): ...`` holds a permit for the block."""
        return _Permit(self)

    def acquire_blocking(self, timeout: Optional[float] = None) -> None:
        """Blocks the calling thread until a permit is free, takes it and
        releases it again on return (a gate, not a hold).

        Raises:
            AtomrError: the permitter is closed.
            TimeoutError: no permit within `timeout` seconds.
        """
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._in_flight < self._capacity and not self._waiters:
                self._in_flight += 1
                event = None
            else:
                event = threading.Event()
                self._waiters.append(event)
        if event is not None:
            if not event.wait(timeout):
                with self._lock:
                    if event in self._waiters:
                        self._waiters.remove(event)
                        raise TimeoutError(f"no recovery permit within {timeout}s")
                event.wait()  # granted or closed just now
            if getattr(event, "closed", False):
                raise self._closed_error()
        self.release()

    def close(self) -> None:
        """Refuses new acquisitions and fails every waiter with AtomrError."""
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
            self._waiters.clear()
        for waiter in waiters:
            if isinstance(waiter, threading.Event):
                waiter.closed = True  # type: ignore[attr-defined]
                waiter.set()
                continue
            loop, fut = waiter
            try:
                loop.call_soon_threadsafe(
                    lambda f=fut: f.done() or f.set_exception(self._closed_error()))
            except RuntimeError:
                pass

    def __repr__(self) -> str:
        return (f"<RecoveryPermitter capacity={self._capacity} in_flight={self.in_flight()} "
                f"closed={self._closed}>")


class _Permit:
    __slots__ = ("_permitter",)

    def __init__(self, permitter: RecoveryPermitter) -> None:
        self._permitter = permitter

    async def __aenter__(self) -> None:
        await self._permitter.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self._permitter.release()


# -- effects -------------------------------------------------------------------------------
