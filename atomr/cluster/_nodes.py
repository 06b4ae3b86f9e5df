"""Reaching actors on other cluster members.

Over TCP a member's cluster address is its remoting address, so an actor
there is ``<member address>/user/<name>``. Members of an in-process
:class:`~atomr.cluster.ClusterRegistry` (``akka://<name>``) talk over a
remoting transport attached to the same simulated network
(:func:`ensure_messaging`), whose address differs from the cluster
address; :func:`messaging_address` maps one to the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from atomr.cluster._extension import _CLUSTERS, _GIVEN_LOCK, Cluster
from atomr.remote._extension import TCP_SCHEME

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["ensure_messaging", "messaging_address", "node_ref", "member_roles"]


def ensure_messaging(cluster: Cluster) -> None:
    """Makes sure `cluster`'s system can send to other members' actors: a
    member of a :class:`ClusterRegistry` without remoting gets a remoting
    transport on the registry's network. Members over TCP already have one;
    a cluster without a transport has no other members."""
    registry = cluster._registry
    system = cluster.system
    if registry is not None and system._remote is None:
        try:
            registry.attach(system)
        except RuntimeError:  # attached meanwhile by another thread
            pass


def messaging_address(cluster: Cluster, member: str) -> Optional[str]:
    """The address actors of the member `member` are reached at from
    `cluster`'s node, or None when that member cannot be reached (a
    registry member whose system has no messaging transport yet)."""
    if member.startswith(TCP_SCHEME + "://"):
        return member
    if member == cluster.self_address:
        remote = cluster.system._remote
        return remote.address if remote is not None else member
    registry = cluster._registry
    if registry is None:
        return None
    with _GIVEN_LOCK:
        peers = list(_CLUSTERS.values())
    for peer in peers:
        if peer._registry is registry and peer.self_address == member:
            remote = peer.system._remote
            return None if remote is None else remote.address
    return None


def node_ref(cluster: Cluster, member: str, name: str, guardian: str = "user") -> Any:
    """A ref to the top-level actor `name` (under ``/<guardian>``: ``user``,
    or ``system`` for a system actor) on the member `member`: the live local
    ref on this node (None if there is none), a remote ref on another (None
    when the member cannot be reached)."""
    system: "ActorSystem" = cluster.system
    if member == cluster.self_address:
        return system.actor_selection(f"/{guardian}/{name}")
    address = messaging_address(cluster, member)
    if address is None:
        return None
    return system.actor_selection(f"{address}/{guardian}/{name}")


def member_roles(cluster: Cluster) -> dict[str, tuple[str, set[str]]]:
    """address -> (status, roles) of each member in `cluster`'s view."""
    out = {}
    for m in cluster.membership_snapshot().members():
        out[m.address] = (m.status, set(m.roles))
    return out
