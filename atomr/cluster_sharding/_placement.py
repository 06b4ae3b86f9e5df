"""Where the shard coordinator of a node's cluster runs.

The coordinator of an entity type runs on the oldest ``up`` member of the
cluster with the type's role (any member for no role), the rule of
Akka's cluster singleton, which :mod:`atomr.cluster_sharding._singleton`
runs the coordinator as: when that member leaves, is downed or removed,
the next oldest takes over and recovers the coordinator's state (see
:mod:`atomr.cluster_sharding._coordinator`). The regions find the
coordinator by this rule.
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

    __slots__ = ("self_address", "alive", "coordinator", "leaving", "by_role")

    def __init__(self, self_address: str, alive: frozenset[str],
                 coordinator: Optional[str], leaving: bool = False,
                 by_role: Optional[dict[str, str]] = None) -> None:
        self.self_address = self_address
        self.alive = alive
        self.coordinator = coordinator
        #: role -> the oldest up member with it
        self.by_role = by_role or {}
        #: This node is leaving the cluster (``leaving`` or ``exiting``).
        self.leaving = leaving

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Membership) and (
            self.alive, self.coordinator, self.leaving, self.by_role) == (
            other.alive, other.coordinator, other.leaving, other.by_role)

    def coordinator_for(self, role: Optional[str]) -> Optional[str]:
        """Where the coordinators of types restricted to `role` run (the
        oldest up member with it; None: no such member is up)."""
        if role is None or self.coordinator == self.self_address and \
                self.alive == {self.self_address}:
            return self.coordinator
        return self.by_role.get(role)

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
    by_age = sorted(up, key=functools.cmp_to_key(Member.age_ordering))
    by_role: dict[str, str] = {}
    for m in by_age:
        for role in m.roles:
            by_role.setdefault(role, m.address)
    return Membership(self_address, alive | {self_address}, by_age[0].address, leaving,
                      by_role)
