"""The cluster: actor systems that form one membership and agree on it.

:class:`Cluster` is one actor system's membership in a cluster (its C++
daemon gossips with the other nodes' over TCP, over a
:class:`ClusterRegistry` in one process, or runs alone), with
:meth:`~Cluster.join_seed_nodes`, :meth:`~Cluster.leave`,
:meth:`~Cluster.down` and event subscriptions.

The membership core (docs/cluster.md): :class:`Member` (an address, a status
in Akka's life cycle, roles and an up number), :class:`MembershipState` (a
snapshot, one member per address), :class:`VectorClock` and
:class:`LeaderHandover`, values backed by the C++ types of
cpp/include/atomr/cluster, which also hold the gossip merge, convergence, the
leader's actions and the gossip wire format. :mod:`atomr.cluster.events`
holds the membership events a subscriber receives; :mod:`atomr.cluster.sbr`
the split brain resolver that decides, when members become unreachable,
which side of a partition survives (docs/sbr.md); :mod:`atomr.cluster.bootstrap`
forms or joins a cluster from service discovery instead of fixed seed nodes.
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
from atomr.cluster._extension import Cluster, ClusterRegistry
from atomr.cluster.bootstrap import BootstrapSettings, ClusterBootstrap
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
    "Cluster",
    "ClusterRegistry",
    "ClusterBootstrap",
    "BootstrapSettings",
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
