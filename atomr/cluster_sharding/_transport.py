"""How the sharding nodes of a cluster reach each other.

* Systems whose clusters share a :class:`atomr.cluster.ClusterRegistry`
  (one process): the message object goes straight onto the receiving
  system's loop, unless the registry partitions the two nodes.
* Systems over TCP: the message travels through the system's remote
  transport (:class:`atomr.remote.Remote`) to the receiving node's
  ``/user/atomr-sharding`` actor, encoded with msgpack, its user payloads
  encoded by the sender's codec registry (and decoded by the receiver's),
  as every remote message is.

Messages to one node are batched: those sent before the sending system's
loop next runs go together (one remote envelope, one hop onto the
receiving loop). Both ways keep each (sender node, receiver node) link
FIFO, which the hand-off protocol relies on.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

import msgpack

from atomr.actor import Actor, props

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["Transport", "RECEIVER_NAME", "Wire"]

#: The name of the top-level actor that receives a node's sharding traffic.
RECEIVER_NAME = "atomr-sharding"

_DIRECTORY: "weakref.WeakValueDictionary[tuple[int, str], Any]" = weakref.WeakValueDictionary()
_DIRECTORY_LOCK = threading.Lock()

# Kinds whose item at index 4 is a user payload.
_PAYLOAD_KINDS = frozenset({"msg"})


class Wire:
    """A batch of sharding messages between nodes over TCP (its codec is
    the node's own)."""

    __slots__ = ("sender", "bodies")

    def __init__(self, sender: str, bodies: list[tuple[Any, ...]]) -> None:
        self.sender = sender
        self.bodies = bodies


_MANIFEST = f"{Wire.__module__}.{Wire.__qualname__}"


class _Receiver(Actor):
    def __init__(self, deliver: Callable[[str, list[tuple[Any, ...]]], None]) -> None:
        self._deliver = deliver

    def handle(self, ctx: Any, message: Any) -> None:
        if isinstance(message, Wire):
            self._deliver(message.sender, message.bodies)


class Transport:
    """The sharding link of one node."""

    def __init__(self, system: "ActorSystem", cluster: Any, address: str,
                 deliver: Callable[[str, list[tuple[Any, ...]]], None]) -> None:
        self.system = system
        self.address = address
        self.deliver = deliver
        self._lock = threading.Lock()
        self._outbox: dict[str, list[tuple[Any, ...]]] = {}
        self._scheduled = False
        self.registry = getattr(cluster, "_registry", None) if cluster is not None else None
        self.remote = getattr(cluster, "_remote", None) if cluster is not None else None
        self._key: Optional[tuple[int, str]] = None
        if self.registry is not None:
            self._key = (id(self.registry), address)
            with _DIRECTORY_LOCK:
                _DIRECTORY[self._key] = self
        elif self.remote is not None:
            remote = self.remote
            system.register_codec("atomr-sharding", self._encode, self._decode,
                                  manifests=[_MANIFEST], force=True)
            self._receiver = system.actor_of(
                props(_Receiver, factory=lambda: _Receiver(deliver)), RECEIVER_NAME)
            self._remote_encode = remote._encode
            self._remote_decode = remote._decode

    def close(self) -> None:
        if self._key is not None:
            with _DIRECTORY_LOCK:
                if _DIRECTORY.get(self._key) is self:
                    del _DIRECTORY[self._key]

    # -- sending -----------------------------------------------------------------

    def send(self, to: str, msg: tuple[Any, ...]) -> None:
        """Sends `msg` to the node at `to` (at most once; FIFO per link),
        in the batch the loop flushes next."""
        if self.registry is None and self.remote is None:
            return
        with self._lock:
            self._outbox.setdefault(to, []).append(msg)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.system.loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # the loop is closed: nothing goes out any more
            pass

    def _flush(self) -> None:
        with self._lock:
            outbox, self._outbox = self._outbox, {}
            self._scheduled = False
        for to, batch in outbox.items():
            if self.registry is not None:
                with _DIRECTORY_LOCK:
                    peer = _DIRECTORY.get((id(self.registry), to))
                if peer is None or self.registry.partitioned(self.address, to):
                    continue
                try:
                    peer.system.loop.call_soon_threadsafe(peer.deliver, self.address, batch)
                except RuntimeError:  # its loop is closed
                    pass
            elif self.remote is not None:
                try:
                    blob = self._encode(Wire(self.address, batch))
                    self.remote.send(to, f"{to}/user/{RECEIVER_NAME}", _MANIFEST, blob)
                except Exception:  # noqa: BLE001 - an unreachable peer loses the batch
                    pass

    # -- the codec over TCP ------------------------------------------------------------

    def _encode(self, wire: Wire) -> bytes:
        encode = self._remote_encode
        bodies = []
        for body in wire.bodies:
            if body[0] in _PAYLOAD_KINDS:
                body = (*body[:4], encode(body[4]), *body[5:])
            bodies.append(body)
        return msgpack.packb([wire.sender, bodies], use_bin_type=True)

    def _decode(self, blob: bytes) -> Wire:
        sender, bodies = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        decode = self._remote_decode
        out = []
        for body in bodies:
            if body[0] in _PAYLOAD_KINDS:
                manifest, data = body[4]
                body[4] = decode(manifest, data)
            out.append(tuple(body))
        return Wire(sender, out)
