"""The pure-Python baseline of the persistence benchmarks: an event-sourced
counter written by hand on asyncio, journaling to a JSON-lines file.

:class:`JsonlCounter` is an :class:`~baselines.AsyncioActor` (one Queue and
one Task) that, for every command, appends the event as one JSON line and
``fsync``\\ s the file before it applies the event and replies -- the same
durability promise as atomr's synced LMDB journal. The write and the fsync
run in a worker thread (``asyncio.to_thread``), so concurrent actors' fsyncs
may overlap instead of serialising on the loop. :func:`recover_jsonl`
rebuilds the count from such a file, as a restarted actor would.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Optional

from baselines import AsyncioActor

__all__ = ["JsonlCounter", "recover_jsonl", "write_jsonl_events"]


class JsonlCounter(AsyncioActor):
    """Counts increments; each one is an fsynced JSON line before the reply."""

    __slots__ = ("_fd", "count", "seq")

    def __init__(self, path: str) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.count = 0
        self.seq = 0

    def _append(self, line: bytes) -> None:
        os.write(self._fd, line)
        os.fsync(self._fd)

    async def handle(self, msg: Any, sender: Optional[AsyncioActor]) -> Any:
        event = {"type": "Incremented", "by": msg, "seq": self.seq + 1}
        await asyncio.to_thread(self._append, (json.dumps(event) + "\n").encode())
        self.seq += 1
        self.count += msg
        return self.seq

    def close(self) -> None:
        os.close(self._fd)


def write_jsonl_events(path: str, n: int) -> None:
    """Writes `n` increment events (one fsync at the end)."""
    with open(path, "w") as f:
        for seq in range(1, n + 1):
            f.write(json.dumps({"type": "Incremented", "by": 1, "seq": seq}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def recover_jsonl(path: str) -> int:
    """The count a :class:`JsonlCounter` recovers from `path`."""
    count = 0
    with open(path, "rb") as f:
        for line in f:
            event = json.loads(line)
            if event["type"] == "Incremented":
                count += event["by"]
    return count
