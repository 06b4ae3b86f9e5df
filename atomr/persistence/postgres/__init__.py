"""The PostgreSQL journal and snapshot store (asyncpg).

LMDB is the embedded default; a journal in PostgreSQL is one that every
node of a cluster reaches. Create the tables once per database::

    python -m atomr.persistence.postgres migrate --dsn postgresql://app@db/events

then select the backend in the ``persistence`` config section::

    [persistence]
    journal = "postgres"
    postgres.dsn = "postgresql://app@db/events"

or pass a :class:`PostgresJournal` to an actor (``journal=``). Importing this
module needs asyncpg (``pip install asyncpg``); :mod:`atomr.persistence`
does not.

Tables (in the configured schema): ``atomr_journal`` (the events, with the
global ``ordering`` column), ``atomr_journal_highest`` (each id's highest
sequence number), ``atomr_event_tag`` (the tag index), ``atomr_snapshot`` and
``atomr_migrations``.
"""

from __future__ import annotations

from atomr.persistence.postgres._journal import PostgresJournal, PostgresSnapshotStore
from atomr.persistence.postgres._schema import migrate

__all__ = ["PostgresJournal", "PostgresSnapshotStore", "migrate"]
