"""The node side: :class:`MultiNodeOopNode`, run inside a node process.
"""

from __future__ import annotations

import inspect
import itertools
import os
import queue
import socket
import threading
import time
import traceback
from typing import Any, Callable, Optional, Union

from atomr._util import public_module
from atomr.testkit.multinode._common import (
    _check_label,
    _check_timeout,
    _clip,
    _parse_addr,
    _qualified_type,
    _resolve_ref,
    _run_awaitable,
    _safe_str,
)
from atomr.testkit.multinode._errors import (
    BarrierTimeoutError,
    MultiNodeError,
    MultiNodeTimeoutError,
)
from atomr.testkit.multinode._protocol import (
    _BARRIER_GRACE,
    _PROTOCOL_VERSION,
    _STOP,
    _encode,
    _Link,
    _ProtocolError,
    _read_frame,
)

# -- the node (runs in the node process) -----------------------------------------------------------------


class _Waiter:
    __slots__ = ("event", "ok", "reason")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False
        self.reason = ""


@public_module("atomr.testkit.multinode")
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
