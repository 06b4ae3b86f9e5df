"""A worker process of a ``python-process-pool`` (``python -m
atomr.interpreter._worker <port> <quota-json>``).

Runs actor system ``pool`` with its TCP transport on 127.0.0.1:<port>
(0: the kernel picks), applies the pool's quota where a process can
(address-space limit, import deny and allow lists, eager imports), starts
the manager actor ``/user/pool-manager`` and prints its address as the
first line of stdout. It ends when stdin closes (its parent went away).

A ``["spawn", module, qualname, name]`` sent to the manager is carried out
as it arrives (the class imported by qualified name, ``/user/<name>``
spawned with it); the manager answers ``["names"]`` (the
live pooled actors' names) and ``["metrics"]`` (this process's
interpreter metrics).
"""

from __future__ import annotations

import importlib
import importlib.abc
import json
import logging
import sys
from typing import Any, Optional, Sequence

_log = logging.getLogger("atomr.interpreter.worker")

#: The manager actor's name (reserved in a process pool).
MANAGER = "pool-manager"


def load_class(module: str, qualname: str) -> Any:
    """The object at `qualname` in `module` (imported)."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class _ImportGate(importlib.abc.MetaPathFinder):
    """Refuses imports of denied top-level modules, and with an allow list
    of every top-level module not allowed, not in the standard library and
    not loaded when the gate was installed."""

    def __init__(self, deny: Sequence[str], allow: Optional[Sequence[str]]) -> None:
        self.deny = frozenset(deny)
        self.allow = None if allow is None else (
            frozenset(allow) | frozenset(sys.stdlib_module_names)
            | frozenset(m.partition(".")[0] for m in sys.modules))

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        top = fullname.partition(".")[0]
        if top in self.deny:
            raise ImportError(f"module {fullname!r} is denied in this interpreter pool",
                              name=fullname)
        if self.allow is not None and top not in self.allow:
            raise ImportError(f"module {fullname!r} is not allowed in this interpreter pool",
                              name=fullname)
        return None


def apply_quota(quota: dict[str, Any]) -> None:
    """Applies what a process can enforce of an InterpreterQuota dict."""
    allow = quota.get("module_allowlist")
    if quota.get("import_policy") == "eager" and allow:
        for name in allow:
            importlib.import_module(name)
    deny = quota.get("module_denylist") or []
    if deny or allow is not None:
        sys.meta_path.insert(0, _ImportGate(deny, allow))
    limit = quota.get("memory_soft_limit_bytes")
    if limit:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(argv: list[str]) -> None:
    from atomr.actor import Actor, ActorSystem, Terminated, props
    from atomr.config import Config
    from atomr._native import interpreter_metrics
    from atomr.remote import Remote

    port = int(argv[0])
    quota = json.loads(argv[1]) if len(argv) > 1 else {}
    config = Config.from_dict({"remote": {"enabled": True, "hostname": "127.0.0.1",
                                          "port": port}})
    system = ActorSystem.create_blocking("pool", config)

    class Manager(Actor):
        def __init__(self) -> None:
            self.live: dict[str, Any] = {}

        def handle(self, ctx: Any, msg: Any) -> Any:
            if isinstance(msg, Terminated):
                self.live.pop(msg.path.rpartition("/")[2], None)
                return None
            op = msg[0]
            if op == "spawned":  # from spawn_on_arrival, in this process
                _, name, ref = msg
                self.live[name] = ref
                ctx.watch(ref)
                return None
            if op == "names":
                return sorted(self.live)
            if op == "metrics":
                return [m for m in interpreter_metrics() if m["system"] == "pool"]
            raise ValueError(f"unknown pool request {op!r}")

    manager = system.actor_of(props(Manager), MANAGER)
    remote = Remote.get(system)
    manager_path = f"{remote.address}/user/{MANAGER}"
    deliver = remote._deliver

    def spawn_on_arrival(recipient: str, manifest: str, payload: bytes,
                         sender: Optional[str] = None) -> None:
        """A spawn request is carried out as it arrives, on the loop thread
        (not later in the manager's turn): the actor then exists before
        the next envelope of the connection, its first mail, is delivered."""
        if recipient == manager_path:
            msg = remote._codecs.decode(manifest, payload)
            if isinstance(msg, list) and msg and msg[0] == "spawn":
                _, module, qualname, name = msg
                try:
                    ref = system.actor_of(props(load_class(module, qualname)), name)
                except Exception as exc:
                    _log.error("could not spawn %s.%s as %s: %s", module, qualname, name, exc)
                    return
                manager.tell(["spawned", name, ref])
                return
        deliver(recipient, manifest, payload, sender)

    remote._deliver = spawn_on_arrival  # type: ignore[method-assign]
    # The C drain delivers plain tells to recipients it already knows without
    # calling _deliver, which would let a second spawn request reach the
    # manager's turn after the first mail for that actor: the worker takes
    # the Python path for everything it receives.
    remote._wire = None
    apply_quota(quota)
    print(remote.address, flush=True)
    try:
        sys.stdin.buffer.read()  # until the parent closes it, or dies
    finally:
        system.terminate_blocking(10.0)


if __name__ == "__main__":
    main(sys.argv[1:])
