"""The link: a :class:`RemoteSystem` moves pre-encoded messages between its
actor system and the one system at the other end of a byte stream.

All link state lives on the system's loop thread: the loop reads the
stream (``add_reader``), writes it non-blocking (``add_writer`` while
bytes wait) and decodes it with the C++ stream decoder
(``atomr._native._core._StreamDecoder``). Calls from other threads encode
and validate at the call site, then hand the frame to the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import os
import random
from collections import deque
from typing import Any, Awaitable, Generator, Generic, Optional, TypeVar

from atomr._native._core import (
    STREAM_CLOSE,
    STREAM_ENVELOPE,
    STREAM_ERROR,
    STREAM_HANDSHAKE,
    STREAM_HANDSHAKE_ACK,
    STREAM_HEARTBEAT,
    _EnvelopeEncoder,
    _remote_dead_letter,
    _stream_close,
    _stream_handshake,
    _stream_heartbeat,
    _StreamDecoder,
)
from atomr._util import public_module
from atomr.actor import ActorRef, ActorSystem
from atomr.remote_serial._devices import SerialTransport

__all__ = ["RemoteSystem", "RemoteActorRef", "SERIAL_SCHEME"]

_log = logging.getLogger("atomr.remote_serial")
T = TypeVar("T")

#: The scheme of the addresses of systems reached over a byte-stream link.
SERIAL_SCHEME = "akka.serial"
# The protocol version this link speaks (the wire format's).
_PROTOCOL_VERSION = 1
# The most bytes read from the stream per readable callback.
_READ_SIZE = 1 << 16
# The most inbound recipient paths whose elements are remembered.
_ROUTE_CACHE_SIZE = 1024
# How long shutdown() waits for written-but-queued bytes to leave.
_FLUSH_TIMEOUT = 2.0


def _split(path: str) -> tuple[str, str]:
    """``(system name, elements)`` of an actor path with an address
    (``scheme://system[@where]/user/...``).

    Raises:
        ValueError: `path` has no address or names no actor.
    """
    scheme, sep, rest = path.partition("://")
    authority, slash, elements = rest.partition("/")
    system = authority.partition("@")[0]
    if not sep or not scheme or not system or not slash or not elements.strip("/"):
        raise ValueError(f"`{path}` is not an actor path with an address "
                         f"({SERIAL_SCHEME}://<system>@<device>/user/<name>)")
    return system, "/" + elements


class _Outcome(Generic[T]):
    """An awaitable of a thread-safe future, usable from any event loop
    (awaiting it adapts the future to the awaiting loop); unlike a
    coroutine it may be dropped without being awaited."""

    __slots__ = ("_cf",)

    def __init__(self, cf: "concurrent.futures.Future[T]") -> None:
        self._cf = cf

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self._cf).__await__()


def _done(value: T) -> "concurrent.futures.Future[T]":
    cf: concurrent.futures.Future[T] = concurrent.futures.Future()
    cf.set_result(value)
    return cf


@public_module("atomr.remote_serial")
class RemoteSystem:
    """An actor system's end of a byte-stream link (:class:`SerialTransport`).

    The two ends exchange handshakes (system name and a random UID, the
    TCP transport's frames) and then envelopes of pre-encoded bytes: a
    :class:`RemoteActorRef` from :meth:`actor_selection` sends ``bytes``
    with a manifest, and the receiving end hands them, still ``bytes``, to
    the actor it :meth:`exposed <expose_actor>` at that path for that
    manifest. Nothing else is reachable over the link.

    Every frame is framed and checked by the C++ decoder the TCP transport
    uses. A bad frame (corruption, a lost byte, a frame over the limit) is
    logged, the link drops bytes until the peer's next handshake and
    re-handshakes to get one; envelopes in between are lost (delivery is
    at most once). A link that hits end of stream or an I/O error (the
    device went away) stays down: its messages become dead letters.

    Once the peer has answered, each end sends a heartbeat whenever it sent
    nothing for the transport's ``heartbeat_interval`` (the peer answers
    it), and declares the link down, as at end of stream, when it received
    nothing at all for ``idle_timeout``: a peer whose system hangs, or a
    device kept open but silent, is detected within about ``idle_timeout +
    heartbeat_interval`` seconds.

    Example:
        >>> a_end, b_end = SerialTransport.duplex_pair("a", "b")
        >>> link_a = await RemoteSystem.start_serial(system_a, a_end)  # doctest: +SKIP
        >>> link_a.register_bytes_codec("text")                        # doctest: +SKIP
        >>> echo = link_a.actor_selection("akka.serial://b@duplex-b/user/echo",
        ...                               "text")                      # doctest: +SKIP
        >>> echo.tell(b"hello")                                        # doctest: +SKIP
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use `await RemoteSystem.start_serial(system, transport)`")

    @staticmethod
    def start_serial(system: ActorSystem, transport: SerialTransport) -> Awaitable["RemoteSystem"]:
        """Opens `transport`'s device, starts the link on `system`'s loop
        and sends the first handshake; the awaitable resolves to the
        :class:`RemoteSystem` (it does not wait for the peer).

        Raises:
            TypeError: `system` is not an ActorSystem or `transport` not a
                SerialTransport.
            ValueError: the transport names another system.
            RuntimeError: the transport was already bound (a transport
                binds once) or closed.
            OSError: the device cannot be opened or configured.
            ActorSystemTerminatedError: `system` is terminating.
        """
        if not isinstance(system, ActorSystem):
            raise TypeError(f"system must be an ActorSystem, not {type(system).__name__}")
        if not isinstance(transport, SerialTransport):
            raise TypeError(f"transport must be a SerialTransport, not {type(transport).__name__}")
        if transport.system_name != system.name:
            raise ValueError(f"{transport!r} is for system {transport.system_name!r}, not "
                             f"{system.name!r}")
        system.check_live()
        transport._bind()
        try:
            fd = transport._open()
        except BaseException:
            transport._unbind()
            raise
        self = object.__new__(RemoteSystem)
        self._init(system, transport, fd)
        if system._core.on_loop_thread():
            self._attach()
            return _Outcome(_done(self))
        cf: concurrent.futures.Future[RemoteSystem] = concurrent.futures.Future()
        try:
            system.loop.call_soon_threadsafe(self._attach_then, cf)
        except RuntimeError:  # the loop is closed: the system is gone
            self._finish()
            raise
        return _Outcome(cf)

    def _init(self, system: ActorSystem, transport: SerialTransport, fd: int) -> None:
        self._system = system
        self._transport = transport
        self._fd = fd
        self._label = transport.label
        self._max_frame = transport.max_frame_size
        self._limit = transport.outbound_buffer_size
        self._address = f"{SERIAL_SCHEME}://{system.name}@{transport.label}"
        self._uid = random.SystemRandom().getrandbits(64) or 1
        self._decoder = _StreamDecoder(transport.max_frame_size)
        self._manifests: set[str] = set()
        self._exposed: dict[str, tuple[ActorRef, frozenset[str]]] = {}
        self._routes: dict[str, str] = {}  # inbound recipient path -> its elements
        # loop-thread state
        self._peer_name: Optional[str] = None
        self._peer_uid: Optional[int] = None
        self._peer_label: Optional[str] = None
        self._connected = False
        self._want_handshake = True
        self._timer: Optional[asyncio.TimerHandle] = None
        self._heartbeat_timer: Optional[asyncio.TimerHandle] = None
        self._heartbeat_due = 0.0
        self._heartbeat_sequence = 0
        self._last_sent = 0.0  # loop time of the last frame queued
        self._last_received = 0.0  # loop time of the last bytes read
        self._out = bytearray()
        self._writer = False
        self._flush_scheduled = False
        self._reader = False
        # envelopes waiting for the peer's handshake: (frame, recipient, payload, system)
        self._pending: deque[tuple[bytes, str, bytes, str]] = deque()
        self._pending_bytes = 0
        self._lost: Optional[str] = None  # why the stream is gone, once it is
        self._closing = False
        self._finished = False
        self._flush_timer: Optional[asyncio.TimerHandle] = None
        self._shutdown_done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loopback_logged = False
        self._peer_closed = False  # the peer sent a close frame (and no handshake since)
        self._stale = False  # frames after a resync of this side are ignored until a handshake
        self._stats = dict.fromkeys(
            ("bytes_read", "bytes_written", "envelopes_sent", "envelopes_received",
             "envelopes_dropped", "handshakes_sent", "handshakes_received", "decode_errors",
             "heartbeats_sent", "heartbeats_received"), 0)

    # -- what users see ---------------------------------------------------------------

    @property
    def local_address(self) -> str:
        """``akka.serial://<system>@<device label>``."""
        return self._address

    @property
    def system(self) -> ActorSystem:
        """The actor system this end belongs to."""
        return self._system

    @property
    def transport(self) -> SerialTransport:
        """The transport this end runs on."""
        return self._transport

    @property
    def uid(self) -> int:
        """This link's incarnation, sent in every handshake."""
        return self._uid

    @property
    def connected(self) -> bool:
        """Whether the peer's handshake has come (and no close since)."""
        return self._connected

    @property
    def outbound_buffered(self) -> int:
        """Bytes waiting to be written or for the peer's handshake (a
        producer can pace itself on it, like asyncio's write buffer size)."""
        return len(self._out) + self._pending_bytes

    @property
    def resynchronising(self) -> bool:
        """Whether the inbound side is discarding bytes until the peer's
        next handshake (before the first one, and after a bad frame)."""
        return bool(self._decoder.hunting)

    @property
    def peer_address(self) -> Optional[str]:
        """``akka.serial://<peer system>@<its device label>`` once the peer
        has handshaken, else None."""
        if self._peer_name is None:
            return None
        return f"{SERIAL_SCHEME}://{self._peer_name}@{self._peer_label}"

    @property
    def peer_uid(self) -> Optional[int]:
        """The peer's incarnation (UID) from its last handshake, or None."""
        return self._peer_uid

    def stats(self) -> dict[str, int]:
        """Counters since start: bytes read and written, envelopes sent,
        received and dropped, handshakes and heartbeats sent and received,
        decode errors and the bytes discarded while resynchronising."""
        out = dict(self._stats)
        out["bytes_discarded"] = self._decoder.bytes_discarded
        return out

    def register_bytes_codec(self, manifest: str) -> None:
        """Declares `manifest` as one this link carries as raw bytes: only
        registered manifests can be exposed, selected or received.

        Raises:
            TypeError: `manifest` is not a str.
            ValueError: `manifest` is empty.
        """
        if not isinstance(manifest, str):
            raise TypeError(f"manifest must be a str, not {type(manifest).__name__}")
        if not manifest:
            raise ValueError("manifest must not be empty")
        self._manifests.add(manifest)

    def _check_manifest(self, manifest: object) -> str:
        if not isinstance(manifest, str):
            raise TypeError(f"manifest must be a str, not {type(manifest).__name__}")
        if manifest not in self._manifests:
            raise ValueError(f"manifest {manifest!r} is not registered on this link; call "
                             f"register_bytes_codec({manifest!r}) first")
        return manifest

    def expose_actor(self, ref: ActorRef, manifest: str) -> None:
        """Makes the local actor `ref` reachable from the peer for messages
        of `manifest` (registered): their payloads are told to it as
        ``bytes``. An actor can be exposed for several manifests.

        Raises:
            TypeError: `ref` is not an ActorRef or `manifest` not a str.
            ValueError: `ref` belongs to another system, or `manifest` is
                not registered.
        """
        if not isinstance(ref, ActorRef):
            raise TypeError(f"ref must be an ActorRef, not {type(ref).__name__}")
        manifest = self._check_manifest(manifest)
        system, elements = _split(ref.path)
        if system != self._system.name:
            raise ValueError(f"{ref.path} is not an actor of system {self._system.name!r}")
        old = self._exposed.get(elements)
        manifests = frozenset({manifest})
        if old is not None and old[0] == ref:
            manifests |= old[1]
        self._exposed[elements] = (ref, manifests)

    def actor_selection(self, path: str, manifest: str) -> Optional["RemoteActorRef"]:
        """A ref that sends `manifest` (registered) messages to the actor
        at `path` on the peer (``akka.serial://<peer>@<device>/user/...``;
        only the system name of the address matters on a point-to-point
        link). None when `path` names a system other than the peer (the
        one that handshook, else the transport's expected ``peer``). Before
        any handshake, with no expected peer, the ref is returned and its
        messages wait for the peer, becoming dead letters if it turns out
        to be another system.

        Raises:
            TypeError: `path` or `manifest` is not a str.
            ValueError: `path` has no address or names no actor, or
                `manifest` is not registered.
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        manifest = self._check_manifest(manifest)
        system, _ = _split(path)
        if system == self._system.name:
            return None
        peer = self._peer_name or self._transport.peer
        if peer is not None and system != peer:
            return None
        return RemoteActorRef(self, path, manifest, system)

    def shutdown(self) -> Awaitable[None]:
        """Closes the link: unsent messages become dead letters, a close
        frame tells the peer, bytes already written get up to two seconds
        to leave, then the device is closed. Idempotent; awaitable from any
        loop."""
        self._request_shutdown(flush=True)
        return _Outcome(self._shutdown_done)

    def shutdown_blocking(self, timeout: Optional[float] = None) -> None:
        """:meth:`shutdown`, waiting on this thread (on the system's own loop
        thread it closes at once, without waiting for bytes to leave).

        Raises:
            TimeoutError: not closed within `timeout` seconds.
        """
        on_loop = self._system._core.on_loop_thread()
        self._request_shutdown(flush=not on_loop)
        try:
            self._shutdown_done.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"the link at {self._address} did not close within "
                               f"{timeout}s") from None

    def __repr__(self) -> str:
        state = ("closed" if self._finished else
                 f"connected to {self.peer_address}" if self._connected else "waiting for peer")
        return f"<RemoteSystem {self._address} {state}>"

    # -- sending (any thread) -----------------------------------------------------------

    def _post(self, frame: bytes, recipient: str, payload: bytes, system: str) -> None:
        if self._system._core.on_loop_thread():
            self._send_envelope(frame, recipient, payload, system)
            return
        try:
            self._system.loop.call_soon_threadsafe(self._send_envelope, frame, recipient,
                                                   payload, system)
        except RuntimeError:  # the loop is closed: the system (and the link) are gone
            self._stats["envelopes_dropped"] += 1
            _log.debug("message for %s dropped: the actor system has terminated", recipient)

    # -- the loop side --------------------------------------------------------------------

    def _attach_then(self, cf: "concurrent.futures.Future[RemoteSystem]") -> None:
        try:
            self._attach()
        except BaseException as exc:
            cf.set_exception(exc)
        else:
            cf.set_result(self)

    def _attach(self) -> None:
        loop = self._system.loop
        self._system.register_on_termination(self._on_system_terminated)
        if self._finished:
            return
        loop.add_reader(self._fd, self._on_readable)
        self._reader = True
        _log.info("serial link started at %s", self._address)
        self._send_handshake(ack=False)
        self._schedule_handshake()

    def _schedule_handshake(self) -> None:
        if self._timer is None and not self._finished:
            self._timer = self._system.loop.call_later(
                self._transport._handshake_interval, self._repeat_handshake)

    def _repeat_handshake(self) -> None:
        self._timer = None
        if self._want_handshake and not self._closing and self._lost is None:
            self._send_handshake(ack=False)
            self._schedule_handshake()

    def _send_handshake(self, ack: bool) -> None:
        self._stats["handshakes_sent"] += 1
        self._write(_stream_handshake(self._system.name, self._uid, self._label, 0, ack))

    def _write(self, data: bytes) -> None:
        """Queues `data`; what a loop iteration queues leaves in one write
        (at the end of the iteration), never blocking."""
        if self._lost is not None or self._finished:
            return
        self._out += data
        self._last_sent = self._system.loop.time()
        if not self._flush_scheduled and not self._writer:
            self._flush_scheduled = True
            self._system.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Writes what is queued; waits for writability if the stream is full."""
        self._flush_scheduled = False
        if self._lost is not None or self._finished:
            return
        if self._out:
            try:
                n = os.write(self._fd, self._out)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError as exc:
                self._link_lost(f"write failed: {exc}")
                return
            self._stats["bytes_written"] += n
            del self._out[:n]
        if self._out:
            if not self._writer:
                self._system.loop.add_writer(self._fd, self._flush)
                self._writer = True
            return
        self._remove_writer()
        if self._closing:
            self._finish()

    def _remove_writer(self) -> None:
        if self._writer:
            self._writer = False
            try:
                self._system.loop.remove_writer(self._fd)
            except Exception:  # the loop is closing
                pass

    def _send_envelope(self, frame: bytes, recipient: str, payload: bytes, system: str) -> None:
        if self._closing or self._finished or self._lost is not None:
            why = self._lost or "the link is shut down"
            self._dead_letter(payload, recipient, why)
            return
        if not self._connected:
            if self._pending_bytes + len(frame) > self._limit:
                self._dead_letter(payload, recipient, "outbound buffer full", warn=True)
                return
            self._pending.append((frame, recipient, payload, system))
            self._pending_bytes += len(frame)
            return
        if system != self._peer_name:
            self._dead_letter(payload, recipient, f"the peer is {self._peer_name!r}, not "
                              f"{system!r}", warn=True)
            return
        if len(self._out) + len(frame) > self._limit:
            self._dead_letter(payload, recipient, "outbound buffer full", warn=True)
            return
        self._stats["envelopes_sent"] += 1
        self._write(frame)

    def _dead_letter(self, payload: bytes, recipient: str, why: str, warn: bool = False) -> None:
        self._stats["envelopes_dropped"] += 1
        _log.log(logging.WARNING if warn else logging.DEBUG,
                 "serial link %s: message for %s dropped (%s)", self._label, recipient, why)
        try:
            _remote_dead_letter(self._system._core, payload, recipient)
        except Exception:  # the system is gone
            pass

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, deque()
        self._pending_bytes = 0
        for frame, recipient, payload, system in pending:
            self._send_envelope(frame, recipient, payload, system)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return
            self._link_lost(f"read failed: {exc}")
            return
        if not data:
            self._link_lost("end of stream")
            return
        self._stats["bytes_read"] += len(data)
        self._last_received = self._system.loop.time()
        for item in self._decoder.feed(data):
            try:
                self._handle(item)
            except Exception as exc:
                _log.error("serial link %s: could not handle a frame", self._label,
                           exc_info=exc)
            if self._finished or self._lost is not None:
                return

    def _resync(self) -> None:
        """Drops the inbound side's sync: the rest of this read's frames
        (decoded before) are ignored up to the next handshake, as the
        decoder ignores everything until one."""
        self._decoder.resync()
        self._stale = True

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if self._stale and kind not in (STREAM_HANDSHAKE, STREAM_HANDSHAKE_ACK, STREAM_ERROR):
            if kind == STREAM_ENVELOPE:
                self._stats["envelopes_dropped"] += 1
            return
        if kind == STREAM_ENVELOPE:
            self._deliver(item[1], item[3], item[4])
        elif kind in (STREAM_HANDSHAKE, STREAM_HANDSHAKE_ACK):
            self._handshake(kind == STREAM_HANDSHAKE, item[1], item[2], item[3], item[5])
        elif kind == STREAM_ERROR:
            self._stats["decode_errors"] += 1
            _log.warning("serial link %s: %s (%s); dropping bytes until the peer's next "
                         "handshake and asking for one", self._label, item[1], item[2])
            if not self._closing:
                self._want_handshake = True
                self._send_handshake(ack=False)
                self._schedule_handshake()
        elif kind == STREAM_HEARTBEAT:
            self._stats["heartbeats_received"] += 1
            self._write(_stream_heartbeat(item[1], True))
        elif kind == STREAM_CLOSE:
            _log.info("serial link %s: the peer %s closed the link (%s%s)", self._label,
                      self.peer_address, item[1], f": {item[2]}" if item[2] else "")
            self._connected = False
            self._peer_closed = True
            self._resync()  # its next incarnation starts with a handshake

    def _handshake(self, is_request: bool, name: str, uid: int, label: str,
                   protocol: int) -> None:
        self._stats["handshakes_received"] += 1
        if uid == self._uid and name == self._system.name:
            if not self._loopback_logged:
                self._loopback_logged = True
                _log.warning("serial link %s reads back its own handshake (an echoing or "
                             "looped line); ignored", self._label)
            self._resync()
            return
        refusal = None
        if protocol != _PROTOCOL_VERSION:
            refusal = f"protocol version {protocol} (this side speaks {_PROTOCOL_VERSION})"
        elif self._transport.peer is not None and name != self._transport.peer:
            refusal = f"system {name!r} where {self._transport.peer!r} was expected"
        elif name == self._system.name:
            refusal = f"a system of this system's own name {name!r}"
        if refusal is not None:
            _log.warning("serial link %s refused a handshake: %s", self._label, refusal)
            self._write(_stream_close("handshake_refused", refusal[:200]))
            self._resync()
            return
        if is_request and not self._closing:
            self._send_handshake(ack=True)
        self._want_handshake = False
        self._peer_closed = False
        self._stale = False
        if self._connected and uid == self._peer_uid:
            return  # the peer resynchronised
        if self._peer_uid is not None and uid != self._peer_uid:
            _log.info("serial link %s: the peer %s restarted (new UID)", self._label, name)
        self._peer_name, self._peer_uid, self._peer_label = name, uid, label
        self._connected = True
        _log.info("serial link %s associated with %s", self._label, self.peer_address)
        self._start_heartbeats()
        self._flush_pending()

    def _start_heartbeats(self) -> None:
        if self._heartbeat_timer is None and not self._finished:
            loop = self._system.loop
            self._last_received = loop.time()
            self._heartbeat_due = self._last_received + self._transport.heartbeat_interval
            self._heartbeat_timer = loop.call_later(self._transport.heartbeat_interval,
                                                    self._heartbeat)

    def _heartbeat(self) -> None:
        """Every heartbeat interval once associated: down if the peer was
        silent too long, else a heartbeat if this side was quiet."""
        self._heartbeat_timer = None
        if self._finished or self._closing or self._lost is not None or not self._connected:
            return  # the next association starts them again
        loop = self._system.loop
        now = loop.time()
        interval = self._transport.heartbeat_interval
        late = now - self._heartbeat_due
        if late > interval:
            # This side's own loop was stalled: a silence measured while it
            # could not read says nothing of the peer, so it does not count.
            self._last_received += late
        idle = now - self._last_received
        if idle >= self._transport.idle_timeout:
            self._on_readable()  # bytes waiting since the last turn count too
            if self._finished or self._lost is not None:
                return
            idle = now - self._last_received
        if idle >= self._transport.idle_timeout:
            self._link_lost(f"nothing received for {idle:.1f} s (idle_timeout "
                            f"{self._transport.idle_timeout:g} s)")
            return
        if now - self._last_sent >= interval * 0.9:
            self._heartbeat_sequence += 1
            self._stats["heartbeats_sent"] += 1
            self._write(_stream_heartbeat(self._heartbeat_sequence, False))
        self._heartbeat_due = now + interval
        self._heartbeat_timer = loop.call_later(interval, self._heartbeat)

    def _deliver(self, recipient: str, manifest: str, payload: bytes) -> None:
        self._stats["envelopes_received"] += 1
        elements = self._routes.get(recipient)
        if elements is None:
            try:
                elements = _split(recipient)[1]
            except ValueError:
                elements = recipient
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[recipient] = elements
        exposed = self._exposed.get(elements)
        if exposed is None or manifest not in exposed[1] or exposed[0].is_terminated():
            why = ("no actor is exposed there" if exposed is None else
                   f"manifest {manifest!r} is not exposed there" if manifest not in exposed[1]
                   else "the actor has stopped")
            self._stats["envelopes_dropped"] += 1
            _log.debug("serial link %s: inbound message for %s dropped (%s)", self._label,
                       recipient, why)
            _remote_dead_letter(self._system._core, payload, recipient)
            return
        exposed[0].tell(payload)

    def _link_lost(self, why: str) -> None:
        if self._lost is not None or self._finished:
            return
        self._lost = why
        self._connected = False
        # Expected after the peer's close frame or during this side's shutdown.
        level = logging.INFO if self._peer_closed or self._closing else logging.WARNING
        _log.log(level, "serial link %s lost: %s; its messages become dead letters",
                 self._label, why)
        self._remove_reader()
        self._remove_writer()
        self._out.clear()
        pending, self._pending = self._pending, deque()
        self._pending_bytes = 0
        for _, recipient, payload, _ in pending:
            self._dead_letter(payload, recipient, why)
        if self._closing:
            self._finish()

    def _remove_reader(self) -> None:
        if self._reader:
            self._reader = False
            try:
                self._system.loop.remove_reader(self._fd)
            except Exception:  # the loop is closing
                pass

    # -- closing --------------------------------------------------------------------------

    def _request_shutdown(self, flush: bool) -> None:
        if self._system._core.on_loop_thread():
            self._begin_shutdown(flush)
            return
        try:
            self._system.loop.call_soon_threadsafe(self._begin_shutdown, flush)
        except RuntimeError:  # the loop is closed; nothing else runs the link now
            self._finish()

    def _begin_shutdown(self, flush: bool) -> None:
        if self._closing or self._finished:
            return
        self._closing = True
        pending, self._pending = self._pending, deque()
        self._pending_bytes = 0
        for _, recipient, payload, _ in pending:
            self._dead_letter(payload, recipient, "the link is shut down")
        if self._lost is None:
            self._write(_stream_close("shutdown", ""))
        if not flush or self._lost is not None:
            self._finish()
            return
        # _flush finishes once everything queued is written.
        self._flush_timer = self._system.loop.call_later(_FLUSH_TIMEOUT, self._finish)

    def _on_system_terminated(self) -> None:
        if not self._finished:
            self._begin_shutdown(flush=False)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._closing = True
        self._connected = False
        for timer in (self._timer, self._flush_timer, self._heartbeat_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._flush_timer = self._heartbeat_timer = None
        self._remove_reader()
        self._remove_writer()
        if self._out and self._lost is None:
            with contextlib.suppress(OSError):  # a last try, without waiting
                del self._out[:os.write(self._fd, self._out)]
        if self._out:
            _log.debug("serial link %s: %d unsent bytes dropped at shutdown", self._label,
                       len(self._out))
            self._out.clear()
        self._transport.close()
        _log.info("serial link %s closed", self._label)
        if not self._shutdown_done.done():
            self._shutdown_done.set_result(None)


@public_module("atomr.remote_serial")
class RemoteActorRef:
    """A ref to an actor of the peer system, reached over a
    :class:`RemoteSystem`'s link (from :meth:`RemoteSystem.actor_selection`).

    It sends ``bytes`` with the manifest it was selected with; delivery is
    at most once and in order. Two refs are equal when their paths and
    manifests are.
    """

    __slots__ = ("_link", "_path", "_manifest", "_system", "_encoder")

    def __init__(self, link: RemoteSystem, path: str, manifest: str, system: str) -> None:
        self._link = link
        self._path = path
        self._manifest = manifest
        self._system = system
        self._encoder = _EnvelopeEncoder(path, manifest, link._max_frame)

    @property
    def path(self) -> str:
        """The actor's path on the peer, as selected."""
        return self._path

    @property
    def manifest(self) -> str:
        """The manifest its messages carry."""
        return self._manifest

    def tell(self, msg: bytes) -> None:
        """Sends the bytes `msg` without waiting (from any thread). If the
        peer has not handshaken yet it waits (within the outbound buffer);
        if the link is down or its buffer full it becomes a dead letter.

        Raises:
            TypeError: `msg` is not bytes, bytearray or memoryview.
            FrameTooLargeError: `msg` does not fit the maximum frame size.
        """
        if type(msg) is not bytes:
            if not isinstance(msg, (bytes, bytearray, memoryview)):
                raise TypeError(f"a serial link carries bytes, not {type(msg).__name__} "
                                f"(encode it first, e.g. with encode_json)")
            msg = bytes(msg)
        self._link._post(self._encoder.encode(msg), self._path, msg, self._system)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteActorRef):
            return NotImplemented
        return self._path == other._path and self._manifest == other._manifest

    def __hash__(self) -> int:
        return hash((self._path, self._manifest))

    def __repr__(self) -> str:
        return f"<RemoteActorRef {self._path} ({self._manifest})>"
