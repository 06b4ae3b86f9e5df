"""The actor runtime inside one subinterpreter of a
``python-subinterpreter-pool`` (see :mod:`atomr.interpreter._subpool`).

This module runs *inside* an own-GIL subinterpreter, without the native
core (``atomr._native._core``, importable there on 3.12+ but not used by
the pools yet; see docs/pools.md). The bootstrap script (built
by ``_subpool.bootstrap``) registers empty package modules for ``atomr``,
``atomr._native``, ``atomr.actor`` and ``atomr.interpreter`` (their
``__init__`` files import the core), imports this module and calls
:func:`main`. :func:`install_face` then gives the ``atomr`` package what
actor modules import in a pool: ``Actor`` (the real class), ``props``,
``Terminated``, ``errors``, ``supervision`` (strategies, ``Directive``,
``class_path``); anything else raises AttributeError naming the limit.

One thread, the interpreter's own, runs an asyncio event loop: its reader
pops byte strings from the interpreter's inbox channel
(``atomr._native._subinterp``, C++ queues that need no other
interpreter's GIL; the channel writes a byte to a pipe the loop watches
when mail lands in the empty queue), decodes them with pickle and hands
them to the actors' mailboxes; replies, mail for other interpreters and
lifecycle notices go back as bytes on the pool's outbox channel.

Each actor handles one message at a time: a handler that suspends (an
``await`` of an ask, a sleep) keeps its later mail queued while the
interpreter's other actors go on. Children (``ctx.spawn``), timers,
stash, ``become``, asks (to actors here, in other interpreters of the
pool and in the main interpreter), death watch and the supervisor
strategy of the actor's props work as in the main runtime; see
``docs/pools.md`` for the exact list.

On Python 3.12 the C accelerator of asyncio (``_asyncio``) keeps state
shared by every interpreter, which corrupts memory when a subinterpreter
with its own allocator awaits a future; the bootstrap therefore hides it
there (asyncio then uses its pure-Python Future and Task). 3.13 is fixed.

Wire format (pickle): an envelope ``(op, aid, ask_id, sender, payload)``,
where `payload` is the message pickled on its own (so an envelope is read
even when its message cannot be) and refs inside messages travel as
persistent ids: ``("m", id, path)`` an actor of the main interpreter,
``("s", aid, path)`` an actor of the pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import logging
import os
import pickle
import sys
import time
import types
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from atomr._native import _subinterp as _chan
from atomr.interpreter._subwire import (
    CODEC_MARK,
    codec_payload,
    pack,
    split_codec_payload,
    unpack,
)

_log = logging.getLogger("atomr.interpreter.sub")

#: Restarts allowed within RESTART_WINDOW seconds before a failing actor is
#: stopped (the default supervisor strategy's numbers).
MAX_RESTARTS = 10
RESTART_WINDOW = 60.0
#: Messages one actor handles before the others get their turn.
THROUGHPUT = 64

_MISSING: Any = object()


# -- what `atomr` offers inside the pool ------------------------------------------


@dataclass(frozen=True)
class Terminated:
    """Delivered to watchers (in this interpreter) of an actor that stopped;
    the same fields as :class:`atomr.Terminated`, which it becomes when it
    crosses to the main interpreter."""

    path: str
    existence_confirmed: bool = field(default=True, compare=False)
    address_terminated: bool = field(default=False, compare=False)


Terminated.__module__ = "atomr.supervision"


class Directive:
    """What a strategy does with a failed actor (``atomr.supervision.Directive``)."""

    RESUME = "resume"
    RESTART = "restart"
    STOP = "stop"
    ESCALATE = "escalate"
    ALL = (RESUME, RESTART, STOP, ESCALATE)


Directive.__module__ = "atomr.supervision"


def class_path(exc_cls: type) -> str:
    """``"<module>.<qualname>"`` of a class."""
    if not isinstance(exc_cls, type):
        raise TypeError(f"class_path expects a class, not {type(exc_cls).__name__}")
    return f"{exc_cls.__module__}.{exc_cls.__qualname__}"


class SupervisorStrategy:
    """A supervisor strategy inside the pool: the same decider table as
    :class:`atomr.SupervisorStrategy` (exact class path first, then the
    bare class name, else `default`), and its restart budget. Props from
    the main interpreter bring theirs as one of these."""

    __slots__ = ("kind", "rules", "default", "max_retries", "within_seconds", "_table")

    def __init__(self, kind: str, rules: Any = (), default: Optional[str] = None,
                 max_retries: Optional[int] = None,
                 within_seconds: Optional[float] = None) -> None:
        if kind not in ("one_for_one", "all_for_one"):
            raise ValueError(f"unknown strategy kind {kind!r}")
        items = rules.items() if hasattr(rules, "items") else rules
        table: dict[str, str] = {}
        pairs = []
        for key, directive in items:
            if isinstance(key, type):
                key = class_path(key)
            elif not isinstance(key, str):
                raise TypeError(f"a decider key must be an exception class or a class path, "
                                f"not {type(key).__name__}")
            pairs.append((key, _directive(directive)))
            table.setdefault(key, _directive(directive))
        self.kind = kind
        self.rules = pairs
        self.default = _directive("restart" if default is None else default)
        if max_retries is not None and (isinstance(max_retries, bool)
                                        or not isinstance(max_retries, int) or max_retries < 0):
            raise ValueError(f"max_retries must be a non-negative int or None, not {max_retries!r}")
        if within_seconds is not None and (isinstance(within_seconds, bool)
                                           or not isinstance(within_seconds, (int, float))
                                           or not within_seconds > 0):
            raise ValueError(f"within_seconds must be a positive number or None, "
                             f"not {within_seconds!r}")
        self.max_retries = max_retries
        self.within_seconds = None if within_seconds is None else float(within_seconds)
        self._table = table

    def decide(self, path: str) -> str:
        """The directive for an exception class path (or ``"path: message"``)."""
        path = path.partition(": ")[0]
        found = self._table.get(path)
        if found is None:
            found = self._table.get(path.rpartition(".")[2])
        if found is None:
            for key, directive in self.rules:
                if key.rpartition(".")[2] == path.rpartition(".")[2]:
                    return directive
            return self.default
        return found

    def budget(self) -> tuple[Optional[int], float]:
        """(restarts allowed, window): the runtime defaults when neither is set."""
        if self.max_retries is None and self.within_seconds is None:
            return MAX_RESTARTS, RESTART_WINDOW
        return self.max_retries, (self.within_seconds or float("inf"))

    def __repr__(self) -> str:
        return (f"<SupervisorStrategy kind={self.kind} max_retries={self.max_retries} "
                f"within={self.within_seconds}>")


SupervisorStrategy.__module__ = "atomr.supervision"


def _directive(value: Any) -> str:
    if value not in Directive.ALL:
        raise ValueError(f"unknown directive {value!r}; expected one of "
                         f"{', '.join(Directive.ALL)}")
    return str(value)


def one_for_one(decider: Any = None, *, default: Optional[str] = None,
                max_retries: Optional[int] = None,
                within_seconds: Optional[float] = None) -> SupervisorStrategy:
    """A one-for-one strategy (``atomr.supervision.one_for_one``)."""
    return SupervisorStrategy("one_for_one", decider or (), default, max_retries, within_seconds)


def all_for_one(decider: Any = None, *, default: Optional[str] = None,
                max_retries: Optional[int] = None,
                within_seconds: Optional[float] = None) -> SupervisorStrategy:
    """An all-for-one strategy: the directive applies to every sibling."""
    return SupervisorStrategy("all_for_one", decider or (), default, max_retries, within_seconds)


def stopping() -> SupervisorStrategy:
    """Always stop."""
    return SupervisorStrategy("one_for_one", (), "stop", None, float("inf"))


def escalating() -> SupervisorStrategy:
    """Always escalate (a child's failure fails its parent)."""
    return SupervisorStrategy("one_for_one", (), "escalate", None, float("inf"))


class Props:
    """What ``ctx.spawn`` creates in the pool: an actor class (or any
    zero-argument factory) and an optional supervisor strategy."""

    __slots__ = ("factory", "supervisor_strategy")

    def __init__(self, factory: Callable[[], Any],
                 supervisor_strategy: Optional[SupervisorStrategy] = None) -> None:
        if not callable(factory):
            raise TypeError(f"props needs an actor class or factory, not {factory!r}")
        if supervisor_strategy is not None and not isinstance(supervisor_strategy,
                                                              SupervisorStrategy):
            raise TypeError("supervisor_strategy must come from atomr.supervision in the pool")
        self.factory = factory
        self.supervisor_strategy = supervisor_strategy

    def with_supervisor_strategy(self, strategy: SupervisorStrategy) -> "Props":
        return Props(self.factory, strategy)

    def with_supervisor_budget(self, max_retries: int, within_seconds: float = 60.0) -> "Props":
        return Props(self.factory, one_for_one(max_retries=max_retries,
                                               within_seconds=within_seconds))


Props.__module__ = "atomr"


def props(actor_cls: Any, *, factory: Optional[Callable[[], Any]] = None,
          supervisor_strategy: Optional[SupervisorStrategy] = None, **_ignored: Any) -> Props:
    """``atomr.props`` inside the pool (dispatcher, role and mailbox are
    accepted and ignored: a child lives in its parent's interpreter)."""
    return Props(factory if factory is not None else actor_cls, supervisor_strategy)


_FACE_NAMES = ("Actor", "Props", "props", "Terminated", "errors", "supervision")


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
    for name, value in (("Terminated", Terminated), ("Directive", Directive),
                        ("SupervisorStrategy", SupervisorStrategy), ("class_path", class_path),
                        ("one_for_one", one_for_one), ("all_for_one", all_for_one),
                        ("stopping", stopping), ("escalating", escalating)):
        setattr(supervision, name, value)
    sys.modules["atomr.supervision"] = supervision
    atomr.Actor = Actor  # type: ignore[attr-defined]
    atomr.Props = Props  # type: ignore[attr-defined]
    atomr.props = props  # type: ignore[attr-defined]
    atomr.Terminated = Terminated  # type: ignore[attr-defined]
    atomr.SupervisorStrategy = SupervisorStrategy  # type: ignore[attr-defined]
    atomr.errors = errors  # type: ignore[attr-defined]
    atomr.supervision = supervision  # type: ignore[attr-defined]
    vars(atomr)["__getattr__"] = _face_getattr
    atomr.__all__ = list(_FACE_NAMES)  # type: ignore[attr-defined]


# -- refs -------------------------------------------------------------------------

#: The actor whose handler runs (its context is copied into the handler's
#: task, so it holds after an ``await``): the implicit sender of a tell.
_CURRENT: contextvars.ContextVar[Optional["_Cell"]] = contextvars.ContextVar(
    "atomr_sub_current", default=None)


class _Hold:
    """One per main-interpreter ref id held here: counts the copies that
    arrived; once no Ref of it is left, the main interpreter is told to
    forget as many (so a ref sent in again meanwhile stays)."""

    __slots__ = ("id", "count", "__weakref__")

    def __init__(self, ident: int) -> None:
        self.id = ident
        self.count = 0

    def __del__(self) -> None:
        try:
            rt = _RUNTIME_REF()
            if rt is not None and self.count and not rt.closed:
                rt.released.append((self.id, self.count))
        except Exception:  # the interpreter is being finalized: nothing to tell
            pass


class Ref:
    """A ref as an actor in a subinterpreter sees it: ``tell`` reaches an
    actor of this interpreter directly (the object itself, no copy), any
    other through the main interpreter (pickled). ``ask`` returns an
    awaitable. Inside a handler a tell's sender defaults to the actor
    itself (Akka's implicit sender)."""

    __slots__ = ("kind", "id", "path", "_hold")

    def __init__(self, kind: str, ident: int, path: str, hold: Optional[_Hold] = None) -> None:
        self.kind = kind
        self.id = ident
        self.path = path
        self._hold = hold

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def tell(self, msg: Any, sender: Any = _MISSING) -> None:
        """Sends `msg`; the receiver sees `sender` (default: the actor whose
        handler calls this, else None) as ``ctx.sender``."""
        if sender is _MISSING:
            cell = _CURRENT.get()
            sender = None if cell is None else cell.ref
        elif sender is not None and type(sender) is not Ref:
            raise TypeError(f"sender must be a ref or None, not {type(sender).__name__}")
        _RUNTIME.tell(self, msg, sender)

    def tell_with_sender(self, msg: Any, sender: Any) -> None:
        self.tell(msg, sender)

    def ask(self, msg: Any, timeout: Optional[float] = 5.0) -> "asyncio.Future[Any]":
        """Sends `msg`; returns an awaitable of the answer (the handler's
        return value, or its exception). AskTimeoutError after `timeout`."""
        return _RUNTIME.ask(self, msg, _check_timeout(timeout))

    def forward(self, msg: Any, ctx: "Context") -> None:
        ctx.forward(self, msg)

    def stop(self) -> None:
        _RUNTIME.stop_ref(self)

    def __await__(self) -> Any:
        # `await ctx.spawn(...)` yields the ref at once
        if False:
            yield None
        return self

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


def _check_timeout(timeout: Any) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number or None, not {type(timeout).__name__}")
    if not timeout > 0 or timeout == float("inf"):
        raise ValueError(f"timeout must be a positive, finite number, not {timeout!r}")
    return float(timeout)


def _check_delay(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    d = float(value)
    if not d >= 0.0 or d == float("inf"):
        raise ValueError(f"{what} must be a non-negative, finite number of seconds, "
                         f"got {value!r}")
    return d


def _pick(positional: Any, keyword: Any, name: str) -> Any:
    if positional is not None and keyword is not None:
        raise TypeError(f"{name} given twice")
    value = positional if positional is not None else keyword
    if value is None:
        raise TypeError(f"missing {name}")
    return value


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is Ref:
            return (obj.kind, obj.id, obj.path)
        return None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        return _RUNTIME.ref_of(pid)


def encode(obj: Any) -> bytes:
    """`obj` with the codec the main interpreter sent in for its type (see
    ``_subpool._Codecs``), else pickled: plain (protocol 5) without refs,
    with persistent ids (protocol 4) with refs; the main interpreter's
    ``_subpool.encode`` alike."""
    codecs = _CODEC_TYPES
    if codecs:
        manifest = codecs.get(type(obj))
        if manifest is not None:
            return codec_payload(manifest, _REGISTRY.encode(manifest, obj))
    try:
        return pickle.dumps(obj, 5)
    except Exception:  # a Ref inside (its __reduce__ refuses), or not picklable
        pass
    buf = io.BytesIO()
    _Pickler(buf, 4).dump(obj)
    return buf.getvalue()


def decode(data: bytes) -> Any:
    if data[0] == CODEC_MARK:
        manifest, blob = split_codec_payload(data)
        if _REGISTRY is None:
            raise TypeError(f"no codec for manifest `{manifest}` was sent into this interpreter")
        msg = _REGISTRY.decode(manifest, blob)
        _CODEC_TYPES.setdefault(type(msg), manifest)
        return msg
    if data[1] == 5:
        return pickle.loads(data)
    return _Unpickler(io.BytesIO(data)).load()


# The codecs of the main interpreter's registry sent in (the registry
# module imports nothing of the native core), and the types they carry.
_REGISTRY: Any = None
_CODEC_TYPES: dict[type, str] = {}


def add_codec(shipped: bytes) -> None:
    """Registers a codec the main interpreter sent in (``_subpool._Codecs``)."""
    global _REGISTRY
    manifest, name, encoder, decoder = pickle.loads(shipped)
    if _REGISTRY is None:
        from atomr.codecs import PyCodecRegistry

        _REGISTRY = PyCodecRegistry()
    _REGISTRY.register(name, encoder, decoder, [manifest], force=True)
    for cls, known in list(_CODEC_TYPES.items()):
        if known == manifest:
            del _CODEC_TYPES[cls]
    module, _, qualname = manifest.rpartition(".")
    try:  # the class, when the manifest is its import path (else learnt when one arrives)
        from atomr.interpreter._worker import load_class

        cls = load_class(module, qualname)
    except Exception:
        return
    if isinstance(cls, type):
        _CODEC_TYPES[cls] = manifest


# -- timers -----------------------------------------------------------------------


class Cancelable:
    """A scheduled delivery (``ctx.schedule_*``). ``cancel()`` is
    idempotent; a cancelled timer never delivers again, even a message of
    it already queued."""

    __slots__ = ("owner", "target", "msg", "interval", "fixed_rate", "cancelled", "finished",
                 "handle", "due")

    def __init__(self, owner: "_Cell", target: Ref, msg: Any, delay: float, interval: float,
                 fixed_rate: bool) -> None:
        self.owner = owner
        self.target = target
        self.msg = msg
        self.interval = interval
        self.fixed_rate = fixed_rate
        self.cancelled = False
        self.finished = False
        loop = _RUNTIME.loop
        self.due = loop.time() + delay
        self.handle: Any = loop.call_at(self.due, self._fire)
        owner.timers.add(self)

    def _fire(self) -> None:
        if self.cancelled:
            return
        if self.interval > 0.0:
            loop = _RUNTIME.loop
            self.due = (self.due if self.fixed_rate else loop.time()) + self.interval
            self.handle = loop.call_at(self.due, self._fire)
        else:
            self.finished = True
            self.owner.timers.discard(self)
        _RUNTIME.deliver_timer(self)

    def cancel(self) -> bool:
        """Cancels the timer; True if it was still pending."""
        if self.cancelled or self.finished:
            return False
        self.cancelled = True
        self.handle.cancel()
        self.owner.timers.discard(self)
        return True

    def is_cancelled(self) -> bool:
        return self.cancelled

    @property
    def is_periodic(self) -> bool:
        return self.interval > 0.0

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else ("done" if self.finished else "pending")
        return f"<Cancelable {state} msg={self.msg!r}>"


class TimerScheduler:
    """An actor's keyed timers (``ctx.timers``): starting a timer with a
    key replaces the one with that key; all are cancelled when the actor
    stops or restarts."""

    __slots__ = ("_cell",)

    def __init__(self, cell: "_Cell") -> None:
        self._cell = cell

    def _start(self, key: Any, msg: Any, delay: float, interval: float, fixed_rate: bool) -> None:
        try:
            hash(key)
        except TypeError:
            raise TypeError(f"a timer key must be hashable, not {type(key).__name__}") from None
        cell = self._cell
        old = cell.keyed.pop(key, None)
        if old is not None:
            old.cancel()
        cell.keyed[key] = Cancelable(cell, cell.ref, msg, delay, interval, fixed_rate)

    def start_single_timer(self, key: Any, msg: Any, delay: float) -> None:
        """Delivers `msg` once, after `delay` seconds."""
        self._start(key, msg, _check_delay(delay, "delay"), 0.0, False)

    def start_timer_with_fixed_delay(self, key: Any, msg: Any, delay: float,
                                     initial_delay: Optional[float] = None) -> None:
        """Delivers `msg` after `initial_delay` (default: `delay`), then
        `delay` seconds after each delivery."""
        d = _check_delay(delay, "delay")
        if d == 0.0:
            raise ValueError("delay must be positive")
        i = d if initial_delay is None else _check_delay(initial_delay, "initial delay")
        self._start(key, msg, i, d, False)

    def start_timer_at_fixed_rate(self, key: Any, msg: Any, interval: float,
                                  initial_delay: Optional[float] = None) -> None:
        """Delivers `msg` after `initial_delay` (default: `interval`), then
        every `interval` seconds at a fixed rate."""
        p = _check_delay(interval, "interval")
        if p == 0.0:
            raise ValueError("interval must be positive")
        i = p if initial_delay is None else _check_delay(initial_delay, "initial delay")
        self._start(key, msg, i, p, True)

    def is_timer_active(self, key: Any) -> bool:
        t = self._cell.keyed.get(key)
        if t is None:
            return False
        if t.cancelled or t.finished:
            del self._cell.keyed[key]
            return False
        return True

    def cancel(self, key: Any) -> None:
        t = self._cell.keyed.pop(key, None)
        if t is not None:
            t.cancel()

    def cancel_all(self) -> None:
        keyed, self._cell.keyed = self._cell.keyed, {}
        for t in keyed.values():
            t.cancel()

    @property
    def active_keys(self) -> list[Any]:
        return [k for k, t in self._cell.keyed.items() if not t.cancelled and not t.finished]


# -- the context ------------------------------------------------------------------


class Context:
    """The context a handler gets in a subinterpreter: :class:`atomr.Context`
    but for what needs the main interpreter (``system``, ``reply_to``,
    receive timeouts)."""

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
    def parent(self) -> Optional[Ref]:
        """The parent's ref (None for an actor spawned from the main interpreter)."""
        p = self._cell.parent
        return None if p is None else p.ref

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"atomr.interpreter.sub.{self._cell.ref.name}")

    @property
    def children(self) -> list[Ref]:
        return [c.ref for c in self._cell.children.values()]

    def child(self, name: str) -> Optional[Ref]:
        c = self._cell.children.get(name)
        return None if c is None else c.ref

    def spawn(self, props: Any, name: Optional[str] = None) -> Ref:
        """Creates a child actor in this interpreter at ``<self path>/<name>``
        and returns its ref (which may also be awaited). `props` is
        ``atomr.props(...)`` or an actor class.

        Raises:
            InvalidActorNameError: the name breaks the path grammar.
            ActorNameTakenError: a live child already has this name.
        """
        return _RUNTIME.spawn_child(self._cell, props, name)

    def stop_self(self) -> None:
        """Stops this actor after the current message."""
        self._cell.stopping = True

    def stop(self, ref: Ref) -> None:
        """Stops `ref`, an actor of this pool."""
        _RUNTIME.stop_ref(ref)

    def stop_child(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"child name must be a str, not {type(name).__name__}")
        c = self._cell.children.get(name)
        if c is not None:
            _RUNTIME.stop_ref(c.ref)

    def watch(self, ref: Ref) -> Ref:
        """Delivers ``Terminated(ref.path)`` once `ref` stops (an actor of
        this pool, or of the main interpreter)."""
        if type(ref) is not Ref:
            raise TypeError(f"watch expects an actor ref, not {type(ref).__name__}")
        _RUNTIME.watch(self._cell, ref)
        return ref

    def unwatch(self, ref: Ref) -> Ref:
        if type(ref) is not Ref:
            raise TypeError(f"unwatch expects an actor ref, not {type(ref).__name__}")
        _RUNTIME.unwatch(self._cell, ref)
        return ref

    def ask(self, ref: Ref, msg: Any, timeout: Optional[float] = 5.0) -> "asyncio.Future[Any]":
        """``ref.ask(msg, timeout)``: ``await`` it in an ``async def`` handler."""
        return ref.ask(msg, timeout)

    def forward(self, ref: Ref, msg: Any = _MISSING) -> None:
        """Sends the current message (or `msg`) to `ref` keeping its sender
        and, for the current message, its pending ask (answered by `ref`)."""
        cell = self._cell
        if msg is _MISSING or msg is cell.cur_msg:
            msg = cell.cur_msg
            ask = cell.cur_ask
            if ask is not None and not cell.cur_done:
                cell.cur_done = True
                _RUNTIME.forward_ask(ref, msg, self.sender, ask)
                return
        ref.tell(msg, self.sender)

    # -- stash and behaviours --

    def stash(self, msg: Any = _MISSING) -> None:
        """Stashes the current message (with its sender and pending ask), or
        `msg`. A handler that stashes its message and returns None leaves
        the ask to be answered when the message is handled again."""
        cell = self._cell
        if msg is _MISSING or msg is cell.cur_msg:
            cell.stash.append((None if cell.cur_done else cell.cur_ask, self.sender,
                               cell.cur_msg, None))
            cell.cur_stashed = True
        else:
            cell.stash.append((None, self.sender, msg, None))

    def unstash_all(self) -> None:
        """Puts every stashed message back ahead of the queued mail, in the
        order they were stashed."""
        cell = self._cell
        if cell.stash:
            cell.mailbox.extendleft(reversed(cell.stash))
            cell.stash.clear()

    @property
    def stash_size(self) -> int:
        return len(self._cell.stash)

    def become(self, handler: Callable[..., Any], discard_old: bool = True) -> None:
        """From the next message on, `handler(ctx, msg)` handles mail; with
        ``discard_old=False`` the previous behaviour stays underneath."""
        if not callable(handler):
            raise TypeError(f"become expects a callable, not {type(handler).__name__}")
        stack = self._cell.behaviors
        if discard_old and stack:
            stack[-1] = handler
        else:
            stack.append(handler)

    become_ = become

    def unbecome(self) -> None:
        if self._cell.behaviors:
            self._cell.behaviors.pop()

    # -- timers --

    def schedule_once(self, delay_secs: Any = None, msg: Any = _MISSING, target: Any = None, *,
                      delay: Any = None) -> Cancelable:
        """Delivers `msg` to `target` (default: this actor) after the delay;
        cancelled when this actor stops."""
        d = _check_delay(_pick(delay_secs, delay, "delay_secs"), "delay")
        if msg is _MISSING:
            raise TypeError("schedule_once() missing the message to send")
        return self._timer(target, msg, d, 0.0, False)

    def schedule_periodically(self, initial: Any = None, interval: Any = None,
                              msg: Any = _MISSING, target: Any = None, *,
                              initial_secs: Any = None, interval_secs: Any = None) -> Cancelable:
        """Delivers `msg` after `initial` seconds, then every `interval`
        seconds at a fixed rate, until cancelled or this actor stops."""
        i = _check_delay(_pick(initial, initial_secs, "initial"), "initial delay")
        p = _check_delay(_pick(interval, interval_secs, "interval"), "interval")
        if p == 0.0:
            raise ValueError("interval must be positive")
        if msg is _MISSING:
            raise TypeError("schedule_periodically() missing the message to send")
        return self._timer(target, msg, i, p, True)

    def schedule_with_fixed_delay(self, initial: Any = None, delay: Any = None,
                                  msg: Any = _MISSING, target: Any = None, *,
                                  initial_secs: Any = None, delay_secs: Any = None) -> Cancelable:
        i = _check_delay(_pick(initial, initial_secs, "initial"), "initial delay")
        p = _check_delay(_pick(delay, delay_secs, "delay"), "delay")
        if p == 0.0:
            raise ValueError("delay must be positive")
        if msg is _MISSING:
            raise TypeError("schedule_with_fixed_delay() missing the message to send")
        return self._timer(target, msg, i, p, False)

    def _timer(self, target: Any, msg: Any, delay: float, interval: float,
               fixed_rate: bool) -> Cancelable:
        if target is None:
            target = self._cell.ref
        elif type(target) is not Ref:
            raise TypeError(f"target must be an actor ref or None, not {type(target).__name__}")
        return Cancelable(self._cell, target, msg, delay, interval, fixed_rate)

    @property
    def timers(self) -> TimerScheduler:
        cell = self._cell
        if cell.scheduler is None:
            cell.scheduler = TimerScheduler(cell)
        return cell.scheduler

    def __repr__(self) -> str:
        return f"<Context path={self._cell.ref.path}>"


# -- cells ------------------------------------------------------------------------

# A mailbox item: (ask, sender, msg, timer). `ask` is None (a tell), an int
# (an ask of the main interpreter, answered on the outbox) or an
# asyncio.Future (an ask made in this interpreter).


class _Cell:
    __slots__ = ("aid", "ref", "factory", "instance", "ctx", "parent", "children", "strategy",
                 "stopping", "stopped", "watchers", "watching", "restarts", "mailbox", "stash",
                 "behaviors", "busy", "scheduled", "task", "timers", "keyed", "scheduler",
                 "cur_msg", "cur_ask", "cur_done", "cur_stashed", "handled", "long", "panics",
                 "busy_ns", "started")

    def __init__(self, aid: int, path: str, factory: Callable[[], Any],
                 strategy: Optional[SupervisorStrategy], parent: Optional["_Cell"]) -> None:
        self.aid = aid
        self.ref = Ref("s", aid, path)
        self.factory = factory
        self.instance: Any = None
        self.ctx = Context(self)
        self.parent = parent
        self.children: dict[str, _Cell] = {}
        self.strategy = strategy
        self.stopping = False
        self.stopped = False
        self.watchers: set[int] = set()  # local watchers' aids
        self.watching: set[Ref] = set()
        self.restarts: deque[float] = deque()
        self.mailbox: deque[tuple[Any, Any, Any, Any]] = deque()
        self.stash: deque[tuple[Any, Any, Any, Any]] = deque()
        self.behaviors: list[Callable[..., Any]] = []
        self.busy = False  # a handler or hook is suspended
        self.scheduled = False  # in the runtime's ready queue
        self.task: Any = None
        self.timers: set[Cancelable] = set()
        self.keyed: dict[Any, Cancelable] = {}
        self.scheduler: Optional[TimerScheduler] = None
        self.cur_msg: Any = None
        self.cur_ask: Any = None
        self.cur_done = False
        self.cur_stashed = False
        self.handled = 0
        self.long = 0
        self.panics = 0
        self.busy_ns = 0
        self.started = False


def _is_coro(value: Any) -> bool:
    return hasattr(value, "send") and hasattr(value, "throw") and hasattr(value, "__await__")


_RUNTIME_REF: Callable[[], Optional["Runtime"]] = lambda: None  # noqa: E731


class Runtime:
    """The event loop of one subinterpreter and the actors it hosts."""

    def __init__(self, index: int, inbox: int, outbox: int, quota: dict[str, Any],
                 id_base: int = 0) -> None:
        self.index = index
        self.inbox = inbox
        self.outbox = outbox
        self.actors: dict[int, _Cell] = {}
        limit = quota.get("max_handler_ms")
        self.long_ns = None if limit is None else int(limit * 1_000_000)
        self.known: set[int] = set()  # every actor spawned here
        self.dead_letters = 0
        self.retired = [0, 0, 0, 0]  # handled, long, panics, busy_ns of stopped actors
        self.loop = asyncio.new_event_loop()
        if hasattr(asyncio, "eager_task_factory"):
            self.loop.set_task_factory(asyncio.eager_task_factory)
        self.ready: deque[_Cell] = deque()
        self.draining = False
        self.drain_scheduled = False
        self.next_aid = id_base
        self.next_ask = 0
        self.asks: dict[int, tuple[asyncio.Future[Any], Any]] = {}
        self.holds: "weakref.WeakValueDictionary[int, _Hold]" = weakref.WeakValueDictionary()
        self.released: list[tuple[int, int]] = []
        self.closed = False

    # -- refs --

    def ref_of(self, token: Any) -> Ref:
        kind, ident, path = token
        if kind != "m":
            return Ref(kind, ident, path)
        hold = self.holds.get(ident)
        if hold is None:
            hold = _Hold(ident)
            self.holds[ident] = hold
        hold.count += 1
        return Ref(kind, ident, path, hold)

    def flush_released(self) -> None:
        released, self.released = self.released, []
        for ident, count in released:
            self.send("release", ident, count)

    # -- outbound --

    def send(self, op: str, aid: int = 0, ask_id: int = 0, sender: Any = None,
             payload: bytes = b"") -> None:
        _chan.channel_push(self.outbox, pack(op, aid, ask_id, sender, payload))

    def reply(self, ask_id: int, ok: bool, value: Any) -> None:
        if not ok:
            self.fail(ask_id, value)
            return
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

    def answer(self, ask: Any, ok: bool, value: Any) -> None:
        if ask is None:
            return
        if type(ask) is int:
            self.reply(ask, ok, value)
        elif not ask.done():
            if ok:
                ask.set_result(value)
            else:
                ask.set_exception(value)

    @staticmethod
    def _token(sender: Optional[Ref]) -> Any:
        return None if sender is None else (sender.kind, sender.id, sender.path)

    def tell(self, ref: Ref, msg: Any, sender: Optional[Ref]) -> None:
        if ref.kind == "s":
            cell = self.actors.get(ref.id)
            if cell is not None:
                self.enqueue(cell, (None, sender, msg, None))
                return
            if ref.id in self.known:
                self.dead_letters += 1
                return
        self.send("tell", ref.id, 0, (ref.kind, self._token(sender)), encode(msg))

    def ask(self, ref: Ref, msg: Any, timeout: Optional[float]) -> "asyncio.Future[Any]":
        fut = self.loop.create_future()
        cell = self.actors.get(ref.id) if ref.kind == "s" else None
        if cell is not None:
            self.enqueue(cell, (fut, None, msg, None))
        elif ref.kind == "s" and ref.id in self.known:
            from atomr.errors import ActorTerminatedError

            fut.set_exception(ActorTerminatedError(f"actor {ref.path} is stopped"))
            return fut
        else:
            payload = encode(msg)
            self.next_ask += 1
            ask_id = self.next_ask
            self.asks[ask_id] = (fut, None)
            fut.add_done_callback(functools.partial(self._ask_done, ask_id))
            self.send("ask", ref.id, ask_id, (ref.kind, None, self.index, timeout), payload)
        if timeout is not None:
            handle = self.loop.call_later(timeout, self._expire, fut, ref.path, timeout)
            fut.add_done_callback(lambda _f: handle.cancel())
        return fut

    def _ask_done(self, ask_id: int, _fut: Any = None) -> None:
        self.asks.pop(ask_id, None)

    @staticmethod
    def _expire(fut: "asyncio.Future[Any]", path: str, timeout: float) -> None:
        if not fut.done():
            from atomr.errors import AskTimeoutError

            fut.set_exception(AskTimeoutError(f"ask to {path} timed out after {timeout:g}s"))

    def forward_ask(self, ref: Ref, msg: Any, sender: Optional[Ref], ask: Any) -> None:
        """`msg` to `ref`, its answer answering `ask` (a forwarded ask)."""
        cell = self.actors.get(ref.id) if ref.kind == "s" else None
        if cell is not None:
            self.enqueue(cell, (ask, sender, msg, None))
            return
        fut = self.ask(ref, msg, None)

        def done(f: "asyncio.Future[Any]") -> None:
            if f.cancelled():
                return
            exc = f.exception()
            self.answer(ask, exc is None, f.result() if exc is None else exc)

        fut.add_done_callback(done)

    # -- mailboxes and the dispatcher --

    def enqueue(self, cell: _Cell, item: tuple[Any, Any, Any, Any]) -> None:
        cell.mailbox.append(item)
        if not cell.scheduled and not cell.busy:
            cell.scheduled = True
            self.ready.append(cell)
            if not self.draining and not self.drain_scheduled:
                self.drain_scheduled = True
                self.loop.call_soon(self.drain)

    def schedule(self, cell: _Cell) -> None:
        if cell.mailbox and cell.started and not cell.scheduled and not cell.busy \
                and not cell.stopped:
            cell.scheduled = True
            self.ready.append(cell)
            if not self.draining and not self.drain_scheduled:
                self.drain_scheduled = True
                self.loop.call_soon(self.drain)

    def drain(self) -> None:
        self.drain_scheduled = False
        if self.draining:
            return
        self.draining = True
        ready = self.ready
        try:
            while ready:
                cell = ready.popleft()
                cell.scheduled = False
                box = cell.mailbox
                n = 0
                while box and cell.started and not cell.busy and not cell.stopped \
                        and n < THROUGHPUT:
                    n += 1
                    try:
                        self.invoke(cell, box.popleft())
                    except Exception:
                        _log.exception("subinterpreter %d: a message failed", self.index)
                if box and cell.started and not cell.busy and not cell.stopped \
                        and not cell.scheduled:
                    cell.scheduled = True
                    ready.append(cell)
        finally:
            self.draining = False
        if self.released:
            self.flush_released()

    def deliver_timer(self, timer: Cancelable) -> None:
        target = timer.target
        cell = self.actors.get(target.id) if target.kind == "s" else None
        if cell is not None:
            self.enqueue(cell, (None, None, timer.msg, timer))
        else:
            self.tell(target, timer.msg, timer.owner.ref)

    def invoke(self, cell: _Cell, item: tuple[Any, Any, Any, Any]) -> None:
        ask, sender, msg, timer = item
        if timer is not None and timer.cancelled:
            return
        ctx = cell.ctx
        ctx.sender = sender
        cell.cur_msg = msg
        cell.cur_ask = ask
        cell.cur_done = False
        cell.cur_stashed = False
        handler = cell.behaviors[-1] if cell.behaviors else cell.instance.handle
        token = _CURRENT.set(cell)
        start = time.perf_counter_ns()
        try:
            result = handler(ctx, msg)
            if result is not None and _is_coro(result):
                task = self.loop.create_task(self._run_handler(cell, ask, msg, result, start),
                                             context=contextvars.copy_context())
                if not task.done():
                    cell.busy = True
                    cell.task = task
                    task.add_done_callback(lambda _t: self._resumed(cell))
                return
        except BaseException as exc:
            self.handled(cell, ask, msg, False, exc, start)
            return
        finally:
            _CURRENT.reset(token)
        self.handled(cell, ask, msg, True, result, start)

    async def _run_handler(self, cell: _Cell, ask: Any, msg: Any, coro: Any, start: int) -> None:
        try:
            result = await coro
        except asyncio.CancelledError:
            if ask is not None:
                from atomr.errors import ActorTerminatedError

                self.answer(ask, False, ActorTerminatedError(
                    f"actor {cell.ref.path} stopped while answering"))
            return
        except BaseException as exc:
            self.handled(cell, ask, msg, False, exc, start)
            return
        self.handled(cell, ask, msg, True, result, start)

    def _resumed(self, cell: _Cell) -> None:
        cell.busy = False
        cell.task = None
        if cell.stopping and not cell.stopped:
            self.finish(cell)
            return
        self.schedule(cell)

    def handled(self, cell: _Cell, ask: Any, msg: Any, ok: bool, value: Any, start: int) -> None:
        """The end of one handler call: accounting, the answer, supervision."""
        spent = time.perf_counter_ns() - start
        cell.handled += 1
        cell.busy_ns += spent
        if self.long_ns is not None and spent > self.long_ns:
            cell.long += 1
        cell.ctx.sender = None
        cell.cur_msg = None  # (refs in it are released once nothing else holds them)
        if ok:
            if not cell.cur_done and not (cell.cur_stashed and value is None):
                self.answer(ask, True, value)
        else:
            if not cell.cur_done:
                self.answer(ask, False, value)
            if isinstance(value, (KeyboardInterrupt, SystemExit)):
                raise value
            self.failed(cell, value, msg)
            return
        if cell.stopping and not cell.stopped and not cell.busy:
            self.finish(cell)

    # -- lifecycle --

    def hook(self, cell: _Cell, result: Any, then: Callable[[Optional[BaseException]], None]) -> None:
        """Runs `then(error)` once a hook's `result` (a value or coroutine) is done."""
        if not _is_coro(result):
            then(None)
            return

        async def run() -> Optional[BaseException]:
            try:
                await result
            except BaseException as exc:
                return exc
            return None

        task = self.loop.create_task(run())
        if task.done():
            then(task.result())
            return
        cell.busy = True

        def done(t: "asyncio.Task[Optional[BaseException]]") -> None:
            cell.busy = False
            then(None if t.cancelled() else t.result())
            if cell.stopping and not cell.stopped:
                self.finish(cell)
            else:
                self.schedule(cell)

        task.add_done_callback(done)

    def start_cell(self, cell: _Cell, on_failure: Callable[[BaseException], None]) -> None:
        def failed(exc: BaseException) -> None:
            self.actors.pop(cell.aid, None)
            cell.stopped = True
            from atomr.errors import ActorTerminatedError

            for ask, _sender, _msg, _timer in cell.mailbox:
                self.answer(ask, False, ActorTerminatedError(
                    f"actor {cell.ref.path} did not start: {exc}"))
            cell.mailbox.clear()
            on_failure(exc)

        try:
            cell.instance = cell.factory()
            self.actors[cell.aid] = cell
            self.known.add(cell.aid)
            token = _CURRENT.set(cell)
            try:
                result = cell.instance.pre_start(cell.ctx)
            finally:
                _CURRENT.reset(token)
        except BaseException as exc:
            failed(exc)
            return

        def started(error: Optional[BaseException]) -> None:
            if error is not None:
                failed(error)
                return
            cell.started = True
            self.schedule(cell)

        self.hook(cell, result, started)

    def spawn(self, aid: int, path: str, module: str, qualname: str, strategy: Any) -> None:
        try:
            from atomr.interpreter._worker import load_class

            cls = load_class(module, qualname)
            strat = None if strategy is None else SupervisorStrategy(*strategy)
        except BaseException as exc:
            self.send("spawn-failed", aid, payload=encode(f"{type(exc).__name__}: {exc}"))
            return
        cell = _Cell(aid, path, cls, strat, None)

        def failed(exc: BaseException) -> None:
            self.send("spawn-failed", aid, payload=encode(f"{type(exc).__name__}: {exc}"))

        self.start_cell(cell, failed)
        if cell.aid in self.actors:
            self.send("started", aid)

    def spawn_child(self, parent: _Cell, recipe: Any, name: Optional[str]) -> Ref:
        from atomr.errors import ActorNameTakenError, InvalidActorNameError

        if isinstance(recipe, Props):
            factory, strategy = recipe.factory, recipe.supervisor_strategy
        elif callable(recipe):
            factory, strategy = recipe, None
        else:
            raise TypeError(f"spawn expects atomr.props(...) or an actor class, not "
                            f"{type(recipe).__name__}")
        if name is None:
            n = len(parent.children)
            while True:
                name = "$" + _anon(n)
                if name not in parent.children:
                    break
                n += 1
        elif not isinstance(name, str):
            raise TypeError(f"actor name must be a str, not {type(name).__name__}")
        elif not name or "/" in name or name.startswith("$") or any(c.isspace() for c in name):
            raise InvalidActorNameError(f"invalid actor name {name!r}")
        if name in parent.children:
            raise ActorNameTakenError(f"actor name `{name}` already taken under "
                                      f"{parent.ref.path}")
        self.next_aid += 1
        aid = self.next_aid
        cell = _Cell(aid, f"{parent.ref.path}/{name}", factory, strategy, parent)
        parent.children[name] = cell
        self.send("child", aid, 0, (cell.ref.path, parent.aid))

        def failed(exc: BaseException) -> None:
            parent.children.pop(name, None)
            _log.error("child %s did not start: %s: %s", cell.ref.path, type(exc).__name__, exc)
            self.send("stopped", aid)

        self.start_cell(cell, failed)
        return cell.ref

    def stop_ref(self, ref: Ref) -> None:
        cell = self.actors.get(ref.id) if ref.kind == "s" else None
        if cell is not None:
            self.stop_cell(cell)
        elif ref.kind == "s":
            self.send("stop", ref.id)
        else:
            raise ValueError(f"an actor in a subinterpreter stops only actors of its pool, "
                             f"not {ref.path}")

    def stop_cell(self, cell: _Cell) -> None:
        """Stops `cell` at once, or after its handler when that runs (one
        suspended by another actor's request is cancelled)."""
        if cell.stopped:
            return
        cell.stopping = True
        if _CURRENT.get() is cell:
            return  # after this handler
        if cell.busy:
            if cell.task is not None:
                cell.task.cancel()
            return
        self.finish(cell)

    def finish(self, cell: _Cell) -> None:
        """Stops `cell`: its children, timers, post_stop, its watchers
        here, the main interpreter."""
        if cell.stopped:
            return
        cell.stopped = True
        for child in list(cell.children.values()):
            self.finish(child)
        if cell.parent is not None:
            name = cell.ref.name
            if cell.parent.children.get(name) is cell:
                del cell.parent.children[name]
        for t in list(cell.timers):
            t.cancel()
        if cell.task is not None:
            cell.task.cancel()
        self.actors.pop(cell.aid, None)
        if cell.instance is not None and cell.started:
            try:
                token = _CURRENT.set(cell)
                try:
                    result = cell.instance.post_stop(cell.ctx)
                finally:
                    _CURRENT.reset(token)
                if _is_coro(result):
                    self.loop.create_task(_logged(result, cell.ref.path))
            except Exception:
                _log.exception("post_stop of %s failed", cell.ref.path)
        from atomr.errors import ActorTerminatedError

        for ask, _sender, _msg, _timer in list(cell.mailbox) + list(cell.stash):
            if ask is not None:
                self.answer(ask, False, ActorTerminatedError(f"actor {cell.ref.path} is stopped"))
            self.dead_letters += 1
        cell.mailbox.clear()
        cell.stash.clear()
        for watcher in cell.watchers:
            w = self.actors.get(watcher)
            if w is not None:
                self.enqueue(w, (None, None, Terminated(cell.ref.path), None))
        for ref in cell.watching:
            if ref.kind == "m":
                self.send("unwatch-main", ref.id, 0, (cell.aid, ref.path))
        for i, n in enumerate((cell.handled, cell.long, cell.panics, cell.busy_ns)):
            self.retired[i] += n
        self.send("stopped", cell.aid)

    def watch(self, watcher: _Cell, ref: Ref) -> None:
        watcher.watching.add(ref)
        if ref.kind == "m":
            self.send("watch-main", ref.id, 0, (watcher.aid, ref.path))
            return
        target = self.actors.get(ref.id)
        if target is None:
            if ref.id not in self.known:  # in another interpreter: the main one relays
                self.send("watch", ref.id, 0, (watcher.aid, ref.path))
                return
            self.enqueue(watcher, (None, None, Terminated(ref.path, existence_confirmed=False),
                                   None))
            return
        target.watchers.add(watcher.aid)

    def unwatch(self, watcher: _Cell, ref: Ref) -> None:
        watcher.watching.discard(ref)
        if ref.kind == "m":
            self.send("unwatch-main", ref.id, 0, (watcher.aid, ref.path))
            return
        target = self.actors.get(ref.id)
        if target is not None:
            target.watchers.discard(watcher.aid)
        elif ref.id not in self.known:
            self.send("unwatch", ref.id, 0, (watcher.aid, ref.path))
        for item in list(watcher.mailbox):  # no Terminated of it after unwatch
            if isinstance(item[2], Terminated) and item[2].path == ref.path:
                watcher.mailbox.remove(item)

    def failed(self, cell: _Cell, exc: BaseException, msg: Any) -> None:
        """Supervision in this interpreter: the actor's strategy (from its
        props; by default restart, up to MAX_RESTARTS times within
        RESTART_WINDOW seconds, then stop)."""
        cell.panics += 1
        _log.error("actor %s failed: %s: %s", cell.ref.path, type(exc).__name__, exc)
        strategy = cell.strategy
        directive = "restart" if strategy is None else strategy.decide(class_path(type(exc)))
        if directive == "resume":
            return
        if directive == "escalate":
            parent = cell.parent
            self.finish(cell)
            if parent is not None and not parent.stopped:
                self.failed(parent, exc, msg)
            return
        siblings = [cell]
        if strategy is not None and strategy.kind == "all_for_one" and cell.parent is not None:
            siblings = [c for c in cell.parent.children.values() if not c.stopped]
        if directive == "stop":
            for c in siblings:
                self.finish(c)
            return
        limit, window = (MAX_RESTARTS, RESTART_WINDOW) if strategy is None else strategy.budget()
        now = time.monotonic()
        while cell.restarts and now - cell.restarts[0] > window:
            cell.restarts.popleft()
        if limit is not None and len(cell.restarts) >= limit:
            for c in siblings:
                self.finish(c)
            return
        cell.restarts.append(now)
        for c in siblings:
            self.restart(c, exc, msg)

    def restart(self, cell: _Cell, exc: BaseException, msg: Any) -> None:
        for child in list(cell.children.values()):
            self.finish(child)
        for t in list(cell.timers):
            t.cancel()
        cell.keyed.clear()
        cell.behaviors.clear()
        try:
            result = cell.instance.pre_restart(cell.ctx, exc, msg)
            if _is_coro(result):
                self.loop.create_task(_logged(result, cell.ref.path))
        except Exception:
            _log.exception("pre_restart of %s failed", cell.ref.path)
        try:
            cell.instance = cell.factory()
            result = cell.instance.post_restart(cell.ctx, exc)
        except BaseException:
            _log.exception("restarting %s failed; it stops", cell.ref.path)
            self.finish(cell)
            return

        def restarted(error: Optional[BaseException]) -> None:
            if error is not None:
                _log.error("post_restart of %s failed; it stops: %s", cell.ref.path, error)
                self.finish(cell)
                return
            self.send("restarted", cell.aid)

        self.hook(cell, result, restarted)

    # -- metrics --

    def metrics(self) -> dict[str, int]:
        cells = list(self.actors.values())
        return {
            "actors_hosted": len(cells),
            "messages_handled": self.retired[0] + sum(c.handled for c in cells),
            "long_handlers": self.retired[1] + sum(c.long for c in cells),
            "handler_panics": self.retired[2] + sum(c.panics for c in cells),
            "gil_hold_ns_total": self.retired[3] + sum(c.busy_ns for c in cells),
            "mailbox_depth_total": sum(len(c.mailbox) for c in cells),
            "dead_letters": self.dead_letters,
        }

    # -- inbound --

    def envelope(self, raw: bytes) -> None:
        op, aid, ask_id, sender, payload = unpack(raw)
        if op == "msg":
            cell = self.actors.get(aid)
            try:
                msg = decode(payload)
                sref = None if sender is None else self.ref_of(sender)
            except BaseException as exc:
                _log.error("a message for actor %d could not be decoded: %s", aid, exc)
                if ask_id:
                    self.fail(ask_id, exc)
                return
            if cell is None:
                self.dead_letters += 1
                if ask_id:
                    from atomr.errors import ActorTerminatedError

                    self.fail(ask_id, ActorTerminatedError(f"actor {aid} is stopped"))
                return
            self.enqueue(cell, (ask_id or None, sref, msg, None))
        elif op == "reply":
            entry = self.asks.pop(ask_id, None)
            if entry is None:
                return  # timed out
            fut = entry[0]
            try:
                value = decode(payload)
            except BaseException as exc:
                value, sender = TypeError(f"the reply cannot be decoded here: {exc}"), False
            if not fut.done():
                if sender:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
        elif op == "spawn":
            module, qualname, path, strategy = sender
            self.spawn(aid, path, module, qualname, strategy)
        elif op == "stop":
            cell = self.actors.get(aid)
            if cell is not None:
                self.stop_cell(cell)
        elif op == "metrics":
            self.send("metrics", self.index, ask_id, None, encode(self.metrics()))
        elif op == "codec":
            add_codec(payload)
        else:
            _log.error("unknown pool operation %r", op)

    def on_ready(self) -> None:
        """The inbox's pipe is readable: mail, or the inbox closed."""
        if self.closed:
            return
        try:
            os.read(self.rfd, 4096)
        except (BlockingIOError, InterruptedError):
            pass
        self.pop()

    def pop(self) -> None:
        """Handles what the inbox holds. After a batch it looks once more
        (without waiting): the inbox may have closed meanwhile, and its
        close wrote the one byte this call already read."""
        if self.closed:
            return
        try:
            items = _chan.channel_pop(self.inbox, 0.0)
        except ValueError:  # forgotten: closed and drained
            items = None
        if items is None:
            self.close()
            return
        if not items:
            return
        self.draining = True  # the batch first, then one drain
        try:
            for raw in items:
                try:
                    self.envelope(raw)
                except Exception:
                    _log.exception("subinterpreter %d: a message failed", self.index)
        finally:
            self.draining = False
        self.drain()
        self.loop.call_soon(self.pop)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.rfd)
        self.done.set_result(None)

    def run(self) -> None:
        self.rfd, wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(wfd, False)
        self.done: asyncio.Future[None] = self.loop.create_future()
        try:
            self.loop.add_reader(self.rfd, self.on_ready)
            _chan.channel_notify(self.inbox, wfd)  # writes at once when mail is queued
            self.loop.run_until_complete(self.done)
            for cell in [c for c in self.actors.values() if c.parent is None]:
                self.finish(cell)
            for cell in list(self.actors.values()):
                self.finish(cell)
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            if pending:  # post_stop coroutines, briefly
                self.loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
                for t in pending:
                    t.cancel()
        finally:
            try:
                _chan.channel_notify(self.inbox, -1)
            except ValueError:
                pass  # drained and closed: forgotten already
            self.loop.close()
            os.close(self.rfd)
            os.close(wfd)


async def _logged(coro: Any, path: str) -> None:
    try:
        await coro
    except Exception:
        _log.exception("a hook of %s failed", path)


def _anon(n: int) -> str:
    """``a``, ``b``, ... ``z``, ``ba``, ...: anonymous child names."""
    digits = ""
    while True:
        digits = chr(ord("a") + n % 26) + digits
        n //= 26
        if n == 0:
            return digits


_RUNTIME: Runtime


def main(index: int, inbox: int, outbox: int, quota: dict[str, Any], id_base: int = 0) -> None:
    """Runs the interpreter's loop until its inbox closes."""
    global _RUNTIME, _RUNTIME_REF
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
    _RUNTIME = Runtime(index, inbox, outbox, quota, id_base)
    _RUNTIME_REF = weakref.ref(_RUNTIME)
    _RUNTIME.send("ready", index)
    _RUNTIME.run()
    # This thread is not one `threading` started: a dummy Thread stands for
    # it (logging asks for its name). Forget it now, while the module still
    # works; 3.13 would otherwise clean it up during finalization and fail.
    import threading

    local = getattr(threading, "_thread_local_info", None)
    if local is not None and hasattr(local, "_track_dummy_thread_ref"):
        del local._track_dummy_thread_ref

