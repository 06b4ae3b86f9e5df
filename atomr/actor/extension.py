"""ActorSystem extensions: per-system state, created once on first use.

An extension is how a subsystem (persistence, distributed data, the test
kit, remoting, ...) keeps state that belongs to one actor system: the
system holds it, creates it the first time it is asked for, and shuts it
down when it terminates. No module keeps its own per-system registry.

Example:
    >>> class Counter(Extension):
    ...     def __init__(self, system):
    ...         self.count = 0
    >>> class CounterId(ExtensionId["Counter"]):
    ...     def create_extension(self, system):
    ...         return Counter(system)
    >>> COUNTER = CounterId()
    >>> # COUNTER.get(system) is system.extension(COUNTER): one per system
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Optional, TypeVar

from atomr.config import ConfigError, section_names

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor._system import ActorSystem

__all__ = ["Extension", "ExtensionId"]


class Extension:
    """Base class of the per-system state objects an :class:`ExtensionId` creates.

    The system keeps its extensions until it terminates, then calls
    :meth:`shutdown` on each, in reverse creation order, after every actor
    has stopped.
    """

    def shutdown(self) -> None:
        """Releases what the extension holds; called once, when its system
        has terminated (after its actors have stopped), on the system's
        loop thread. Exceptions are logged, never raised. Does nothing by
        default."""


E = TypeVar("E", bound=Extension)


class ExtensionId(Generic[E], abc.ABC):
    """Identifies one kind of extension and builds it for a system.

    Create one module-level instance per extension kind and look the
    extension up with :meth:`get` (or ``system.extension(ext_id)``); each
    system builds its own instance on first use, exactly once, even when
    several threads ask at the same time. Ids compare by identity.

    Attributes:
        config_section: The top-level config section the extension owns
            (e.g. ``"persistence"``), or None. Built-in sections are part
            of :mod:`atomr.config`'s schema; a third-party extension
            declares its section with :func:`atomr.config.register_section`.
            Its settings are read with :meth:`settings`.
    """

    config_section: ClassVar[Optional[str]] = None

    @abc.abstractmethod
    def create_extension(self, system: "ActorSystem") -> E:
        """Builds the extension for `system`.

        Called once per system, on the first :meth:`get` (a concurrent
        first use of this id waits for it), on the calling thread. It may
        itself get other extensions of the same system, and may wait for
        the system's loop.

        Args:
            system: The live system the extension belongs to.

        Returns:
            The new :class:`Extension`.
        """

    def get(self, system: "ActorSystem") -> E:
        """The extension of `system`, created on first use.

        Raises:
            ActorSystemTerminatedError: `system` is terminating or terminated.
            TypeError: `create_extension` returned something other than an
                :class:`Extension`.
        """
        return system.extension(self)

    def settings(self, system: "ActorSystem") -> dict[str, Any]:
        """The settings of :attr:`config_section` in `system` (keys below
        the section -> value, defaults filled in); empty without a section.

        Raises:
            ConfigError: :attr:`config_section` is not a known section
                (built in, or declared with :func:`atomr.config.register_section`).
        """
        section = self.config_section
        if section is None:
            return {}
        if section not in section_names():
            raise ConfigError(f"{type(self).__qualname__}.config_section `{section}` is not a "
                              f"known config section; declare it with register_section()")
        prefix = section + "."
        return {key[len(prefix):]: value for key, value in system.settings.items()
                if key.startswith(prefix)}

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__}>"
