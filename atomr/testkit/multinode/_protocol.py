"""The wire protocol between the controller and its nodes: length-prefixed JSON
frames, and the link that reads and writes them.
"""

from __future__ import annotations

import json
import queue
import socket
import struct
import threading
import traceback
from typing import Any, Callable, Mapping, Optional, Union

#: Largest frame body (JSON bytes) either side accepts or sends.
MAX_FRAME_BYTES = 8 * 1024 * 1024

_PROTOCOL_VERSION = 1
_HEADER = struct.Struct(">I")
_HELLO_TIMEOUT = 10.0          # a connection must introduce itself within this
_BARRIER_GRACE = 5.0           # node-side slack over the controller's own barrier deadline
_MAX_TIMEOUT = 7 * 24 * 3600.0
_MAX_NAME_LEN = 200
_MAX_ERROR_TEXT = 64 * 1024
# -- framing ----------------------------------------------------------------------------


class _ProtocolError(Exception):
    """The peer broke the wire protocol; its connection is dropped."""


def _encode(obj: Mapping[str, Any]) -> bytes:
    """Encodes one frame.

    Raises:
        TypeError: `obj` is not JSON-serialisable.
        ValueError: the encoded frame exceeds :data:`MAX_FRAME_BYTES`.
    """
    body = json.dumps(obj, separators=(",", ":")).encode("ascii")
    if len(body) > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return _HEADER.pack(len(body)) + body


def _recv_exact(sock: socket.socket, n: int) -> Optional[bytes]:
    """Reads exactly `n` bytes; ``None`` on a clean EOF before the first byte."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            if not buf:
                return None
            raise _ProtocolError("connection closed in the middle of a frame")
        buf += chunk
    return bytes(buf)


def _read_frame(sock: socket.socket) -> Optional[dict[str, Any]]:
    """Reads one frame; ``None`` on a clean EOF between frames."""
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size == 0 or size > MAX_FRAME_BYTES:
        raise _ProtocolError(f"invalid frame length {size} (limit {MAX_FRAME_BYTES})")
    body = _recv_exact(sock, size)
    if body is None:
        raise _ProtocolError("connection closed in the middle of a frame")
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _ProtocolError(f"frame is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("op"), str):
        raise _ProtocolError("frame is not a JSON object with a string `op`")
    return obj


def _field(frame: Mapping[str, Any], key: str, kind: Union[type, tuple[type, ...]]) -> Any:
    value = frame.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _ProtocolError(f"`{frame.get('op')}` frame has a bad `{key}` field: {value!r}")
    return value


def _timeout_field(frame: Mapping[str, Any]) -> float:
    value = _field(frame, "timeout", (int, float))
    if not value > 0:
        raise _ProtocolError(f"`{frame.get('op')}` frame has a non-positive timeout")
    return min(float(value), _MAX_TIMEOUT)


_FLUSH_AND_CLOSE = object()
_STOP = object()


class _Link:
    """One framed TCP connection: a reader thread and a writer thread.

    `send` never blocks the caller (frames are queued for the writer), so a
    peer that stops reading cannot wedge the controller. `on_close(link,
    reason)` runs exactly once, on the reader thread, after the socket is shut.
    """

    def __init__(self, sock: socket.socket, on_frame: Callable[["_Link", dict], None],
                 on_close: Callable[["_Link", Optional[str]], None], label: str,
                 first_frame_timeout: Optional[float] = None) -> None:
        self.peer: Any = None
        self._sock = sock
        self._on_frame = on_frame
        self._on_close = on_close
        self._first_frame_timeout = first_frame_timeout
        self._out: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._shut = False
        self.closed = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name=f"atomr-mn-{label}-rx",
                                        daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name=f"atomr-mn-{label}-tx",
                                        daemon=True)

    def start(self) -> None:
        self._writer.start()
        self._reader.start()

    def send(self, obj: Mapping[str, Any]) -> bool:
        """Queues one frame; False if the link is already shut."""
        return self.send_bytes(_encode(obj))

    def send_bytes(self, data: bytes) -> bool:
        if self._shut:
            return False
        self._out.put(data)
        return True

    def close(self, flush: bool = False, timeout: float = 2.0) -> None:
        """Shuts the connection, after the queued frames were sent if `flush`."""
        if flush and not self._shut:
            self._out.put(_FLUSH_AND_CLOSE)
            if threading.current_thread() is not self._writer:
                self._writer.join(timeout)
        self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._out.put(_STOP)

    def _write_loop(self) -> None:
        while True:
            item = self._out.get()
            if item is _STOP:
                return
            if item is _FLUSH_AND_CLOSE:
                self._shutdown()
                return
            try:
                self._sock.sendall(item)
            except OSError:
                self._shutdown()
                return

    def _read_loop(self) -> None:
        reason: Optional[str] = None
        try:
            if self._first_frame_timeout is not None:
                self._sock.settimeout(self._first_frame_timeout)
                frame = _read_frame(self._sock)
                self._sock.settimeout(None)
                if frame is not None:
                    self._on_frame(self, frame)
                else:
                    return
            while True:
                frame = _read_frame(self._sock)
                if frame is None:
                    return
                self._on_frame(self, frame)
        except _ProtocolError as exc:
            reason = f"protocol error: {exc}"
        except socket.timeout:
            reason = "no frame within the handshake timeout"
        except OSError as exc:
            reason = f"connection error: {exc}"
        except Exception:  # a bug in a handler: drop this link, report it, keep serving
            reason = "internal error"
            traceback.print_exc()
        finally:
            self._shutdown()
            if threading.current_thread() is not self._writer:
                self._writer.join(2.0)
            try:
                self._sock.close()
            except OSError:
                pass
            self.closed.set()
            self._on_close(self, reason)
