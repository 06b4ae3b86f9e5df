"""Props: the recipe an actor is built from, and the factories of router Props.

The router factories (:func:`round_robin`, :func:`group`, :func:`backoff`,
...) only build Props, so they live here, beside :class:`Props`; eight of
them are also static methods of it (``Props.round_robin(...)``) and
:mod:`atomr.routing` is their public module.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, Optional, overload

from atomr._native._core import ActorRef, SupervisorStrategy
from atomr._util.exports import public_module
from atomr._util.typevars import Msg, Reply
from atomr._util.validate import check_seconds
from atomr.actor._actor import Actor
from atomr.actor._dispatcher import DISPATCHERS, DispatcherConfig
from atomr.actor._mailbox import BoundedMailbox
from atomr.actor._resizer import ResizerConfig
from atomr.actor._routers import _BackoffSupervisor, _RouterConfig, _RouterHead

__all__ = ["Props", "props", "DISPATCHERS"]


# -- router Props factories ---------------------------------------------------------


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


@public_module("atomr.routing")
def round_robin(child_props: Props[Msg, Reply], n: int, *, resizer: Optional[ResizerConfig] = None,
                resize_interval_secs: float = 0.1) -> Props[Msg, Reply]:
    """A pool of `n` routees visited in strict rotation.

    Args:
        child_props: Props of each routee.
        n: the number of routees (> 0).
        resizer: grows and shrinks the pool with the load.
        resize_interval_secs: how often the resizer looks at the load.
    """
    return _pool("round_robin", child_props, n, resizer=resizer,
                 resize_interval=check_seconds("resize_interval_secs", resize_interval_secs,
                                               False))


@public_module("atomr.routing")
def random(child_props: Props[Msg, Reply], n: int, *, resizer: Optional[ResizerConfig] = None,
           resize_interval_secs: float = 0.1) -> Props[Msg, Reply]:
    """A pool of `n` routees, each message to a pseudo-random one."""
    return _pool("random", child_props, n, resizer=resizer,
                 resize_interval=check_seconds("resize_interval_secs", resize_interval_secs,
                                               False))


@public_module("atomr.routing")
def broadcast(child_props: Props[Msg, Reply], n: int) -> Props[Msg, Reply]:
    """A pool of `n` routees that each get every message (an ask gets the
    first reply)."""
    return _pool("broadcast", child_props, n)


@public_module("atomr.routing")
def consistent_hash(child_props: Props[Msg, Reply], n: int, *,
                    virtual_nodes: int = 128) -> Props[Msg, Reply]:
    """A pool of `n` routees on a hash ring: every message of one key goes
    to one routee, and adding a routee moves only about 1/n of the keys.

    Messages need a key: ``ref.tell_with_key(msg, key)`` or
    ``ref.ask(msg, key=key)``. A plain ``tell`` goes to dead letters (with
    a rate-limited warning); an ``ask`` without a key raises
    :class:`atomr.errors.UnroutableMessageError` (an ``AskError`` and a
    ``ValueError``) at once.
    """
    if isinstance(virtual_nodes, bool) or not isinstance(virtual_nodes, int) or virtual_nodes < 1:
        raise ValueError("virtual_nodes must be a positive int")
    return _pool("consistent_hash", child_props, n, virtual_nodes=virtual_nodes)


@public_module("atomr.routing")
def smallest_mailbox(child_props: Props[Msg, Reply], n: int, *,
                     resizer: Optional[ResizerConfig] = None,
                     resize_interval_secs: float = 0.1) -> Props[Msg, Reply]:
    """A pool of `n` routees; each message to the one with the fewest queued."""
    return _pool("smallest_mailbox", child_props, n, resizer=resizer,
                 resize_interval=check_seconds("resize_interval_secs", resize_interval_secs,
                                               False))


@public_module("atomr.routing")
def tail_chopping(child_props: Props[Msg, Reply], n: int, interval_secs: float = 0.05,
                  within_secs: float = 1.0) -> Props[Msg, Reply]:
    """A pool of `n` routees for asks: the ask goes to one routee; while no
    reply came, another routee gets it every `interval_secs`; the first
    reply wins and the ask fails after `within_secs`."""
    return _pool("tail_chopping", child_props, n,
                 interval=check_seconds("interval_secs", interval_secs),
                 within=check_seconds("within_secs", within_secs, False))


@public_module("atomr.routing")
def scatter_gather(child_props: Props[Msg, Reply], n: int,
                   within_secs: float = 1.0) -> Props[Msg, Reply]:
    """A pool of `n` routees for asks: every routee gets the ask, the first
    reply wins, and the ask fails after `within_secs`."""
    return _pool("scatter_gather", child_props, n,
                 within=check_seconds("within_secs", within_secs, False))


@public_module("atomr.routing")
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
        if not isinstance(ref, ActorRef):
            raise TypeError(f"group routees must be ActorRefs, not {type(ref).__name__}")
    config = _RouterConfig(logic, len(refs), None, group=refs, virtual_nodes=virtual_nodes)
    return Props(lambda: _RouterHead(config), kind="router", router=config)


@public_module("atomr.routing")
def round_robin_group(routees: Iterable[Any]) -> Props:
    """A group router visiting the existing refs `routees` in strict
    rotation (``group("round_robin", routees)``)."""
    return group("round_robin", routees)


@public_module("atomr.routing")
def random_group(routees: Iterable[Any]) -> Props:
    """A group router sending each message to a pseudo-random one of the
    existing refs `routees` (``group("random", routees)``)."""
    return group("random", routees)


@public_module("atomr.routing")
def broadcast_group(routees: Iterable[Any]) -> Props:
    """A group router sending every message to each of the existing refs
    `routees`; an ask gets the first reply (``group("broadcast", routees)``)."""
    return group("broadcast", routees)


@public_module("atomr.routing")
def consistent_hash_group(routees: Iterable[Any], *, virtual_nodes: int = 128) -> Props:
    """A group router over the existing refs `routees` on a hash ring with
    `virtual_nodes` points per routee: every message of one key goes to one
    routee (see :func:`consistent_hash` for how to give the key)."""
    return group("consistent_hash", routees, virtual_nodes=virtual_nodes)


@public_module("atomr.routing")
def smallest_mailbox_group(routees: Iterable[Any]) -> Props:
    """A group router sending each message to whichever of the existing
    refs `routees` has the fewest queued (``group("smallest_mailbox", routees)``)."""
    return group("smallest_mailbox", routees)


@public_module("atomr.routing")
def backoff(child_props: Props[Msg, Reply], min_backoff: float = 0.2, max_backoff: float = 30.0,
            random_factor: float = 0.2) -> Props[Msg, Reply]:
    """A supervisor running one child (``<name>/child``) that restarts it
    with exponential backoff between `min_backoff` and `max_backoff`
    seconds (plus up to `random_factor` jitter) whenever it stops or fails,
    and forwards every message to it."""
    child_props = _check_props(child_props)
    lo = check_seconds("min_backoff", min_backoff, False)
    hi = check_seconds("max_backoff", max_backoff, False)
    if hi < lo:
        raise ValueError("max_backoff must be >= min_backoff")
    jitter = check_seconds("random_factor", random_factor)
    return Props(lambda: _BackoffSupervisor(child_props, lo, hi, jitter),
                 child_props.dispatcher, child_props.interpreter_role, kind="backoff")


# -- Props --------------------------------------------------------------------------


@public_module("atomr._props")
class Props(Generic[Msg, Reply]):
    """An immutable recipe for an actor: the factory that builds each
    incarnation and the settings it runs with.

    Build one with :func:`props` or :meth:`Props.create`; the ``with_*``
    methods return modified copies. ``Props[Msg, Reply]`` carries the types
    of the :class:`atomr.Actor` it builds (both Any unless the actor class
    declares them), so the ref that ``actor_of`` and ``ctx.spawn`` return
    from it is an ``ActorRef[Msg, Reply]``.
    """

    __slots__ = ("_factory", "_dispatcher", "_interpreter_role", "_mailbox",
                 "_supervisor_strategy", "_kind", "_router", "_dispatcher_config")

    def __init__(self, factory: Callable[[], Actor[Msg, Reply]], dispatcher: Any = "python-pinned",
                 interpreter_role: str = "default", mailbox: Any = None,
                 supervisor_strategy: Any = None, kind: str = "python",
                 router: Any = None) -> None:
        if not callable(factory):
            raise TypeError(f"Props factory must be callable, not {type(factory).__name__}")
        self._dispatcher_config = None
        if isinstance(dispatcher, DispatcherConfig):
            self._dispatcher_config = dispatcher
            dispatcher = "python-pinned"
        if not isinstance(dispatcher, str):
            raise TypeError(f"dispatcher must be a str or a DispatcherConfig, not "
                            f"{type(dispatcher).__name__}")
        if not isinstance(interpreter_role, str):
            raise TypeError(
                f"interpreter_role must be a str, not {type(interpreter_role).__name__}")
        self._factory = factory
        self._dispatcher = dispatcher
        self._interpreter_role = interpreter_role
        self._mailbox = mailbox
        self._supervisor_strategy = supervisor_strategy
        self._kind = kind
        self._router = router

    @staticmethod
    def create(factory: Callable[[], Actor[Msg, Reply]], dispatcher: Any = "python-pinned",
               interpreter_role: str = "default",
               mailbox: Any = None) -> "Props[Msg, Reply]":
        """Props from a zero-argument factory (a class or any callable)."""
        return Props(factory, dispatcher, interpreter_role, mailbox)

    @property
    def factory(self) -> Callable[[], Actor[Msg, Reply]]:
        """The zero-argument callable that builds each incarnation."""
        return self._factory

    @property
    def dispatcher(self) -> str:
        """The dispatcher name (only ``python-pinned`` runs in this build;
        other names run as it)."""
        return self._dispatcher

    @property
    def dispatcher_config(self) -> Any:
        """The :class:`atomr.core.DispatcherConfig` given to
        ``with_dispatcher`` (None: the system's settings)."""
        return self._dispatcher_config

    @property
    def interpreter_role(self) -> str:
        """The interpreter pool label (``"default"`` unless set)."""
        return self._interpreter_role

    @property
    def mailbox(self) -> Any:
        """The mailbox setting: None (unbounded) or an
        :class:`atomr.core.BoundedMailbox`."""
        return self._mailbox

    @property
    def supervisor_strategy(self) -> Any:
        """The strategy judging failures, or None.

        A failed actor is judged by the strategy on its own Props if set,
        else by the one on its parent's Props, else by the system default
        (Akka's rule). So a strategy here applies to this actor's own
        failures and to those of its children that set none; an
        ``all_for_one`` strategy on a parent acts on all its children.
        """
        return self._supervisor_strategy

    @property
    def router(self) -> Any:
        """The router configuration of router Props (None otherwise)."""
        return self._router

    @property
    def kind_label(self) -> str:
        """``"python"``, ``"router"`` or ``"backoff"``."""
        return self._kind

    def _copy(self, **changes: Any) -> "Props[Msg, Reply]":
        fields = dict(factory=self._factory,
                      dispatcher=self._dispatcher_config or self._dispatcher,
                      interpreter_role=self._interpreter_role, mailbox=self._mailbox,
                      supervisor_strategy=self._supervisor_strategy, kind=self._kind,
                      router=self._router)
        fields.update(changes)
        return Props(**fields)

    def with_dispatcher(self, dispatcher: Any) -> "Props[Msg, Reply]":
        """A copy running on `dispatcher`: a name, or an
        :class:`atomr.core.DispatcherConfig` whose ``throughput`` (messages
        per turn) and ``throughput_deadline_secs`` (time per turn) apply to
        this actor."""
        return self._copy(dispatcher=dispatcher)

    def with_interpreter_role(self, role: str) -> "Props[Msg, Reply]":
        """A copy with the interpreter pool label `role`.

        Raises:
            TypeError: `role` is not a str.
        """
        return self._copy(interpreter_role=role)

    def with_mailbox(self, mailbox: Any) -> "Props[Msg, Reply]":
        """A copy with `mailbox`: None (unbounded) or an
        :class:`atomr.core.BoundedMailbox` (also given as a dict
        ``{"capacity": n, "overflow": "drop_head"}``)."""
        if isinstance(mailbox, dict):
            mailbox = BoundedMailbox(**mailbox)
        return self._copy(mailbox=mailbox)

    def with_supervisor_strategy(self, strategy: Any) -> "Props[Msg, Reply]":
        """A copy with `strategy`, used when this actor fails and when one
        of its children without a strategy of its own fails (see
        :attr:`supervisor_strategy`)."""
        if strategy is not None and not isinstance(strategy, SupervisorStrategy):
            raise TypeError(f"expected a SupervisorStrategy, not {type(strategy).__name__}")
        return self._copy(supervisor_strategy=strategy)

    def with_supervisor_budget(self, max_retries: int,
                               within_seconds: float = 60.0) -> "Props[Msg, Reply]":
        """A copy restarted on any failure, at most `max_retries` times per
        sliding `within_seconds` window (then stopped)."""
        return self.with_supervisor_strategy(SupervisorStrategy.one_for_one(
            None, "restart", max_retries, within_seconds))

    # Router Props, also reachable as atomr.routing.<name>.
    broadcast = staticmethod(broadcast)
    round_robin = staticmethod(round_robin)
    random = staticmethod(random)
    consistent_hash = staticmethod(consistent_hash)
    smallest_mailbox = staticmethod(smallest_mailbox)
    tail_chopping = staticmethod(tail_chopping)
    scatter_gather = staticmethod(scatter_gather)
    backoff = staticmethod(backoff)

    def __repr__(self) -> str:
        name = getattr(self._factory, "__qualname__", repr(self._factory))
        return f"<Props factory={name} dispatcher={self._dispatcher}>"


@overload
def props(actor_cls: Callable[[], Actor[Msg, Reply]], *, dispatcher: Any = ...,
          interpreter_role: str = ..., mailbox: Any = ...,
          factory: None = ...) -> Props[Msg, Reply]: ...


@overload
def props(actor_cls: type[Actor[Msg, Reply]], *, dispatcher: Any = ...,
          interpreter_role: str = ..., mailbox: Any = ...,
          factory: Callable[[], Actor[Msg, Reply]]) -> Props[Msg, Reply]: ...


@public_module("atomr._props")
def props(actor_cls: Any, *, dispatcher: Any = "python-pinned",
          interpreter_role: str = "default", mailbox: Any = None,
          factory: Optional[Callable[[], Any]] = None) -> Props[Any, Any]:
    """Props for `actor_cls`.

    ``props(Worker)`` builds each incarnation as ``Worker()``;
    ``props(Worker, factory=lambda: Worker(a, b))`` for a class whose
    constructor takes arguments. The Props (and the refs made from it)
    carry the ``Actor[Msg, Reply]`` types of the class.

    Args:
        actor_cls: an :class:`atomr.Actor` subclass, or any zero-argument
            callable returning an actor.
        dispatcher: the dispatcher name (``"python-pinned"`` by default),
            or an :class:`atomr.core.DispatcherConfig`.
        interpreter_role: the interpreter pool label.
        mailbox: the mailbox setting.
        factory: builds each incarnation instead of ``actor_cls()``.

    Raises:
        TypeError: `actor_cls` is a class that is not an :class:`atomr.Actor`
            subclass (and no `factory` is given).
    """
    if factory is None and isinstance(actor_cls, type) and not issubclass(actor_cls, Actor):
        raise TypeError(f"props() needs an atomr.Actor subclass or a callable returning an "
                        f"actor; {actor_cls.__module__}.{actor_cls.__qualname__} is a class "
                        "that is not an Actor subclass")
    return Props(factory if factory is not None else actor_cls, dispatcher,
                 interpreter_role, mailbox)
