"""The driving side of cluster_node.py: node processes a test starts,
commands over their stdin, replies and events from their stdout.

:class:`NodeProcess` is one node (optionally inside a network namespace of
a :class:`~_netns.NetnsLab`): :meth:`~NodeProcess.request` sends a command
and waits for its reply, :meth:`~NodeProcess.wait_event` waits for an event
line matching a predicate, :meth:`~NodeProcess.kill` sends SIGKILL,
:meth:`~NodeProcess.restart` starts a new incarnation on the same port.
:class:`NodeGroup` holds a test's nodes and ends them all on exit, whatever
happened. Everything waits on conditions with deadlines; nothing sleeps and
hopes.

Used by the tests of this folder and by scripts/cluster_soak.py; imports
nothing from the test suite.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Iterable, Optional

HERE = pathlib.Path(__file__).resolve().parent
SCRIPT = HERE / "cluster_node.py"
REPO = HERE.parent.parent
#: A Python process starting on a loaded 2-core machine.
STARTUP_DEADLINE = 60.0
#: How long a command's reply may take (asks carry their own timeouts).
REPLY_DEADLINE = 60.0
#: How long a node may take to end once told to.
STOP_DEADLINE = 30.0


class NodeCommandError(RuntimeError):
    """A command failed inside the node: `error` is the exception's class
    name, `message` its text."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message


class NodeProcess:
    """One cluster_node.py process (see its docstring for the protocol).

    Args:
        name: The actor system's name.
        host: The IP to bind (inside the namespace when `wrap` runs it in one).
        port: 0: any (the first incarnation's port is kept for restarts).
        config: The system's config tree (a dict).
        cluster: Start the transport with ``Cluster.with_tcp_transport``.
        wrap: Turns the node's argv into the argv to run (e.g. a lab's
            ``lambda argv: lab.command(i, argv)``).
        lifetime: The node ends by itself after this many seconds.
    """

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0,
                 config: Optional[dict] = None, cluster: bool = False,
                 wrap: Optional[Callable[[list[str]], list[str]]] = None,
                 lifetime: float = 600.0) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.config = config or {}
        self.cluster = cluster
        self.wrap = wrap
        self.lifetime = lifetime
        self.proc: Optional[subprocess.Popen] = None
        self.address = ""
        self.uid = 0
        self.pid = 0
        self.incarnation = 0
        #: Event lines of the current incarnation, each with ``_at`` (the
        #: harness's time.monotonic() when it arrived).
        self.events: list[dict] = []
        self.noise: list[str] = []  # stdout lines that are not JSON
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._reader: Optional[threading.Thread] = None
        self._stderr: Any = None
        self._eof = False

    # -- life cycle -----------------------------------------------------------

    def start(self, deadline: float = STARTUP_DEADLINE) -> "NodeProcess":
        """Starts an incarnation and waits for its ready line (the address
        and uid)."""
        if self.running:
            raise RuntimeError(f"node {self.name} is running")
        argv = [sys.executable, str(SCRIPT), "--name", self.name, "--host", self.host,
                "--port", str(self.port), "--config", json.dumps(self.config),
                "--lifetime", str(self.lifetime)]
        if self.cluster:
            argv.append("--cluster")
        if self.wrap is not None:
            argv = self.wrap(argv)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        self._close_streams()
        self._stderr = tempfile.TemporaryFile(mode="w+", prefix=f"node-{self.name}-")
        with self._cond:
            self.events = []
            self._replies = {}
            self._eof = False
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, env=env)
        self.incarnation += 1
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True,
                                        name=f"node-{self.name}")
        self._reader.start()
        try:
            ready = self.wait_event(lambda e: e.get("event") == "ready", timeout=deadline,
                                    what="the ready line")
        except BaseException:
            self.kill()
            raise
        self.address = ready["address"]
        self.uid = int(ready["uid"])
        self.pid = int(ready["pid"])
        if self.port == 0:
            self.port = int(self.address.rpartition(":")[2].split("/")[0])
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError
            except ValueError:
                with self._cond:
                    self.noise.append(line)
                continue
            obj["_at"] = time.monotonic()
            with self._cond:
                if proc is not self.proc:
                    return
                if "id" in obj and "event" not in obj:
                    self._replies[obj["id"]] = obj
                else:
                    self.events.append(obj)
                self._cond.notify_all()
        with self._cond:
            if proc is self.proc:
                self._eof = True
                self._cond.notify_all()

    def kill(self) -> None:
        """SIGKILL, then waits for the process to be gone."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_DEADLINE)
        self._join_reader()

    def stop(self) -> None:
        """Ends the node: stdin closes (it terminates its system), SIGKILL if
        it lingers. Idempotent."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_DEADLINE)
        self._join_reader()

    def restart(self, deadline: float = STARTUP_DEADLINE) -> "NodeProcess":
        """A new incarnation (new uid) on the same host and port, after the
        current one is gone (killed or stopped)."""
        if self.running:
            raise RuntimeError(f"node {self.name} still runs; kill or stop it first")
        return self.start(deadline)

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=STOP_DEADLINE)
        self._close_streams()

    def _close_streams(self) -> None:
        proc = self.proc
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError, ValueError):
                        stream.close()

    def stderr_tail(self, chars: int = 4000) -> str:
        """The end of the current incarnation's stderr."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            return str(self._stderr.read())[-chars:]
        except (OSError, ValueError):
            return ""

    # -- commands and events --------------------------------------------------

    def send(self, cmd: str, **args: Any) -> int:
        """Sends a command without waiting; returns its id (see :meth:`reply`)."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise RuntimeError(f"node {self.name} is not running")
        rid = next(self._ids)
        proc.stdin.write(json.dumps(dict(args, id=rid, cmd=cmd)) + "\n")
        proc.stdin.flush()
        return rid

    def reply(self, rid: int, timeout: float = REPLY_DEADLINE) -> Any:
        """The result of command `rid`; NodeCommandError when it failed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self._replies:
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = "exited" if self._eof else f"gave no reply within {timeout} s"
                    raise AssertionError(f"node {self.name} {why} (command {rid}); "
                                         f"stderr:\n{self.stderr_tail()}")
                self._cond.wait(min(left, 0.5))
            rep = self._replies.pop(rid)
        if not rep.get("ok"):
            raise NodeCommandError(rep.get("error", "?"), rep.get("message", ""))
        return rep.get("result")

    def request(self, cmd: str, *, reply_timeout: float = REPLY_DEADLINE, **args: Any) -> Any:
        """Sends a command and returns its result (see :meth:`reply`);
        `args` go to the node (an ask's ``timeout`` among them)."""
        return self.reply(self.send(cmd, **args), reply_timeout)

    def wait_event(self, pred: Callable[[dict], Any], timeout: float,
                   what: str = "an event", start: int = 0) -> dict:
        """The first event (from index `start` of :attr:`events`) for which
        `pred` is true, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = "exited" if self._eof else f"did not report {what} within {timeout} s"
                    raise AssertionError(f"node {self.name} {why}; events: "
                                         f"{self.events[-20:]}\nstderr:\n{self.stderr_tail()}")
                self._cond.wait(min(left, 0.5))

    def events_where(self, pred: Callable[[dict], Any]) -> list[dict]:
        with self._cond:
            return [e for e in self.events if pred(e)]


class NodeGroup:
    """A test's nodes; on exit every one still running is killed (SIGKILL:
    tests end fast; graceful stops are tested explicitly)."""

    def __init__(self) -> None:
        self.nodes: list[NodeProcess] = []

    def add(self, node: NodeProcess) -> NodeProcess:
        self.nodes.append(node)
        return node

    def start_all(self, nodes: Iterable[NodeProcess],
                  deadline: float = STARTUP_DEADLINE) -> list[NodeProcess]:
        """Starts `nodes` in parallel (the process start-ups overlap) and
        waits for each to be ready."""
        started = [self.add(n) for n in nodes]
        errors: list[BaseException] = []

        def run(n: NodeProcess) -> None:
            try:
                n.start(deadline)
            except BaseException as exc:  # re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in started]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return started

    def close(self) -> None:
        for n in self.nodes:
            with contextlib.suppress(Exception):
                n.kill()

    def __enter__(self) -> "NodeGroup":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def wait_until(pred: Callable[[], Any], timeout: float, what: str = "the condition",
               poll: float = 0.05) -> Any:
    """Polls `pred` until it returns something truthy (returned) or
    `timeout` seconds pass (AssertionError naming `what` and the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout} s (last: {value!r})")
        time.sleep(poll)


def hostport(address: str) -> str:
    """``host:port`` of ``akka.tcp://sys@host:port[/path]``."""
    return address.partition("@")[2].split("/")[0]
