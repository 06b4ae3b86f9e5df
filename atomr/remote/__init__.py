"""Remoting: actor systems in other processes (or on other hosts) over TCP.

:meth:`Remote.get(system) <Remote.get>` starts a system's transport from
its ``remote`` config section; the system's address becomes
``akka.tcp://<name>@<host>:<port>`` and :meth:`ActorSystem.tell_remote`
sends to actor paths on other systems. Messages cross the wire as bytes
made by the sender's codec registry and decoded by the receiver's own
(pickle only where ``remote.allow-pickle`` is set). The wire format, the
handshake (system name, UID, optional cookie), heartbeats, reconnects,
quarantine and TLS are the C++ transport's; see docs/architecture.md.

Refs inside messages (fields of typed messages, items of dicts and lists)
travel as their full paths and arrive as the receiver's local refs or as
:class:`RemoteActorRef` bound to its transport; :class:`AnyRef` types a
field that holds either.
"""

from __future__ import annotations

from atomr.errors import (
    FrameTooLargeError,
    InvalidRemoteAddressError,
    MalformedFrameError,
    RemoteAddressTerminatedError,
    RemoteError,
    RemoteTransportError,
)
from atomr.remote._extension import (
    TCP_SCHEME,
    AnyRef,
    Remote,
    RemoteActorRef,
    parse_tcp_address,
)
from atomr.remote.events import (
    AssociatedEvent,
    DisassociatedEvent,
    QuarantinedEvent,
    RemoteReachable,
    RemoteUnreachable,
    RemotingLifecycleEvent,
)

__all__ = [
    "AnyRef",
    "Remote",
    "RemoteActorRef",
    "TCP_SCHEME",
    "parse_tcp_address",
    "RemoteError",
    "RemoteTransportError",
    "InvalidRemoteAddressError",
    "FrameTooLargeError",
    "MalformedFrameError",
    "RemoteAddressTerminatedError",
    "RemotingLifecycleEvent",
    "AssociatedEvent",
    "DisassociatedEvent",
    "QuarantinedEvent",
    "RemoteUnreachable",
    "RemoteReachable",
]
