"""Out-of-process multi-node tests: a barrier controller and its node processes.

A test creates a :class:`MultiNodeOopController`, which listens on a local TCP
port, and starts node processes with :meth:`MultiNodeOopController.spawn_node`.
Each node process connects back as a :class:`MultiNodeOopNode`, usually
creates its own :class:`atomr.ActorSystem`, and then

* synchronises with the other nodes through named barriers
  (:meth:`MultiNodeOopNode.barrier`), and
* serves *steps* the test runs on it by name
  (:meth:`MultiNodeOopController.run_on`), returning JSON results.

The controller owns every process it started: :meth:`shutdown` (also run by
the context manager, the ``multinode`` pytest fixture and an ``atexit`` hook)
asks nodes to stop, then sends SIGTERM and finally SIGKILL to whatever is
left. Each node also exits on its own when the test process dies.

Example:
    >>> def node_main(node):
    ...     system = ActorSystem.create_blocking(node.name)
    ...     ref = system.actor_of(props(Echo), "echo")
    ...     node.register_step("echo", lambda node, msg: ref.ask_blocking(msg))
    ...     node.barrier("up")
    ...     node.serve_steps()
    ...     system.terminate_blocking()
    >>> with MultiNodeOopController(2) as controller:           # doctest: +SKIP
    ...     for name in ("a", "b"):
    ...         controller.spawn_node(name, node_main)
    ...     assert controller.timeout_barrier("up", 20.0) == 2
    ...     assert controller.run_on("a", "echo", None, "hi") == "hi"

Wire protocol (internal): every frame is a 4-byte big-endian length followed
by that many bytes of UTF-8 JSON encoding one object with an ``"op"`` key;
frames are limited to :data:`MAX_FRAME_BYTES`. A connection that sends a
malformed or oversized frame is dropped; the others are unaffected.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import inspect
import itertools
import json
import os
import pickle
import queue
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Callable, Iterator, Mapping, Optional, Union

from atomr.errors import AtomrError

__all__ = [
    "MAX_FRAME_BYTES",
    "BarrierTimeoutError",
    "MultiNodeError",
    "MultiNodeOopController",
    "MultiNodeOopNode",
    "MultiNodeTimeoutError",
    "NodeHandle",
    "multinode",
]

#: Largest frame body (JSON bytes) either side accepts or sends.
MAX_FRAME_BYTES = 8 * 1024 * 1024

_PROTOCOL_VERSION = 1
_HEADER = struct.Struct(">I")
_HELLO_TIMEOUT = 10.0          # a connection must introduce itself within this
_BARRIER_GRACE = 5.0           # node-side slack over the controller's own barrier deadline
_MAX_TIMEOUT = 7 * 24 * 3600.0
_MAX_NAME_LEN = 200
_MAX_ERROR_TEXT = 64 * 1024
_BOOTSTRAP = "from atomr.testkit._multinode import _node_main; _node_main()"

_LIVE_CONTROLLERS: "set[MultiNodeOopController]" = set()
_LIVE_LOCK = threading.Lock()


# -- errors ---------------------------------------------------------------------------


class MultiNodeError(AtomrError):
    """A multi-node test operation failed.

    Raised by :meth:`MultiNodeOopController.run_on` when the step failed in
    the node (the message then holds the remote exception and traceback)
    or the node went away.

    Attributes:
        node: Name of the node concerned, when there is one.
        step: Label of the step that failed, for ``run_on`` failures.
        remote_type: ``module.QualName`` of the exception raised in the node.
        remote_traceback: The node's formatted traceback text.
    """

    node: Optional[str] = None
    step: Optional[str] = None
    remote_type: Optional[str] = None
    remote_traceback: Optional[str] = None


class MultiNodeTimeoutError(MultiNodeError, TimeoutError):
    """A multi-node operation did not finish within its timeout."""


class BarrierTimeoutError(MultiNodeTimeoutError):
    """A barrier could not be passed.

    Raised by :meth:`MultiNodeOopNode.barrier` when the barrier timed out
    (the node's own timeout or the controller's ``timeout_barrier``), failed
    on the controller (a node disconnected unexpectedly, the controller shut
    down) or the connection to the controller was lost.
    """


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


# -- small helpers ----------------------------------------------------------------------------


def _parse_addr(addr: Union[str, tuple[str, int]]) -> tuple[str, int]:
    if isinstance(addr, tuple) and len(addr) == 2:
        host, port = addr
    elif isinstance(addr, str):
        if addr.startswith("["):
            host, sep, rest = addr[1:].partition("]")
            port = rest[1:] if sep and rest.startswith(":") else ""
        else:
            host, _, port = addr.rpartition(":")
        try:
            port = int(port)
        except ValueError:
            raise ValueError(f"controller address must be 'host:port', got {addr!r}") from None
    else:
        raise TypeError(f"controller address must be a 'host:port' str, not {type(addr).__name__}")
    if not host or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"controller address must be 'host:port', got {addr!r}")
    return host, port


def _check_timeout(value: Any, what: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return min(float(value), _MAX_TIMEOUT)


def _check_label(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return value


def _function_ref(fn: Union[str, Callable[..., Any]]) -> str:
    """``"module:qualname"`` for a module-level function (or a checked string)."""
    if isinstance(fn, str):
        module, sep, attr = fn.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"expected a 'module:function' reference, got {fn!r}")
        return fn
    if not callable(fn):
        raise TypeError(f"expected a function or a 'module:function' str, not {type(fn).__name__}")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise ValueError(f"{fn!r} is not importable by name in another process; pass a "
                         "module-level function or a 'module:function' str")
    return f"{module}:{qualname}"


def _resolve_ref(ref: str) -> Callable[..., Any]:
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{ref} is not callable")
    return obj


def _clip(text: str, limit: int = _MAX_ERROR_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "\n[... truncated ...]\n" + text[-limit // 2:]


def _safe_str(obj: Any) -> str:
    try:
        return str(obj)
    except BaseException:
        return f"<unprintable {type(obj).__name__}>"


def _qualified_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _run_awaitable(awaitable: Any) -> Any:
    async def drive() -> Any:
        return await awaitable

    return asyncio.run(drive())


# -- the node (runs in the node process) -----------------------------------------------------------------


class _Waiter:
    __slots__ = ("event", "ok", "reason")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False
        self.reason = ""


class MultiNodeOopNode:
    """One node's connection to a :class:`MultiNodeOopController`.

    Created with :meth:`connect` (``spawn_node`` does that and hands the node
    to the target function). Steps the controller runs with ``run_on`` are
    executed one at a time, in arrival order, on a background thread of this
    node, so they run while the node's own code waits at a barrier or in
    :meth:`serve_steps`. Every step function is called as
    ``fn(node, *args)``; its result is sent back as JSON (an awaitable
    result is awaited first, on a fresh event loop).

    Attributes:
        state: A free dict for the node's own code to share objects (the
            actor system, refs) with steps given as ``"module:function"``.
    """

    __slots__ = ("state", "_name", "_expected", "_addr", "_lock", "_cond", "_steps",
                 "_barriers", "_ids", "_stop_requested", "_lost", "_closed", "_done",
                 "_work", "_link", "_worker")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use MultiNodeOopNode.connect(addr)")

    @staticmethod
    def connect(addr: Union[str, tuple[str, int]], name: Optional[str] = None,
                timeout: float = 10.0) -> "MultiNodeOopNode":
        """Connects to a controller and introduces this node.

        Args:
            addr: The controller's :attr:`~MultiNodeOopController.local_addr`
                (``"host:port"``).
            name: This node's name; ``None`` lets the controller pick one
                (``node-1``, ``node-2``, ...).
            timeout: Seconds to keep trying to connect and complete the handshake.

        Returns:
            The connected node.

        Raises:
            MultiNodeTimeoutError: no connection within `timeout`.
            MultiNodeError: the controller refused the node (for example the
                name is taken by a connected node) or the handshake failed.
        """
        host, port = _parse_addr(addr)
        timeout = _check_timeout(timeout, "timeout")
        if name is not None:
            _check_label(name, "node name")
        shown = addr if isinstance(addr, str) else f"{host}:{port}"
        deadline = time.monotonic() + timeout
        sock = _connect_with_retry(host, port, deadline, shown)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.05))
            sock.sendall(_encode({"op": "hello", "v": _PROTOCOL_VERSION, "name": name,
                                  "pid": os.getpid()}))
            frame = _read_frame(sock)
            sock.settimeout(None)
        except socket.timeout:
            sock.close()
            raise MultiNodeTimeoutError(f"no handshake from the controller at {shown} "
                                        f"within {timeout:g}s") from None
        except (OSError, _ProtocolError) as exc:
            sock.close()
            raise MultiNodeError(f"handshake with the controller at {shown} failed: {exc}") \
                from None
        if frame is None or frame["op"] != "welcome":
            sock.close()
            why = frame.get("error") if frame is not None else "connection closed"
            raise MultiNodeError(f"the controller at {shown} refused the node: {why}")
        node = object.__new__(MultiNodeOopNode)
        node._setup(sock, frame, shown)
        return node

    def _setup(self, sock: socket.socket, welcome: dict[str, Any], addr: str) -> None:
        self.state: dict[str, Any] = {}
        self._name = str(welcome.get("name"))
        self._expected = int(welcome.get("expected", 0))
        self._addr = addr
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._steps: dict[str, Callable[..., Any]] = {}
        self._barriers: dict[int, _Waiter] = {}
        self._ids = itertools.count(1)
        self._stop_requested = False
        self._lost = False
        self._closed = False
        self._done = threading.Event()
        self._work: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._link = _Link(sock, self._on_frame, self._on_link_closed, f"node-{self._name}")
        self._worker = threading.Thread(target=self._work_loop,
                                        name=f"atomr-mn-node-{self._name}-steps", daemon=True)
        self._worker.start()
        self._link.start()

    # -- properties ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """This node's name (given to ``connect`` or assigned by the controller)."""
        return self._name

    @property
    def expected_nodes(self) -> int:
        """How many nodes a barrier waits for."""
        return self._expected

    @property
    def controller_addr(self) -> str:
        """The controller's ``"host:port"``."""
        return self._addr

    @property
    def connected(self) -> bool:
        """True until the node is closed or the connection is lost."""
        return not (self._closed or self._lost)

    # -- barriers ------------------------------------------------------------------------

    def barrier(self, label: str, timeout: float = 30.0) -> None:
        """Blocks until ``expected_nodes`` nodes have reached barrier `label`.

        Barriers with the same label form successive rounds: once a round
        passes (or fails), the next arrival at `label` starts a new one.

        Args:
            label: The barrier's name.
            timeout: Seconds to wait; when they pass the controller fails the
                barrier for every node waiting at it.

        Raises:
            BarrierTimeoutError: the barrier timed out or failed (see the
                class), or the connection to the controller is gone.
            MultiNodeError: the node was closed.
        """
        _check_label(label, "barrier label")
        timeout = _check_timeout(timeout, "timeout")
        waiter = _Waiter()
        with self._lock:
            if self._closed:
                raise MultiNodeError(f"node `{self._name}` is closed")
            if self._lost:
                raise BarrierTimeoutError(f"barrier `{label}` on node `{self._name}`: the "
                                          "connection to the controller is lost")
            rid = next(self._ids)
            self._barriers[rid] = waiter
        self._link.send({"op": "barrier", "id": rid, "label": label, "timeout": timeout})
        waiter.event.wait(timeout + _BARRIER_GRACE)
        with self._lock:
            self._barriers.pop(rid, None)
        if not waiter.event.is_set():
            self._link.send({"op": "cancel_barrier", "id": rid, "label": label})
            raise BarrierTimeoutError(f"barrier `{label}` on node `{self._name}`: no answer "
                                      f"from the controller within {timeout:g}s")
        if not waiter.ok:
            raise BarrierTimeoutError(f"barrier `{label}` failed on node `{self._name}`: "
                                      f"{waiter.reason}")

    # -- steps ----------------------------------------------------------------------------

    def register_step(self, label: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """Registers `fn` as the step `label` (usable as a decorator).

        ``run_on(name, label, None, *args)`` then calls ``fn(node, *args)``
        here. A request that arrives before the registration waits for it
        (for most of the request's timeout).

        Returns:
            `fn` (or, without `fn`, a decorator registering its argument).
        """
        _check_label(label, "step label")
        if fn is None:
            return lambda f: self.register_step(label, f)
        if not callable(fn):
            raise TypeError(f"step must be callable, not {type(fn).__name__}")
        with self._cond:
            self._steps[label] = fn
            self._cond.notify_all()
        return fn

    def serve_steps(self, timeout: Optional[float] = None) -> bool:
        """Blocks while steps are served, until the controller says stop.

        Steps run on the node's step thread whether or not this is called;
        this only keeps the caller (typically the node's main function,
        which owns the actor system) waiting until the controller calls
        :meth:`~MultiNodeOopController.stop_serving` or shuts down, or the
        connection closes.

        Args:
            timeout: Seconds to wait at most; ``None`` waits indefinitely.

        Returns:
            True if the controller asked to stop, False if the connection
            closed first.

        Raises:
            MultiNodeTimeoutError: `timeout` passed first.
        """
        if timeout is not None:
            timeout = _check_timeout(timeout, "timeout", allow_zero=True)
        if not self._done.wait(timeout):
            raise MultiNodeTimeoutError(f"node `{self._name}`: no stop request within "
                                        f"{timeout:g}s")
        with self._lock:
            return self._stop_requested

    def close(self) -> None:
        """Says goodbye to the controller and closes the connection (idempotent).

        Leaving this way is intentional: barriers other nodes wait at are not
        failed because of it.
        """
        self._close(None)

    def _close(self, failure: Optional[str]) -> None:
        # `failure` set: the node's code failed; the controller then treats the
        # departure like a crash and fails pending barriers.
        with self._cond:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._barriers.values())
            self._cond.notify_all()
        bye: dict[str, Any] = {"op": "bye"}
        if failure is not None:
            bye["failed"] = _clip(failure, 4096)
        self._link.send(bye)
        self._link.close(flush=True)
        for waiter in waiters:
            waiter.reason = "the node was closed"
            waiter.event.set()
        self._work.put(_STOP)
        self._done.set()

    def __enter__(self) -> "MultiNodeOopNode":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "closed"
        return f"<MultiNodeOopNode {self._name} {state} controller={self._addr}>"

    # -- link callbacks (reader thread) ------------------------------------------------------

    def _on_frame(self, link: _Link, frame: dict[str, Any]) -> None:
        op = frame["op"]
        if op in ("barrier_ok", "barrier_fail"):
            with self._lock:
                waiter = self._barriers.get(frame.get("id"))  # type: ignore[arg-type]
            if waiter is not None:
                waiter.ok = op == "barrier_ok"
                waiter.reason = str(frame.get("reason", ""))
                waiter.event.set()
        elif op == "run":
            self._work.put(frame)
        elif op == "stop":
            with self._lock:
                self._stop_requested = True
            self._done.set()
        # Unknown ops from the controller are ignored (forward compatibility).

    def _on_link_closed(self, link: _Link, reason: Optional[str]) -> None:
        with self._cond:
            self._lost = True
            waiters = list(self._barriers.values())
            self._cond.notify_all()
        why = "the connection to the controller was lost" + (f" ({reason})" if reason else "")
        for waiter in waiters:
            if not waiter.event.is_set():
                waiter.reason = why
                waiter.event.set()
        self._work.put(_STOP)
        self._done.set()

    # -- step thread ---------------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            request = self._work.get()
            if request is _STOP:
                return
            try:
                data = self._run_request(request)
            except BaseException:  # never let the step thread die
                data = _encode({"op": "result", "id": request.get("id"), "ok": False,
                                "type": "MultiNodeError", "traceback": "",
                                "message": "the node could not report the step's outcome"})
            self._link.send_bytes(data)

    def _run_request(self, request: dict[str, Any]) -> bytes:
        rid = request.get("id")
        label = str(request.get("step"))
        try:
            fn = self._resolve_step(label, request.get("target"), request.get("timeout"))
            args = request.get("args") or []
            value = fn(self, *args)
            if inspect.isawaitable(value):
                value = _run_awaitable(value)
        except BaseException as exc:  # reported to the controller, never raised here
            return _encode({"op": "result", "id": rid, "ok": False, "type": _qualified_type(exc),
                            "message": _clip(_safe_str(exc)),
                            "traceback": _clip(traceback.format_exc())})
        try:
            return _encode({"op": "result", "id": rid, "ok": True, "value": value})
        except (TypeError, ValueError) as exc:
            return _encode({"op": "result", "id": rid, "ok": False, "type": type(exc).__name__,
                            "message": f"the step's result cannot be sent back as JSON: "
                                       f"{_clip(str(exc), 4096)}", "traceback": ""})

    def _resolve_step(self, label: str, target: Any, timeout: Any) -> Callable[..., Any]:
        if isinstance(target, str) and target:
            return _resolve_ref(target)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            timeout = 30.0
        # Leave the controller time to receive the "not registered" answer.
        deadline = time.monotonic() + max(0.0, timeout - min(1.0, timeout * 0.2))
        with self._cond:
            while label not in self._steps:
                if self._lost or self._closed:
                    raise MultiNodeError(f"node `{self._name}` is shutting down")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    known = ", ".join(sorted(self._steps)) or "none"
                    raise MultiNodeError(f"no step `{label}` is registered on node "
                                         f"`{self._name}` (registered: {known})")
                self._cond.wait(remaining)
            return self._steps[label]


def _connect_with_retry(host: str, port: int, deadline: float, shown: str) -> socket.socket:
    while True:
        remaining = deadline - time.monotonic()
        try:
            sock = socket.create_connection((host, port), timeout=max(remaining, 0.05))
        except (ConnectionRefusedError, ConnectionResetError) as exc:
            if time.monotonic() + 0.05 >= deadline:
                raise MultiNodeTimeoutError(f"could not connect to the controller at {shown}: "
                                            f"{exc}") from None
            time.sleep(0.05)  # retry backoff while the controller comes up
            continue
        except socket.timeout:
            raise MultiNodeTimeoutError(f"could not connect to the controller at {shown} "
                                        "in time") from None
        except OSError as exc:
            raise MultiNodeError(f"could not connect to the controller at {shown}: {exc}") \
                from None
        sock.settimeout(None)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return sock


# -- node processes -----------------------------------------------------------------------------------------


class NodeHandle:
    """A node process started by :meth:`MultiNodeOopController.spawn_node`.

    The process's stdout and stderr go to files owned by the controller;
    :attr:`stdout`, :attr:`stderr` and :meth:`diagnostics` read them (they
    stay readable after the controller shut down).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("NodeHandle objects are created by MultiNodeOopController.spawn_node()")

    @classmethod
    def _new(cls, controller: "MultiNodeOopController", name: str, proc: subprocess.Popen,
             out_path: str, err_path: str) -> "NodeHandle":
        self = object.__new__(cls)
        self._controller = controller
        self._name = name
        self._proc = proc
        self._out_path = out_path
        self._err_path = err_path
        self._captured: Optional[tuple[str, str]] = None
        return self

    @property
    def name(self) -> str:
        """The node's name."""
        return self._name

    @property
    def pid(self) -> int:
        """The node process's id."""
        return self._proc.pid

    @property
    def returncode(self) -> Optional[int]:
        """The exit code, ``None`` while the process runs (negative: killed by that signal)."""
        return self._proc.poll()

    def is_alive(self) -> bool:
        """True while the process runs."""
        return self._proc.poll() is None

    def wait(self, timeout: Optional[float] = None) -> int:
        """Waits for the process to exit and returns its exit code.

        Raises:
            MultiNodeTimeoutError: still running after `timeout` seconds.
        """
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise MultiNodeTimeoutError(f"node `{self._name}` (pid {self.pid}) still runs "
                                        f"after {timeout:g}s") from None

    def kill(self) -> None:
        """Sends SIGKILL to the node (and anything it started).

        The node's disconnection is then expected: barriers other nodes wait
        at are not failed because of it.
        """
        self._controller._expect_leave(self._name)
        self._send_signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    def terminate(self) -> None:
        """Sends SIGTERM to the node (an expected departure, like :meth:`kill`)."""
        self._controller._expect_leave(self._name)
        self._send_signal(signal.SIGTERM)

    def _send_signal(self, sig: int) -> None:
        if self._proc.poll() is not None:
            return
        killpg = getattr(os, "killpg", None)
        try:
            if killpg is not None:
                killpg(self._proc.pid, sig)  # the node leads its own process group
            else:
                self._proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    @property
    def stdout(self) -> str:
        """Everything the node wrote to stdout so far."""
        return self._captured[0] if self._captured else _read_text(self._out_path)

    @property
    def stderr(self) -> str:
        """Everything the node wrote to stderr so far (tracebacks land here)."""
        return self._captured[1] if self._captured else _read_text(self._err_path)

    def diagnostics(self, tail: int = 8000) -> str:
        """A report of the node's state and the tail of its output, for failing tests."""
        out, err = self.stdout, self.stderr
        return (f"--- node `{self._name}` pid {self.pid} returncode {self.returncode} ---\n"
                f"[stdout]\n{out[-tail:]}\n[stderr]\n{err[-tail:]}")

    def _capture(self) -> None:
        if self._captured is None:
            self._captured = (_read_text(self._out_path), _read_text(self._err_path))

    def __repr__(self) -> str:
        rc = self.returncode
        state = "running" if rc is None else f"exited {rc}"
        return f"<NodeHandle {self._name} pid={self.pid} {state}>"


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


# -- the controller ----------------------------------------------------------------------------------------


class _Peer:
    __slots__ = ("link", "name", "pid", "calls", "said_bye", "failure")

    def __init__(self, link: _Link, name: str, pid: Optional[int]) -> None:
        self.link = link
        self.name = name
        self.pid = pid
        self.calls: dict[int, _Call] = {}
        self.said_bye = False
        self.failure: Optional[str] = None


class _Call:
    __slots__ = ("step", "event", "value", "error")

    def __init__(self, step: str) -> None:
        self.step = step
        self.event = threading.Event()
        self.value: Any = None
        self.error: Optional[MultiNodeError] = None

    def fail(self, error: MultiNodeError) -> None:
        if not self.event.is_set():
            self.error = error
            self.event.set()


class _Round:
    __slots__ = ("label", "arrivals", "deadline", "deadline_timeout", "state", "count",
                 "reason", "observers")

    def __init__(self, label: str) -> None:
        self.label = label
        self.arrivals: dict[str, tuple[_Peer, int]] = {}
        self.deadline: Optional[float] = None
        self.deadline_timeout = 0.0
        self.state = "open"            # "open" | "passed" | "failed"
        self.count = 0
        self.reason = ""
        self.observers = 0


class MultiNodeOopController:
    """Barrier server and process manager of an out-of-process multi-node test.

    Listens on `host` with a kernel-assigned port (see :attr:`local_addr`);
    a background thread accepts nodes and enforces barrier deadlines, and
    each connection has its own reader and writer threads, so one slow,
    broken or vanished node never blocks the others.

    Nodes that disconnect *unexpectedly* (crash, or close the socket without
    :meth:`MultiNodeOopNode.close`) fail every pending barrier, so the others
    stop waiting at once; nodes stopped through :meth:`NodeHandle.kill` or
    that close cleanly just leave.

    Use it as a context manager, or call :meth:`shutdown`; an ``atexit`` hook
    shuts down controllers still running when the interpreter exits.

    Args:
        expected_nodes: How many nodes each barrier waits for (>= 1).
        host: Interface to listen on.
    """

    def __init__(self, expected_nodes: int, host: str = "127.0.0.1") -> None:
        if isinstance(expected_nodes, bool) or not isinstance(expected_nodes, int):
            raise TypeError(f"expected_nodes must be an int, not {type(expected_nodes).__name__}")
        if expected_nodes < 1:
            raise ValueError(f"expected_nodes must be >= 1, got {expected_nodes}")
        _check_label(host, "host")
        self._expected = expected_nodes
        self._host = host
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._peers: dict[str, _Peer] = {}
        self._links: set[_Link] = set()
        self._rounds: dict[str, list[_Round]] = {}
        self._pending: set[_Round] = set()
        self._observed: dict[str, int] = {}
        self._handles: list[NodeHandle] = []
        self._by_name: dict[str, NodeHandle] = {}
        self._leaving: set[str] = set()
        self._unconnected: dict[str, NodeHandle] = {}   # spawned, no hello yet
        self._early_exits: dict[str, str] = {}           # name -> why it never connected
        self._call_ids = itertools.count(1)
        self._auto_names = itertools.count(1)
        self._closed = False
        self._logdir: Optional[str] = None

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = socket.create_server((host, 0), family=family, backlog=128)
        self._server.setblocking(False)
        self._port: int = self._server.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._serve, name=f"atomr-mn-controller-{self._port}",
                                        daemon=True)
        self._thread.start()
        with _LIVE_LOCK:
            _LIVE_CONTROLLERS.add(self)

    # -- properties ------------------------------------------------------------------------------

    @property
    def local_addr(self) -> str:
        """``"host:port"`` nodes connect to."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    @property
    def expected_nodes(self) -> int:
        """How many nodes each barrier waits for."""
        return self._expected

    @property
    def handles(self) -> dict[str, NodeHandle]:
        """The latest process started under each name."""
        with self._lock:
            return dict(self._by_name)

    def connected_nodes(self) -> list[str]:
        """Names of the nodes connected right now, sorted."""
        with self._lock:
            return sorted(self._peers)

    def wait_connected(self, count: Optional[int] = None, timeout: float = 30.0) -> list[str]:
        """Waits until at least `count` nodes (default ``expected_nodes``) are connected.

        Returns:
            The connected nodes' names, sorted.

        Raises:
            MultiNodeTimeoutError: fewer were connected when `timeout` passed.
            MultiNodeError: a spawned node exited before connecting.
        """
        count = self._expected if count is None else count
        timeout = _check_timeout(timeout, "timeout", allow_zero=True)
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._peers) < count:
                self._check_open()
                if self._early_exits:
                    raise MultiNodeError("; ".join(self._early_exits.values()))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MultiNodeTimeoutError(
                        f"{len(self._peers)} of {count} nodes connected within {timeout:g}s "
                        f"(connected: {', '.join(sorted(self._peers)) or 'none'})")
                self._cond.wait(remaining)
            return sorted(self._peers)

    # -- barriers ----------------------------------------------------------------------------------

    def timeout_barrier(self, label: str, timeout_secs: float) -> int:
        """Waits for a round of barrier `label` to pass, failing it after `timeout_secs`.

        The k-th call for a label observes the k-th round of that label
        (a round that already finished is reported at once). When
        ``expected_nodes`` nodes arrive, the round passes and they are
        released. When `timeout_secs` pass first, the round fails: every
        node waiting at it gets :class:`BarrierTimeoutError`. A round that
        fails for another reason (a node crashed) ends the wait early.

        Args:
            label: The barrier's name.
            timeout_secs: Seconds to wait (>= 0).

        Returns:
            The number of nodes that had arrived when the round ended
            (``expected_nodes`` if it passed).
        """
        _check_label(label, "barrier label")
        timeout_secs = _check_timeout(timeout_secs, "timeout_secs", allow_zero=True)
        deadline = time.monotonic() + timeout_secs
        with self._cond:
            self._check_open()
            rounds = self._rounds.setdefault(label, [])
            index = self._observed.get(label, 0)
            self._observed[label] = index + 1
            while len(rounds) <= index:
                self._new_round(label)
            rnd = rounds[index]
            rnd.observers += 1
            try:
                while rnd.state == "open":
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._fail_round(rnd, f"{len(rnd.arrivals)} of {self._expected} nodes "
                                              f"arrived within the controller's "
                                              f"{timeout_secs:g}s timeout "
                                              f"({self._arrived_names(rnd)})")
                        break
                    self._cond.wait(remaining)
            finally:
                rnd.observers -= 1
            return rnd.count

    def waiting_at(self, label: str) -> list[str]:
        """Names of the nodes waiting at barrier `label` right now, sorted."""
        with self._lock:
            rnd = self._first_open_round(label, create=False)
            return sorted(rnd.arrivals) if rnd is not None else []

    # -- processes -----------------------------------------------------------------------------------

    def spawn_node(self, name: str, target: Union[str, Callable[..., Any]], *args: Any,
                   env: Optional[Mapping[str, str]] = None) -> NodeHandle:
        """Starts a node in a new Python process.

        The process connects to this controller as node `name` and calls
        ``target(node, *args)`` with the connected :class:`MultiNodeOopNode`;
        it exits with 0 when `target` returns, 1 (traceback on stderr) when
        it raises, 2 when it cannot start. The node is closed in any case.

        Args:
            name: The node's name (unique among running nodes).
            target: A module-level function (pickled by reference) or a
                ``"module:function"`` str. The child sees this process's
                ``sys.path``, so test modules are importable.
            *args: Picklable arguments for `target`.
            env: Environment variables to set in the child, on top of this
                process's environment.

        Returns:
            The process's handle.

        Raises:
            ValueError: a running node already has this name.
            TypeError: `target` or `args` cannot be pickled.
            MultiNodeError: the controller is shut down.
        """
        _check_label(name, "node name")
        if len(name) > _MAX_NAME_LEN or not name.isprintable():
            raise ValueError(f"node name must be printable and at most {_MAX_NAME_LEN} chars")
        if isinstance(target, str):
            _function_ref(target)
        elif not callable(target):
            raise TypeError(f"target must be a function or a 'module:function' str, "
                            f"not {type(target).__name__}")
        try:
            blob = pickle.dumps((target, args), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(f"target and args of node `{name}` must be picklable (a "
                            f"module-level function, or a 'module:function' str): {exc}") from None
        payload = pickle.dumps({"addr": self.local_addr, "name": name, "blob": blob,
                                "sys_path": [p for p in sys.path if isinstance(p, str)],
                                "parent_pid": os.getpid(), "connect_timeout": 30.0})
        with self._lock:
            self._check_open()
            existing = self._by_name.get(name)
            if existing is not None and existing.is_alive():
                raise ValueError(f"a node named `{name}` is already running (pid {existing.pid})")
            if name in self._peers:
                raise ValueError(f"a node named `{name}` is already connected")
            if self._logdir is None:
                self._logdir = tempfile.mkdtemp(prefix="atomr-multinode-")
            stem = os.path.join(self._logdir, f"{len(self._handles):03d}-"
                                + "".join(c if c.isalnum() or c in "-_." else "_" for c in name))
            self._leaving.discard(name)
        child_env = dict(os.environ)
        if env:
            child_env.update(env)
        child_env["PYTHONUNBUFFERED"] = "1"
        import atomr as _atomr_pkg  # the child must import this very atomr

        root = os.path.dirname(os.path.dirname(os.path.abspath(_atomr_pkg.__file__)))
        old = child_env.get("PYTHONPATH")
        child_env["PYTHONPATH"] = root + (os.pathsep + old if old else "")
        out_path, err_path = stem + ".stdout", stem + ".stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", _BOOTSTRAP, name],
                                    stdin=subprocess.PIPE, stdout=out, stderr=err, env=child_env,
                                    close_fds=True, start_new_session=True)
        handle = NodeHandle._new(self, name, proc, out_path, err_path)
        with self._lock:
            self._handles.append(handle)
            self._by_name[name] = handle
            self._unconnected[name] = handle
            self._early_exits.pop(name, None)
            closed = self._closed
        self._wake()  # the server thread now watches this process until it connects
        if closed:  # shut down concurrently: do not leave the child behind
            handle._send_signal(getattr(signal, "SIGKILL", signal.SIGTERM))
            proc.wait()
            raise MultiNodeError("the multi-node controller is shut down")
        try:
            assert proc.stdin is not None
            proc.stdin.write(payload)
            proc.stdin.close()
        except OSError:
            pass  # the child died at once; its returncode and stderr tell why
        return handle

    def run_on(self, name: str, step_label: str,
               fn_or_str: Union[None, str, Callable[..., Any]] = None, *args: Any,
               timeout: float = 30.0) -> Any:
        """Runs a step on node `name` and returns its result.

        With `fn_or_str` ``None`` the node runs the step it registered as
        `step_label` (:meth:`MultiNodeOopNode.register_step`); otherwise it
        imports and runs `fn_or_str` (a module-level function or a
        ``"module:function"`` str), `step_label` then only naming the step in
        errors. Either way the node calls ``fn(node, *args)``. Waits for the
        node to connect if it has not yet.

        Args:
            name: The node to run on.
            step_label: The registered step's label.
            fn_or_str: ``None``, or the function to run.
            *args: JSON-serialisable arguments.
            timeout: Seconds for the whole call, connection wait included.

        Returns:
            The step's result, decoded from JSON (tuples arrive as lists).

        Raises:
            MultiNodeError: the step raised in the node (the message holds
                the remote exception and traceback), is not registered, or
                the node exited or disconnected.
            MultiNodeTimeoutError: no result within `timeout`.
            TypeError: `args` are not JSON-serialisable.
        """
        _check_label(name, "node name")
        _check_label(step_label, "step label")
        timeout = _check_timeout(timeout, "timeout")
        target = None if fn_or_str is None else _function_ref(fn_or_str)
        call_id = next(self._call_ids)
        try:
            data = _encode({"op": "run", "id": call_id, "step": step_label, "target": target,
                            "args": list(args), "timeout": timeout})
        except TypeError as exc:
            raise TypeError(f"run_on arguments must be JSON-serialisable: {exc}") from None
        deadline = time.monotonic() + timeout
        call = _Call(step_label)
        with self._cond:
            while True:
                self._check_open()
                peer = self._peers.get(name)
                if peer is not None:
                    break
                handle = self._by_name.get(name)
                if handle is not None and handle.returncode is not None:
                    raise self._error(f"node `{name}` is not connected: its process exited "
                                      f"with code {handle.returncode}", name, step_label)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._error(f"node `{name}` did not connect within {timeout:g}s "
                                      f"(connected: {', '.join(sorted(self._peers)) or 'none'})",
                                      name, step_label, MultiNodeTimeoutError)
                # A spawned node's exit is polled, not signalled.
                self._cond.wait(min(remaining, 0.05) if handle is not None else remaining)
            peer.calls[call_id] = call
            peer.link.send_bytes(data)  # if the link is dying, its on_close fails `call`
        if not call.event.wait(max(deadline - time.monotonic(), 0.0)):
            with self._lock:
                peer.calls.pop(call_id, None)
            if not call.event.is_set():
                raise self._error(f"step `{step_label}` on node `{name}` did not finish within "
                                  f"{timeout:g}s", name, step_label, MultiNodeTimeoutError)
        if call.error is not None:
            raise call.error
        return call.value

    def stop_serving(self, *names: str) -> list[str]:
        """Asks nodes to leave :meth:`MultiNodeOopNode.serve_steps`.

        Args:
            *names: The nodes to ask; none means every connected node.

        Returns:
            The names of the (connected) nodes that were asked, sorted.
        """
        with self._lock:
            chosen = [p for n, p in self._peers.items() if not names or n in names]
            for peer in chosen:
                peer.link.send({"op": "stop"})
            return sorted(p.name for p in chosen)

    # -- shutdown ------------------------------------------------------------------------------------

    def shutdown(self, grace: float = 3.0) -> None:
        """Stops the server and every process this controller started (idempotent).

        Connected nodes are asked to stop serving steps, pending barriers
        and ``run_on`` calls fail, connections close. Node processes get
        `grace` seconds to exit on their own, then SIGTERM and another
        `grace` seconds, then SIGKILL. Their output stays readable on the
        handles.
        """
        grace = _check_timeout(grace, "grace", allow_zero=True)
        with self._cond:
            if self._closed:
                return
            self._closed = True
            for peer in self._peers.values():
                peer.link.send({"op": "stop"})
                for call in peer.calls.values():
                    call.fail(self._error("the multi-node controller shut down", peer.name,
                                          call.step))
                peer.calls.clear()
            for rnd in list(self._pending):
                self._fail_round(rnd, "the multi-node controller shut down")
            links = list(self._links)
            handles = list(self._handles)
            self._cond.notify_all()
        with _LIVE_LOCK:
            _LIVE_CONTROLLERS.discard(self)
        self._wake()
        for link in links:
            link.close(flush=True, timeout=0.5)
        _wait_all(handles, grace)
        for handle in handles:
            handle._send_signal(signal.SIGTERM)
        _wait_all(handles, grace)
        for handle in handles:
            handle._send_signal(getattr(signal, "SIGKILL", signal.SIGTERM))
        _wait_all(handles, 10.0)
        for handle in handles:
            handle._capture()
        self._thread.join(2.0)
        if self._logdir is not None:
            shutil.rmtree(self._logdir, ignore_errors=True)

    def diagnostics(self) -> str:
        """Every spawned node's :meth:`NodeHandle.diagnostics`, joined."""
        with self._lock:
            handles = list(self._handles)
        return "\n".join(h.diagnostics() for h in handles)

    def __enter__(self) -> "MultiNodeOopController":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        state = "shut down" if self._closed else "running"
        return (f"<MultiNodeOopController {self.local_addr} expected_nodes={self._expected} "
                f"{state}>")

    # -- internals -------------------------------------------------------------------------------------

    @staticmethod
    def _error(message: str, node: Optional[str], step: Optional[str],
               cls: type = MultiNodeError) -> MultiNodeError:
        err = cls(message)
        err.node = node
        err.step = step
        return err

    def _check_open(self) -> None:
        if self._closed:
            raise MultiNodeError("the multi-node controller is shut down")

    def _expect_leave(self, name: str) -> None:
        with self._lock:
            self._leaving.add(name)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (a wake-up is pending anyway) or closed
            pass

    def _serve(self) -> None:
        """Accepts connections and fails barrier rounds whose deadline passed."""
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return
                    now = time.monotonic()
                    deadlines = [r.deadline for r in self._pending if r.deadline is not None]
                    if self._unconnected:  # process exits are polled, not signalled
                        deadlines.append(now + 0.1)
                timeout = max(min(deadlines) - now, 0.0) if deadlines else None
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self._server:
                        self._accept()
                    else:
                        try:
                            while self._wake_r.recv(512):
                                pass
                        except OSError:
                            pass
                self._reap_unconnected()
                with self._lock:
                    now = time.monotonic()
                    for rnd in list(self._pending):
                        if rnd.deadline is not None and rnd.deadline <= now:
                            self._fail_round(rnd, f"timed out after {rnd.deadline_timeout:g}s "
                                                  f"with {len(rnd.arrivals)} of {self._expected} "
                                                  f"nodes arrived ({self._arrived_names(rnd)})")
        finally:
            self._selector.close()
            for sock in (self._server, self._wake_r, self._wake_w):
                sock.close()

    def _reap_unconnected(self) -> None:
        """Fails pending barriers when a spawned node died before it connected."""
        with self._lock:
            exited = [(n, h) for n, h in self._unconnected.items() if h.returncode is not None]
        for name, handle in exited:
            tail = handle.stderr[-1500:].strip()
            reason = (f"node `{name}` (pid {handle.pid}) exited with code {handle.returncode} "
                      "before connecting" + (f"; its stderr ends with:\n{tail}" if tail else ""))
            with self._cond:
                if self._unconnected.get(name) is not handle:
                    continue
                del self._unconnected[name]
                if name in self._leaving:
                    self._leaving.discard(name)
                    continue
                self._early_exits[name] = reason
                for rnd in list(self._pending):
                    if rnd.arrivals or rnd.observers:
                        self._fail_round(rnd, reason)
                self._cond.notify_all()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of descriptors; try again on the next wake-up
                return
            sock.setblocking(True)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            link = _Link(sock, self._on_frame, self._on_link_closed, "controller",
                         first_frame_timeout=_HELLO_TIMEOUT)
            with self._lock:
                if self._closed:
                    sock.close()
                    return
                self._links.add(link)
            link.start()

    # Link callbacks (one reader thread per connection).

    def _on_frame(self, link: _Link, frame: dict[str, Any]) -> None:
        op = frame["op"]
        if link.peer is None:
            if op != "hello":
                raise _ProtocolError(f"expected `hello`, got `{op}`")
            self._on_hello(link, frame)
            return
        peer: _Peer = link.peer
        with self._cond:
            if op == "barrier":
                self._on_barrier(peer, frame)
            elif op == "cancel_barrier":
                rid = _field(frame, "id", int)
                label = _field(frame, "label", str)
                rnd = self._first_open_round(label, create=False)
                if rnd is not None and rnd.arrivals.get(peer.name, (None, None))[1] == rid:
                    del rnd.arrivals[peer.name]
            elif op == "result":
                call = peer.calls.pop(_field(frame, "id", int), None)
                if call is not None:
                    if frame.get("ok") is True:
                        call.value = frame.get("value")
                        call.event.set()
                    else:
                        call.fail(self._remote_error(peer.name, call.step, frame))
            elif op == "bye":
                failed = frame.get("failed")
                if failed is None:
                    peer.said_bye = True
                else:
                    peer.failure = str(failed)
            else:
                raise _ProtocolError(f"unknown op `{op}`")

    def _on_hello(self, link: _Link, frame: dict[str, Any]) -> None:
        name = frame.get("name")
        pid = frame.get("pid")
        error: Optional[str] = None
        if frame.get("v") != _PROTOCOL_VERSION:
            error = f"unsupported protocol version {frame.get('v')!r}"
        elif name is not None and (not isinstance(name, str) or not name
                                   or len(name) > _MAX_NAME_LEN):
            error = "invalid node name"
        with self._cond:
            if error is None and self._closed:
                error = "the controller is shutting down"
            if error is None and name in self._peers:
                error = f"a node named `{name}` is already connected"
            if error is None:
                if name is None:
                    name = next(f"node-{i}" for i in self._auto_names
                                if f"node-{i}" not in self._peers)
                peer = _Peer(link, name, pid if isinstance(pid, int) else None)
                link.peer = peer
                self._peers[name] = peer
                self._leaving.discard(name)
                self._unconnected.pop(name, None)
                link.send({"op": "welcome", "v": _PROTOCOL_VERSION, "name": name,
                           "expected": self._expected})
                self._cond.notify_all()
                return
        link.send({"op": "reject", "error": error})
        link.close(flush=True)

    def _on_barrier(self, peer: _Peer, frame: dict[str, Any]) -> None:
        rid = _field(frame, "id", int)
        label = _field(frame, "label", str)
        timeout = _timeout_field(frame)
        rnd = self._first_open_round(label, create=True)
        assert rnd is not None
        if peer.name in rnd.arrivals:
            peer.link.send({"op": "barrier_fail", "id": rid, "label": label,
                            "reason": f"node `{peer.name}` is already waiting at this barrier"})
            return
        rnd.arrivals[peer.name] = (peer, rid)
        deadline = time.monotonic() + timeout
        if rnd.deadline is None or deadline < rnd.deadline:
            rnd.deadline = deadline
            rnd.deadline_timeout = timeout
            self._wake()
        if len(rnd.arrivals) >= self._expected:
            self._pass_round(rnd)

    def _on_link_closed(self, link: _Link, reason: Optional[str]) -> None:
        with self._cond:
            self._links.discard(link)
            peer: Optional[_Peer] = link.peer
            if peer is None:
                return
            if self._peers.get(peer.name) is peer:
                del self._peers[peer.name]
            expected = peer.said_bye or peer.name in self._leaving or self._closed
            self._leaving.discard(peer.name)
            if peer.failure is not None:
                why = f"node `{peer.name}` failed ({peer.failure}) and disconnected"
            else:
                why = f"node `{peer.name}` disconnected" + (f" ({reason})" if reason else "")
            for call in peer.calls.values():
                call.fail(self._error(f"{why} while running step `{call.step}`", peer.name,
                                      call.step))
            peer.calls.clear()
            for rnd in list(self._pending):
                rnd.arrivals.pop(peer.name, None)
                if not expected and (rnd.arrivals or rnd.observers):
                    self._fail_round(rnd, f"{why} unexpectedly while the barrier was pending")
            self._cond.notify_all()

    # Barrier rounds (called with the lock held).

    def _new_round(self, label: str) -> _Round:
        rnd = _Round(label)
        self._rounds.setdefault(label, []).append(rnd)
        self._pending.add(rnd)
        return rnd

    def _first_open_round(self, label: str, create: bool) -> Optional[_Round]:
        for rnd in self._rounds.get(label, ()):
            if rnd.state == "open":
                return rnd
        return self._new_round(label) if create else None

    def _arrived_names(self, rnd: _Round) -> str:
        return "arrived: " + (", ".join(sorted(rnd.arrivals)) or "none")

    def _pass_round(self, rnd: _Round) -> None:
        rnd.state = "passed"
        rnd.count = len(rnd.arrivals)
        self._pending.discard(rnd)
        for peer, rid in rnd.arrivals.values():
            peer.link.send({"op": "barrier_ok", "id": rid, "label": rnd.label,
                            "count": rnd.count})
        self._cond.notify_all()

    def _fail_round(self, rnd: _Round, reason: str) -> None:
        rnd.state = "failed"
        rnd.count = len(rnd.arrivals)
        rnd.reason = reason
        self._pending.discard(rnd)
        for peer, rid in rnd.arrivals.values():
            peer.link.send({"op": "barrier_fail", "id": rid, "label": rnd.label,
                            "reason": reason})
        self._cond.notify_all()

    def _remote_error(self, node: str, step: str, frame: dict[str, Any]) -> MultiNodeError:
        remote_type = str(frame.get("type") or "Exception")
        message = str(frame.get("message") or "")
        remote_tb = str(frame.get("traceback") or "")
        text = f"step `{step}` failed on node `{node}`: {remote_type}: {message}"
        if remote_tb:
            text += f"\n--- remote traceback (node `{node}`) ---\n{remote_tb.rstrip()}"
        err = self._error(text, node, step)
        err.remote_type = remote_type
        err.remote_traceback = remote_tb
        return err


def _wait_all(handles: list[NodeHandle], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for handle in handles:
        try:
            handle._proc.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            pass


@atexit.register
def _shutdown_live_controllers() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE_CONTROLLERS)
    for controller in live:
        try:
            controller.shutdown(grace=1.0)
        except BaseException as exc:  # never block interpreter exit
            print(f"atomr: could not shut down {controller!r} at exit: {exc}", file=sys.stderr)


# -- the node process's entry point ---------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            print("atomr multinode: the controlling process is gone; exiting", file=sys.stderr)
            os._exit(70)


def _node_main() -> None:
    """Entry point of a node process (reads its assignment from stdin)."""
    payload = pickle.loads(sys.stdin.buffer.read())
    for entry in reversed(payload["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    threading.Thread(target=_watch_parent, args=(payload["parent_pid"],),
                     name="atomr-mn-parent-watch", daemon=True).start()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        target, args = pickle.loads(payload["blob"])
        if isinstance(target, str):
            target = _resolve_ref(target)
        node = MultiNodeOopNode.connect(payload["addr"], name=payload["name"],
                                        timeout=payload["connect_timeout"])
    except BaseException:
        traceback.print_exc()
        sys.exit(2)
    code = 0
    failure: Optional[str] = None
    try:
        target(node, *args)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            failure = f"exited with {exc.code!r}"
        raise
    except BaseException as exc:
        traceback.print_exc()
        failure = f"{_qualified_type(exc)}: {_safe_str(exc)}"
        code = 1
    finally:
        node._close(failure)
    sys.exit(code)


# -- pytest fixture ------------------------------------------------------------------------------------------


def _multinode_fixture() -> Iterator[Callable[..., MultiNodeOopController]]:
    """Factory fixture: ``multinode(expected_nodes, host="127.0.0.1")`` makes a
    controller; every one is shut down at teardown, and the output of its
    nodes is printed (pytest shows it when the test fails)."""
    made: list[MultiNodeOopController] = []

    def make(expected_nodes: int, host: str = "127.0.0.1") -> MultiNodeOopController:
        controller = MultiNodeOopController(expected_nodes, host)
        made.append(controller)
        return controller

    try:
        yield make
    finally:
        for controller in made:
            controller.shutdown()
            report = controller.diagnostics()
            if report:
                print(report, file=sys.stderr)


def __getattr__(name: str) -> Any:
    # `multinode` is built on first access so that importing this module
    # (and atomr.testkit) does not import pytest.
    if name == "multinode":
        import pytest

        fixture = pytest.fixture(name="multinode")(_multinode_fixture)
        globals()["multinode"] = fixture
        return fixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
