"""Helpers of the cluster extension's tests: systems with fast gossip, and
event collection with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Iterator, Optional

from atomr import ActorSystem, Config

#: Fast gossip and heartbeats, so that joins and removals take a fraction of
#: a second; a failure detector that tolerates a loaded 2-core machine.
FAST = {
    "gossip-interval": 0.1,
    "heartbeat-interval": 0.1,
    "seed-node-timeout": 1.0,
    "retry-unsuccessful-join-after": 1.0,
    "failure-detector": {"acceptable-heartbeat-pause": 3.0, "first-heartbeat-estimate": 0.1},
}


def config(cluster: Optional[dict[str, Any]] = None, **sections: Any) -> Config:
    """A config with the fast cluster settings, overridden by `cluster`."""
    merged = dict(FAST)
    merged.update(cluster or {})
    return Config.from_dict({"cluster": merged, **sections})


@contextlib.contextmanager
def systems(*names: str, cluster: Optional[dict[str, Any]] = None,
            **sections: Any) -> Iterator[list[ActorSystem]]:
    """Systems made with create_blocking, all terminated on exit."""
    made: list[ActorSystem] = []
    try:
        for name in names:
            made.append(ActorSystem.create_blocking(name, config(cluster, **sections)))
        yield made
    finally:
        for system in made:
            system.terminate_blocking(10.0)


async def next_event(sub: Any, timeout: float = 10.0) -> Any:
    """The subscription's next event, or a failed test after `timeout`."""
    return await asyncio.wait_for(sub.__anext__(), timeout)


async def events_until(sub: Any, pred: Any, timeout: float = 15.0) -> list[Any]:
    """Events read from `sub` up to and including the first for which
    ``pred(event)`` holds."""
    deadline = time.monotonic() + timeout
    seen: list[Any] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching event within {timeout}s; saw {seen}")
        try:
            event = await asyncio.wait_for(sub.__anext__(), remaining)
        except asyncio.TimeoutError:
            raise AssertionError(f"no matching event within {timeout}s; saw {seen}") from None
        seen.append(event)
        if pred(event):
            return seen


def kinds(events: list[Any], address: Optional[str] = None) -> list[str]:
    """The class names of `events` (about `address` only, if given)."""
    out = []
    for e in events:
        member = getattr(e, "member", None)
        if address is None or (member is not None and member.address == address):
            out.append(type(e).__name__)
    return out
