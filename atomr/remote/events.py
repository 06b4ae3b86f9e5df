"""Remote lifecycle events, published on the system's event stream.

Subscribe to one class, or to :class:`RemotingLifecycleEvent` for all::

    system.event_stream.subscribe(listener, RemotingLifecycleEvent)

Each event names the peer by its system address
(``akka.tcp://<system>@<host>:<port>``; ``akka.tcp://?@<host>:<port>`` when
no handshake told the name and this side never addressed it by name) and its
incarnation's UID (0 for a peer never reached).
They are published on the system's loop thread, in the order the transport
reported them.
"""

from __future__ import annotations

from dataclasses import dataclass

from atomr._util import public_module

__all__ = [
    "RemotingLifecycleEvent",
    "AssociatedEvent",
    "DisassociatedEvent",
    "QuarantinedEvent",
    "RemoteUnreachable",
    "RemoteReachable",
]


@public_module("atomr.remote")
@dataclass(frozen=True)
class RemotingLifecycleEvent:
    """Base class of the remote lifecycle events.

    Attributes:
        address: The peer system's address.
        uid: The peer incarnation's UID (0 when unknown).
    """

    address: str
    uid: int


@public_module("atomr.remote")
@dataclass(frozen=True)
class AssociatedEvent(RemotingLifecycleEvent):
    """A connection to the peer completed its handshake.

    Attributes:
        inbound: True when the peer connected to this system.
    """

    inbound: bool = False


@public_module("atomr.remote")
@dataclass(frozen=True)
class DisassociatedEvent(RemotingLifecycleEvent):
    """The connection to the peer closed (it may be redialed).

    Attributes:
        reason: Why, as the transport reported it.
    """

    reason: str = ""


@public_module("atomr.remote")
@dataclass(frozen=True)
class QuarantinedEvent(RemotingLifecycleEvent):
    """The peer incarnation `uid` was quarantined: a new incarnation
    appeared at its address. It is refused from now on, and every watch of
    an actor there ended with ``Terminated(address_terminated=True)``.

    Attributes:
        reason: Why (e.g. the new incarnation's UID).
    """

    reason: str = ""


@public_module("atomr.remote")
@dataclass(frozen=True)
class RemoteUnreachable(RemotingLifecycleEvent):
    """The failure detector's phi for the peer crossed its threshold: its
    heartbeats stopped. Every watch of an actor there ended with
    ``Terminated(address_terminated=True)`` and pending asks to it failed.

    Attributes:
        detail: phi and how long the peer has been silent.
    """

    detail: str = ""


@public_module("atomr.remote")
@dataclass(frozen=True)
class RemoteReachable(RemotingLifecycleEvent):
    """Heartbeats from a peer reported unreachable resumed. Watches that
    ended meanwhile stay ended (as in Akka, an address once terminated is
    not watched again implicitly)."""
