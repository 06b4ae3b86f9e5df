"""Wake-ups of live queries when this process writes to a journal.

A live query polls its journal every ``refresh-interval``; a write through
a journal object of this process also wakes the queries of that object at
once, whatever loop or thread they run on. Writes of other processes are
seen at the next poll.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class _WriteSignal:
    """The waiters of one journal object (queries waiting for new events)."""

    __slots__ = ("_lock", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def notify(self, *_: Any) -> None:
        """Wakes every waiter (from any thread; a done-callback too)."""
        if not self._waiters:
            return
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # that loop is closed: its query is gone
                pass

    async def wait(self, timeout: float) -> None:
        """Returns after the next write through the journal, or after
        `timeout` seconds."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            self._waiters.append(entry)
        handle = loop.call_later(timeout, _wake, fut)
        try:
            await fut
        finally:
            handle.cancel()
            with self._lock:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass


def signal_of(journal: Any) -> _WriteSignal:
    """The write signal of `journal` (made on first use; a journal's writes
    notify it once it exists)."""
    signal = journal.__dict__.get("_write_signal")
    if signal is None:
        signal = journal.__dict__.setdefault("_write_signal", _WriteSignal())
    return signal
