"""Actors the cluster routing tests deploy by qualified name (module level,
importable in node processes too)."""

from __future__ import annotations

from typing import Any

from atomr import Actor


class Echo(Actor):
    """Answers every message with (its system's name, the message)."""

    def handle(self, ctx: Any, msg: Any) -> Any:
        return [ctx.system.name, msg]


class Counter(Actor):
    """Counts the messages it gets; ``"count"`` asks for the count."""

    def __init__(self) -> None:
        self.n = 0

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "count":
            return self.n
        self.n += 1
        return None
