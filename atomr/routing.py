"""Routers: Props factories whose ref spreads messages over routees.

Routing happens natively: a message told to a router's ref is routed in C++
straight into the chosen routee's mailbox on the sender's thread, without
running Python code of the router. A pool router's routees are its children
(``routee-0``, ``routee-1``, ...), supervised by it; a group router routes
over refs that already exist.

Example:
    >>> pool = round_robin(props(Worker), n=4)            # doctest: +SKIP
    >>> ref = system.actor_of(pool, "workers")            # doctest: +SKIP
    >>> ref.tell(job)                                      # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
import random as _random
from typing import Any, Iterable, Optional, Sequence

from atomr._native import _core
from atomr._props import Props
from atomr.actor import Actor
from atomr.core import ResizerConfig
from atomr.supervision import SupervisorStrategy, Terminated

__all__ = [
    "round_robin",
    "random",
    "broadcast",
    "consistent_hash",
    "smallest_mailbox",
    "tail_chopping",
    "scatter_gather",
    "backoff",
    "group",
    "round_robin_group",
    "random_group",
    "broadcast_group",
    "consistent_hash_group",
    "smallest_mailbox_group",
    "Broadcast",
    "GetRoutees",
    "AdjustPoolSize",
    "routees",
    "routee_for_key",
]


class Broadcast:
    """Wraps a message that every routee of a router must get, whatever
    the router's logic (``router.tell(Broadcast(msg))``).

    Attributes:
        message: The wrapped message.
    """

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Broadcast({self.message!r})"


class GetRoutees:
    """Ask a router for its routees: ``await router.ask(GetRoutees())``."""

    __slots__ = ()


class AdjustPoolSize:
    """Tell a pool router to add (`change` > 0) or remove routees.

    Attributes:
        change: How many routees to add (negative: to remove).

    Raises:
        TypeError: `change` is not an int.
    """

    __slots__ = ("change",)

    def __init__(self, change: int) -> None:
        if isinstance(change, bool) or not isinstance(change, int):
            raise TypeError("AdjustPoolSize needs an int")
        self.change = change


class _ResizeTick:
    __slots__ = ()


class _RouterConfig:
    """How a router routes and over which routees (read by the native layer)."""

    #: Message classes the native router does not route by its logic.
    message_roles = ((Broadcast, "broadcast"), (GetRoutees, "manage"), (AdjustPoolSize, "manage"),
                     (_ResizeTick, "manage"))

    def __init__(self, logic: str, n: int = 0, routee_props: Optional[Props] = None,
                 group: Optional[Sequence[Any]] = None, resizer: Optional[ResizerConfig] = None,
                 resize_interval: float = 0.1, interval: float = 0.0,
                 within: Optional[float] = None, virtual_nodes: int = 128) -> None:
        self.logic = logic
        self.n = n
        self.routee_props = routee_props
        self.group = list(group) if group is not None else None
        self.resizer = resizer
        self.resize_interval = resize_interval
        self.interval = interval
        self.within = within
        self.virtual_nodes = virtual_nodes
        self._counter = itertools.count()

    def next_index(self) -> int:
        return next(self._counter)

    def __repr__(self) -> str:
        what = f"group of {len(self.group)}" if self.group is not None else f"pool of {self.n}"
        return f"<{self.logic} router, {what}>"


class _RouterHead(Actor):
    """The router's own actor: answers management messages and resizes."""

    def __init__(self, config: _RouterConfig) -> None:
        self._config = config

    def pre_start(self, ctx: Any) -> None:
        if self._config.resizer is not None:
            ctx.schedule_periodically(initial=self._config.resize_interval,
                                      interval=self._config.resize_interval, msg=_ResizeTick())

    def handle(self, ctx: Any, msg: Any) -> Any:
        ref = ctx.self_ref
        if isinstance(msg, GetRoutees):
            return _core._router_routees(ref)
        if isinstance(msg, AdjustPoolSize):
            return _core._router_resize(ref, msg.change)
        if isinstance(msg, _ResizeTick):
            loads = _core._router_loads(ref)
            busy = sum(1 for _, is_busy in loads if is_busy)
            delta = self._config.resizer.compute_delta(len(loads), busy)
            if delta:
                _core._router_resize(ref, delta)
            return None
        if isinstance(msg, Terminated):
            return None  # a group routee stopped; routing skips stopped routees
        return None


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, not {type(n).__name__}")
    if n <= 0:
        raise ValueError(f"a router needs at least one routee (n={n})")
    return n


def _check_props(child_props: Any) -> Props:
    if not isinstance(child_props, Props):
        raise TypeError(f"expected Props for the routees, not {type(child_props).__name__}")
    return child_props


def _seconds(value: Any, name: str, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds")
    value = float(value)
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero) or math.isinf(value):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number of seconds, got {value!r}")
    return value


def _pool(logic: str, child_props: Props, n: int, *, resizer: Optional[ResizerConfig] = None,
          **extra: Any) -> Props:
    child_props = _check_props(child_props)
    n = _check_n(n)
    if resizer is not None:
        if not isinstance(resizer, ResizerConfig):
            raise TypeError("resizer must be an atomr.core.ResizerConfig")
        n = min(max(n, resizer.lower_bound), resizer.upper_bound)
    config = _RouterConfig(logic, n, child_props, resizer=resizer, **extra)
    return Props(lambda: _RouterHead(config), child_props.dispatcher,
                 child_props.interpreter_role, kind="router", router=config)


def round_robin(child_props: Props, n: int, *, resizer: Optional[ResizerConfig] = None,
                resize_interval_secs: float = 0.1) -> Props:
    """A pool of `n` routees visited in strict rotation.

    Args:
        child_props: Props of each routee.
        n: the number of routees (> 0).
        resizer: grows and shrinks the pool with the load.
        resize_interval_secs: how often the resizer looks at the load.
    """
    return _pool("round_robin", child_props, n, resizer=resizer,
                 resize_interval=_seconds(resize_interval_secs, "resize_interval_secs", False))


def random(child_props: Props, n: int, *, resizer: Optional[ResizerConfig] = None,
           resize_interval_secs: float = 0.1) -> Props:
    """A pool of `n` routees, each message to a pseudo-random one."""
    return _pool("random", child_props, n, resizer=resizer,
                 resize_interval=_seconds(resize_interval_secs, "resize_interval_secs", False))


def broadcast(child_props: Props, n: int) -> Props:
    """A pool of `n` routees that each get every message (an ask gets the
    first reply)."""
    return _pool("broadcast", child_props, n)


def consistent_hash(child_props: Props, n: int, *, virtual_nodes: int = 128) -> Props:
    """A pool of `n` routees on a hash ring: every message of one key goes
    to one routee, and adding a routee moves only about 1/n of the keys.

    Messages need a key: ``ref.tell_with_key(msg, key)`` or
    ``ref.ask(msg, key=key)``; a plain ``tell`` raises ``ValueError``.
    """
    if isinstance(virtual_nodes, bool) or not isinstance(virtual_nodes, int) or virtual_nodes < 1:
        raise ValueError("virtual_nodes must be a positive int")
    return _pool("consistent_hash", child_props, n, virtual_nodes=virtual_nodes)


def smallest_mailbox(child_props: Props, n: int, *, resizer: Optional[ResizerConfig] = None,
                     resize_interval_secs: float = 0.1) -> Props:
    """A pool of `n` routees; each message to the one with the fewest queued."""
    return _pool("smallest_mailbox", child_props, n, resizer=resizer,
                 resize_interval=_seconds(resize_interval_secs, "resize_interval_secs", False))


def tail_chopping(child_props: Props, n: int, interval_secs: float = 0.05,
                  within_secs: float = 1.0) -> Props:
    """A pool of `n` routees for asks: the ask goes to one routee; while no
    reply came, another routee gets it every `interval_secs`; the first
    reply wins and the ask fails after `within_secs`."""
    return _pool("tail_chopping", child_props, n,
                 interval=_seconds(interval_secs, "interval_secs"),
                 within=_seconds(within_secs, "within_secs", False))


def scatter_gather(child_props: Props, n: int, within_secs: float = 1.0) -> Props:
    """A pool of `n` routees for asks: every routee gets the ask, the first
    reply wins, and the ask fails after `within_secs`."""
    return _pool("scatter_gather", child_props, n,
                 within=_seconds(within_secs, "within_secs", False))


def group(logic: str, routees: Iterable[Any], *, virtual_nodes: int = 128) -> Props:
    """A router over existing refs (they are not supervised by the router).

    Args:
        logic: ``"round_robin"``, ``"random"``, ``"broadcast"``,
            ``"consistent_hash"`` or ``"smallest_mailbox"``.
        routees: the ActorRefs to route to.
        virtual_nodes: points per routee on the hash ring (used by
            ``"consistent_hash"`` only).

    Raises:
        ValueError: `logic` is unknown or `routees` is empty.
        TypeError: a routee is not an ActorRef.
    """
    if logic not in ("round_robin", "random", "broadcast", "consistent_hash",
                     "smallest_mailbox"):
        raise ValueError(f"unknown routing logic {logic!r}")
    refs = list(routees)
    if not refs:
        raise ValueError("a group router needs at least one routee")
    for ref in refs:
        if not isinstance(ref, _core.ActorRef):
            raise TypeError(f"group routees must be ActorRefs, not {type(ref).__name__}")
    config = _RouterConfig(logic, len(refs), None, group=refs, virtual_nodes=virtual_nodes)
    return Props(lambda: _RouterHead(config), kind="router", router=config)


def round_robin_group(routees: Iterable[Any]) -> Props:
    """A group router visiting the existing refs `routees` in strict
    rotation (``group("round_robin", routees)``)."""
    return group("round_robin", routees)


def random_group(routees: Iterable[Any]) -> Props:
    """A group router sending each message to a pseudo-random one of the
    existing refs `routees` (``group("random", routees)``)."""
    return group("random", routees)


def broadcast_group(routees: Iterable[Any]) -> Props:
    """A group router sending every message to each of the existing refs
    `routees`; an ask gets the first reply (``group("broadcast", routees)``)."""
    return group("broadcast", routees)


def consistent_hash_group(routees: Iterable[Any], *, virtual_nodes: int = 128) -> Props:
    """A group router over the existing refs `routees` on a hash ring with
    `virtual_nodes` points per routee: every message of one key goes to one
    routee (see :func:`consistent_hash` for how to give the key)."""
    return group("consistent_hash", routees, virtual_nodes=virtual_nodes)


def smallest_mailbox_group(routees: Iterable[Any]) -> Props:
    """A group router sending each message to whichever of the existing
    refs `routees` has the fewest queued (``group("smallest_mailbox", routees)``)."""
    return group("smallest_mailbox", routees)


def routees(router_ref: Any) -> list:
    """The current routees of a router (from any thread)."""
    found = _core._router_routees(router_ref)
    if found is None:
        raise TypeError(f"{router_ref.path} is not a router")
    return found


def routee_for_key(router_ref: Any, key: Any) -> Any:
    """The routee a consistent-hash router gives `key`."""
    index = _core._router_index_for_key(router_ref, key)
    current = routees(router_ref)
    return current[index] if 0 <= index < len(current) else None


# -- backoff supervision -------------------------------------------------------------


class _StartChild:
    __slots__ = ()


class _BackoffSupervisor(Actor):
    """Runs one child called ``child``; when it stops (or fails: it runs
    with a stopping strategy) it is started again after an exponentially
    growing, jittered delay. Mail arriving meanwhile is kept and delivered
    to the new child."""

    def __init__(self, child_props: Props, min_backoff: float, max_backoff: float,
                 random_factor: float) -> None:
        self._props = child_props.with_supervisor_strategy(SupervisorStrategy.stopping())
        self._min = min_backoff
        self._max = max_backoff
        self._jitter = random_factor
        self._restarts = 0
        self._child: Any = None
        self._started_at = 0.0

    def pre_start(self, ctx: Any) -> None:
        self._start(ctx)

    def _start(self, ctx: Any) -> None:
        self._child = ctx.spawn(self._props, "child")
        ctx.watch(self._child)
        self._started_at = ctx.system.scheduler.now()  # the clock the delays run on
        ctx.unstash_all()

    def delay(self) -> float:
        base = min(self._max, self._min * (2 ** min(self._restarts, 62)))
        return base * (1.0 + _random.uniform(0.0, self._jitter))

    def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, Terminated) and self._child is not None \
                and msg.path == self._child.path:
            self._child = None
            if ctx.system.scheduler.now() - self._started_at > self._max:
                self._restarts = 0  # it ran long enough: start the backoff anew
            ctx.schedule_once(self.delay(), _StartChild())
            self._restarts += 1
            return None
        if isinstance(msg, _StartChild):
            self._start(ctx)
            return None
        if self._child is None:
            ctx.stash()
            return None
        ctx.forward(self._child)
        return None


def backoff(child_props: Props, min_backoff: float = 0.2, max_backoff: float = 30.0,
            random_factor: float = 0.2) -> Props:
    """A supervisor running one child (``<name>/child``) that restarts it
    with exponential backoff between `min_backoff` and `max_backoff`
    seconds (plus up to `random_factor` jitter) whenever it stops or fails,
    and forwards every message to it."""
    child_props = _check_props(child_props)
    lo = _seconds(min_backoff, "min_backoff", False)
    hi = _seconds(max_backoff, "max_backoff", False)
    if hi < lo:
        raise ValueError("max_backoff must be >= min_backoff")
    jitter = _seconds(random_factor, "random_factor")
    return Props(lambda: _BackoffSupervisor(child_props, lo, hi, jitter),
                 child_props.dispatcher, child_props.interpreter_role, kind="backoff")
