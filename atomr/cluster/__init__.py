"""The cluster: actor systems that form one membership and agree on it.

The membership core (docs/cluster.md): :class:`Member` (an address, a status
in Akka's life cycle, roles and an up number), :class:`MembershipState` (a
snapshot, one member per address), :class:`VectorClock` and
:class:`LeaderHandover`, values backed by the C++ types of
cpp/include/atomr/cluster, which also hold the gossip merge, convergence, the
leader's actions and the gossip wire format. :mod:`atomr.cluster.events`
holds the membership events a subscriber receives; :mod:`atomr.cluster.sbr`
the split brain resolver that decides, when members become unreachable,
which side of a partition survives (docs/sbr.md).
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
from atomr.cluster.events import (
    ClusterShuttingDown,
    Convergence,
    EventSubscription,
    LeaderChanged,
    MemberDowned,
    MemberExited,
    MemberInfo,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MemberUp,
    MemberWeaklyUp,
    ReachableMember,
    UnreachableMember,
    event_from_dict,
)
from atomr.cluster.sbr import (
    SBR_STRATEGIES,
    SbrDecision,
    SbrMember,
    SbrSettings,
    SplitBrainResolver,
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
    "ClusterShuttingDown",
    "Convergence",
    "EventSubscription",
    "LeaderChanged",
    "MemberDowned",
    "MemberExited",
    "MemberInfo",
    "MemberJoined",
    "MemberLeft",
    "MemberRemoved",
    "MemberUp",
    "MemberWeaklyUp",
    "ReachableMember",
    "SBR_STRATEGIES",
    "SbrDecision",
    "SbrMember",
    "SbrSettings",
    "SplitBrainResolver",
    "UnreachableMember",
    "event_from_dict",
]
