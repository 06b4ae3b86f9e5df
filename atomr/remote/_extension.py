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

import asyncio
import concurrent.futures
import itertools
import json
import logging
from asyncio.events import _get_running_loop
from typing import TYPE_CHECKING, Any, Awaitable, Optional

from atomr._native._core import (
    REMOTE_DROPPED,
    REMOTE_ENVELOPE,
    ActorRef,
    _remote_dead_letter,
    _remote_tell,
    _RemoteTransport,
)
from atomr._util import public_module
from atomr.actor._system import _address_of, _elements_of, _resolve_local
from atomr.actor.extension import Extension, ExtensionId
from atomr.config import ConfigError
from atomr.errors import (
    ActorTerminatedError,
    AskTimeoutError,
    AtomrError,
    InvalidRemoteAddressError,
    RemoteError,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem
    from atomr.codecs import PyCodecRegistry

__all__ = ["Remote", "RemoteActorRef", "TCP_SCHEME", "parse_tcp_address"]

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
    _codecs: "PyCodecRegistry"
    _transport: _RemoteTransport
    _address: str
    _allow_pickle: bool
    _reader: bool
    _refs: dict[str, ActorRef]
    _hostports: dict[str, str]
    _associations: dict[str, int]
    _dropped_inbound: int
    _wire_state: object  # the registry state `_wire_ok` was checked against
    _wire_ok: set[str]  # manifests not encoded with pickle
    # concurrent futures (asks from other threads) or the loop's own futures
    _pending: "dict[int, concurrent.futures.Future | asyncio.Future[Any]]"
    _correlation: "itertools.count[int]"

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
            heartbeat_interval=settings["heartbeat-interval"],
            idle_timeout=settings["idle-timeout"],
            tls=tls,
            inbound_queue_limit=settings["inbound-queue-size"])
        self._transport.start()
        self._system = system
        self._codecs = system.codecs  # the registry is the system's for its lifetime
        self._address = f"{TCP_SCHEME}://{system.name}@{self._transport.address}"
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

    def send(self, address: str, path: str, manifest: str, payload: bytes,
             sender: Optional[str] = None, correlation_id: Optional[int] = None) -> None:
        """Queues an encoded message for the actor at `path` of the system at
        `address` (``akka.tcp://...``); the transport connects if needed.

        Raises:
            InvalidRemoteAddressError: `address` is not a TCP address.
            RemoteError: `manifest` is pickled and ``remote.allow-pickle``
                is off.
            FrameTooLargeError: the message exceeds ``remote.max-frame-size``.
        """
        self._send_to(self._hostport(address), path, manifest, payload, sender, correlation_id)

    def _hostport(self, address: str) -> str:
        """The transport address (``host:port``) of a system's address,
        parsed once per address."""
        hostport = self._hostports.get(address)
        if hostport is None:
            hostport = parse_tcp_address(address)[1]
            if len(self._hostports) >= _REF_CACHE_SIZE:
                self._hostports.clear()
            self._hostports[address] = hostport
        return hostport

    def _send_to(self, hostport: str, path: str, manifest: str, payload: bytes,
                 sender: Optional[str], correlation_id: Optional[int]) -> None:
        """:meth:`send` to a transport address (``host:port``) already parsed."""
        if not self._allow_pickle and self._pickled(manifest):
            raise RemoteError(f"manifest `{manifest}` is encoded with pickle, which may not "
                              f"cross the wire unless remote.allow-pickle is set")
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

        Raises:
            InvalidRemoteAddressError: `path` has no TCP address, or names
                this system (use ``system.actor_selection`` for those).
        """
        address = _address_of(path)
        if address is None:
            raise InvalidRemoteAddressError(f"`{path}` has no address")
        parse_tcp_address(address)
        if address == self._address:
            raise InvalidRemoteAddressError(f"`{path}` is on this system itself")
        return RemoteActorRef(self, address, path)

    def _ask(self, address: str, path: str, msg: Any,
             timeout: Optional[float]) -> Awaitable[Any]:
        loop = self._system.loop
        if _get_running_loop() is not loop:
            cf, correlation = self._send_ask(address, path, msg)
            return self._await_answer(cf, correlation, path, timeout)
        # On the system's loop, which also completes the answer: a plain
        # loop future (no thread-safe hand-over, no extra wake-up).
        fut = loop.create_future()
        correlation = self._send_correlated(address, path, msg, fut)
        return self._await_loop_answer(loop, fut, correlation, path, timeout)

    def _ask_blocking(self, address: str, path: str, msg: Any,
                      timeout: Optional[float]) -> Any:
        if _get_running_loop() is self._system.loop:
            raise RuntimeError("ask_blocking would block the system's own loop, which "
                               "delivers the answer; use `await ref.ask(...)` there")
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

    def _send_correlated(self, address: str, path: str, msg: Any, fut: Any) -> int:
        """Sends `msg` as an ask whose answer completes `fut`; returns its
        correlation id."""
        manifest, blob = self._codecs.encode_message(msg)
        correlation = next(self._correlation)
        self._pending[correlation] = fut
        try:
            self.send(address, path, manifest, blob, sender=self._address + _ASK_PATH,
                      correlation_id=correlation)
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

    def _on_readable(self) -> None:
        """Drains the transport's queue on the loop thread. A failure on
        one item is logged and costs that item only."""
        for item in self._transport.drain():
            kind = item[0]
            try:
                if kind == REMOTE_ENVELOPE:
                    if item[7] is None:
                        self._deliver(item[3], item[5], item[6], item[4])
                    else:
                        self._deliver_ask(item[3], item[4], item[5], item[6], item[7])
                elif kind == REMOTE_DROPPED:
                    self._dropped(item[1], item[2], item[3], item[4], item[5])
                else:
                    self._event(item[1], item[2], item[3], item[4])
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
        ref = self._lookup(recipient)
        if ref is None:
            _remote_dead_letter(self._system._core, msg, recipient)
            return
        try:
            if sender is None:
                ref.tell(msg)
            else:
                _remote_tell(ref, msg, self._sender_ref(sender))
        except AtomrError as exc:  # a full mailbox that fails the sender
            self._dropped_inbound += 1
            _log.warning("dropped a message for %s: %s", recipient, exc)

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
        ref = self._lookup(recipient)
        if ref is None:
            _remote_dead_letter(self._system._core, msg, recipient)
            self._answer_failure(sender, correlation, ActorTerminatedError(
                f"{recipient} does not exist; the message went to dead letters"))
            return
        answer = ref.ask(msg, None)
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
        try:
            manifest, blob = self._codecs.encode_message(fut.result())
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
        cf = self._pending.pop(correlation, None)
        if cf is None or cf.done():
            _log.debug("an answer to ask %d came after it ended", correlation)
            return
        try:
            if manifest == _ASK_FAILURE:
                failure = json.loads(payload)
                text = f"{failure.get('type')}: {failure.get('message')}"
                error: AtomrError = (ActorTerminatedError(failure.get("message", ""))
                                     if failure.get("type") == "ActorTerminatedError"
                                     else RemoteError(f"the remote handler failed: {text}"))
                cf.set_exception(error)
                return
            cf.set_result(self._codecs.decode(manifest, payload))
        except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
            pass  # the asker gave up at this very moment
        except (AtomrError, ValueError) as exc:
            try:
                cf.set_exception(exc)
            except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
                pass

    def _dropped(self, to: str, recipient: str, manifest: str, payload: bytes,
                 reason: str) -> None:
        try:
            msg: Any = self._codecs.decode(manifest, payload)
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
        pending, self._pending = self._pending, {}
        for cf in pending.values():
            if not cf.done():
                try:
                    cf.set_exception(RemoteError("the remote transport stopped before the "
                                                 "answer came"))
                except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
                    pass


def _expire(fut: "asyncio.Future[Any]", path: str, timeout: float) -> None:
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

    __slots__ = ("_remote", "_address", "_hostport", "_path")

    def __init__(self, remote: Remote, address: str, path: str) -> None:
        self._remote = remote
        self._address = address
        try:
            self._hostport: Optional[str] = parse_tcp_address(address)[1]
        except InvalidRemoteAddressError:  # a peer's sender path: sending to it raises
            self._hostport = None
        self._path = path

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

        Raises:
            TypeError: `sender` is not a ref.
            AtomrError: no codec for `msg`'s manifest in this system's registry.
            FrameTooLargeError: `msg` encodes to more than ``remote.max-frame-size``.
        """
        remote = self._remote
        sender_path = None if sender is None else remote._wire_path(sender)
        manifest, blob = remote._codecs.encode_message(msg)
        if self._hostport is None:
            remote.send(self._address, self._path, manifest, blob, sender=sender_path)
        else:
            remote._send_to(self._hostport, self._path, manifest, blob, sender_path, None)

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
        return self._remote._ask(self._address, self._path, msg, timeout)

    def ask_blocking(self, msg: Any, timeout: Optional[float] = 5.0) -> Any:
        """:meth:`ask` for a thread without a running loop: blocks (without
        the GIL) until the answer comes and returns it.

        Raises:
            RuntimeError: called on the system's own loop thread.
            AskTimeoutError, ActorTerminatedError, RemoteError: as :meth:`ask`.
        """
        _check_timeout(timeout)
        return self._remote._ask_blocking(self._address, self._path, msg, timeout)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteActorRef):
            return NotImplemented
        return self._path == other._path

    def __hash__(self) -> int:
        return hash(self._path)

    def __repr__(self) -> str:
        return f"<RemoteActorRef {self._path}>"
