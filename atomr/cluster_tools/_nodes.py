"""How the cluster tools of one node reach the same tools on the others.

Over TCP a member's address is its actor system's address, so an actor of
another node is ``system.actor_selection(<member address><path>)`` and
messages travel encoded with the system's codecs. On a
:class:`~atomr.cluster.ClusterRegistry` the systems share one process and
the members' addresses are the daemons' (``akka://<name>``): the tools
find the other node's system by its address on the same registry and tell
its actors directly (by reference, as local tells across systems are),
unless the registry has the two nodes partitioned.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Iterable, Optional

from atomr._native._core import ActorRef, _remote_tell
from atomr.cluster import Cluster, Member

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

# (id of the registry, cluster address) -> the system at that address.
_INPROC: "dict[tuple[int, str], weakref.ReferenceType[ActorSystem]]" = {}
_INPROC_LOCK = threading.Lock()

#: Statuses of the members the tools count as part of the cluster.
_LIVE = ("up", "weaklyup", "leaving", "exiting")


class _Peers:
    """This node's view of the others, for the tools' actors."""

    __slots__ = ("system", "cluster", "self_address", "_registry", "_remote")

    def __init__(self, system: "ActorSystem") -> None:
        self.system = system
        self.cluster = Cluster.get(system)
        self.self_address = self.cluster.self_address
        self._registry = self.cluster._registry
        self._remote = self.cluster._remote
        if self._registry is not None:
            with _INPROC_LOCK:
                _INPROC[(id(self._registry), self.self_address)] = weakref.ref(system)

    @property
    def networked(self) -> bool:
        """Whether messages to other nodes are encoded (TCP)."""
        return self._remote is not None

    def members(self, statuses: Iterable[str] = _LIVE, role: Optional[str] = None) -> list[Member]:
        """The members in this node's view with one of `statuses` (and
        `role`, if given)."""
        wanted = set(statuses)
        return [m for m in self.cluster.membership_snapshot().members()
                if m.status in wanted and (role is None or role in m.roles)]

    def ref(self, address: str, path: str) -> Any:
        """The actor at `path` (``/user/...``) on the node at `address`, or
        None when it cannot be reached from here."""
        if address == self.self_address:
            return self.system.actor_selection(path)
        registry = self._registry
        if registry is not None:
            if registry.partitioned(self.self_address, address):
                return None
            with _INPROC_LOCK:
                weak = _INPROC.get((id(registry), address))
            other = weak() if weak is not None else None
            if other is None or other.is_terminated:
                return None
            return other.actor_selection(path)
        if self._remote is None:
            return None
        return self.system.actor_selection(address + path)

    def tell(self, address: str, path: str, msg: Any, sender: Any = None) -> bool:
        """Tells `msg` to the actor at `path` on `address` (from `sender`, a
        local or remote ref, if given); False when that node cannot be
        reached (nothing is sent)."""
        ref = self.ref(address, path)
        if ref is None:
            return False
        tell_from(ref, msg, sender)
        return True

    def wrap_sender(self, sender: Any) -> Any:
        """`sender` as it travels inside a tools message to another node:
        its path over TCP, the ref itself in-process (None stays None)."""
        if sender is None or self._remote is None:
            return sender
        return self._remote._wire_path(sender)

    def unwrap_sender(self, wrapped: Any) -> Any:
        """The sender :meth:`wrap_sender` made, as a ref of this node: a
        remote ref, or this node's own actor (None if it is gone)."""
        if wrapped is None or self._remote is None:
            return wrapped
        if not isinstance(wrapped, str):
            raise TypeError(f"a sender travels as its path, not {type(wrapped).__name__}")
        return self._remote._sender_ref(wrapped)

    def wrap(self, msg: Any) -> Any:
        """A user message as it travels inside a tools message to another
        node: ``(manifest, bytes)`` over TCP, the object itself in-process."""
        if self._remote is None:
            return ("", msg)
        return self._remote._encode(msg)

    def unwrap(self, wrapped: Any) -> Any:
        """The user message :meth:`wrap` made (on the receiving node)."""
        manifest, payload = wrapped
        if not manifest:
            return payload
        assert self._remote is not None
        return self._remote._decode(manifest, payload)

    def close(self) -> None:
        """Forgets this node's system (as the system terminates)."""
        if self._registry is not None:
            with _INPROC_LOCK:
                key = (id(self._registry), self.self_address)
                weak = _INPROC.get(key)
                if weak is not None and weak() is self.system:
                    del _INPROC[key]


def tell_from(ref: Any, msg: Any, sender: Any) -> None:
    """Tells `msg` to `ref` (a local or remote ref) so that its handler
    sees `sender` (a local or remote ref, or None) as ``ctx.sender``."""
    if sender is None:
        ref.tell(msg)
    elif isinstance(ref, ActorRef):
        _remote_tell(ref, msg, sender)
    else:
        ref.tell(msg, sender=sender)


def oldest(members: list[Member]) -> Optional[Member]:
    """The oldest of `members` (Akka's age ordering), or None."""
    best: Optional[Member] = None
    for m in members:
        if best is None or Member.age_ordering(m, best) < 0:
            best = m
    return best
