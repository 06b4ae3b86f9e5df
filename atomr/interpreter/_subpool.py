"""python-subinterpreter-pool: actors in own-GIL subinterpreters (PEP 684,
Python 3.12+), the main interpreter's side.

``count`` subinterpreters, each created, run and finalized by a thread of
its own (``atomr._native._subinterp``), each running the dispatcher loop
of :mod:`atomr.interpreter._subrt` over its actors. Mail crosses as bytes
(pickle, refs as persistent ids) over C++ channels that need no GIL but
the caller's: one inbox per interpreter, one outbox per pool read by a
reader thread here, which completes asks, delivers the pool's mail to
main-interpreter actors, and turns lifecycle notices into ``Terminated``
for watchers.

The interpreters start when the pool is configured and are finalized when
the last actor system that spawned into the pool terminates (or at
:func:`~atomr.interpreter.shutdown_pools`, or at exit); a later spawn
starts them again.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import io
import itertools
import json
import logging
import math
import os
import pickle
import sys
import threading
import time
import weakref
from typing import Any, Optional

from atomr._native import _subinterp as _chan
from atomr.actor import ActorRef, ActorSystem, Terminated
from atomr.errors import (
    ActorNameTakenError,
    ActorTerminatedError,
    AskTimeoutError,
    AtomrError,
    InterpreterOverloaded,
)
from atomr._util.exports import public_module
from atomr.interpreter._quota import InterpreterQuota

_log = logging.getLogger("atomr.interpreter")

#: Seconds an interpreter may take to start (a loaded 2-core machine).
START_DEADLINE = 60.0
#: Seconds finalizing one interpreter may take before it is given up on.
JOIN_DEADLINE = 30.0
#: Seconds a metrics request to an interpreter may take.
REQUEST_TIMEOUT = 1.0

_METRIC_KEYS = ("actors_hosted", "messages_handled", "gil_hold_ns_total",
                "mailbox_depth_total", "handler_panics", "long_handlers")

_IDS = itertools.count(1)
_MAIN_LOCK = threading.Lock()
# Main-interpreter refs that travelled into a pool, by id (kept: a pooled
# actor may hold one for as long as it lives).
_MAIN_REFS: dict[int, ActorRef] = {}
_MAIN_IDS: dict[ActorRef, int] = {}
# Every pooled actor's ref, by id (until its pool is finalized).
_ACTORS: dict[int, "SubinterpreterActorRef"] = {}


def bootstrap(index: int, inbox: int, outbox: int, quota: dict[str, Any]) -> str:
    """The script an interpreter of a pool runs: registers empty packages
    for ``atomr`` and the subpackages whose ``__init__`` imports the native
    core, then runs the pool runtime."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(_chan.__file__)))
    packages = {"atomr": root, "atomr._native": os.path.join(root, "_native"),
                "atomr.actor": os.path.join(root, "actor"),
                "atomr.interpreter": os.path.join(root, "interpreter")}
    return (
        "import sys, types\n"
        f"sys.path[:] = {[p for p in sys.path]!r}\n"
        f"for _name, _path in {packages!r}.items():\n"
        "    _m = types.ModuleType(_name)\n"
        "    _m.__path__ = [_path]\n"
        "    sys.modules[_name] = _m\n"
        "from atomr.interpreter import _subrt\n"
        f"_subrt.main({index}, {inbox}, {outbox}, __import__('json').loads({json.dumps(quota)!r}))\n"
    )


def _main_id(ref: ActorRef) -> int:
    with _MAIN_LOCK:
        ident = _MAIN_IDS.get(ref)
        if ident is None:
            ident = next(_IDS)
            _MAIN_IDS[ref] = ident
            _MAIN_REFS[ident] = ref
        return ident


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is SubinterpreterActorRef:
            return ("s", obj._aid, obj._path)
        if isinstance(obj, ActorRef):
            return ("m", _main_id(obj), obj.path)
        return None


def _from_token(token: Any) -> Any:
    """The ref a persistent id names here (None: gone)."""
    kind, ident, _path = token
    if kind == "s":
        return _ACTORS.get(ident)
    return _MAIN_REFS.get(ident)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        return _from_token(pid)


#: Messages without refs are plain pickles of protocol 5; those with refs
#: (persistent ids) are pickled with protocol 4, so the first bytes tell a
#: decoder whether it needs the persistent loader (and the plain path stays
#: the C pickler's, without a Python-level Pickler per message).
PLAIN_PROTOCOL = 5
REFS_PROTOCOL = 4


def encode(msg: Any) -> bytes:
    """`msg` pickled for a pool; TypeError naming it when it cannot be."""
    try:
        return pickle.dumps(msg, PLAIN_PROTOCOL)
    except Exception:  # refs inside (their __reduce__ refuses), or not picklable at all
        pass
    buf = io.BytesIO()
    try:
        _Pickler(buf, REFS_PROTOCOL).dump(msg)
    except Exception as exc:
        raise TypeError(f"a message of type {type(msg).__name__} cannot cross into a "
                        f"subinterpreter (it is pickled): {exc}") from None
    return buf.getvalue()


def decode(data: bytes) -> Any:
    if data[1] == PLAIN_PROTOCOL:
        return pickle.loads(data)
    return _Unpickler(io.BytesIO(data)).load()


def _check_timeout(timeout: Any) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number or None, not {type(timeout).__name__}")
    if not timeout > 0 or math.isinf(timeout):
        raise ValueError(f"timeout must be a positive, finite number, not {timeout!r}")
    return float(timeout)


@public_module("atomr.interpreter")
class SubinterpreterActorRef:
    """A ref to an actor in a ``python-subinterpreter-pool``, used from the
    main interpreter as a local ref is: ``tell``, ``ask``,
    ``ask_blocking``, ``forward``, ``stop``, ``ctx.watch``. Messages are
    pickled at the call (a message that cannot be raises TypeError there);
    main-interpreter refs inside them arrive as refs the pooled actor can
    tell. Equal when they name the same actor."""

    __slots__ = ("_pool", "_aid", "_path", "_worker", "_system", "_stopped", "_watchers",
                 "__weakref__")

    def __init__(self, pool: "SubinterpreterPool", aid: int, path: str, worker: int,
                 system: ActorSystem) -> None:
        self._pool = pool
        self._aid = aid
        self._path = path
        self._worker = worker
        self._system = weakref.ref(system)
        self._stopped = False
        # main-interpreter ActorRefs and pooled actors' refs (both tell)
        self._watchers: set[Any] = set()

    @property
    def path(self) -> str:
        """``akka://<system>@<label>.<index>/user/<name>``: the system that
        spawned it, the pool and the interpreter's index in it."""
        return self._path

    @property
    def name(self) -> str:
        """The last path element."""
        return self._path.rpartition("/")[2]

    def tell(self, msg: Any, sender: Any = None) -> None:
        """Sends `msg` without waiting; with a `sender` (a ref) the pooled
        handler sees it as ``ctx.sender``. Mail to a stopped actor is dropped.

        Raises:
            TypeError: `msg` cannot be pickled, or `sender` is not a ref.
        """
        token = self._sender_token(sender)
        self._pool._post(self, "msg", 0, token, encode(msg))

    def tell_with_sender(self, msg: Any, sender: Any) -> None:
        """``tell(msg, sender)``."""
        self.tell(msg, sender)

    def ask(self, msg: Any, timeout: Optional[float] = 5.0) -> Any:
        """Sends `msg` at once; returns an awaitable of the handler's return
        value (a handler exception is raised with its own type when it can
        be pickled, else as AtomrError naming it).

        Raises:
            TypeError: (at the call) `msg` cannot be pickled.
            ValueError: (at the call) `timeout` is not a positive number.
            AskTimeoutError: (when awaited) no answer within `timeout`.
            ActorTerminatedError: (when awaited) the actor is stopped.
        """
        t = _check_timeout(timeout)
        ask_id, fut = self._pool._ask(self, encode(msg))
        return self._pool._await(ask_id, fut, t, self._path)

    def ask_blocking(self, msg: Any, timeout: Optional[float] = 5.0) -> Any:
        """:meth:`ask` for a thread that is not the spawning system's loop:
        blocks (without the GIL) for the answer.

        Raises:
            RuntimeError: called on the spawning system's loop thread.
            TypeError, ValueError, AskTimeoutError, ActorTerminatedError: as :meth:`ask`.
        """
        t = _check_timeout(timeout)
        system = self._system()
        if system is not None and system._core.on_loop_thread():
            raise RuntimeError("ask_blocking() called on the actor system's own loop thread "
                               "would block it; use `await ref.ask(...)` there")
        ask_id, fut = self._pool._ask(self, encode(msg))
        try:
            return fut.result(t)
        except concurrent.futures.TimeoutError:
            self._pool._pending.pop(ask_id, None)
            raise AskTimeoutError(f"ask to {self._path} timed out after {t:g}s") from None

    def forward(self, msg: Any, ctx: Any) -> None:
        """``ctx.forward(self, msg)``: keeps the current message's sender and
        pending ask (the pooled handler's answer completes it)."""
        ctx.forward(self, msg)

    def _forward(self, msg: Any, sender: Any, reply: Any) -> None:
        token = self._sender_token(sender)
        if reply is None:
            self._pool._post(self, "msg", 0, token, encode(msg))
            return
        try:
            payload = encode(msg)
        except BaseException as exc:
            reply.fail(exc)
            raise
        self._pool._ask(self, payload, token, reply)

    def stop(self) -> None:
        """Stops the actor (its post_stop runs in its interpreter)."""
        self._pool._post(self, "stop", 0, None, b"")

    def is_terminated(self) -> bool:
        """True once the actor has stopped."""
        return self._stopped

    def _sender_token(self, sender: Any) -> Any:
        if sender is None:
            return None
        if type(sender) is SubinterpreterActorRef:
            return ("s", sender._aid, sender._path)
        if isinstance(sender, ActorRef):
            return ("m", _main_id(sender), sender.path)
        raise TypeError(f"sender must be an actor ref or None, not {type(sender).__name__}")

    def _watched_by(self, watcher: Any) -> None:
        """``ctx.watch(self)`` in `watcher`: Terminated(path) once it stops."""
        with self._pool.lock:
            if not self._stopped:
                self._watchers.add(watcher)
                return
        watcher.tell(Terminated(self._path))

    def _unwatched_by(self, watcher: Any) -> None:
        with self._pool.lock:
            self._watchers.discard(watcher)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubinterpreterActorRef):
            return NotImplemented
        return self._aid == other._aid

    def __hash__(self) -> int:
        return hash(("sub", self._aid))

    def __repr__(self) -> str:
        return f"<SubinterpreterActorRef path={self._path}>"

    def __reduce__(self) -> Any:
        raise TypeError("a SubinterpreterActorRef cannot be pickled; send it to actors of "
                        "its pool, or its path across processes")


class _Interp:
    __slots__ = ("index", "ident", "inbox", "actors")

    def __init__(self, index: int) -> None:
        self.index = index
        self.ident = 0
        self.inbox = 0
        self.actors = 0


class SubinterpreterPool:
    """`count` own-GIL subinterpreters hosting the actors of pool `label`."""

    def __init__(self, label: str, count: int, quota: InterpreterQuota) -> None:
        self.label = label
        self.count = count
        self.quota = quota
        self.lock = threading.RLock()  # the names, counts, watchers
        self.life = threading.Lock()  # start and finalize
        self.interps: list[_Interp] = []
        self.outbox = 0
        self.reader: Optional[threading.Thread] = None
        self.running = False
        self.closed = False
        self.names: dict[str, SubinterpreterActorRef] = {}
        self._pending: dict[int, Any] = {}
        self.actor_restarts = 0
        self.starts = 0
        self.systems: "weakref.WeakSet[ActorSystem]" = weakref.WeakSet()

    # -- interpreters -----------------------------------------------------------

    def start(self) -> None:
        """Starts the interpreters and waits until each runs its loop.

        Raises:
            AtomrError: an interpreter failed to start (the others are ended).
        """
        with self.life:
            if self.closed:
                raise AtomrError(f"interpreter pool {self.label!r} is shut down")
            if self.running:
                return
            self.outbox = _chan.channel_new()
            quota = self.quota.to_dict()
            self.interps = []
            try:
                for i in range(self.count):
                    it = _Interp(i)
                    it.inbox = _chan.channel_new()
                    self.interps.append(it)
                    it.ident = _chan.interp_start(bootstrap(i, it.inbox, self.outbox, quota))
                self._wait_ready()
            except BaseException:
                self._end_interps()
                raise
            self.running = True
            self.starts += 1
            self.reader = threading.Thread(target=self._read, daemon=True,
                                           name=f"atomr-subpool-{self.label}")
            self.reader.start()
            _ALL.add(self)

    def _wait_ready(self) -> None:
        ready: set[int] = set()
        deadline = time.monotonic() + START_DEADLINE
        while len(ready) < len(self.interps):
            items = _chan.channel_pop(self.outbox, 0.05)
            for raw in items or ():
                op, index = pickle.loads(raw)[:2]
                if op == "ready":
                    ready.add(index)
            for it in self.interps:
                if it.index in ready or not it.ident:
                    continue
                ended, failed, error = _chan.interp_status(it.ident)
                if ended:
                    raise AtomrError(f"subinterpreter {it.index} of pool {self.label!r} did "
                                     f"not start: {error or 'it ended'}")
            if time.monotonic() > deadline:
                raise AtomrError(f"the subinterpreters of pool {self.label!r} did not start "
                                 f"within {START_DEADLINE:g}s")

    def _end_interps(self) -> None:
        """Closes the inboxes (each loop stops its actors and returns), waits
        for the interpreters to be finalized, then ends the reader."""
        for it in self.interps:
            if it.inbox:
                _chan.channel_close(it.inbox)
        for it in self.interps:
            if it.ident and not _chan.interp_join(it.ident, JOIN_DEADLINE):
                _log.error("subinterpreter %d of pool %r did not end within %gs", it.index,
                           self.label, JOIN_DEADLINE)
            if it.inbox:
                _chan.channel_free(it.inbox)
        if self.outbox:
            _chan.channel_close(self.outbox)
        reader = self.reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(JOIN_DEADLINE)
        if self.outbox:
            _chan.channel_free(self.outbox)
        self.reader = None
        self.interps = []
        self.outbox = 0

    def finalize(self) -> None:
        """Stops every actor and finalizes the interpreters (a later spawn
        starts them again)."""
        with self.life:
            if not self.running:
                return
            with self.lock:
                self.running = False
            self._end_interps()  # the reader still delivers the last notices
            with self.lock:
                refs = [r for r in _ACTORS.values() if r._pool is self]
                pending, self._pending = self._pending, {}
                self.names.clear()
        for ref in refs:
            self._stopped(ref)
            _ACTORS.pop(ref._aid, None)
        for fut in pending.values():
            self._resolve(fut, False, ActorTerminatedError(
                f"interpreter pool {self.label!r} was shut down"))

    def close(self) -> None:
        """Finalizes the interpreters for good."""
        self.closed = True
        self.finalize()

    # -- the main interpreter's side of the mail ---------------------------------

    def _push(self, worker: int, op: str, aid: int, ask_id: int, sender: Any,
              payload: bytes) -> bool:
        interps = self.interps
        if worker >= len(interps):
            return False
        return bool(_chan.channel_push(interps[worker].inbox, pickle.dumps(
            (op, aid, ask_id, sender, payload), pickle.HIGHEST_PROTOCOL)))

    def _post(self, ref: SubinterpreterActorRef, op: str, ask_id: int, sender: Any,
              payload: bytes) -> bool:
        if ref._stopped:
            return False
        return self._push(ref._worker, op, ref._aid, ask_id, sender, payload)

    def _ask(self, ref: SubinterpreterActorRef, payload: bytes, sender: Any = None,
             reply: Any = None) -> tuple[int, Any]:
        ask_id = next(_IDS)
        fut: Any = concurrent.futures.Future() if reply is None else reply
        self._pending[ask_id] = fut
        if not self._post(ref, "msg", ask_id, sender, payload):
            self._pending.pop(ask_id, None)
            self._resolve(fut, False, ActorTerminatedError(f"actor {ref._path} is stopped"))
        return ask_id, fut

    async def _await(self, ask_id: int, fut: Any, timeout: Optional[float], path: str) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            self._pending.pop(ask_id, None)
            raise AskTimeoutError(f"ask to {path} timed out after {timeout:g}s") from None

    @staticmethod
    def _resolve(fut: Any, ok: bool, value: Any) -> None:
        if isinstance(fut, concurrent.futures.Future):
            if fut.done():
                return
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
            return
        if fut.answered:  # a DeferredReply of a forwarded ask
            return
        if ok:
            fut.tell(value)
        else:
            fut.fail(value)

    def _stopped(self, ref: SubinterpreterActorRef) -> None:
        with self.lock:
            if ref._stopped:
                return
            ref._stopped = True
            watchers, ref._watchers = ref._watchers, set()
            if self.names.get(ref.name) is ref:
                del self.names[ref.name]
            if ref._worker < len(self.interps):
                self.interps[ref._worker].actors -= 1
        for watcher in watchers:
            watcher.tell(Terminated(ref._path))

    def _read(self) -> None:
        """The reader thread: every notice of every interpreter of the pool."""
        outbox = self.outbox
        while True:
            items = _chan.channel_pop(outbox, -1.0)
            if items is None:
                return
            for raw in items:
                try:
                    self._on(*pickle.loads(raw))
                except Exception:
                    _log.exception("interpreter pool %r: a notice failed", self.label)

    def _on(self, op: str, aid: int, ask_id: int, sender: Any, payload: bytes) -> None:
        if op == "reply":
            fut = self._pending.pop(ask_id, None)
            if fut is None:
                return  # timed out
            try:
                value, ok = decode(payload), bool(sender)
            except Exception as exc:
                value, ok = TypeError(f"the reply cannot be decoded here: {exc}"), False
            self._resolve(fut, ok, value)
        elif op == "tell":
            kind, token = sender
            msg = decode(payload)
            sender_ref = None if token is None else _from_token(token)
            if kind == "m":
                target = _MAIN_REFS.get(aid)
                if target is not None:
                    target.tell_with_sender(
                        msg, sender_ref if isinstance(sender_ref, ActorRef) else None)
            else:
                sub = _ACTORS.get(aid)
                if sub is not None:
                    sub.tell(msg, sender_ref)
        elif op == "stopped":
            ref = _ACTORS.get(aid)
            if ref is not None:
                self._stopped(ref)
        elif op == "spawn-failed":
            ref = _ACTORS.get(aid)
            _log.error("interpreter pool %r: spawning %s failed: %s", self.label,
                       ref.path if ref is not None else aid, decode(payload))
            if ref is not None:
                self._stopped(ref)
        elif op in ("watch", "unwatch"):  # a pooled actor watches one in another interpreter
            watcher_aid, path = sender
            watcher, watched = _ACTORS.get(watcher_aid), _ACTORS.get(aid)
            if watcher is None:
                return
            if op == "unwatch":
                if watched is not None:
                    watched._unwatched_by(watcher)
            elif watched is None:
                watcher.tell(Terminated(path, existence_confirmed=False))
            else:
                watched._watched_by(watcher)
        elif op == "restarted":
            self.actor_restarts += 1
        elif op == "stop":
            ref = _ACTORS.get(aid)
            if ref is not None:
                ref.stop()
        elif op == "metrics":
            fut = self._pending.pop(ask_id, None)
            if fut is not None:
                self._resolve(fut, True, decode(payload))
        elif op not in ("started", "ready"):
            _log.error("interpreter pool %r: unknown notice %r", self.label, op)

    # -- spawning ---------------------------------------------------------------

    def spawn(self, system: ActorSystem, props: Any, name: Optional[str]) -> Any:
        """Spawns an actor of `props` in the interpreter with the fewest
        actors; returns its ref at once (mail sent right after is handled
        by the new actor: the spawn request goes first on the same inbox)."""
        from atomr._native import validate_name
        from atomr.interpreter._process import _class_path

        system.check_live()
        module, qualname = _class_path(props)
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"actor name must be a str, not {type(name).__name__}")
            validate_name(name)
        if not self.running:
            self.start()
        with self.lock:
            if not self.running:
                raise AtomrError(f"interpreter pool {self.label!r} is shutting down")
            if name is not None and name in self.names:
                raise ActorNameTakenError(
                    f"actor name `{name}` already taken in interpreter pool {self.label!r}")
            limit = self.quota.max_actors
            if limit is not None and len(self.names) >= limit:
                raise InterpreterOverloaded(
                    f"interpreter pool {self.label!r} hosts its maximum of {limit} actor(s)")
            if name is None:
                n = len(self.names)
                while f"pooled-{n}" in self.names:
                    n += 1
                name = f"pooled-{n}"
            it = min(self.interps, key=lambda i: i.actors)
            aid = next(_IDS)
            path = f"akka://{system.name}@{self.label}.{it.index}/user/{name}"
            ref = SubinterpreterActorRef(self, aid, path, it.index, system)
            it.actors += 1
            self.names[name] = ref
            _ACTORS[aid] = ref
            if system not in self.systems:
                self.systems.add(system)
                system.register_on_termination(
                    functools.partial(self._system_ended, weakref.ref(system)))
            self._push(it.index, "spawn", aid, 0, (module, qualname, path), b"")
        return ref

    def _system_ended(self, system_ref: Any) -> None:
        """A system that spawned here terminated: its actors stop; with it
        the last, the interpreters are finalized."""
        system = system_ref()
        with self.lock:
            if system is not None:
                self.systems.discard(system)
            live = [s for s in self.systems if not s.is_terminated]
            mine = [r for r in _ACTORS.values()
                    if r._pool is self and r._system() in (None, system)]
        if not live:
            self.finalize()
            return
        for ref in mine:
            ref.stop()

    # -- metrics ----------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """The pool's metrics, summed over its interpreters."""
        out: dict[str, Any] = {"label": self.label, "kind": "python-subinterpreter-pool",
                               "system": None}
        out.update(dict.fromkeys(_METRIC_KEYS, 0))
        out["interpreters"] = self.count if self.running else 0
        out["actor_restarts"] = self.actor_restarts
        asks = []
        with self.lock:
            if self.running:
                for it in self.interps:
                    ask_id = next(_IDS)
                    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
                    self._pending[ask_id] = fut
                    self._push(it.index, "metrics", 0, ask_id, None, b"")
                    asks.append((ask_id, fut))
        for ask_id, fut in asks:
            try:
                m = fut.result(REQUEST_TIMEOUT)
            except Exception:
                self._pending.pop(ask_id, None)
                continue
            for key in _METRIC_KEYS:
                out[key] += m[key]
        return out


_ALL: "weakref.WeakSet[SubinterpreterPool]" = weakref.WeakSet()


def _close_all() -> None:
    for pool in list(_ALL):
        pool.close()


atexit.register(_close_all)
