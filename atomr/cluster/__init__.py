"""The cluster: actor systems that form one membership and agree on it.

Stage one is the membership core (docs/cluster.md): :class:`Member` (an
address, a status in Akka's life cycle, roles and an up number),
:class:`MembershipState` (a snapshot, one member per address),
:class:`VectorClock` and :class:`LeaderHandover`. They are values backed by
the C++ types of cpp/include/atomr/cluster, which also hold the gossip
merge, convergence, the leader's actions and the gossip wire format.
"""

from __future__ import annotations

from atomr._native._core import (
    LeaderHandover,
    LeaderHandoverEvent,
    Member,
    MembershipState,
    VectorClock,
    member_weakly_up,
)
from atomr.errors import ClusterError, InvalidMemberTransitionError, MalformedGossipError

__all__ = [
    "Member",
    "member_weakly_up",
    "MembershipState",
    "VectorClock",
    "LeaderHandover",
    "LeaderHandoverEvent",
    "ClusterError",
    "MalformedGossipError",
    "InvalidMemberTransitionError",
]
