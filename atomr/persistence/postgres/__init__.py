"""The PostgreSQL journal and snapshot store (asyncpg).

LMDB is the embedded default; a journal in PostgreSQL is one that every
node of a cluster reaches. Create the tables once per database with
``python -m atomr.persistence.postgres migrate --dsn DSN`` (or
:func:`migrate`), then select the backend in the config (``journal =
"postgres"`` and ``postgres.dsn`` in the ``persistence`` section) or pass a
:class:`PostgresJournal` to an actor (``journal=``). Importing this module
does not need asyncpg; making a journal does (``pip install asyncpg``).

Tables (in the configured schema): ``atomr_journal`` (the events, with the
global ``ordering`` column), ``atomr_journal_highest`` (each id's highest
sequence number), ``atomr_event_tag`` (the tag index), ``atomr_snapshot`` and
``atomr_migrations``.
"""

from __future__ import annotations

from atomr.persistence.postgres._journal import PostgresJournal, PostgresSnapshotStore
from atomr.persistence.postgres._schema import migrate

__all__ = ["PostgresJournal", "PostgresSnapshotStore", "migrate"]
