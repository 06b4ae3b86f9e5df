"""Cluster membership: events and the split brain resolver.

:mod:`atomr.cluster.events` holds the membership events a subscriber
receives; :mod:`atomr.cluster.sbr` the split brain resolver that decides,
when members become unreachable, which side of a partition survives.
"""

from __future__ import annotations

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

__all__ = [
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
