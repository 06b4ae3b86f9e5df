"""Actor classes the process-pool tests spawn in worker processes (which
import them by qualified name, ``pools._actors.<Name>``)."""

from __future__ import annotations

import os
from typing import Any

from atomr import Actor, Terminated


class Echo(Actor):
    """Answers with the message; ``"pid"`` with its process id; ``"count"``
    with how many messages this instance has handled; ``"boom"`` raises."""

    def __init__(self) -> None:
        self.seen = 0

    def handle(self, ctx: Any, msg: Any) -> Any:
        self.seen += 1
        if msg == "pid":
            return os.getpid()
        if msg == "count":
            return self.seen
        if msg == "boom":
            raise ValueError("boom")
        if msg == "stop":
            ctx.stop_self()
            return None
        if msg == "import-denied":
            import csv  # noqa: F401  (denied in the worker by the test's quota)
            return "imported"
        if msg == "allocate":
            return len(bytearray(2 << 30))
        return msg


class Watcher(Actor):
    """Records Terminated messages; answers ``"seen"`` with their paths."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, Terminated):
            self.seen.append(msg.path)
            return None
        if msg == "seen":
            return list(self.seen)
        ctx.watch(msg)
        return True
