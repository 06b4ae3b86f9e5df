"""python-process-pool: actors in worker processes linked by the remote
transport (see :mod:`atomr.interpreter` and ``docs/pools.md``)."""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Optional

from atomr.actor import ActorSystem
from atomr.errors import ActorNameTakenError, AtomrError, InterpreterOverloaded
from atomr.interpreter._quota import InterpreterQuota
from atomr.interpreter._worker import MANAGER, load_class

_log = logging.getLogger("atomr.interpreter")

#: Seconds a worker process may take to start (a loaded 2-core machine).
START_DEADLINE = 60.0
#: Seconds a metrics or names request to a worker may take.
REQUEST_TIMEOUT = 2.0
_METRIC_KEYS = ("actors_hosted", "messages_handled", "gil_hold_ns_total",
                "mailbox_depth_total", "handler_panics", "long_handlers")


def _class_path(props: Any) -> tuple[str, str]:
    """The module and qualified name a worker imports `props`' actor class
    by; TypeError when it cannot."""
    cls = getattr(props, "factory", None)
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", None)
    if not isinstance(cls, type) or not module or not qualname:
        raise TypeError("an actor in a process pool needs Props of an actor class (a worker "
                        f"imports it by name), not {cls!r}")
    if "<locals>" in qualname or module == "__main__":
        raise TypeError(f"actor class {module}.{qualname} cannot be imported by a worker "
                        "process: define it at the top level of an importable module")
    try:
        found = load_class(module, qualname)
    except (ImportError, AttributeError) as exc:
        raise TypeError(f"actor class {module}.{qualname} cannot be imported by "
                        f"name: {exc}") from None
    if found is not cls:
        raise TypeError(f"{module}.{qualname} names another object than the actor class")
    return module, qualname


class _Worker:
    """One worker process and the actors spawned in it."""

    def __init__(self, pool: "ProcessPool", index: int) -> None:
        self.pool = pool
        self.index = index
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.port = 0
        self.address = ""
        # name -> (module, qualname, weakref to the spawning system)
        self.actors: dict[str, tuple[str, str, Any]] = {}
        self.restarts = 0
        self.ready = threading.Event()
        self.monitor: Optional[threading.Thread] = None

    def launch(self) -> None:
        """Starts the process (on `port`, 0 the first time) and waits for
        its address."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "atomr.interpreter._worker", str(self.port),
             json.dumps(self.pool.quota.to_dict())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        deadline = time.monotonic() + START_DEADLINE
        line = b""
        fd = proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                proc.kill()
                proc.wait()
                raise AtomrError(f"worker {self.index} of interpreter pool "
                                 f"{self.pool.label!r} did not start")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue  # EOF: poll() tells the exit next turn
                line += chunk
        self.address = line.decode().strip()
        self.port = int(self.address.rpartition(":")[2])
        self.proc = proc

    def manager(self, system: ActorSystem) -> Any:
        from atomr.remote import Remote

        return Remote.get(system).actor_selection(f"{self.address}/user/{MANAGER}")

    def watch(self) -> None:
        self.monitor = threading.Thread(target=self._monitor, daemon=True,
                                        name=f"atomr-pool-{self.pool.label}-{self.index}")
        self.monitor.start()

    def _monitor(self) -> None:
        """Waits for the process to end; unless the pool is closing, starts
        it again on the same port and spawns its actors there again."""
        while True:
            proc = self.proc
            assert proc is not None
            code = proc.wait()
            if self.pool.closed:
                return
            _log.warning("worker %d of interpreter pool %r (%s) ended with %s; starting it "
                         "again with its %d actor(s)", self.index, self.pool.label,
                         self.address, code, len(self.actors))
            self._close_pipes(proc)
            while not self.pool.closed:
                try:
                    self.launch()
                    break
                except (AtomrError, OSError) as exc:
                    _log.error("restarting worker %d of pool %r failed: %s", self.index,
                               self.pool.label, exc)
                    time.sleep(0.5)
            if self.pool.closed:
                if self.proc is not None and self.proc is not proc:
                    self._end(self.proc)
                return
            self.restarts += 1
            with self.pool.lock:
                actors = list(self.actors.items())
            for name, (module, qualname, system_ref) in actors:
                system = system_ref()
                if system is None or system.is_terminated:
                    with self.pool.lock:
                        self.actors.pop(name, None)
                    continue
                try:
                    self.manager(system).tell(["spawn", module, qualname, name])
                except Exception as exc:  # the system went away meanwhile
                    _log.error("respawning %s in pool %r failed: %s", name, self.pool.label, exc)

    @staticmethod
    def _close_pipes(proc: "subprocess.Popen[bytes]") -> None:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def _end(self, proc: "subprocess.Popen[bytes]") -> None:
        self._close_pipes(proc)  # stdin EOF: the worker terminates its system
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        if self.proc is not None:
            self._end(self.proc)
        if self.monitor is not None and self.monitor is not threading.current_thread():
            self.monitor.join(30.0)

    def live_names(self, system: ActorSystem) -> Optional[list[str]]:
        """The worker's live pooled actors (None: it did not answer)."""
        try:
            return list(self.manager(system).ask_blocking(["names"], REQUEST_TIMEOUT))
        except Exception:
            return None


_ALL: "weakref.WeakSet[ProcessPool]" = weakref.WeakSet()


class ProcessPool:
    """`count` worker processes hosting the actors of pool `label`."""

    def __init__(self, label: str, count: int, quota: InterpreterQuota) -> None:
        self.label = label
        self.quota = quota
        self.workers = [_Worker(self, i) for i in range(count)]
        self.lock = threading.Lock()
        self.closed = False
        self.home: Any = None  # weakref to the last system that spawned here

    def start(self) -> None:
        """Starts every worker (raises, ending those started, when one fails)."""
        try:
            for w in self.workers:
                w.launch()
        except BaseException:
            self.close()
            raise
        for w in self.workers:
            w.watch()
        _ALL.add(self)

    def close(self) -> None:
        """Ends the workers and their actors."""
        self.closed = True
        for w in self.workers:
            w.close()

    def _count(self) -> int:
        return sum(len(w.actors) for w in self.workers)

    def _reconcile(self, system: ActorSystem) -> None:
        """Forgets pooled actors that stopped (asks each worker)."""
        if system._core.on_loop_thread():
            return  # a blocking ask here would block the loop that answers it
        for w in self.workers:
            names = w.live_names(system)
            if names is None:
                continue
            live = set(names)
            with self.lock:
                for name in [n for n in w.actors if n not in live]:
                    del w.actors[name]

    def spawn(self, system: ActorSystem, props: Any, name: Optional[str]) -> Any:
        """Spawns an actor of `props` in the worker with the fewest actors;
        returns its RemoteActorRef at once (the spawn request and later
        mail travel in order over one connection)."""
        from atomr._native import validate_name
        from atomr.remote import Remote

        if self.closed:
            raise AtomrError(f"interpreter pool {self.label!r} is shut down")
        system.check_live()
        module, qualname = _class_path(props)
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"actor name must be a str, not {type(name).__name__}")
            validate_name(name)
            if name == MANAGER:
                raise ActorNameTakenError(f"actor name `{name}` is reserved in a process pool")
        limit = self.quota.max_actors
        if limit is not None and self._count() >= limit:
            self._reconcile(system)
        with self.lock:
            if name is not None and any(name in w.actors for w in self.workers):
                raise ActorNameTakenError(
                    f"actor name `{name}` already taken in interpreter pool {self.label!r}")
            if limit is not None and self._count() >= limit:
                raise InterpreterOverloaded(
                    f"interpreter pool {self.label!r} hosts its maximum of {limit} actor(s)")
            if name is None:
                n = self._count()
                while any(f"pooled-{n}" in w.actors for w in self.workers):
                    n += 1
                name = f"pooled-{n}"
            worker = min(self.workers, key=lambda w: len(w.actors))
            worker.actors[name] = (module, qualname, weakref.ref(system))
            self.home = weakref.ref(system)
        remote = Remote.get(system)
        worker.manager(system).tell(["spawn", module, qualname, name])
        return remote.actor_selection(f"{worker.address}/user/{name}")

    def metrics(self) -> dict[str, Any]:
        """The pool's metrics, summed over its workers."""
        out: dict[str, Any] = {"label": self.label, "kind": "python-process-pool",
                               "system": None}
        out.update(dict.fromkeys(_METRIC_KEYS, 0))
        out["workers"] = len(self.workers)
        out["worker_restarts"] = sum(w.restarts for w in self.workers)
        system = None if self.home is None else self.home()
        for w in self.workers:
            out["actors_hosted"] += len(w.actors)
            if system is None or system.is_terminated or system._core.on_loop_thread():
                continue
            try:
                entries = w.manager(system).ask_blocking(["metrics"], REQUEST_TIMEOUT)
            except Exception:
                continue
            for m in entries:
                for key in _METRIC_KEYS[1:]:
                    out[key] += m[key]
        return out


def _close_all() -> None:
    for pool in list(_ALL):
        pool.close()




atexit.register(_close_all)
