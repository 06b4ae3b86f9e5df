"""Replication of a Replicator's keys between the members of a cluster.

The replicator of each node talks to the replicators of the other members
through a *link*:

* over TCP (the system's :class:`~atomr.remote.Remote`, which a cluster over
  TCP runs on): a top-level actor named :data:`ENDPOINT_NAME` on each node
  receives the other nodes' messages;
* over a :class:`~atomr.cluster.ClusterRegistry`: a transport of its own
  on the simulated network, next to the node's cluster daemon, whose links
  share the node's faults and partitions.

The protocol is Akka's replicator's, in short: every gossip interval each
node sends a *status* (a digest per key, in chunks) to a random reachable
member, which answers with the full states of the keys that differ and
asks for the ones it lacks or holds differently; updates are disseminated
at once as deltas (or as full states for types without deltas); the write
and read consistency levels send *write* / *read* messages to the other
members and count their acknowledgements / replies.

Messages are ``MAGIC`` + a length-prefixed JSON header + length-prefixed
blobs (CRDT states in the versioned wire format). Every received message
is validated: a malformed header is logged and dropped; a malformed state
is logged and dropped and its sender is not trusted for that key again.
"""

from __future__ import annotations

import json
import logging
import struct
from typing import TYPE_CHECKING, Any, Callable, Optional

from atomr._native import _core as _n
from atomr.errors import MalformedDataError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

_log = logging.getLogger("atomr.ddata")

#: The top-level actor receiving the replicator's messages over TCP.
ENDPOINT_NAME = "ddataReplicator"
#: The name of the replicator's transport next to a node on a ClusterRegistry.
COMPANION_NAME = "ddata"

MAGIC = b"DDR\x01"
_LEN = struct.Struct(">I")
#: At most this many blob bytes per message (the frame limit is 4 MiB by default).
MAX_MESSAGE_BYTES = 1 << 20

Handler = Callable[[dict[str, Any], list[bytes]], None]


def encode(header: dict[str, Any], blobs: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    """One message: MAGIC, the JSON `header`, then each blob, length-prefixed."""
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    parts = [MAGIC, _LEN.pack(len(head)), head, _LEN.pack(len(blobs))]
    for blob in blobs:
        parts.append(_LEN.pack(len(blob)))
        parts.append(blob)
    return b"".join(parts)


def decode(payload: Any) -> tuple[dict[str, Any], list[bytes]]:
    """The header and blobs of a message from :func:`encode`.

    Raises:
        MalformedDataError: `payload` is not such a message.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise MalformedDataError(f"a replicator message must be bytes, not "
                                 f"{type(payload).__name__}")
    data = bytes(payload)
    if not data.startswith(MAGIC):
        raise MalformedDataError("not a replicator message (bad magic or version)")
    i = len(MAGIC)
    try:
        (n,) = _LEN.unpack_from(data, i)
        i += 4
        if i + n > len(data):
            raise MalformedDataError("a truncated replicator message header")
        header = json.loads(data[i:i + n].decode("utf-8"))
        i += n
        (count,) = _LEN.unpack_from(data, i)
        i += 4
        blobs = []
        for _ in range(count):
            (m,) = _LEN.unpack_from(data, i)
            i += 4
            if i + m > len(data):
                raise MalformedDataError("a truncated replicator message blob")
            blobs.append(data[i:i + m])
            i += m
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, MalformedDataError):
            raise
        raise MalformedDataError(f"a malformed replicator message: {exc}") from exc
    if i != len(data):
        raise MalformedDataError("trailing bytes after a replicator message")
    if not isinstance(header, dict) or not isinstance(header.get("t"), str) or \
            not isinstance(header.get("f"), str):
        raise MalformedDataError("a replicator message header without type and sender")
    return header, blobs


class Link:
    """How one node's replicator reaches the others (see the module)."""

    def send(self, to: str, payload: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SimLink(Link):
    """Over a ClusterRegistry: a transport at ``<node address>#ddata``."""

    def __init__(self, system: "ActorSystem", cluster: Any, deliver: Callable[[bytes], None]
                 ) -> None:
        self._system = system
        self._deliver = deliver
        self._t = cluster._registry._companion(cluster, COMPANION_NAME)
        self._t.start()
        self._closed = False
        system.loop.call_soon_threadsafe(self._add_reader)

    def _add_reader(self) -> None:
        if not self._closed:
            self._system.loop.add_reader(self._t.fd, self._drain)

    def _drain(self) -> None:
        for item in self._t.drain():
            if item[0] == _n.REMOTE_ENVELOPE:
                self._deliver(item[6])

    def send(self, to: str, payload: bytes) -> None:
        try:
            self._t.send(f"{to}#{COMPANION_NAME}", "/ddata", "ddata", payload)
        except Exception as exc:  # noqa: BLE001 - a peer that is gone
            _log.debug("ddata: cannot send to %s: %s", to, exc)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._system.loop.remove_reader(self._t.fd)
        except Exception:  # noqa: BLE001 - the loop is closing
            pass
        self._t.stop()


class TcpLink(Link):
    """Over the system's remote transport: an actor named
    :data:`ENDPOINT_NAME` receives, :meth:`Remote.send` sends."""

    def __init__(self, system: "ActorSystem", remote: Any, deliver: Callable[[bytes], None]
                 ) -> None:
        from atomr.actor import Actor, props

        class _Endpoint(Actor):
            def handle(self, ctx: Any, msg: Any) -> Any:
                deliver(msg)
                return None

        self._remote = remote
        self._path = f"/user/{ENDPOINT_NAME}"
        self._manifest: Optional[str] = None
        self._ref = system.actor_of(props(_Endpoint, factory=_Endpoint), ENDPOINT_NAME)

    def send(self, to: str, payload: bytes) -> None:
        manifest, blob = self._remote._encode(payload)
        try:
            self._remote.send(to, self._path, manifest, blob)
        except Exception as exc:  # noqa: BLE001 - a peer that cannot be reached
            _log.debug("ddata: cannot send to %s: %s", to, exc)

    def close(self) -> None:
        try:
            self._ref.stop()
        except Exception:  # noqa: BLE001 - the system is gone
            pass
