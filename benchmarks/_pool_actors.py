"""Actor classes the subinterpreter-pool benchmarks spawn (imported by
qualified name inside each subinterpreter, where ``atomr`` offers only
``Actor``, ``Terminated`` and ``errors``)."""

from __future__ import annotations

from typing import Any

from atomr import Actor


def spin(n: int) -> int:
    """A pure-Python loop of `n` steps."""
    x = 0
    for i in range(n):
        x += i & 7
    return x


class Cpu(Actor):
    """Spins `msg` steps; ``"done"`` answers how many messages it spun."""

    def __init__(self) -> None:
        self.done = 0

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "done":
            return self.done
        spin(msg)
        self.done += 1
        return None


class Echo(Actor):
    def handle(self, ctx: Any, msg: Any) -> Any:
        return msg
