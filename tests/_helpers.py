"""Small helpers shared by the supervision, watch, stash, become, timer,
receive-timeout, event-stream, config-schema and system-codec tests.

Imported as ``from _helpers import ...``: pytest puts this directory on
``sys.path``, both for the package-less test modules beside it and as the
base directory of the test packages below it (``tests/actor/``, ...).

Waiting rule: nothing here sleeps and hopes. `wait_until` polls a condition
against a generous deadline (the suite must pass on a loaded 2-core
machine) and returns as soon as the condition holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from typing import Any, AsyncIterator, Callable, Optional

from atomr import Actor, ActorSystem, Config

#: Generous deadline for "eventually" conditions.
DEADLINE = 10.0
_POLL = 0.002

#: Ask the Recorder for a copy of what it has seen so far.
GET = "__get__"


async def wait_until(pred: Callable[[], Any], timeout: float = DEADLINE,
                     message: str = "") -> Any:
    """Polls `pred` on the running loop until it is truthy and returns its value.

    `pred` may return an awaitable (``lambda: ref.ask(GET)``), which is
    awaited and its result tested. Between polls the loop runs, so actors of
    a system bound to this loop make progress. Fails the test at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s"
                                 + (f": {message}" if message else ""))
        await asyncio.sleep(_POLL)


def virtual_config(**sections: Any) -> Config:
    """A config with the virtual scheduler clock (plus any extra sections)."""
    tree: dict[str, Any] = {"scheduler": {"clock": "virtual"}}
    tree.update(sections)
    return Config.from_dict(tree)


@contextlib.asynccontextmanager
async def running_system(name: str = "app",
                         config: Optional[Config] = None) -> AsyncIterator[ActorSystem]:
    """An actor system bound to the running loop, always terminated on exit."""
    system = await ActorSystem.create(name, config)
    try:
        yield system
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


class Recorder(Actor):
    """Appends every message to `log` (a list owned by the test); answers
    :data:`GET` with a copy of the log (GET itself is not recorded)."""

    def __init__(self, log: Optional[list] = None) -> None:
        self.log = [] if log is None else log

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == GET:
            return list(self.log)
        self.log.append(msg)
        return None
