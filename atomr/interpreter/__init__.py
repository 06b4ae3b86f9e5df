"""Interpreter pools: where actors run Python.

A pool is named by a label (an actor's ``Props.interpreter_role``) and is
process-wide: the first :func:`configure_interpreter` of a label (or
:meth:`atomr.ActorSystem.configure_interpreter`) fixes its kind (a
dispatcher name), worker count and :class:`InterpreterQuota`; later calls
for the label change nothing.

Kinds built in this version:

* ``python-pinned`` (and the other in-process names): the actors run on
  their system's loop thread, sharing the process's GIL. The quota's
  ``max_actors`` and ``max_handler_ms`` apply.
* ``python-process-pool``: ``count`` worker processes, each an actor
  system of its own linked to its parents by the remote transport (TCP
  on 127.0.0.1). ``actor_of`` with Props naming the pool spawns the actor
  in a worker (its class imported there by qualified name) and returns a
  :class:`~atomr.remote.RemoteActorRef` (tell, ask, ask_blocking, watch).
  A worker that dies is started again on the same port with its actors.
  See ``docs/pools.md`` for exactly what supervision and the quota do
  there.

* ``python-subinterpreter-pool`` (Python 3.12+): ``count``
  subinterpreters with their own GIL (PEP 684), each running the actors
  spawned into it on a thread of its own; ``actor_of`` returns a
  :class:`SubinterpreterActorRef` (tell, ask,
  ask_blocking, forward, stop, watch). Where
  :func:`subinterpreters_supported` is False, configuring one raises
  :class:`NotImplementedError`. See ``docs/pools.md``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Optional

import atomr._native as _native
from atomr._native._core import set_long_handler_limit
from atomr.actor import DISPATCHERS, ActorSystem
from atomr.actor import _system as _system_mod
from atomr.errors import InterpreterOverloaded
from atomr.interpreter._quota import InterpreterQuota
from atomr.interpreter._subpool import SubinterpreterActorRef

__all__ = [
    "InterpreterQuota",
    "SubinterpreterActorRef",
    "configure_interpreter",
    "pool_config",
    "shutdown_pools",
    "interpreter_metrics",
    "subinterpreters_supported",
    "nogil_supported",
    "PROCESS_POOL",
    "SUBINTERPRETER_POOL",
]

#: The dispatcher name of a pool of worker processes.
PROCESS_POOL = "python-process-pool"
#: The dispatcher name of a pool of own-GIL subinterpreters.
SUBINTERPRETER_POOL = "python-subinterpreter-pool"

_SUPPORTED: Optional[bool] = None


def subinterpreters_supported() -> bool:
    """True when this Python (3.12 or later) and build run actors in
    subinterpreters with their own GIL: found once by starting one
    (``atomr._native._subinterp``) and finalizing it."""
    global _SUPPORTED
    if _SUPPORTED is None:
        _SUPPORTED = _probe_subinterpreters()
    return _SUPPORTED


def _probe_subinterpreters() -> bool:
    try:
        from atomr._native import _subinterp
    except ImportError:
        return False
    if not _subinterp.OWN_GIL:
        return False
    try:
        ident = _subinterp.interp_start("import sys\n")
    except Exception:
        return False
    if not _subinterp.interp_join(ident, 30.0):
        return False
    return True


def nogil_supported() -> bool:
    """True when this Python runs without the GIL: ``sys._is_gil_enabled``
    exists (a free-threaded build, 3.13t or later) and returns False (the
    GIL was not turned back on, e.g. by ``PYTHON_GIL=1`` or an extension
    that does not declare free-threading support)."""
    probe = getattr(sys, "_is_gil_enabled", None)
    if probe is None:
        return False
    return not probe()


class _Pool:
    """One configured pool."""

    __slots__ = ("label", "kind", "count", "quota", "process", "lock")

    def __init__(self, label: str, kind: str, count: int, quota: InterpreterQuota) -> None:
        self.label = label
        self.kind = kind
        self.count = count
        self.quota = quota
        # the ProcessPool or SubinterpreterPool hosting the actors elsewhere
        self.process: Any = None
        self.lock = threading.Lock()


_LOCK = threading.Lock()
_POOLS: dict[str, _Pool] = {}


def _check(label: Any, dispatcher: Any, count: Any, quota: Any) -> InterpreterQuota:
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, not {type(label).__name__}")
    if not label:
        raise ValueError("label must not be empty")
    if not isinstance(dispatcher, str):
        raise TypeError(f"dispatcher must be a str, not {type(dispatcher).__name__}")
    if dispatcher not in DISPATCHERS:
        raise ValueError(f"unknown dispatcher {dispatcher!r}; expected one of "
                         f"{', '.join(DISPATCHERS)}")
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, not {type(count).__name__}")
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    if quota is None:
        return InterpreterQuota()
    if not isinstance(quota, InterpreterQuota):
        raise TypeError(f"quota must be an InterpreterQuota or None, not "
                        f"{type(quota).__name__}")
    quota.validate()
    return quota


def configure_interpreter(label: str, dispatcher: str = "python-pinned", count: int = 1,
                          quota: Optional[InterpreterQuota] = None) -> None:
    """Creates the pool `label` unless it exists (the first configuration
    wins; later calls for the label change nothing).

    A ``python-process-pool`` starts its `count` worker processes here and
    returns once they are up.

    Raises:
        TypeError, ValueError: a bad argument (unknown dispatcher, `count`
            below 1, a quota with bad values).
        NotImplementedError: `dispatcher` is ``python-subinterpreter-pool``
            and :func:`subinterpreters_supported` is False (before 3.12).
        AtomrError: a worker process or subinterpreter did not start.
    """
    quota = _check(label, dispatcher, count, quota)
    if dispatcher == SUBINTERPRETER_POOL and not subinterpreters_supported():
        raise NotImplementedError(
            "python-subinterpreter-pool needs subinterpreters with their own GIL (Python "
            "3.12 or later; subinterpreters_supported() is False here); use "
            "python-process-pool for parallel Python")
    with _LOCK:
        if label in _POOLS:
            return
        pool = _Pool(label, dispatcher, count, quota)
        if dispatcher == PROCESS_POOL:
            from atomr.interpreter._process import ProcessPool

            pool.process = ProcessPool(label, count, quota)
            pool.process.start()
        elif dispatcher == SUBINTERPRETER_POOL:
            from atomr.interpreter._subpool import SubinterpreterPool

            pool.process = SubinterpreterPool(label, count, quota)
            pool.process.start()
        _POOLS[label] = pool
        set_long_handler_limit(label, quota.max_handler_ms)


def pool_config(label: str) -> Optional[dict[str, Any]]:
    """The configuration of pool `label` (``label``, ``kind``, ``count``,
    ``quota``), or None when it was never configured."""
    pool = _POOLS.get(label)
    if pool is None:
        return None
    return {"label": pool.label, "kind": pool.kind, "count": pool.count, "quota": pool.quota}


def shutdown_pools(label: Optional[str] = None) -> None:
    """Forgets pool `label` (None: every pool), ending a process pool's
    workers (their actors stop with them). A label may be configured again
    afterwards."""
    with _LOCK:
        labels = list(_POOLS) if label is None else [label]
        pools = [p for p in (_POOLS.pop(lb, None) for lb in labels) if p is not None]
    for pool in pools:
        set_long_handler_limit(pool.label, None)
        if pool.process is not None:
            pool.process.close()


def interpreter_metrics() -> list[dict[str, Any]]:
    """:func:`atomr._native.interpreter_metrics` (one dict per label of each
    live system) plus one dict per process or subinterpreter pool, summed
    over its workers' or interpreters' own metrics (``system`` is None
    there; one that does not answer within a second is left out)."""
    out = list(_native.interpreter_metrics())
    for pool in list(_POOLS.values()):
        if pool.process is not None:
            out.append(pool.process.metrics())
    return out


def _hosted(label: str) -> int:
    return sum(int(m["actors_hosted"]) for m in _native.interpreter_metrics()  # type: ignore[call-overload]
               if m["label"] == label)


def _spawn(system: ActorSystem, props: Any, name: Optional[str]) -> Any:
    """``actor_of``'s pool step (installed into the actor layer): spawns in
    a process pool, or checks the quota of an in-process pool. None: the
    actor layer spawns as usual."""
    label = getattr(props, "interpreter_role", None)
    pool = _POOLS.get(label) if label is not None else None
    if pool is None:
        if getattr(props, "dispatcher", None) == PROCESS_POOL and label is not None:
            configure_interpreter(label, PROCESS_POOL)  # auto-created: one worker
            pool = _POOLS.get(label)
        if pool is None:
            return None
    if pool.process is not None:
        return pool.process.spawn(system, props, name)
    limit = pool.quota.max_actors
    if limit is None:
        return None
    with pool.lock:
        if _hosted(pool.label) >= limit:
            raise InterpreterOverloaded(
                f"interpreter pool {pool.label!r} hosts its maximum of {limit} actor(s)")
        return system._core.spawn(props, name)


_system_mod._pool_spawn = _spawn
