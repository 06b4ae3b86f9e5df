"""Where the shard coordinator of a node's cluster runs.

The coordinator of every entity type runs on the oldest ``up`` member of
the cluster (Akka's cluster singleton placement): when that member leaves,
is downed or removed, the next oldest takes over and rebuilds the
coordinator's state (see :mod:`atomr.cluster_sharding._coordinator`).

This module is the only place that decides it, behind one function, so a
cluster singleton manager can take its place later.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

from atomr.cluster import Member

__all__ = ["Membership", "membership_of"]

# Statuses of a member that still hosts shards (a leaving member hands
# its shards off; a down or exiting one is gone).
_HOSTING = frozenset({"joining", "weaklyup", "up", "leaving"})


class Membership:
    """One look at the cluster: which nodes can host shards and which of
    them runs the coordinators."""

    __slots__ = ("self_address", "alive", "coordinator", "leaving")

    def __init__(self, self_address: str, alive: frozenset[str],
                 coordinator: Optional[str], leaving: bool = False) -> None:
        self.self_address = self_address
        self.alive = alive
        self.coordinator = coordinator
        #: This node is leaving the cluster (``leaving`` or ``exiting``).
        self.leaving = leaving

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Membership) and (
            self.alive, self.coordinator, self.leaving) == (
            other.alive, other.coordinator, other.leaving)

    def __repr__(self) -> str:
        return f"<Membership coordinator={self.coordinator} alive={sorted(self.alive)}>"


def membership_of(self_address: str, cluster: Any) -> Membership:
    """The membership `cluster` (a :class:`atomr.cluster.Cluster` or None
    for a system without one) shows now.

    The coordinator is the oldest ``up`` member (by up number, then
    address). A node whose view holds no member but itself -- an unjoined
    system, a one-node cluster not up yet -- is its own coordinator.
    """
    if cluster is None:
        return Membership(self_address, frozenset({self_address}), self_address)
    members = cluster.membership_snapshot().members()
    alive = frozenset(m.address for m in members if m.status in _HOSTING)
    up = [m for m in members if m.status == "up"]
    leaving = any(m.address == self_address and m.status in ("leaving", "exiting")
                  for m in members)
    if self_address not in alive and not members:
        # Removed from the cluster (left or downed), or never joined: alone.
        return Membership(self_address, frozenset({self_address}), self_address)
    if not up:
        if alive <= {self_address}:
            return Membership(self_address, frozenset({self_address}), self_address)
        return Membership(self_address, alive, None, leaving)
    oldest = sorted(up, key=functools.cmp_to_key(Member.age_ordering))[0]
    return Membership(self_address, alive | {self_address}, oldest.address, leaving)
