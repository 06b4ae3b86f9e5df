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

import abc
import asyncio
import concurrent.futures
import ipaddress
import itertools
import json
import logging
import socket
import threading
import weakref
from heapq import heapify, heappop, heappush
from asyncio.events import _get_running_loop
from typing import TYPE_CHECKING, Any, Awaitable, Optional

from atomr._native._core import (
    REMOTE_DROPPED,
    REMOTE_ENVELOPE,
    ActorRef,
    _remote_dead_letter,
    _remote_lookup,
    _remote_tell,
    _RemoteTarget,
    _RemoteTransport,
    _RemoteWire,
    _SimTransport,
)
from atomr._util import public_module
from atomr.actor._system import _address_of, _elements_of, _resolve_local
from atomr.actor.extension import Extension, ExtensionId
from atomr.codecs import _refs
from atomr.config import ConfigError
from atomr.errors import (
    ActorTerminatedError,
    AskTimeoutError,
    AtomrError,
    InvalidRemoteAddressError,
    RemoteAddressTerminatedError,
    RemoteError,
)
from atomr.remote import events as _events
from atomr.remote._watch import CONTROL_MANIFESTS, RemoteDeathWatch

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem
    from atomr.codecs import PyCodecRegistry

__all__ = ["AnyRef", "Remote", "RemoteActorRef", "TCP_SCHEME", "parse_tcp_address"]

# Separates a manifest from the W3C ``traceparent`` a tracing sender
# appends (atomr.telemetry.tracing.TRACEPARENT_SEPARATOR; no manifest holds it).
_TRACE_SEPARATOR = "\x1f"

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
# The manifest of a failed ask's answer (UTF-8 JSON ``{"type", "message"}``),
# written and read by the transport itself, never by a codec.
_ASK_FAILURE = "atomr.remote.AskFailure"
# Where the answers to this system's remote asks are addressed (below its
# address); the correlation id picks the ask.
_ASK_PATH = "/temp/ask"
_INF = float("inf")
# Transports handed to Remote._start_with, taken by the system's first
# Remote.get instead of a TCP transport from its settings.
_GIVEN_TRANSPORTS: "weakref.WeakKeyDictionary[ActorSystem, _SimTransport]" = \
    weakref.WeakKeyDictionary()
_GIVEN_LOCK = threading.Lock()
# `remote.*` settings handed to Remote._start_at, overriding the system's own
# for its first Remote.get.
_GIVEN_SETTINGS: "weakref.WeakKeyDictionary[ActorSystem, dict[str, Any]]" = \
    weakref.WeakKeyDictionary()
# How long a forwarded ask waits for the remote answer before giving up
# (the original asker's own timeout applies as well).
_FORWARDED_ASK_TIMEOUT = 60.0
_current_transport = _refs.current_transport


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


def resolve_hostport(hostport: str, where: str = "") -> str:
    """`hostport` (``host:port``) with a host name replaced by the first
    address it resolves to (IPv4 first), through the system resolver
    (``getaddrinfo``; it blocks for as long as name resolution takes). An
    IP literal is returned unchanged.

    Raises:
        InvalidRemoteAddressError: no port, or the host does not resolve.
    """
    host, sep, port = hostport.rpartition(":")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not bare or not port.isdigit():
        raise InvalidRemoteAddressError(f"`{where or hostport}` has no host:port")
    try:
        ipaddress.ip_address(bare)
        return hostport
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(bare, int(port), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidRemoteAddressError(f"cannot resolve host `{bare}` of `{where or hostport}`: "
                                        f"{exc}") from None
    ips = [str(info[4][0]) for info in infos if info[0] == socket.AF_INET] or \
        [str(info[4][0]) for info in infos]
    if not ips:  # pragma: no cover - getaddrinfo raises instead
        raise InvalidRemoteAddressError(f"host `{bare}` of `{where or hostport}` has no address")
    ip = ips[0].partition("%")[0]
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class _RemoteId(ExtensionId["Remote"]):
    """Builds the :class:`Remote` extension of a system."""

    config_section = "remote"

    def create_extension(self, system: "ActorSystem") -> "Remote":
        """A started :class:`Remote` for `system`, from its ``remote`` settings."""
        with _GIVEN_LOCK:
            transport = _GIVEN_TRANSPORTS.pop(system, None)
            overrides = _GIVEN_SETTINGS.pop(system, None)
        settings = self.settings(system)
        settings.update(overrides or {})
        return Remote._create(system, settings, transport)


_REMOTE = _RemoteId()


@public_module("atomr.remote")
class Remote(Extension):
    """The TCP transport of one actor system (one per system, started on
    first use, or as the system is created when its config says
    ``remote.enabled = true`` or ``actor.provider = "remote"``).

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
    _codecs: "PyCodecRegistry"
    _transport: "_RemoteTransport | _SimTransport"
    _address: str
    _allow_pickle: bool
    _reader: bool
    _refs: dict[str, ActorRef]
    _hostports: dict[str, str]
    _own_hostports: frozenset[str]
    _resolve: bool
    _associations: dict[str, int]
    _dropped_inbound: int
    _wire_state: object  # the registry state `_wire_ok` was checked against
    _wire_ok: set[str]  # manifests not encoded with pickle
    # concurrent futures (asks from other threads) or the loop's own futures
    # correlation id -> (future, the transport address the ask went to, the
    # UID associated there when it was sent or 0)
    _pending: "dict[int, tuple[concurrent.futures.Future | asyncio.Future[Any], str, int]]"
    _watch: RemoteDeathWatch
    _correlation: "itertools.count[int]"
    # The C hot paths (TCP only; None over a simulated network).
    _wire: Optional[_RemoteWire]
    # The deadlines of the asks awaited on the system's loop, a heap of
    # (loop time, correlation id, path, timeout): one loop timer, for the
    # earliest, instead of one per ask; an answered ask's entry stays until
    # its deadline (then finds nothing pending) or a compaction.
    _deadlines: "list[tuple[float, int, str, float]]"
    _deadline_timer: "Optional[asyncio.TimerHandle]"
    _deadline_at: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use Remote.get(system)")

    @classmethod
    def _create(cls, system: "ActorSystem", settings: dict[str, Any],
                transport: "Optional[_SimTransport]" = None) -> "Remote":
        self = object.__new__(cls)
        tls_files = (settings["tls.certificate-chain"], settings["tls.private-key"],
                     settings["tls.ca-file"])
        tls: Optional[tuple[str, str, str, bool]] = None
        if any(tls_files):
            if not all(tls_files):
                raise ConfigError("remote.tls needs all of certificate-chain, private-key and "
                                  "ca-file (or none of them)")
            tls = (*tls_files, settings["tls.require-peer-certificate"])
        # A transport given by Remote._start_with (a simulated network's), else
        # TCP; only TCP addresses name hosts that need resolving.
        self._resolve = transport is None
        if transport is not None:
            self._transport = transport
        else:
            hostname = settings["hostname"]
            bind_host = resolve_hostport(f"{hostname}:0", f"remote.hostname = {hostname!r}")
            bind_host = bind_host.rpartition(":")[0].strip("[]")
            self._transport = _RemoteTransport(
                system.name, bind_host, settings["port"],
                advertised_host=settings["canonical-hostname"] or
                (hostname if bind_host != hostname else ""),
                cookie=settings["cookie"] or None,
                max_frame_size=settings["max-frame-size"],
                outbound_queue_limit=settings["outbound-queue-size"],
                heartbeat_interval=(settings["watch-failure-detector.heartbeat-interval"]
                                    or settings["heartbeat-interval"]),
                idle_timeout=settings["idle-timeout"],
                tls=tls,
                failure_detector=_detector_settings(settings),
                peer_retention=settings["peer-retention"],
                inbound_queue_limit=settings["inbound-queue-size"])
        self._transport.start()
        self._system = system
        self._codecs = system.codecs  # the registry is the system's for its lifetime
        self._address = f"{TCP_SCHEME}://{system.name}@{self._transport.address}"
        own = self._transport.address
        self._own_hostports = frozenset({own, resolve_hostport(own)} if self._resolve else {own})
        self._allow_pickle = settings["allow-pickle"]
        self._reader = False
        self._refs = {}
        self._hostports = {}
        self._associations = {}
        self._dropped_inbound = 0
        self._wire_state = None
        self._wire_ok = set()
        self._pending = {}
        self._correlation = itertools.count(1)
        self._watch = RemoteDeathWatch(self)
        self._deadlines = []
        self._deadline_timer = None
        self._deadline_at = _INF
        self._wire = (_RemoteWire(self._transport, self._codecs, self._refs, _current_transport,
                                  self, self._allow_pickle, self._address + _ASK_PATH)
                      if isinstance(self._transport, _RemoteTransport) else None)
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

    @staticmethod
    def _start_with(system: "ActorSystem", transport: _SimTransport) -> "Remote":
        """Starts the remote extension of `system` over `transport` (not
        started yet) instead of a TCP transport; see
        :meth:`atomr.remote.testing.SimNetwork.attach`.

        Raises:
            RuntimeError: `system` already has its remote extension.
        """
        with _GIVEN_LOCK:
            if system._remote is not None or system in _GIVEN_TRANSPORTS:
                raise RuntimeError(f"actor system {system.name} already has a remote transport")
            _GIVEN_TRANSPORTS[system] = transport
        try:
            remote = _REMOTE.get(system)
        finally:
            with _GIVEN_LOCK:
                _GIVEN_TRANSPORTS.pop(system, None)
        if remote._transport is not transport:
            raise RuntimeError(f"actor system {system.name} already has a remote transport")
        return remote

    @staticmethod
    def _start_at(system: "ActorSystem", hostname: str, port: int,
                  canonical_hostname: str = "") -> "Remote":
        """Starts the remote extension of `system` listening at
        `hostname`:`port` (advertising `canonical_hostname` if set) instead
        of its ``remote.hostname`` / ``remote.port`` / ``remote.canonical-hostname``
        (atomr.cluster's ``Cluster.with_tcp_transport``). Returns once listening.

        Raises:
            RuntimeError: `system` already has its remote extension.
            RemoteTransportError: the address cannot be bound.
            InvalidRemoteAddressError: `hostname` does not resolve.
        """
        with _GIVEN_LOCK:
            if system._remote is not None or system in _GIVEN_SETTINGS:
                raise RuntimeError(f"actor system {system.name} already has a remote transport")
            _GIVEN_SETTINGS[system] = {"hostname": hostname, "port": port,
                                       "canonical-hostname": canonical_hostname}
        try:
            remote = _REMOTE.get(system)
        finally:
            with _GIVEN_LOCK:
                _GIVEN_SETTINGS.pop(system, None)
        return remote

    # -- what the system sees -------------------------------------------------------

    @property
    def address(self) -> str:
        """``akka.tcp://<system>@<host>:<port>``."""
        return self._address

    @property
    def host(self) -> str:
        """The host peers reach this system at: ``remote.canonical-hostname``,
        else ``remote.hostname`` (an IP address or a host name)."""
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

    def send(self, address: str, path: str, manifest: str, payload: bytes,
             sender: Optional[str] = None, correlation_id: Optional[int] = None,
             trace: Optional[str] = None) -> None:
        """Queues an encoded message for the actor at `path` of the system at
        `address` (``akka.tcp://...``); the transport connects if needed.

        An `address` of this system itself (also through a host name
        that resolves to it) delivers locally, as an inbound message would be.

        Raises:
            InvalidRemoteAddressError: `address` is not a TCP address, or
                its host name does not resolve.
            RemoteError: `manifest` is pickled and ``remote.allow-pickle``
                is off.
            FrameTooLargeError: the message exceeds ``remote.max-frame-size``.

        A `trace` (a W3C ``traceparent``, sent while this system traces:
        :mod:`atomr.telemetry.tracing`) travels appended to the manifest.
        """
        hostport = self._hostport(address)
        if hostport in self._own_hostports:
            if trace:
                manifest = manifest + _TRACE_SEPARATOR + trace
            self._system.loop.call_soon_threadsafe(self._deliver_own, path, manifest, payload,
                                                   sender, correlation_id)
            return
        self._send_to(hostport, path, manifest, payload, sender, correlation_id, trace)

    def _deliver_own(self, path: str, manifest: str, payload: bytes, sender: Optional[str],
                     correlation_id: Optional[int]) -> None:
        """An envelope this system sent to itself, handled as inbound."""
        token = _current_transport.set(self)
        try:
            if correlation_id is None:
                self._deliver(path, manifest, payload, sender)
            else:
                self._deliver_ask(path, sender, manifest, payload, correlation_id)
        except Exception as exc:
            self._dropped_inbound += 1
            _log.error("remote: could not deliver a message to %s", path, exc_info=exc)
        finally:
            _current_transport.reset(token)

    def _known_hostport(self, address: str) -> Optional[str]:
        """The transport address of `address` when it needs no name
        resolution (an IP literal, or a name resolved before), else None.
        For the loop thread, which must not wait for a resolver."""
        hostport = self._hostports.get(address)
        if hostport is None:
            try:
                hostport = parse_tcp_address(address)[1]
            except InvalidRemoteAddressError:
                return None
            host = hostport.rpartition(":")[0]
            if host[:1] == "[" or host.replace(".", "").isdigit():
                try:
                    return self._hostport(address)  # a literal: no resolver involved
                except InvalidRemoteAddressError:
                    return None
            return None
        return hostport

    def _hostport(self, address: str) -> str:
        """The transport address (``host:port``) of a system's address,
        parsed once per address."""
        hostport = self._hostports.get(address)
        if hostport is None:
            hostport = parse_tcp_address(address)[1]
            if self._resolve:
                hostport = resolve_hostport(hostport, address)
            if len(self._hostports) >= _REF_CACHE_SIZE:
                self._hostports.clear()
            self._hostports[address] = hostport
        return hostport

    def _send_to(self, hostport: str, path: str, manifest: str, payload: bytes,
                 sender: Optional[str], correlation_id: Optional[int],
                 trace: Optional[str] = None) -> None:
        """:meth:`send` to a transport address (``host:port``) already parsed."""
        if not self._allow_pickle and self._pickled(manifest):
            raise RemoteError(f"manifest `{manifest}` is encoded with pickle, which may not "
                              f"cross the wire unless remote.allow-pickle is set")
        if trace:
            manifest = manifest + _TRACE_SEPARATOR + trace
        if not self._transport.send(hostport, path, manifest, payload, sender, correlation_id):
            _log.debug("message for %s dropped (outbound queue full)", path)

    def _pickled(self, manifest: str) -> bool:
        """Whether `manifest` is encoded with the pickle codec; the answers
        are kept until the registry changes (its state is replaced then)."""
        state = self._codecs._state
        if state is not self._wire_state:
            self._wire_state = state
            self._wire_ok = set()
        elif manifest in self._wire_ok:
            return False
        if self._codecs.codec_for(manifest) == "pickle":
            return True
        if len(self._wire_ok) < _REF_CACHE_SIZE:
            self._wire_ok.add(manifest)
        return False

    def actor_selection(self, path: str) -> "RemoteActorRef":
        """A ref to the actor at `path` on another system
        (``akka.tcp://<system>@<host>:<port>/user/...``). Nothing is checked
        on the remote side: a message for an actor that does not exist
        becomes a dead letter there (an ask fails with ActorTerminatedError).

        The host may be a host name: it is resolved here, once per address.

        Raises:
            InvalidRemoteAddressError: `path` has no TCP address, its host
                name does not resolve, or it names this system (use
                ``system.actor_selection`` for those).
        """
        address = _address_of(path)
        if address is None:
            raise InvalidRemoteAddressError(f"`{path}` has no address")
        if address == self._address or self._hostport(address) in self._own_hostports:
            raise InvalidRemoteAddressError(f"`{path}` is on this system itself")
        return RemoteActorRef(self, address, path)

    # -- refs inside messages (atomr.codecs._refs) ------------------------------------

    def _encode(self, msg: Any) -> tuple[str, bytes]:
        """``(manifest, bytes)`` of `msg`, refs inside written as their wire paths."""
        token = _current_transport.set(self)
        try:
            manifest, blob = self._codecs.encode_message(msg)
        finally:
            _current_transport.reset(token)
        if self._wire is not None:
            self._wire.learn_encoder(type(msg), manifest)
        return manifest, blob

    def _decode(self, manifest: str, payload: bytes) -> Any:
        """`payload` decoded, refs inside bound to this system."""
        token = _current_transport.set(self)
        try:
            return self._codecs.decode(manifest, payload)
        finally:
            _current_transport.reset(token)

    def _ref_to_wire(self, ref: Any) -> str:
        """The path a ref inside a message is sent as."""
        if isinstance(ref, ActorRef):
            address = _address_of(ref.path)
            if address != self._system._core.address and address != self._address:
                raise TypeError(f"{ref!r} is a ref of another actor system than "
                                f"{self._system.name}, which sends it")
        return self._wire_path(ref)

    def _is_own(self, address: str) -> bool:
        if address == self._address or address == self._system._core.address:
            return True
        # No name resolution here (the loop thread): a path naming this
        # system by a host name not resolved yet is taken as remote, and
        # mail sent to it comes back here through `send`.
        system = address.partition("://")[2].partition("@")[0]
        return system == self._system.name and self._known_hostport(address) in \
            self._own_hostports

    def _ref_from_wire(self, path: str) -> Any:
        """The ref a path inside a received message stands for: this
        system's live actor at that exact path, else a remote ref (mail for
        an actor of this system that is gone becomes a dead letter)."""
        address = _address_of(path)
        if address is None:
            raise ValueError(f"the actor ref path {path!r} has no address")
        if self._is_own(address):
            ref = _remote_lookup(self._system._core, _elements_of(path))
            if ref is not None:
                return ref
        return RemoteActorRef(self, address, path)

    def _ask(self, address: str, path: str, msg: Any, timeout: Optional[float],
             target: Optional[_RemoteTarget] = None) -> Awaitable[Any]:
        loop = self._system.loop
        if _get_running_loop() is not loop:
            cf, correlation = self._send_ask(address, path, msg)
            return self._await_answer(cf, correlation, path, timeout)
        # On the system's loop, which also completes the answer: a plain
        # loop future (no thread-safe hand-over, no extra wake-up, and no
        # task for asyncio.gather to wrap it in); its timer ends with it.
        fut = loop.create_future()
        correlation = self._send_correlated(address, path, msg, fut, target)
        if timeout is not None:
            deadline = loop.time() + timeout
            heap = self._deadlines
            heappush(heap, (deadline, correlation, path, timeout))
            if len(heap) > 2 * len(self._pending) + 1024:
                self._compact_deadlines()
            if deadline < self._deadline_at:
                self._arm_deadlines(loop, deadline)
        else:
            fut.add_done_callback(lambda _: self._pending.pop(correlation, None))
        return fut

    def _arm_deadlines(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_at = deadline
        self._deadline_timer = loop.call_at(deadline, self._expire_asks)

    def _expire_asks(self) -> None:
        """Fails the asks past their deadline with AskTimeoutError; re-arms
        the timer for the next deadline."""
        loop = self._system.loop
        self._deadline_timer = None
        self._deadline_at = _INF
        heap = self._deadlines
        pending = self._pending
        now = loop.time()
        while heap and heap[0][0] <= now:
            _, correlation, path, timeout = heappop(heap)
            entry = pending.pop(correlation, None)
            if entry is not None:
                _expire(entry[0], path, timeout)
        if len(heap) > 2 * len(pending) + 1024:
            self._compact_deadlines()
        if heap:
            self._arm_deadlines(loop, heap[0][0])

    def _compact_deadlines(self) -> None:
        """Drops the deadlines of asks no longer pending (answered): the
        heap stays within twice the pending asks plus a constant."""
        pending = self._pending
        heap = self._deadlines
        heap[:] = [item for item in heap if item[1] in pending]
        heapify(heap)

    def _ask_blocking(self, address: str, path: str, msg: Any,
                      timeout: Optional[float], target: Optional[_RemoteTarget] = None) -> Any:
        if _get_running_loop() is self._system.loop:
            raise RuntimeError("ask_blocking would block the system's own loop, which "
                               "delivers the answer; use `await ref.ask(...)` there")
        if target is not None and self._wire is not None:
            # The C path: the io thread hands the answer to this thread.
            correlation = next(self._correlation)
            hostport = self._hostport(address)
            status, value, payload = self._wire.ask_blocking(
                target, msg, correlation, timeout,
                (hostport, self._associations.get(hostport, 0)), self._pending)
            if status == 1:
                return value
            if status == 2:
                return self._answer_of(value, payload)
            if status == 3:
                raise AskTimeoutError(f"ask to {path} timed out after {timeout}s")
        cf, correlation = self._send_ask(address, path, msg)
        try:
            return cf.result(timeout)
        except concurrent.futures.TimeoutError:
            raise AskTimeoutError(f"ask to {path} timed out after {timeout}s") from None
        finally:
            self._pending.pop(correlation, None)

    def _send_ask(self, address: str, path: str,
                  msg: Any) -> tuple[concurrent.futures.Future, int]:
        cf: concurrent.futures.Future = concurrent.futures.Future()
        return cf, self._send_correlated(address, path, msg, cf)

    def _send_correlated(self, address: str, path: str, msg: Any, fut: Any,
                         target: Optional[_RemoteTarget] = None) -> int:
        """Sends `msg` as an ask whose answer completes `fut`; returns its
        correlation id."""
        correlation = next(self._correlation)
        tracer = self._system._core.tracer
        if target is not None and tracer is None:  # the C path: a known type to a known peer
            hostport = self._hostport(address)
            self._pending[correlation] = (fut, hostport, self._associations.get(hostport, 0))
            try:
                if target.ask(msg, correlation):
                    return correlation
            except BaseException:
                self._pending.pop(correlation, None)
                raise
        manifest, blob = self._encode(msg)
        hostport = self._hostport(address)
        self._pending[correlation] = (fut, hostport, self._associations.get(hostport, 0))
        try:
            self.send(address, path, manifest, blob, sender=self._address + _ASK_PATH,
                      correlation_id=correlation,
                      trace=None if tracer is None else tracer.inject())
        except BaseException:
            self._pending.pop(correlation, None)
            raise
        return correlation

    async def _await_answer(self, cf: concurrent.futures.Future, correlation: int, path: str,
                            timeout: Optional[float]) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(cf), timeout)
        except asyncio.TimeoutError:
            raise AskTimeoutError(f"ask to {path} timed out after {timeout}s") from None
        finally:
            self._pending.pop(correlation, None)

    async def _await_loop_answer(self, loop: asyncio.AbstractEventLoop,
                                 fut: "asyncio.Future[Any]", correlation: int, path: str,
                                 timeout: Optional[float]) -> Any:
        timer = None if timeout is None else loop.call_later(timeout, _expire, fut, path,
                                                             timeout)
        try:
            return await fut
        finally:
            if timer is not None:
                timer.cancel()
            self._pending.pop(correlation, None)

    # -- the loop side ------------------------------------------------------------

    def _add_reader(self) -> None:
        if self._transport.stopped or self._reader:
            return
        self._system.loop.add_reader(self._transport.fd, self._on_readable)
        self._reader = True
        if self._wire is not None:
            self._wire.bind_loop(self._system.loop)

    def _on_readable(self) -> None:
        """Drains the transport's queue on the loop thread. A failure on
        one item is logged and costs that item only."""
        token = _current_transport.set(self)  # refs inside bind to this system
        try:
            self._drain()
        finally:
            _current_transport.reset(token)
        if self._wire is not None:
            self._wire.run_ready()

    def _drain(self) -> None:
        if self._wire is not None:
            self._wire.drain(self._drain_item, self._pending)
            return
        for item in self._transport.drain():
            self._drain_item(item)

    def _drain_item(self, item: tuple[Any, ...]) -> None:
        """Handles one item the transport reported (see
        ``_RemoteTransport.drain``); a failure is logged and costs that item only."""
        kind = item[0]
        try:
            if kind == REMOTE_ENVELOPE:
                if item[5] in CONTROL_MANIFESTS:
                    self._watch.control(item[5], item[3], item[4], item[6])
                elif item[7] is None:
                    self._deliver(item[3], item[5], item[6], item[4])
                else:
                    self._deliver_ask(item[3], item[4], item[5], item[6], item[7])
            elif kind == REMOTE_DROPPED:
                self._dropped(item[1], item[2], item[3], item[4], item[5])
            else:
                self._event(*item[1:])
        except Exception as exc:
            if kind == REMOTE_ENVELOPE:
                self._dropped_inbound += 1
            _log.error("remote: could not handle an item from the transport", exc_info=exc)

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

    def _deliver(self, recipient: str, manifest: str, payload: bytes,
                 sender: Optional[str] = None) -> None:
        trace = None
        if _TRACE_SEPARATOR in manifest:
            manifest, _, trace = manifest.partition(_TRACE_SEPARATOR)
        codecs = self._codecs
        if not self._allow_pickle and self._pickled(manifest):
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
        if self._wire is not None and sender is None:
            self._wire.learn_decoder(manifest)
        ref = self._lookup(recipient)
        if ref is None:
            _remote_dead_letter(self._system._core, msg, recipient)
            return
        tracer = self._system._core.tracer if trace else None
        token = None if tracer is None else tracer.extract(trace)
        try:
            if sender is None:
                ref.tell(msg)
            else:
                _remote_tell(ref, msg, self._sender_ref(sender))
        except AtomrError as exc:  # a full mailbox that fails the sender
            self._dropped_inbound += 1
            _log.warning("dropped a message for %s: %s", recipient, exc)
        finally:
            if tracer is not None and token is not None:
                tracer.restore(token)

    def _post_failed(self, recipient: str, exc: BaseException) -> None:
        """A decoded tell the recipient's mailbox refused (the C path)."""
        self._dropped_inbound += 1
        if isinstance(exc, AtomrError):  # a full mailbox that fails the sender
            _log.warning("dropped a message for %s: %s", recipient, exc)
        else:
            _log.error("remote: could not handle an item from the transport", exc_info=exc)

    def _send_dropped(self, path: str) -> None:
        """A tell the transport dropped (the C path)."""
        _log.debug("message for %s dropped (outbound queue full)", path)

    def _sender_ref(self, path: str) -> Any:
        """The ref a handler sees as ``ctx.sender`` for a sender path: a
        remote ref, or this system's own actor (None if it is gone)."""
        address = _address_of(path)
        if address is None or address == self._address:
            return _resolve_local(self._system._core, path)
        return RemoteActorRef(self, address, path)

    def _wire_path(self, ref: Any) -> str:
        """The path peers reach `ref` at: a local ref's path under this
        system's TCP address; a remote ref's own path."""
        if isinstance(ref, RemoteActorRef):
            return ref.path
        if isinstance(ref, ActorRef):
            return self._address + _elements_of(ref.path)
        raise TypeError(f"sender must be an ActorRef, a RemoteActorRef or None, "
                        f"not {type(ref).__name__}")

    def _deliver_ask(self, recipient: str, sender: Optional[str], manifest: str,
                     payload: bytes, correlation: int) -> None:
        """An envelope with a correlation id: the answer to one of this
        system's asks, or an ask of a remote system to answer."""
        trace = None
        if _TRACE_SEPARATOR in manifest:
            manifest, _, trace = manifest.partition(_TRACE_SEPARATOR)
        address = _address_of(recipient)
        if address is not None and recipient[len(address):].startswith(_ASK_PATH):
            self._complete(correlation, manifest, payload)
            return
        if sender is None:
            self._dropped_inbound += 1
            _log.warning("dropped an ask for %s that names no sender", recipient)
            return
        codecs = self._codecs
        try:
            if not self._allow_pickle and codecs.codec_for(manifest) == "pickle":
                raise RemoteError(f"manifest `{manifest}` is encoded with pickle and "
                                  f"remote.allow-pickle is off")
            msg = codecs.decode(manifest, payload)
        except AtomrError as exc:
            self._dropped_inbound += 1
            self._answer_failure(sender, correlation, exc)
            return
        if self._wire is not None:
            asker = _address_of(sender)
            hostport = None if asker is None else self._known_hostport(asker)
            if hostport is not None and hostport not in self._own_hostports:
                self._wire.learn_decoder(manifest)
                self._wire.learn_asker(sender, hostport)
        ref = self._lookup(recipient)
        if ref is None:
            _remote_dead_letter(self._system._core, msg, recipient)
            self._answer_failure(sender, correlation, ActorTerminatedError(
                f"{recipient} does not exist; the message went to dead letters"))
            return
        tracer = self._system._core.tracer if trace else None
        token = None if tracer is None else tracer.extract(trace)
        try:
            answer = ref.ask(msg, None)
        finally:
            if tracer is not None and token is not None:
                tracer.restore(token)
        if isinstance(answer, asyncio.Future):
            answer.add_done_callback(lambda fut: self._answer(sender, correlation, fut))
        else:  # pragma: no cover - asks on the loop thread answer with a Future
            asyncio.ensure_future(answer).add_done_callback(
                lambda fut: self._answer(sender, correlation, fut))

    def _answer(self, to: str, correlation: int, fut: "asyncio.Future[Any]") -> None:
        if fut.cancelled():
            self._answer_failure(to, correlation, AtomrError("the ask was cancelled"))
            return
        exc = fut.exception()
        if exc is not None:
            self._answer_failure(to, correlation, exc)
            return
        self._answer_value(to, correlation, fut.result())

    def _answer_value(self, to: str, correlation: int, value: Any) -> None:
        """Sends `value` to the asker `to` as the answer to its ask `correlation`."""
        try:
            manifest, blob = self._encode(value)
            if not self._allow_pickle and self._codecs.codec_for(manifest) == "pickle":
                raise RemoteError(f"the answer's manifest `{manifest}` is encoded with pickle "
                                  f"and remote.allow-pickle is off")
        except AtomrError as error:
            self._answer_failure(to, correlation, error)
            return
        self._send_answer(to, correlation, manifest, blob)

    def _answer_failure(self, to: str, correlation: int, exc: BaseException) -> None:
        body = json.dumps({"type": type(exc).__name__, "message": str(exc)}).encode()
        self._send_answer(to, correlation, _ASK_FAILURE, body)

    def _send_answer(self, to: str, correlation: int, manifest: str, blob: bytes) -> None:
        address = _address_of(to)
        try:
            if address is None:
                raise InvalidRemoteAddressError(f"`{to}` has no address")
            self.send(address, to, manifest, blob, correlation_id=correlation)
        except AtomrError as exc:
            _log.warning("could not answer an ask from %s: %s", to, exc)

    def _complete(self, correlation: int, manifest: str, payload: bytes) -> None:
        entry = self._pending.pop(correlation, None)
        cf = None if entry is None else entry[0]
        if cf is None or cf.done():
            _log.debug("an answer to ask %d came after it ended", correlation)
            return
        try:
            if manifest == _ASK_FAILURE:
                cf.set_exception(_failure_of(payload))
                return
            cf.set_result(self._codecs.decode(manifest, payload))
            if self._wire is not None:
                self._wire.learn_decoder(manifest)
        except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
            pass  # the asker gave up at this very moment
        except (AtomrError, ValueError) as exc:
            try:
                cf.set_exception(exc)
            except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
                pass

    def _answer_of(self, manifest: str, payload: bytes) -> Any:
        """The value of an answer (`_complete`'s decoding, for an ask a
        thread waited for); raises what the answer stands for."""
        if manifest == _ASK_FAILURE:
            raise _failure_of(payload)
        token = _current_transport.set(self)  # refs inside bind to this system
        try:
            value = self._codecs.decode(manifest, payload)
        finally:
            _current_transport.reset(token)
        if self._wire is not None:
            self._wire.learn_decoder(manifest)
        return value

    def _dropped(self, to: str, recipient: str, manifest: str, payload: bytes,
                 reason: str) -> None:
        try:
            msg: Any = self._codecs.decode(manifest, payload)
        except AtomrError:
            msg = payload
        _log.debug("message for %s not sent to %s (%s)", recipient, to, reason)
        _remote_dead_letter(self._system._core, msg, recipient)

    def _event(self, kind: str, address: str, uid: int, detail: str, system: str = "") -> None:
        self._lifecycle(kind, address, uid, detail, system)
        if kind == "associated":
            self._associations[address] = uid
        elif kind in _GONE_EVENTS and self._associations.get(address) in (uid, 0, None):
            self._associations.pop(address, None)
        level = logging.WARNING if kind in _WARN_EVENTS else logging.INFO
        if _log.isEnabledFor(level):
            _log.log(level, "remote %s: %s%s", kind.replace("_", " "), address,
                     f" ({detail})" if detail else "")

    def _lifecycle(self, kind: str, hostport: str, uid: int, detail: str, system: str) -> None:
        """Publishes the remote lifecycle event of a transport event; a
        system declared gone ends the watches of its actors and the asks
        waiting for it."""
        address = f"{TCP_SCHEME}://{system or self._system_name_at(hostport)}@{hostport}"
        event: Optional[_events.RemotingLifecycleEvent] = None
        gone = None
        gone_uid = 0
        if kind == "associated":
            self._watch.set_reachable(hostport, True)
            event = _events.AssociatedEvent(address, uid, inbound=detail == "inbound")
        elif kind in ("disassociated", "heartbeat_timeout"):
            event = _events.DisassociatedEvent(address, uid, reason=detail)
            if detail.startswith("closed by peer: shutdown"):
                gone = "it shut down"
        elif kind == "quarantined":
            event = _events.QuarantinedEvent(address, uid, reason=detail)
            gone = f"it was quarantined ({detail})"
            gone_uid = uid  # asks and watches sent to the new incarnation stay
        elif kind == "unreachable":
            self._watch.set_reachable(hostport, False)
            event = _events.RemoteUnreachable(address, uid, detail=detail)
            gone = f"the failure detector declared it unreachable ({detail})"
        elif kind == "reachable":
            self._watch.set_reachable(hostport, True)
            event = _events.RemoteReachable(address, uid)
        if gone is not None:
            self._address_terminated(hostport, gone_uid, address, gone)
        if event is not None:
            self._system.event_stream.publish(event)

    def _system_name_at(self, hostport: str) -> str:
        """The name of the system this side addressed at `hostport`
        (before any handshake told it), or "?"."""
        for address, at in list(self._hostports.items()):
            if at == hostport:
                return parse_tcp_address(address)[0]
        return "?"

    def _address_terminated(self, hostport: str, uid: int, address: str, why: str) -> None:
        """The system at `hostport` (its incarnation `uid` only, if not 0)
        is gone: Terminated to the watchers of its actors,
        RemoteAddressTerminatedError to the asks waiting for it."""
        ended = self._watch.address_terminated(hostport, uid)
        failed = 0
        for correlation, (fut, at, sent_uid) in list(self._pending.items()):
            if at != hostport or (uid != 0 and sent_uid != uid):
                continue
            # A thread in ask_blocking may have dropped its entry meanwhile.
            if self._pending.pop(correlation, None) is None or fut.done():
                continue
            try:
                fut.set_exception(RemoteAddressTerminatedError(
                    f"the remote system {address} is gone before answering: {why}"))
                failed += 1
            except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
                pass
        if ended or failed:
            _log.warning("remote system %s is gone (%s): %d watches ended, %d asks failed",
                         address, why, ended, failed)

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
        self._watch.clear()
        pending, self._pending = self._pending, {}
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._deadlines.clear()
        for cf, _, _ in pending.values():
            if not cf.done():
                try:
                    cf.set_exception(RemoteError("the remote transport stopped before the "
                                                 "answer came"))
                except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
                    pass


def _detector_settings(settings: dict[str, Any]) -> dict[str, float]:
    """The failure detector's settings from the ``remote`` section."""
    key = "watch-failure-detector."
    threshold = settings[key + "threshold"]
    if threshold != threshold or threshold == float("inf"):
        raise ValueError(f"remote.{key}threshold must be a finite positive number, "
                         f"got {threshold!r}")
    return {
        "threshold": threshold,
        "max_sample_size": settings[key + "max-sample-size"],
        "min_std_deviation": settings[key + "min-std-deviation"],
        "acceptable_heartbeat_pause": settings[key + "acceptable-heartbeat-pause"],
        "first_heartbeat_estimate": settings[key + "first-heartbeat-estimate"],
        "check_interval": settings[key + "unreachable-nodes-reaper-interval"],
    }


def _failure_of(payload: bytes) -> AtomrError:
    """The error an AskFailure answer stands for."""
    failure = json.loads(payload)
    text = f"{failure.get('type')}: {failure.get('message')}"
    if failure.get("type") == "ActorTerminatedError":
        return ActorTerminatedError(failure.get("message", ""))
    return RemoteError(f"the remote handler failed: {text}")


def _expire(fut: "asyncio.Future[Any] | concurrent.futures.Future[Any]", path: str,
            timeout: float) -> None:
    if not fut.done():
        fut.set_exception(AskTimeoutError(f"ask to {path} timed out after {timeout}s"))


def _check_timeout(timeout: Optional[float]) -> None:
    if timeout is not None and (isinstance(timeout, bool) or
                                not isinstance(timeout, (int, float)) or
                                not 0 < timeout < float("inf")):
        raise ValueError(f"timeout must be a positive number of seconds or None, "
                         f"got {timeout!r}")


@public_module("atomr.remote")
class RemoteActorRef:
    """A ref to an actor of another actor system, reached over TCP
    (from :meth:`atomr.ActorSystem.actor_selection` or
    :meth:`Remote.actor_selection`).

    Messages are encoded with the sending system's codec registry and
    decoded with the receiver's; delivery is at most once. Two refs are
    equal when their paths are.
    """

    __slots__ = ("_remote", "_address", "_hostport", "_path", "_target")

    def __init__(self, remote: Remote, address: str, path: str) -> None:
        self._remote = remote
        self._address = address
        # None: a bad path (sending raises), a host name (resolved by the
        # first send, not here: refs are made on the loop thread as messages
        # arrive), or this system itself (`send` delivers locally).
        self._hostport: Optional[str] = remote._known_hostport(address)
        if self._hostport in remote._own_hostports:
            self._hostport = None
        self._path = path
        wire = remote._wire
        self._target: Optional[_RemoteTarget] = (
            None if wire is None or self._hostport is None else wire.target(self._hostport, path))

    @property
    def path(self) -> str:
        """The actor's full path, ``akka.tcp://<system>@<host>:<port>/user/...``."""
        return self._path

    @property
    def name(self) -> str:
        """The last element of the path."""
        return self._path.rpartition("/")[2]

    def tell(self, msg: Any, sender: Any = None) -> None:
        """Sends `msg` without waiting. With a `sender` (a local
        :class:`~atomr.ActorRef`, or a remote ref) the remote handler sees it
        as ``ctx.sender``, a ref it can tell.

        Refs inside `msg` travel as their paths and arrive as refs of the
        receiving system (see :class:`AnyRef`).

        Raises:
            TypeError: `sender` is not a ref.
            AtomrError: no codec for `msg`'s manifest in this system's
                registry, or `msg` holds a ref of another actor system.
            InvalidRemoteAddressError: the path's host name does not resolve.
            FrameTooLargeError: `msg` encodes to more than ``remote.max-frame-size``.
        """
        remote = self._remote
        tracer = remote._system._core.tracer
        if sender is None and tracer is None:
            target = self._target
            if target is not None and target.tell(msg):
                return
        sender_path = None if sender is None else remote._wire_path(sender)
        manifest, blob = remote._encode(msg)
        trace = None if tracer is None else tracer.inject()
        if self._hostport is None:
            remote.send(self._address, self._path, manifest, blob, sender=sender_path,
                        trace=trace)
        else:
            remote._send_to(self._hostport, self._path, manifest, blob, sender_path, None,
                            trace)

    def ask(self, msg: Any, timeout: Optional[float] = 5.0) -> Awaitable[Any]:
        """Sends `msg` at once and returns an awaitable of the remote
        handler's return value (decoded with this system's registry).

        Raises:
            AtomrError: (at the call) no codec for `msg`'s manifest.
            ValueError: (at the call) `timeout` is not a positive number.
            AskTimeoutError: (when awaited) no answer within `timeout` seconds.
            ActorTerminatedError: (when awaited) no actor at the path.
            RemoteError: (when awaited) the handler raised; the message
                names the exception's type and text.
        """
        _check_timeout(timeout)
        return self._remote._ask(self._address, self._path, msg, timeout, self._target)

    def ask_blocking(self, msg: Any, timeout: Optional[float] = 5.0) -> Any:
        """:meth:`ask` for a thread without a running loop: blocks (without
        the GIL) until the answer comes and returns it.

        Raises:
            RuntimeError: called on the system's own loop thread.
            AskTimeoutError, ActorTerminatedError, RemoteError: as :meth:`ask`.
        """
        _check_timeout(timeout)
        return self._remote._ask_blocking(self._address, self._path, msg, timeout, self._target)

    def forward(self, msg: Any, ctx: Any) -> None:
        """``ctx.forward(self, msg)``: sends `msg` from inside a handler,
        keeping the current message's sender (the remote handler's
        ``ctx.sender``, a remote ref when the sender lives on another
        system) and, when `msg` is the current message, its pending ask
        reply, which the remote handler's answer then completes.

        Raises:
            RuntimeError: `ctx` is used outside its handler, or the current
                message was stashed or forwarded already.
        """
        ctx.forward(self, msg)

    def _forward(self, msg: Any, sender: Any, reply: Any) -> None:
        """The remote side of ``ctx.forward`` (called by the context):
        tells `msg` with `sender`; with `reply` (a DeferredReply) asks,
        and answers `reply` with the remote answer."""
        if reply is None:
            self.tell(msg, sender=sender)
            return
        remote = self._remote
        loop = remote._system.loop
        fut = loop.create_future()
        try:
            correlation = remote._send_correlated(self._address, self._path, msg, fut)
        except BaseException as exc:  # nothing was sent: the asker learns why
            reply.fail(exc)
            raise
        timer = loop.call_later(_FORWARDED_ASK_TIMEOUT, _expire, fut, self._path,
                                _FORWARDED_ASK_TIMEOUT)

        def answered(done: "asyncio.Future[Any]") -> None:
            timer.cancel()
            remote._pending.pop(correlation, None)
            if reply.answered:
                return
            if done.cancelled():
                reply.fail(AtomrError("the forwarded ask was cancelled"))
            elif done.exception() is not None:
                reply.fail(done.exception())
            else:
                reply.tell(done.result())

        fut.add_done_callback(answered)

    def _watched_by(self, watcher: ActorRef) -> None:
        """``ctx.watch(self)`` in the actor `watcher`: it gets
        :class:`atomr.Terminated` for this path once the remote actor stops,
        is found not to exist, or its system is declared gone."""
        self._remote._watch.watch(watcher, self)

    def _unwatched_by(self, watcher: ActorRef) -> None:
        """``ctx.unwatch(self)`` in the actor `watcher`."""
        self._remote._watch.unwatch(watcher, self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteActorRef):
            return NotImplemented
        return self._path == other._path

    def __hash__(self) -> int:
        return hash(self._path)

    def __repr__(self) -> str:
        return f"<RemoteActorRef {self._path}>"


@public_module("atomr.remote")
class AnyRef(abc.ABC):  # noqa: B024 - a virtual base: the ref classes register with it
    """The type of a message field that holds a ref of either kind: a local
    :class:`~atomr.ActorRef` or a :class:`RemoteActorRef` (both are
    instances of it). A ref received in a message is the receiver's local
    ref when it names one of its own actors, else a remote ref, so a field
    of a msgspec Struct or a pydantic model, whose decoding checks the
    type, is annotated ``AnyRef``; dataclass fields may use any of the
    three."""

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """pydantic: a ref validates as itself, a path (from the wire) as
        the ref it names; a ref serializes as its path."""
        from pydantic_core import core_schema  # noqa: PLC0415 - only with pydantic

        def validate(value: Any) -> Any:
            return value if isinstance(value, AnyRef) else _refs.ref_from_path(value)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(
                _refs.ref_to_path))


AnyRef.register(ActorRef)
AnyRef.register(RemoteActorRef)
# A ref inside a message is encoded as its path (atomr.codecs._refs).
_refs.register_ref_type(RemoteActorRef)
_refs.register_ref_type(AnyRef)
