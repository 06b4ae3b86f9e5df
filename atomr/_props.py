"""Props: the recipe an actor is built from."""

from __future__ import annotations

from typing import Any, Callable, Optional

__all__ = ["Props", "props", "DISPATCHERS"]

#: Dispatcher names the API accepts. Only ``python-pinned`` exists in this
#: build; the others run as ``python-pinned``.
DISPATCHERS = (
    "python-pinned",
    "python-subinterpreter-pool",
    "python-nogil",
    "python-subprocess",
    "python-process",
)


class Props:
    """An immutable recipe for an actor: the factory that builds each
    incarnation and the settings it runs with.

    Build one with :func:`props` or :meth:`Props.create`; the ``with_*``
    methods return modified copies.
    """

    __slots__ = ("_factory", "_dispatcher", "_interpreter_role", "_mailbox",
                 "_supervisor_strategy", "_kind", "_router", "_dispatcher_config")

    def __init__(self, factory: Callable[[], Any], dispatcher: str = "python-pinned",
                 interpreter_role: str = "default", mailbox: Any = None,
                 supervisor_strategy: Any = None, kind: str = "python",
                 router: Any = None) -> None:
        if not callable(factory):
            raise TypeError(f"Props factory must be callable, not {type(factory).__name__}")
        from atomr.core import DispatcherConfig

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
    def create(factory: Callable[[], Any], dispatcher: str = "python-pinned",
               interpreter_role: str = "default", mailbox: Any = None) -> "Props":
        """Props from a zero-argument factory (a class or any callable)."""
        return Props(factory, dispatcher, interpreter_role, mailbox)

    @property
    def factory(self) -> Callable[[], Any]:
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
        """The strategy supervising this actor's children (None: the default)."""
        return self._supervisor_strategy

    @property
    def router(self) -> Any:
        """The router configuration of router Props (None otherwise)."""
        return self._router

    @property
    def kind_label(self) -> str:
        """``"python"``, ``"router"`` or ``"backoff"``."""
        return self._kind

    def _copy(self, **changes: Any) -> "Props":
        fields = dict(factory=self._factory,
                      dispatcher=self._dispatcher_config or self._dispatcher,
                      interpreter_role=self._interpreter_role, mailbox=self._mailbox,
                      supervisor_strategy=self._supervisor_strategy, kind=self._kind,
                      router=self._router)
        fields.update(changes)
        return Props(**fields)

    def with_dispatcher(self, dispatcher: Any) -> "Props":
        """A copy running on `dispatcher`: a name, or an
        :class:`atomr.core.DispatcherConfig` whose ``throughput`` (messages
        per turn) and ``throughput_deadline_secs`` (time per turn) apply to
        this actor."""
        return self._copy(dispatcher=dispatcher)

    def with_interpreter_role(self, role: str) -> "Props":
        """A copy with the interpreter pool label `role`.

        Raises:
            TypeError: `role` is not a str.
        """
        return self._copy(interpreter_role=role)

    def with_mailbox(self, mailbox: Any) -> "Props":
        """A copy with `mailbox`: None (unbounded) or an
        :class:`atomr.core.BoundedMailbox` (also given as a dict
        ``{"capacity": n, "overflow": "drop_head"}``)."""
        if isinstance(mailbox, dict):
            from atomr.core import BoundedMailbox

            mailbox = BoundedMailbox(**mailbox)
        return self._copy(mailbox=mailbox)

    def with_supervisor_strategy(self, strategy: Any) -> "Props":
        """A copy whose actor is supervised with `strategy` when it fails."""
        from atomr._native._core import SupervisorStrategy

        if strategy is not None and not isinstance(strategy, SupervisorStrategy):
            raise TypeError(f"expected a SupervisorStrategy, not {type(strategy).__name__}")
        return self._copy(supervisor_strategy=strategy)

    def with_supervisor_budget(self, max_retries: int, within_seconds: float = 60.0) -> "Props":
        """A copy restarted on any failure, at most `max_retries` times per
        sliding `within_seconds` window (then stopped)."""
        from atomr._native._core import SupervisorStrategy

        return self.with_supervisor_strategy(SupervisorStrategy.one_for_one(
            None, "restart", max_retries, within_seconds))

    def __repr__(self) -> str:
        name = getattr(self._factory, "__qualname__", repr(self._factory))
        return f"<Props factory={name} dispatcher={self._dispatcher}>"


def props(actor_cls: Callable[[], Any], *, dispatcher: str = "python-pinned",
          interpreter_role: str = "default", mailbox: Any = None,
          factory: Optional[Callable[[], Any]] = None) -> Props:
    """Props for `actor_cls`.

    Args:
        actor_cls: an :class:`atomr.Actor` subclass, or any zero-argument
            callable returning an actor.
        dispatcher: the dispatcher name (``"python-pinned"`` by default).
        interpreter_role: the interpreter pool label.
        mailbox: the mailbox setting.
        factory: builds each incarnation instead of ``actor_cls()``.
    """
    return Props(factory if factory is not None else actor_cls, dispatcher,
                 interpreter_role, mailbox)


def _attach_router_factories() -> None:
    """Props.round_robin(...) etc. (the functions of atomr.routing)."""
    from atomr import routing

    for name in ("broadcast", "round_robin", "random", "consistent_hash", "smallest_mailbox",
                 "tail_chopping", "scatter_gather", "backoff"):
        setattr(Props, name, staticmethod(getattr(routing, name)))
