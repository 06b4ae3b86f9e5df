"""Leases: at most one owner at a time holds a named lease.

Two shapes, as in the original and in Akka:

* the synchronous one, a :class:`LeaseStore` -- :class:`InMemoryLease`
  (one process), :class:`FileLease` (the processes of one machine) or
  :class:`PostgresLease` (processes on any machines sharing a database) --
  with ``acquire(owner) -> True`` (raising
  :class:`~atomr.errors.LeaseError` when another owner holds it),
  ``release(owner)`` and ``check() -> holder | None``; a holding may carry
  a time to live;
* Akka's asynchronous one, a :class:`Lease` for one owner, whose
  ``await acquire(lease_lost_callback)`` answers True or False and keeps
  the holding alive with a heartbeat, ``await release()`` and
  ``check_lease()``.

:class:`LeaseProvider` (an actor system extension) builds the configured
kind from the ``[coordination.lease]`` section, for the cluster's split
brain resolver (lease-majority, with ``cluster.sbr.lease-name``) and applications.

Example:
    >>> lease = InMemoryLease()
    >>> lease.acquire("node-a")
    True
    >>> lease.check()
    'node-a'
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import TYPE_CHECKING, Optional

from atomr.actor.extension import Extension, ExtensionId
from atomr.coordination._lease import Lease, LeaseLostCallback, LeaseSettings, TimeoutSettings
from atomr.coordination._postgres import PostgresLease
from atomr.coordination._stores import FileLease, InMemoryLease, LeaseStore
from atomr.config import ConfigError
from atomr.errors import LeaseError, LeaseTimeoutError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = [
    "LeaseStore",
    "InMemoryLease",
    "FileLease",
    "PostgresLease",
    "Lease",
    "LeaseSettings",
    "TimeoutSettings",
    "LeaseLostCallback",
    "LeaseProvider",
    "LeaseProviderId",
    "LEASE_PROVIDER",
    "LeaseError",
    "LeaseTimeoutError",
]


class LeaseProvider(Extension):
    """The leases of one actor system, built as its config says.

    ``[coordination.lease]``: ``implementation`` (``"in-memory"``: the
    process-wide :meth:`InMemoryLease.named` lease; ``"file"``: a
    :class:`FileLease` named ``<lease-name>.lease`` in ``directory``,
    default ``<tmp>/atomr-leases``; ``"postgres"``: a :class:`PostgresLease`
    in ``dsn``'s database, ``schema`` and ``table``), ``heartbeat-interval``,
    ``heartbeat-timeout`` and ``lease-operation-timeout``.
    Get it with ``LEASE_PROVIDER.get(system)``. Leases its owners still
    hold are released when the system terminates.
    """

    def __init__(self, system: "ActorSystem") -> None:
        settings = LEASE_PROVIDER.settings(system)
        self._implementation: str = settings["lease.implementation"]
        directory = settings["lease.directory"] or os.path.join(tempfile.gettempdir(),
                                                                "atomr-leases")
        self._directory: str = directory
        self._postgres = (settings["lease.dsn"], settings["lease.schema"],
                          settings["lease.table"])
        if self._implementation == "postgres" and not self._postgres[0]:
            raise ConfigError("coordination.lease.implementation = \"postgres\" needs "
                              "coordination.lease.dsn")
        self._timing = TimeoutSettings(
            heartbeat_interval=settings["lease.heartbeat-interval"],
            heartbeat_timeout=settings["lease.heartbeat-timeout"],
            operation_timeout=settings["lease.lease-operation-timeout"])
        self._lock = threading.Lock()
        self._leases: dict[tuple[str, str], Lease] = {}

    @property
    def implementation(self) -> str:
        """The configured kind of lease (``"in-memory"``, ``"file"`` or ``"postgres"``)."""
        return self._implementation

    @property
    def timeout_settings(self) -> TimeoutSettings:
        """The configured timing."""
        return self._timing

    def store(self, lease_name: str) -> LeaseStore:
        """The configured store of the lease `lease_name`."""
        if self._implementation == "postgres":
            dsn, schema, table = self._postgres
            return PostgresLease(dsn, lease_name, schema=schema, table=table,
                                 timeout=self._timing.operation_timeout)
        if self._implementation == "file":
            os.makedirs(self._directory, exist_ok=True)
            return FileLease(os.path.join(self._directory, _file_name(lease_name)),
                             name=lease_name)
        return InMemoryLease.named(lease_name)

    def get_lease(self, lease_name: str, owner_name: str,
                  timeout_settings: Optional[TimeoutSettings] = None) -> Lease:
        """The lease `lease_name` for `owner_name` (one handle per pair).

        Args:
            lease_name: The lease's name, the same for every contender.
            owner_name: This contender's name (the node's address, say).
            timeout_settings: The timing (default: the configured one).
        """
        key = (lease_name, owner_name)
        with self._lock:
            lease = self._leases.get(key)
            if lease is None:
                settings = LeaseSettings(lease_name, owner_name, timeout_settings or self._timing)
                lease = self._leases[key] = Lease(self.store(lease_name), settings)
            return lease

    def shutdown(self) -> None:
        with self._lock:
            leases, self._leases = list(self._leases.values()), {}
        for lease in leases:
            if lease.check_lease():
                try:
                    lease.release_blocking()
                except Exception:
                    pass  # it expires after its heartbeat timeout anyway
            store = lease.store
            if isinstance(store, PostgresLease):
                store.close()


def _file_name(lease_name: str) -> str:
    if not lease_name or "/" in lease_name or lease_name in (".", ".."):
        raise ValueError(f"lease name {lease_name!r} cannot name a lease file")
    return lease_name + ".lease"


class LeaseProviderId(ExtensionId[LeaseProvider]):
    """Identifies the :class:`LeaseProvider` extension."""

    config_section = "coordination"

    def create_extension(self, system: "ActorSystem") -> LeaseProvider:
        return LeaseProvider(system)


#: The lease provider extension: ``LEASE_PROVIDER.get(system)``.
LEASE_PROVIDER = LeaseProviderId()
