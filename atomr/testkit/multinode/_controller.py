"""The controller side: :class:`MultiNodeOopController`, its barriers and steps,
and the processes it owns.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pickle
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Mapping, Optional, Union

from atomr._util import public_module
from atomr.testkit.multinode._common import _check_label, _check_timeout, _function_ref
from atomr.testkit.multinode._errors import MultiNodeError, MultiNodeTimeoutError
from atomr.testkit.multinode._process import NodeHandle
from atomr.testkit.multinode._protocol import (
    _HELLO_TIMEOUT,
    _MAX_NAME_LEN,
    _PROTOCOL_VERSION,
    _encode,
    _field,
    _Link,
    _ProtocolError,
    _timeout_field,
)

_BOOTSTRAP = "from atomr.testkit.multinode._main import _node_main; _node_main()"

_LIVE_CONTROLLERS: "set[MultiNodeOopController]" = set()
_LIVE_LOCK = threading.Lock()

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


@public_module("atomr.testkit.multinode")
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
