"""Dependency injection: a container of services and Props that build
actors with their dependencies.

A :class:`ServiceContainer` maps string keys to services: a fixed instance
(:meth:`~ServiceContainer.register`), a factory called on every
resolution (:meth:`~ServiceContainer.register_factory`) or a singleton
factory called once, on first use (:meth:`~ServiceContainer.register_singleton`).
:meth:`ServiceContainer.props` makes Props whose every incarnation (the
first and each restart) is built with its constructor's dependencies taken
from the container: a parameter whose default is ``Inject("key")`` gets that
service; one named like a registered key gets that service; arguments given
to ``props`` win.

Example:
    >>> services = ServiceContainer()
    >>> services.register("greeting", "hello")
    >>> services.register_singleton("counter", lambda c: [c.resolve("greeting")])
    >>> services.resolve("counter")
    ['hello']
    >>> services.keys()
    ['greeting', 'counter']
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar

from atomr.actor import Actor, Props
from atomr.actor.extension import Extension, ExtensionId
from atomr.errors import DependencyError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["ServiceContainer", "Inject", "DependencyError", "Services", "ServicesId",
           "SERVICES", "services_of"]

T = TypeVar("T")

_INSTANCE, _FACTORY, _SINGLETON = "instance", "factory", "singleton"


class Inject(Generic[T]):
    """Marks a constructor parameter to be filled from the container:
    ``def __init__(self, db: Database = Inject("db"))``.

    Args:
        key: The service's key.
    """

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = _check_key(key)

    def __repr__(self) -> str:
        return f"Inject({self.key!r})"


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a service key must be a str, not {type(key).__name__}")
    if not key:
        raise ValueError("a service key must not be empty")
    return key


class _Entry:
    __slots__ = ("kind", "value", "made", "lock")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind
        self.value = value
        self.made = kind == _INSTANCE
        self.lock = threading.RLock() if kind == _SINGLETON else None


class ServiceContainer:
    """String-keyed services: instances, factories and singletons.

    Thread-safe. Registering a key again replaces its service. Factories
    are called as ``factory(container)``, so they can resolve what they
    depend on; a factory that (directly or not) needs its own key raises
    :class:`~atomr.errors.DependencyError` instead of recursing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._resolving = threading.local()

    # -- registration ------------------------------------------------------------

    def register(self, key: str, value: Any) -> None:
        """Registers `value` itself as the service `key` (the original's
        ``register``; ``register_instance`` is the same).

        Raises:
            TypeError, ValueError: `key` is not a non-empty str.
        """
        self._put(key, _Entry(_INSTANCE, value))

    register_instance = register

    def register_factory(self, key: str, factory: Callable[["ServiceContainer"], Any]) -> None:
        """Registers `factory`: every resolution of `key` returns a new
        ``factory(container)``.

        Raises:
            TypeError: `factory` is not callable, or `key` not a str.
            ValueError: `key` is empty.
        """
        self._put(key, _Entry(_FACTORY, _check_factory(factory)))

    def register_singleton(self, key: str, factory: Callable[["ServiceContainer"], Any]) -> None:
        """Registers `factory`, called once, on the first resolution of
        `key`; every resolution returns that one value. A factory that
        raises is called again on the next resolution.

        Raises:
            TypeError: `factory` is not callable, or `key` not a str.
            ValueError: `key` is empty.
        """
        self._put(key, _Entry(_SINGLETON, _check_factory(factory)))

    def _put(self, key: str, entry: _Entry) -> None:
        key = _check_key(key)
        with self._lock:
            self._entries.pop(key, None)  # a replaced key moves to the end of keys()
            self._entries[key] = entry

    def unregister(self, key: str) -> bool:
        """Removes the service `key`; returns whether there was one."""
        with self._lock:
            return self._entries.pop(_check_key(key), None) is not None

    # -- resolution ----------------------------------------------------------------

    def resolve(self, key: str) -> Any:
        """The service `key`, or None when nothing is registered under it.

        Raises:
            DependencyError: the service's factory needs the service itself.
            TypeError, ValueError: `key` is not a non-empty str.
            Exception: what the service's factory raised.
        """
        key = _check_key(key)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.made:
            return entry.value
        return self._make(key, entry)

    def require(self, key: str) -> Any:
        """The service `key`.

        Raises:
            DependencyError: nothing is registered under `key` (or its
                factory needs the service itself).
        """
        key = _check_key(key)
        with self._lock:
            known = key in self._entries
        if not known:
            raise DependencyError(f"no service is registered under {key!r} "
                                  f"(registered: {', '.join(self.keys()) or 'none'})")
        return self.resolve(key)

    def keys(self) -> list[str]:
        """The registered keys, in registration order."""
        with self._lock:
            return list(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _make(self, key: str, entry: _Entry) -> Any:
        stack: Optional[list[str]] = getattr(self._resolving, "stack", None)
        if stack is None:
            stack = self._resolving.stack = []
        if key in stack:
            chain = " -> ".join([*stack[stack.index(key):], key])
            raise DependencyError(f"circular dependency: {chain}")
        stack.append(key)
        try:
            if entry.kind == _FACTORY:
                return entry.value(self)
            assert entry.lock is not None
            with entry.lock:
                if not entry.made:
                    entry.value = entry.value(self)
                    entry.made = True
                return entry.value
        finally:
            stack.pop()

    # -- actors --------------------------------------------------------------------

    def props(self, actor_cls: type[Actor[Any, Any]], *args: Any, **kwargs: Any) -> Props[Any, Any]:
        """Props building `actor_cls` with its dependencies.

        Each incarnation is ``actor_cls(*args, **kwargs, **injected)``: a
        constructor parameter not given in `args` or `kwargs` whose default
        is ``Inject(key)`` gets the service `key`; one without a default
        gets the service of its own name. The services are resolved for
        every incarnation, so a restart gets a new value from a factory and
        the same one from a singleton or instance.

        Raises:
            TypeError: `actor_cls` is not an :class:`atomr.Actor` subclass,
                or `args`/`kwargs` do not fit its constructor.
            DependencyError: a dependency is not registered (checked here,
                at the call, not when the actor starts).
        """
        if not (isinstance(actor_cls, type) and issubclass(actor_cls, Actor)):
            raise TypeError(f"props() needs an atomr.Actor subclass, not {actor_cls!r}")
        wanted = self._dependencies(actor_cls, args, kwargs)
        missing = [f"{name} ({key!r})" for name, key in wanted.items() if key not in self]
        if missing:
            raise DependencyError(f"{actor_cls.__qualname__} needs services that are not "
                                  f"registered: {', '.join(missing)}")

        def build() -> Actor[Any, Any]:
            injected = {name: self.require(key) for name, key in wanted.items()}
            return actor_cls(*args, **kwargs, **injected)

        build.__qualname__ = f"inject({actor_cls.__qualname__})"
        return Props(build)

    @staticmethod
    def _dependencies(actor_cls: type, args: tuple, kwargs: dict) -> dict[str, str]:
        """Constructor parameter -> service key, for what args/kwargs leave open."""
        signature = inspect.signature(actor_cls)
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{actor_cls.__qualname__}: {exc}") from None
        wanted: dict[str, str] = {}
        for name, param in signature.parameters.items():
            if name in bound.arguments or param.kind in (param.VAR_POSITIONAL,
                                                         param.VAR_KEYWORD):
                continue
            if isinstance(param.default, Inject):
                key: Optional[str] = param.default.key
            elif param.default is param.empty:
                key = name
            else:
                key = None
            if key is not None:
                if param.kind is param.POSITIONAL_ONLY:
                    raise TypeError(f"{actor_cls.__qualname__}: the positional-only parameter "
                                    f"{name!r} cannot be injected")
                wanted[name] = key
        return wanted

    def __repr__(self) -> str:
        return f"<ServiceContainer keys={self.keys()!r}>"


def _check_factory(factory: Any) -> Callable[["ServiceContainer"], Any]:
    if not callable(factory):
        raise TypeError(f"a service factory must be callable, not {type(factory).__name__}")
    return factory


class Services(Extension):
    """The service container of one actor system (an extension): what the
    system's actors and start-up code share. Empty until something is
    registered, or until :meth:`use` (the hosting builder's
    ``with_services``) installs a container."""

    def __init__(self) -> None:
        self._container = ServiceContainer()

    @property
    def container(self) -> ServiceContainer:
        """The system's container."""
        return self._container

    def use(self, container: ServiceContainer) -> None:
        """Makes `container` the system's container.

        Raises:
            TypeError: `container` is not a :class:`ServiceContainer`.
        """
        if not isinstance(container, ServiceContainer):
            raise TypeError(f"expected a ServiceContainer, not {type(container).__name__}")
        self._container = container


class ServicesId(ExtensionId[Services]):
    """Identifies the :class:`Services` extension."""

    def create_extension(self, system: "ActorSystem") -> Services:
        return Services()


#: The per-system services extension: ``SERVICES.get(system).container``.
SERVICES = ServicesId()


def services_of(system: "ActorSystem") -> ServiceContainer:
    """The service container of `system` (see :class:`Services`)."""
    return SERVICES.get(system).container
