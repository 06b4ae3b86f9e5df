"""The actor runtime inside one subinterpreter of a
``python-subinterpreter-pool`` (see :mod:`atomr.interpreter._subpool`).

This module runs *inside* an own-GIL subinterpreter, where the native core
(``atomr._native._core``) cannot be imported. The bootstrap script (built
by ``_subpool.bootstrap``) registers empty package modules for ``atomr``,
``atomr._native``, ``atomr.actor`` and ``atomr.interpreter`` (their
``__init__`` files import the core), imports this module and calls
:func:`main`. :func:`install_face` then gives the ``atomr`` package what
actor modules import in a pool: ``Actor`` (the real class), ``Terminated``,
``errors``; anything else raises AttributeError naming the limit.

One thread, the interpreter's own, runs :class:`Runtime`: it pops byte
strings from the interpreter's inbox channel (``atomr._native._subinterp``,
C++ queues that need no other interpreter's GIL), decodes them with pickle
and runs the handlers; replies, mail for other interpreters and lifecycle
notices go back as bytes on the pool's outbox channel.

Wire format (pickle): an envelope ``(op, aid, ask_id, sender, payload)``,
where `payload` is the message pickled on its own (so an envelope is read
even when its message cannot be) and refs inside messages travel as
persistent ids: ``("m", id, path)`` an actor of the main interpreter,
``("s", aid, path)`` an actor of the pool.
"""

from __future__ import annotations

import io
import logging
import pickle
import sys
import time
import types
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

from atomr._native import _subinterp as _chan

_log = logging.getLogger("atomr.interpreter.sub")

#: Restarts allowed within RESTART_WINDOW seconds before a failing actor is
#: stopped (the default supervisor strategy's numbers).
MAX_RESTARTS = 10
RESTART_WINDOW = 60.0


@dataclass(frozen=True)
class Terminated:
    """Delivered to watchers (in this interpreter) of an actor that stopped;
    the same fields as :class:`atomr.Terminated`, which it becomes when it
    crosses to the main interpreter."""

    path: str
    existence_confirmed: bool = field(default=True, compare=False)
    address_terminated: bool = field(default=False, compare=False)


Terminated.__module__ = "atomr.supervision"

_FACE_NAMES = ("Actor", "Terminated", "errors")


def _face_getattr(name: str) -> Any:
    raise AttributeError(
        f"atomr.{name} is not available inside a subinterpreter pool (the actor runtime "
        f"there offers {', '.join(_FACE_NAMES)} and the handler's context)")


def install_face() -> None:
    """Fills the ``atomr`` package module registered by the bootstrap."""
    from atomr import errors
    from atomr.actor._actor import Actor

    atomr = sys.modules["atomr"]
    supervision = types.ModuleType("atomr.supervision")
    supervision.Terminated = Terminated  # type: ignore[attr-defined]
    sys.modules["atomr.supervision"] = supervision
    atomr.Actor = Actor  # type: ignore[attr-defined]
    atomr.Terminated = Terminated  # type: ignore[attr-defined]
    atomr.errors = errors  # type: ignore[attr-defined]
    atomr.supervision = supervision  # type: ignore[attr-defined]
    vars(atomr)["__getattr__"] = _face_getattr
    atomr.__all__ = list(_FACE_NAMES)  # type: ignore[attr-defined]


class Ref:
    """A ref as an actor in a subinterpreter sees it: ``tell`` reaches an
    actor of this interpreter directly (the object itself, no copy), any
    other through the main interpreter (pickled)."""

    __slots__ = ("kind", "id", "path")

    def __init__(self, kind: str, ident: int, path: str) -> None:
        self.kind = kind
        self.id = ident
        self.path = path

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def tell(self, msg: Any, sender: Optional["Ref"] = None) -> None:
        """Sends `msg`; with `sender` the receiver sees it as ``ctx.sender``."""
        _RUNTIME.tell(self, msg, sender)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ref):
            return NotImplemented
        return (self.kind, self.id) == (other.kind, other.id)

    def __hash__(self) -> int:
        return hash((self.kind, self.id))

    def __repr__(self) -> str:
        return f"<ActorRef path={self.path}>"

    def __reduce__(self) -> Any:
        raise TypeError("a ref travels as a persistent id")


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is Ref:
            return (obj.kind, obj.id, obj.path)
        return None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        kind, ident, path = pid
        return Ref(kind, ident, path)


def encode(obj: Any) -> bytes:
    """`obj` pickled: plain (protocol 5) without refs, with persistent ids
    (protocol 4) with refs; the main interpreter's ``_subpool.encode`` alike."""
    try:
        return pickle.dumps(obj, 5)
    except Exception:  # a Ref inside (its __reduce__ refuses), or not picklable
        pass
    buf = io.BytesIO()
    _Pickler(buf, 4).dump(obj)
    return buf.getvalue()


def decode(data: bytes) -> Any:
    if data[1] == 5:
        return pickle.loads(data)
    return _Unpickler(io.BytesIO(data)).load()


class Context:
    """The context a handler gets in a subinterpreter: a subset of
    :class:`atomr.Context` (``self_ref``, ``path``, ``sender``, ``log``,
    ``stop_self``, ``stop``, ``watch``, ``unwatch``)."""

    __slots__ = ("_cell", "sender")

    def __init__(self, cell: "_Cell") -> None:
        self._cell = cell
        self.sender: Optional[Ref] = None

    @property
    def self_ref(self) -> Ref:
        return self._cell.ref

    @property
    def path(self) -> str:
        return self._cell.ref.path

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"atomr.interpreter.sub.{self._cell.ref.name}")

    def stop_self(self) -> None:
        """Stops this actor after the current message."""
        self._cell.stopping = True

    def stop(self, ref: Ref) -> None:
        """Stops `ref`, an actor of this pool."""
        _RUNTIME.stop_ref(ref)

    def watch(self, ref: Ref) -> Ref:
        """Delivers ``Terminated(ref.path)`` once `ref` stops; `ref` is an
        actor of this pool (of this interpreter, or of another one: then
        through the main interpreter). A main-interpreter actor cannot be
        watched from here (ValueError)."""
        _RUNTIME.watch(self._cell, ref)
        return ref

    def unwatch(self, ref: Ref) -> Ref:
        if ref.kind != "s":
            return ref
        target = _RUNTIME.actors.get(ref.id)
        if target is not None:
            target.watchers.discard(self._cell.ref.id)
        elif ref.id not in _RUNTIME.known:
            _RUNTIME.send("unwatch", ref.id, 0, (self._cell.aid, ref.path))
        return ref


class _Cell:
    __slots__ = ("aid", "ref", "cls", "instance", "ctx", "stopping", "watchers", "restarts",
                 "handled", "long", "panics", "busy_ns")

    def __init__(self, aid: int, path: str, cls: type) -> None:
        self.aid = aid
        self.ref = Ref("s", aid, path)
        self.cls = cls
        self.instance: Any = None
        self.ctx = Context(self)
        self.stopping = False
        self.watchers: set[int] = set()
        self.restarts: deque[float] = deque()
        self.handled = 0
        self.long = 0
        self.panics = 0
        self.busy_ns = 0


def _run(result: Any) -> Any:
    """A handler's result; a coroutine is run to completion first."""
    if hasattr(result, "__await__") and hasattr(result, "send"):
        import asyncio

        return asyncio.run(_await(result))
    return result


async def _await(coro: Any) -> Any:
    return await coro


class Runtime:
    """The dispatcher loop of one subinterpreter."""

    def __init__(self, index: int, inbox: int, outbox: int, quota: dict[str, Any]) -> None:
        self.index = index
        self.inbox = inbox
        self.outbox = outbox
        self.actors: dict[int, _Cell] = {}
        self.queue: deque[Any] = deque()  # envelopes (bytes) and local mail (tuples)
        limit = quota.get("max_handler_ms")
        self.long_ns = None if limit is None else int(limit * 1_000_000)
        self.known: set[int] = set()  # every actor spawned here
        self.dead_letters = 0
        self.retired = [0, 0, 0, 0]  # handled, long, panics, busy_ns of stopped actors

    # -- outbound ---------------------------------------------------------------

    def send(self, op: str, aid: int = 0, ask_id: int = 0, sender: Any = None,
             payload: bytes = b"") -> None:
        _chan.channel_push(self.outbox, pickle.dumps((op, aid, ask_id, sender, payload),
                                                     pickle.HIGHEST_PROTOCOL))

    def reply(self, ask_id: int, ok: bool, value: Any) -> None:
        try:
            payload = encode(value)
        except Exception as exc:
            ok, payload = False, encode(TypeError(
                f"the reply ({type(value).__name__}) cannot cross interpreters: {exc}"))
        self.send("reply", ask_id=ask_id, sender=ok, payload=payload)

    def fail(self, ask_id: int, exc: BaseException) -> None:
        try:
            payload = encode(exc)
            if not isinstance(decode(payload), BaseException):
                raise TypeError("not an exception once decoded")
        except Exception:
            from atomr.errors import AtomrError

            payload = encode(AtomrError(f"{type(exc).__name__}: {exc}"))
        self.send("reply", ask_id=ask_id, sender=False, payload=payload)

    def tell(self, ref: Ref, msg: Any, sender: Optional[Ref]) -> None:
        if ref.kind == "s" and ref.id in self.actors:
            self.queue.append(("local", ref.id, 0, sender, msg))
            return
        token = None if sender is None else (sender.kind, sender.id, sender.path)
        self.send("tell", ref.id, 0, (ref.kind, token), encode(msg))

    # -- lifecycle --------------------------------------------------------------

    def spawn(self, aid: int, path: str, module: str, qualname: str) -> None:
        try:
            from atomr.interpreter._worker import load_class

            cls = load_class(module, qualname)
            cell = _Cell(aid, path, cls)
            cell.instance = cls()
            self.actors[aid] = cell
            self.known.add(aid)
            _run(cell.instance.pre_start(cell.ctx))
        except BaseException as exc:
            self.actors.pop(aid, None)
            self.send("spawn-failed", aid, payload=encode(f"{type(exc).__name__}: {exc}"))
            return
        self.send("started", aid)

    def stop_ref(self, ref: Ref) -> None:
        if ref.kind == "s" and ref.id in self.actors:
            self.actors[ref.id].stopping = True
            self.queue.append(("stop-now", ref.id, 0, None, None))
        elif ref.kind == "s":
            self.send("stop", ref.id)

    def finish(self, cell: _Cell) -> None:
        """Stops `cell`: post_stop, its watchers here, the main interpreter."""
        self.actors.pop(cell.aid, None)
        try:
            _run(cell.instance.post_stop(cell.ctx))
        except Exception:
            _log.exception("post_stop of %s failed", cell.ref.path)
        for watcher in cell.watchers:
            if watcher in self.actors:
                self.queue.append(("local", watcher, 0, None, Terminated(cell.ref.path)))
        for i, n in enumerate((cell.handled, cell.long, cell.panics, cell.busy_ns)):
            self.retired[i] += n
        self.send("stopped", cell.aid)

    def watch(self, watcher: _Cell, ref: Ref) -> None:
        if ref.kind != "s":
            raise ValueError(f"an actor in a subinterpreter can watch only actors of its "
                             f"pool, not {ref.path}")
        target = self.actors.get(ref.id)
        if target is None:
            if ref.id not in self.known:  # in another interpreter: the main one relays
                self.send("watch", ref.id, 0, (watcher.aid, ref.path))
                return
            self.queue.append(("local", watcher.aid, 0, None,
                               Terminated(ref.path, existence_confirmed=False)))
            return
        target.watchers.add(watcher.aid)

    def failed(self, cell: _Cell, exc: BaseException, msg: Any) -> None:
        """The default supervision, in this interpreter: restart (a fresh
        instance) up to MAX_RESTARTS times within RESTART_WINDOW seconds,
        then stop."""
        cell.panics += 1
        _log.error("actor %s failed: %s: %s", cell.ref.path, type(exc).__name__, exc)
        now = time.monotonic()
        while cell.restarts and now - cell.restarts[0] > RESTART_WINDOW:
            cell.restarts.popleft()
        if len(cell.restarts) >= MAX_RESTARTS:
            self.finish(cell)
            return
        cell.restarts.append(now)
        try:
            _run(cell.instance.pre_restart(cell.ctx, exc, msg))
        except Exception:
            _log.exception("pre_restart of %s failed", cell.ref.path)
        try:
            cell.instance = cell.cls()
            _run(cell.instance.post_restart(cell.ctx, exc))
        except BaseException:
            _log.exception("restarting %s failed; it stops", cell.ref.path)
            self.finish(cell)
            return
        self.send("restarted", cell.aid)

    # -- the loop ---------------------------------------------------------------

    def deliver(self, aid: int, ask_id: int, sender: Any, msg: Any) -> None:
        cell = self.actors.get(aid)
        if cell is None:
            self.dead_letters += 1
            if ask_id:
                from atomr.errors import ActorTerminatedError

                self.fail(ask_id, ActorTerminatedError(f"actor {aid} is stopped"))
            return
        ctx = cell.ctx
        ctx.sender = sender
        start = time.perf_counter_ns()
        try:
            result = _run(cell.instance.handle(ctx, msg))
        except BaseException as exc:
            spent = time.perf_counter_ns() - start
            self.account(cell, spent)
            if ask_id:
                self.fail(ask_id, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.failed(cell, exc, msg)
            return
        finally:
            ctx.sender = None
        self.account(cell, time.perf_counter_ns() - start)
        if ask_id:
            self.reply(ask_id, True, result)
        if cell.stopping and cell.aid in self.actors:
            self.finish(cell)

    def account(self, cell: _Cell, spent: int) -> None:
        cell.handled += 1
        cell.busy_ns += spent
        if self.long_ns is not None and spent > self.long_ns:
            cell.long += 1

    def metrics(self) -> dict[str, int]:
        cells = list(self.actors.values())
        return {
            "actors_hosted": len(cells),
            "messages_handled": self.retired[0] + sum(c.handled for c in cells),
            "long_handlers": self.retired[1] + sum(c.long for c in cells),
            "handler_panics": self.retired[2] + sum(c.panics for c in cells),
            "gil_hold_ns_total": self.retired[3] + sum(c.busy_ns for c in cells),
            "mailbox_depth_total": len(self.queue),
            "dead_letters": self.dead_letters,
        }

    def envelope(self, raw: bytes) -> None:
        op, aid, ask_id, sender, payload = pickle.loads(raw)
        if op == "msg":
            try:
                msg = decode(payload)
                sref = None if sender is None else Ref(*sender)
            except BaseException as exc:
                _log.error("a message for actor %d could not be decoded: %s", aid, exc)
                if ask_id:
                    self.fail(ask_id, exc)
                return
            self.deliver(aid, ask_id, sref, msg)
        elif op == "spawn":
            module, qualname, path = sender
            self.spawn(aid, path, module, qualname)
        elif op == "stop":
            cell = self.actors.get(aid)
            if cell is not None:
                self.finish(cell)
        elif op == "metrics":
            self.send("metrics", self.index, ask_id, None, encode(self.metrics()))
        else:
            _log.error("unknown pool operation %r", op)

    def step(self, item: Any) -> None:
        if isinstance(item, bytes):
            self.envelope(item)
            return
        kind, aid, _, sender, msg = item
        if kind == "stop-now":
            cell = self.actors.get(aid)
            if cell is not None:
                self.finish(cell)
        else:
            self.deliver(aid, 0, sender, msg)

    def run(self) -> None:
        queue = self.queue
        while True:
            while queue:
                try:
                    self.step(queue.popleft())
                except Exception:
                    _log.exception("subinterpreter %d: a message failed", self.index)
            items = _chan.channel_pop(self.inbox, -1.0)
            if items is None:
                break
            queue.extend(items)
        for cell in list(self.actors.values()):
            self.finish(cell)


_RUNTIME: Runtime


def main(index: int, inbox: int, outbox: int, quota: dict[str, Any]) -> None:
    """Runs the interpreter's loop until its inbox closes."""
    global _RUNTIME
    install_face()
    deny = quota.get("module_denylist") or []
    allow = quota.get("module_allowlist")
    if quota.get("import_policy") == "eager" and allow:
        import importlib

        for name in allow:
            importlib.import_module(name)
    if deny or allow is not None:
        from atomr.interpreter._worker import _ImportGate

        sys.meta_path.insert(0, _ImportGate(deny, allow))
    _RUNTIME = Runtime(index, inbox, outbox, quota)
    _RUNTIME.send("ready", index)
    _RUNTIME.run()
