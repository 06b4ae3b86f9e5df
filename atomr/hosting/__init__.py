"""Hosting: build an actor system from its parts and run it as a service.

:class:`ActorSystemBuilder` (and :class:`Builder`, whose name is optional)
collects the configuration, interpreter pool requests, services and
start-up callbacks, then :meth:`~ActorSystemBuilder.build` creates the
system. ``python -m atomr run package.module:factory`` runs one as a
process that stops gracefully on SIGTERM or SIGINT through the system's
coordinated shutdown (:mod:`atomr.actor.coordinated_shutdown`), see
:func:`run_host`.

The interpreter pools :meth:`~ActorSystemBuilder.configure_interpreter`
asks for are configured when the system is built (see
:mod:`atomr.interpreter`), and the requests are kept (see
:func:`interpreter_requests`).

Example:
    >>> # system = (Builder("orders")
    >>> #           .with_config(Config.from_toml(text))
    >>> #           .on_start(lambda s: s.actor_of(props(Api), "api"))
    >>> #           .build())
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
from typing import Any, Callable, Mapping, Optional, TypeVar, Union

from atomr._util.validate import check_int, check_nonempty_str
from atomr.interpreter import SUBINTERPRETER_POOL, subinterpreters_supported
from atomr.actor import DISPATCHERS, ActorSystem, Extension, ExtensionId
from atomr.actor.coordinated_shutdown import (
    COORDINATED_SHUTDOWN,
    PHASES,
    CoordinatedShutdown,
    ShutdownOutcome,
    ShutdownTask,
)
from atomr.config import Config
from atomr.di import SERVICES, ServiceContainer
from atomr.hosting._host import (
    EXIT_OK,
    EXIT_SHUTDOWN_INCOMPLETE,
    EXIT_START_FAILED,
    EXIT_USAGE,
    load_target,
    main,
    run_host,
)

__all__ = [
    "ActorSystemBuilder",
    "Builder",
    "InterpreterRequest",
    "interpreter_requests",
    "CoordinatedShutdown",
    "COORDINATED_SHUTDOWN",
    "PHASES",
    "ShutdownTask",
    "ShutdownOutcome",
    "run_host",
    "load_target",
    "main",
    "EXIT_OK",
    "EXIT_START_FAILED",
    "EXIT_USAGE",
    "EXIT_SHUTDOWN_INCOMPLETE",
]

B = TypeVar("B", bound="ActorSystemBuilder")


@dataclasses.dataclass(frozen=True)
class InterpreterRequest:
    """An interpreter pool a builder was asked for (configured by
    :meth:`ActorSystemBuilder.build` through
    :meth:`atomr.ActorSystem.configure_interpreter`).

    Attributes:
        label: The pool's label (what ``Props.with_interpreter_role`` names).
        dispatcher: One of :data:`atomr.actor.DISPATCHERS`.
        count: How many interpreters.
        quota: The quota object given, or None.
    """

    label: str
    dispatcher: str = "python-pinned"
    count: int = 1
    quota: Any = None


class _Hosting(Extension):
    def __init__(self) -> None:
        self.requests: tuple[InterpreterRequest, ...] = ()


class _HostingId(ExtensionId[_Hosting]):
    def create_extension(self, system: ActorSystem) -> _Hosting:
        return _Hosting()


_HOSTING = _HostingId()


def interpreter_requests(system: ActorSystem) -> tuple[InterpreterRequest, ...]:
    """The interpreter pools the builder of `system` was asked for, in order
    (empty for a system not made by a builder)."""
    return _HOSTING.get(system).requests


class ActorSystemBuilder:
    """Builds an actor system: ``ActorSystemBuilder(name).with_config(cfg)
    .on_start(callback).build()``. Every ``with_*``/``on_*`` method returns
    the builder itself.

    Args:
        name: The system's name.

    Raises:
        TypeError, ValueError: `name` is not a non-empty str.
    """

    def __init__(self, name: str) -> None:
        self._name = check_nonempty_str("name", name)
        self._config: Optional[Config] = None
        self._interpreters: list[InterpreterRequest] = []
        self._on_start: list[Callable[[ActorSystem], Any]] = []
        self._services: Optional[ServiceContainer] = None

    @property
    def name(self) -> str:
        """The name the system gets."""
        return self._name

    @property
    def config(self) -> Optional[Config]:
        """The configuration given, or None."""
        return self._config

    @property
    def interpreters(self) -> tuple[InterpreterRequest, ...]:
        """The interpreter pool requests, in order."""
        return tuple(self._interpreters)

    def with_config(self: B, config: Union[Config, Mapping[str, Any], str]) -> B:
        """Uses `config`: a :class:`~atomr.Config`, a mapping
        (``Config.from_dict``) or TOML text (``Config.from_toml``).

        Raises:
            TypeError: `config` is none of these.
            ConfigError: a setting has a bad value (checked here).
        """
        if isinstance(config, str):
            config = Config.from_toml(config)
        elif isinstance(config, Mapping):
            config = Config.from_dict(config)
        elif not isinstance(config, Config):
            raise TypeError(f"config must be a Config, a mapping or TOML text, not "
                            f"{type(config).__name__}")
        config.resolve()
        self._config = config
        return self

    def configure_interpreter(self: B, label: str, dispatcher: str = "python-pinned",
                              count: int = 1, quota: Any = None) -> B:
        """Asks for an interpreter pool, configured by :meth:`build` (pools
        are process-wide: a label configured before keeps its first
        configuration).

        Raises:
            TypeError, ValueError: `label` is not a non-empty str, `dispatcher`
                not one of :data:`atomr.actor.DISPATCHERS`, or `count` not an
                int >= 1.
            NotImplementedError: a kind this build cannot run (see
                :func:`atomr.interpreter.configure_interpreter`).
        """
        label = check_nonempty_str("label", label)
        if dispatcher not in DISPATCHERS:
            raise ValueError(f"unknown dispatcher {dispatcher!r}; expected one of "
                             f"{', '.join(DISPATCHERS)}")
        if dispatcher == SUBINTERPRETER_POOL and not subinterpreters_supported():
            raise NotImplementedError(
                "python-subinterpreter-pool is not built in this version of atomr "
                "(subinterpreters_supported() is False)")
        count = check_int("count", count, 1)
        self._interpreters.append(InterpreterRequest(label, dispatcher, count, quota))
        return self

    def with_services(self: B, services: ServiceContainer) -> B:
        """Makes `services` the system's container (:func:`atomr.di.services_of`).

        Raises:
            TypeError: `services` is not a :class:`~atomr.di.ServiceContainer`.
        """
        if not isinstance(services, ServiceContainer):
            raise TypeError(f"services must be a ServiceContainer, not "
                            f"{type(services).__name__}")
        self._services = services
        return self

    def on_start(self: B, callback: Callable[[ActorSystem], Any]) -> B:
        """Calls ``callback(system)`` once the system is built (callbacks run
        in the order given; one returning an awaitable is awaited).

        Raises:
            TypeError: `callback` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        self._on_start.append(callback)
        return self

    def build(self) -> ActorSystem:
        """Creates the system (running its own loop, as
        ``ActorSystem.create_blocking``), configures the interpreter pools,
        installs the services, then runs the start callbacks in order.

        Raises:
            Exception: what creating the system or a start callback raised;
                the system is then terminated again.
        """
        system = ActorSystem.create_blocking(self._name, self._config)
        try:
            _HOSTING.get(system).requests = tuple(self._interpreters)
            for request in self._interpreters:
                system.configure_interpreter(request.label, request.dispatcher, request.count,
                                             request.quota)
            if self._services is not None:
                SERVICES.get(system).use(self._services)
            for callback in self._on_start:
                result = callback(system)
                if inspect.isawaitable(result):
                    _wait_for(result)
        except BaseException:
            system.terminate_blocking(30.0)
            raise
        return system

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"


class Builder(ActorSystemBuilder):
    """The :class:`ActorSystemBuilder` of the original's docs, whose name
    may be left out (default ``"atomr"``)."""

    def __init__(self, name: str = "atomr") -> None:
        super().__init__(name)


def _wait_for(awaitable: Any) -> Any:
    """Runs `awaitable` to completion on a loop of its own (on a helper
    thread, so this works whether or not the caller runs a loop)."""
    outcome: dict[str, Any] = {}

    async def drive() -> Any:
        return await awaitable

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(drive())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="atomr-builder-start")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
