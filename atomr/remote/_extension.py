"""The remote extension: one actor system's TCP transport.

The transport (C++, ``atomr._native._core._RemoteTransport``) runs its
sockets on an io thread of its own that never touches Python. Everything it
reports -- inbound envelopes, envelopes it had to drop, transport events --
is queued in C++ and signalled on an eventfd that the system's loop
watches; :meth:`Remote._on_readable` drains the queue on the loop's thread,
looks each recipient up, decodes the payload with the system's own codec
registry and tells the actor.
"""

from __future__ import annotations

import logging
from asyncio.events import _get_running_loop
from typing import TYPE_CHECKING, Any, Optional

from atomr._native._core import (
    REMOTE_DROPPED,
    REMOTE_ENVELOPE,
    ActorRef,
    _remote_dead_letter,
    _RemoteTransport,
)
from atomr._util import public_module
from atomr.actor._system import _resolve_local
from atomr.actor.extension import Extension, ExtensionId
from atomr.config import ConfigError
from atomr.errors import AtomrError, InvalidRemoteAddressError, RemoteError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["Remote", "TCP_SCHEME", "parse_tcp_address"]

_log = logging.getLogger("atomr.remote")

#: The scheme of the addresses of systems reachable over TCP.
TCP_SCHEME = "akka.tcp"

# Transport events logged at WARNING (the rest at INFO).
_WARN_EVENTS = frozenset({"quarantined", "handshake_refused", "refused_by_peer",
                          "malformed_frame", "heartbeat_timeout"})
# Events after which a peer has no live association.
_GONE_EVENTS = frozenset({"disassociated", "quarantined", "heartbeat_timeout"})
# The most recipients whose refs are remembered between messages.
_REF_CACHE_SIZE = 1024


def parse_tcp_address(address: str) -> tuple[str, str]:
    """Splits ``akka.tcp://<system>@<host>:<port>`` into the system name
    and the transport address ``<host>:<port>``.

    Raises:
        InvalidRemoteAddressError: `address` is not of that form.
    """
    scheme, sep, authority = address.partition("://")
    system, at, hostport = authority.partition("@")
    if scheme != TCP_SCHEME or not sep or not at or not system or not hostport \
            or "/" in authority:
        raise InvalidRemoteAddressError(
            f"`{address}` is not a TCP address ({TCP_SCHEME}://<system>@<host>:<port>)")
    return system, hostport


class _RemoteId(ExtensionId["Remote"]):
    """Builds the :class:`Remote` extension of a system."""

    config_section = "remote"

    def create_extension(self, system: "ActorSystem") -> "Remote":
        """A started :class:`Remote` for `system`, from its ``remote`` settings."""
        return Remote._create(system, self.settings(system))


_REMOTE = _RemoteId()


@public_module("atomr.remote")
class Remote(Extension):
    """The TCP transport of one actor system (one per system, started on first use).

    :meth:`get` binds ``remote.hostname``:``remote.port`` (port 0: the
    kernel picks one) and returns at once; from then on the system's
    :attr:`~atomr.ActorSystem.address` is ``akka.tcp://<name>@<host>:<port>``
    and :meth:`~atomr.ActorSystem.tell_remote` reaches actors of other
    systems by path. Connections are made on first send, in the background
    (messages sent meanwhile wait in a bounded queue), kept alive by
    heartbeats and redialed when lost. The transport stops when the system
    terminates; what was still queued becomes dead letters.

    Messages cross the wire as ``(recipient path, manifest, bytes)``: the
    sender encodes with its codec registry, the receiver decodes with its
    own. Manifests registered with the pickle codec are refused both ways
    unless ``remote.allow-pickle`` is set.

    Example:
        >>> remote = Remote.get(system)                   # doctest: +SKIP
        >>> system.address                                # doctest: +SKIP
        'akka.tcp://orders@127.0.0.1:40213'
        >>> system.tell_remote("akka.tcp://billing@127.0.0.1:40999/user/ledger",
        ...                    {"order": 7})              # doctest: +SKIP
    """

    _system: "ActorSystem"
    _transport: _RemoteTransport
    _address: str
    _allow_pickle: bool
    _reader: bool
    _refs: dict[str, ActorRef]
    _associations: dict[str, int]
    _dropped_inbound: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use Remote.get(system)")

    @classmethod
    def _create(cls, system: "ActorSystem", settings: dict[str, Any]) -> "Remote":
        self = object.__new__(cls)
        tls_files = (settings["tls.certificate-chain"], settings["tls.private-key"],
                     settings["tls.ca-file"])
        tls: Optional[tuple[str, str, str, bool]] = None
        if any(tls_files):
            if not all(tls_files):
                raise ConfigError("remote.tls needs all of certificate-chain, private-key and "
                                  "ca-file (or none of them)")
            tls = (*tls_files, settings["tls.require-peer-certificate"])
        self._transport = _RemoteTransport(
            system.name, settings["hostname"], settings["port"],
            cookie=settings["cookie"] or None,
            max_frame_size=settings["max-frame-size"],
            outbound_queue_limit=settings["outbound-queue-size"],
            heartbeat_interval=settings["heartbeat-interval"] or 0.001,
            idle_timeout=settings["idle-timeout"] or 0.001,
            tls=tls)
        self._transport.start()
        self._system = system
        self._address = f"{TCP_SCHEME}://{system.name}@{self._transport.address}"
        self._allow_pickle = settings["allow-pickle"]
        self._reader = False
        self._refs = {}
        self._associations = {}
        self._dropped_inbound = 0
        loop = system.loop
        if _get_running_loop() is loop:
            self._add_reader()
        else:
            loop.call_soon_threadsafe(self._add_reader)
        system._remote = self
        _log.info("remoting started; listening at %s", self._address)
        return self

    @staticmethod
    def get(system: "ActorSystem") -> "Remote":
        """The remote extension of `system`, started on first use.

        Raises:
            RemoteTransportError: the configured address cannot be bound.
            ConfigError: incomplete TLS settings.
            ActorSystemTerminatedError: `system` is terminating or terminated.
        """
        return _REMOTE.get(system)

    # -- what the system sees -------------------------------------------------------

    @property
    def address(self) -> str:
        """``akka.tcp://<system>@<host>:<port>``."""
        return self._address

    @property
    def host(self) -> str:
        """The IP address the transport listens on."""
        return self._transport.address.rpartition(":")[0]

    @property
    def port(self) -> int:
        """The port the transport listens on."""
        return self._transport.port

    @property
    def uid(self) -> int:
        """This incarnation's UID (random, sent in every handshake)."""
        return self._transport.uid

    def associations(self) -> dict[str, int]:
        """The peers with a live connection: ``host:port`` -> their UID."""
        return dict(self._associations)

    def stats(self) -> dict[str, int]:
        """The transport's counters since it started, plus
        ``inbound_undelivered`` (envelopes received that could not be
        decoded or were refused)."""
        out = self._transport.stats()
        out["inbound_undelivered"] = self._dropped_inbound
        return out

    def send(self, address: str, path: str, manifest: str, payload: bytes) -> None:
        """Queues an encoded message for the actor at `path` of the system at
        `address` (``akka.tcp://...``); the transport connects if needed.

        Raises:
            InvalidRemoteAddressError: `address` is not a TCP address.
            RemoteError: `manifest` is pickled and ``remote.allow-pickle``
                is off.
            FrameTooLargeError: the message exceeds ``remote.max-frame-size``.
        """
        _, hostport = parse_tcp_address(address)
        if not self._allow_pickle and self._system.codecs.codec_for(manifest) == "pickle":
            raise RemoteError(f"manifest `{manifest}` is encoded with pickle, which may not "
                              f"cross the wire unless remote.allow-pickle is set")
        if not self._transport.send(hostport, path, manifest, payload):
            _log.debug("message for %s dropped (outbound queue full)", path)

    # -- the loop side ------------------------------------------------------------

    def _add_reader(self) -> None:
        if self._transport.stopped or self._reader:
            return
        self._system.loop.add_reader(self._transport.fd, self._on_readable)
        self._reader = True

    def _on_readable(self) -> None:
        """Drains the transport's queue on the loop thread."""
        for item in self._transport.drain():
            kind = item[0]
            if kind == REMOTE_ENVELOPE:
                self._deliver(item[3], item[5], item[6])
            elif kind == REMOTE_DROPPED:
                self._dropped(item[1], item[2], item[3], item[4], item[5])
            else:
                self._event(item[1], item[2], item[3], item[4])

    def _lookup(self, recipient: str) -> Optional[ActorRef]:
        ref = self._refs.get(recipient)
        if ref is not None and not ref.is_terminated():
            return ref
        ref = _resolve_local(self._system._core, recipient)
        if ref is not None:
            if len(self._refs) >= _REF_CACHE_SIZE:
                self._refs.clear()
            self._refs[recipient] = ref
        else:
            self._refs.pop(recipient, None)
        return ref

    def _deliver(self, recipient: str, manifest: str, payload: bytes) -> None:
        codecs = self._system.codecs
        if not self._allow_pickle and codecs.codec_for(manifest) == "pickle":
            self._dropped_inbound += 1
            _log.warning("refused a message for %s: manifest `%s` is encoded with pickle and "
                         "remote.allow-pickle is off", recipient, manifest)
            return
        try:
            msg = codecs.decode(manifest, payload)
        except AtomrError as exc:
            self._dropped_inbound += 1
            _log.warning("dropped a message for %s: %s", recipient, exc)
            return
        ref = self._lookup(recipient)
        if ref is None:
            _remote_dead_letter(self._system._core, msg, recipient)
        else:
            ref.tell(msg)

    def _dropped(self, to: str, recipient: str, manifest: str, payload: bytes,
                 reason: str) -> None:
        try:
            msg: Any = self._system.codecs.decode(manifest, payload)
        except AtomrError:
            msg = payload
        _log.debug("message for %s not sent to %s (%s)", recipient, to, reason)
        _remote_dead_letter(self._system._core, msg, recipient)

    def _event(self, kind: str, address: str, uid: int, detail: str) -> None:
        if kind == "associated":
            self._associations[address] = uid
        elif kind in _GONE_EVENTS and self._associations.get(address) in (uid, 0, None):
            self._associations.pop(address, None)
        level = logging.WARNING if kind in _WARN_EVENTS else logging.INFO
        if _log.isEnabledFor(level):
            _log.log(level, "remote %s: %s%s", kind.replace("_", " "), address,
                     f" ({detail})" if detail else "")

    def shutdown(self) -> None:
        """Stops the transport (on the system's loop thread, once its actors
        have stopped); what was still queued becomes dead letters."""
        if self._system._remote is self:
            self._system._remote = None
        if self._reader:
            self._reader = False
            try:
                self._system.loop.remove_reader(self._transport.fd)
            except Exception:  # the loop is closing
                pass
        self._transport.stop()
        self._on_readable()
        self._refs.clear()
        self._associations.clear()
