"""Router machinery of the actor layer: the messages routers understand,
the configuration a router Props carries, the router's own actor, the
backoff supervisor, and routee queries.

The Props factories that build routers live with :class:`~atomr.Props`
(``atomr.actor._props``); :mod:`atomr.routing` is the public module for
all of it. Routing itself happens natively: a message told to a router's
ref is routed in C++ straight into the chosen routee's mailbox.
"""

from __future__ import annotations

import itertools
import random as _random
from typing import TYPE_CHECKING, Any, Optional, Sequence

from atomr._native import _core
from atomr._util.exports import public_module
from atomr.actor._actor import Actor
from atomr.actor._resizer import ResizerConfig
from atomr.actor._supervision import SupervisorStrategy, Terminated

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor._props import Props

__all__ = ["Broadcast", "GetRoutees", "AdjustPoolSize", "routees", "routee_for_key"]


@public_module("atomr.routing")
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


@public_module("atomr.routing")
class GetRoutees:
    """Ask a router for its routees: ``await router.ask(GetRoutees())``."""

    __slots__ = ()


@public_module("atomr.routing")
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


@public_module("atomr.routing")
def routees(router_ref: Any) -> list:
    """The current routees of a router (from any thread)."""
    found = _core._router_routees(router_ref)
    if found is None:
        raise TypeError(f"{router_ref.path} is not a router")
    return found


@public_module("atomr.routing")
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
