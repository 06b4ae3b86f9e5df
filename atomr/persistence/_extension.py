"""The persistence extension: the default journal, snapshot store and
recovery permitter of one actor system, built on first use from its
``persistence`` settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from atomr._util import public_module
from atomr.actor.extension import Extension, ExtensionId
from atomr.config import ConfigError
from atomr.persistence._plugins import _journal_factories, _snapshot_factories
from atomr.persistence._recovery import RecoveryPermitter
from atomr.persistence._store import Journal, SnapshotStore

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem


class _PersistenceId(ExtensionId["Persistence"]):
    """Builds the :class:`Persistence` extension of a system."""

    config_section = "persistence"

    def create_extension(self, system: "ActorSystem") -> "Persistence":
        """A new :class:`Persistence` for `system`, from its settings."""
        return Persistence._create(system.settings)


_PERSISTENCE = _PersistenceId()


@public_module("atomr.persistence")
class Persistence(Extension):
    """The persistence of one actor system (one per system, created on first use).

    It holds what persistent actors use when they are not given their own:
    the journal and snapshot store the ``persistence`` config section names
    (built when first needed), the recovery permitter
    (``persistence.max-concurrent-recoveries``) and the default
    ``persistence.snapshot-every``. When the system terminates the permitter
    is closed.

    Example:
        >>> persistence = Persistence.get(system)        # doctest: +SKIP
        >>> persistence.journal()                        # doctest: +SKIP
        <InMemoryJournal>
    """

    _settings: dict[str, Any]
    _journal: Optional[Journal]
    _store: Any  # False: not built yet (None is "no store")
    _permitter: RecoveryPermitter
    _snapshot_every: Optional[int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use Persistence.get(system)")

    @classmethod
    def _create(cls, settings: dict[str, Any]) -> "Persistence":
        self = object.__new__(cls)
        self._settings = settings
        self._journal = None
        self._store = False
        self._permitter = RecoveryPermitter(settings["persistence.max-concurrent-recoveries"])
        self._snapshot_every = settings["persistence.snapshot-every"] or None
        return self

    @staticmethod
    def get(system: "ActorSystem") -> "Persistence":
        """The persistence extension of `system`, created on first use.

        Raises:
            ActorSystemTerminatedError: `system` is terminating or terminated
                and has no persistence extension yet.
        """
        return _PERSISTENCE.get(system)

    @property
    def permitter(self) -> RecoveryPermitter:
        """The recovery permitter the system's persistent actors share."""
        return self._permitter

    @property
    def snapshot_every(self) -> Optional[int]:
        """The default snapshot interval in events (None: no automatic snapshots)."""
        return self._snapshot_every

    def journal(self) -> Journal:
        """The default journal (``persistence.journal``), built on first use.

        Raises:
            ConfigError: no journal plugin has that name, or its settings
                are incomplete.
        """
        if self._journal is None:
            name = self._settings["persistence.journal"]
            factory = _journal_factories.get(name)
            if factory is None:
                raise ConfigError(f"unknown persistence.journal `{name}`; known: "
                                  f"{', '.join(sorted(_journal_factories))}")
            self._journal = factory(self._settings)
        return self._journal

    def snapshot_store(self) -> Optional[SnapshotStore]:
        """The default snapshot store (``persistence.snapshot-store``; with
        ``auto``, the store of the journal's plugin if it registered one,
        else the journal's own :meth:`Journal.snapshot_store`), built on
        first use; None when there is none.

        Raises:
            ConfigError: no snapshot store plugin has that name, or its
                settings are incomplete.
        """
        if self._store is False:
            name = self._settings["persistence.snapshot-store"]
            if name == "auto":
                name = self._settings["persistence.journal"]
                if name not in _snapshot_factories:
                    self._store = self.journal().snapshot_store()
                    return self._store
            factory = _snapshot_factories.get(name)
            if factory is None:
                raise ConfigError(f"unknown persistence.snapshot-store `{name}`; known: "
                                  f"auto, {', '.join(sorted(_snapshot_factories))}")
            self._store = factory(self._settings)
        return self._store

    def shutdown(self) -> None:
        """Closes the recovery permitter (the system has terminated), and the
        connection pools of the journal and snapshot store built from the
        config, when they have any (PostgreSQL)."""
        self._permitter.close()
        for built in (self._journal, self._store):
            close = getattr(built, "_close_with_system", None)
            if close is not None:
                close()

    def __repr__(self) -> str:
        return f"<Persistence journal={self._settings['persistence.journal']!r}>"
