"""Routers: Props factories whose ref spreads messages over routees.

Routing happens natively: a message told to a router's ref is routed in C++
straight into the chosen routee's mailbox on the sender's thread, without
running Python code of the router. A pool router's routees are its children
(``routee-0``, ``routee-1``, ...), supervised by it; a group router routes
over refs that already exist.

Example:
    >>> pool = round_robin(props(Worker), n=4)            # doctest: +SKIP
    >>> ref = system.actor_of(pool, "workers")            # doctest: +SKIP
    >>> ref.tell(job)                                      # doctest: +SKIP
"""

from __future__ import annotations

from atomr.actor._props import (
    backoff,
    broadcast,
    broadcast_group,
    consistent_hash,
    consistent_hash_group,
    group,
    random,
    random_group,
    round_robin,
    round_robin_group,
    scatter_gather,
    smallest_mailbox,
    smallest_mailbox_group,
    tail_chopping,
)
from atomr.actor._routers import AdjustPoolSize, Broadcast, GetRoutees, routee_for_key, routees

__all__ = [
    "round_robin",
    "random",
    "broadcast",
    "consistent_hash",
    "smallest_mailbox",
    "tail_chopping",
    "scatter_gather",
    "backoff",
    "group",
    "round_robin_group",
    "random_group",
    "broadcast_group",
    "consistent_hash_group",
    "smallest_mailbox_group",
    "Broadcast",
    "GetRoutees",
    "AdjustPoolSize",
    "routees",
    "routee_for_key",
]
