"""The PostgreSQL schema of the journal and snapshot store, as numbered
migrations, and :func:`migrate`, which applies the missing ones.
"""

from __future__ import annotations

import re
from typing import Any

from atomr.errors import JournalError

#: Schema names the journal accepts (they are spliced into DDL).
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: The advisory lock that serialises concurrent migrations of one database.
_MIGRATION_LOCK = 0x61746F6D72  # "atomr"

# The events: one row per event, numbered per persistence id. `ordering` is
# the global order of the journal (tag queries read by it). The highest
# sequence number of each id lives in atomr_journal_highest, so that it
# survives deletes and the write function can check it (the optimistic
# sequence-number check) and take the row lock that orders concurrent
# writers of one id. Tags are kept with the event (replays return them) and
# indexed in atomr_event_tag by (tag, ordering).
_V1_TABLES = """
CREATE TABLE atomr_journal (
    ordering        BIGINT GENERATED ALWAYS AS IDENTITY,
    persistence_id  TEXT   NOT NULL,
    sequence_nr     BIGINT NOT NULL,
    manifest        TEXT   NOT NULL,
    payload         BYTEA  NOT NULL,
    timestamp_ms    BIGINT NOT NULL,
    tags            TEXT[] NOT NULL,
    PRIMARY KEY (persistence_id, sequence_nr)
);
CREATE UNIQUE INDEX atomr_journal_ordering ON atomr_journal (ordering);
CREATE TABLE atomr_journal_highest (
    persistence_id  TEXT   PRIMARY KEY,
    highest         BIGINT NOT NULL
);
CREATE TABLE atomr_event_tag (
    tag             TEXT   NOT NULL,
    ordering        BIGINT NOT NULL,
    PRIMARY KEY (tag, ordering)
);
CREATE TABLE atomr_snapshot (
    persistence_id  TEXT   NOT NULL,
    sequence_nr     BIGINT NOT NULL,
    timestamp_ms    BIGINT NOT NULL,
    manifest        TEXT   NOT NULL,
    payload         BYTEA  NOT NULL,
    PRIMARY KEY (persistence_id, sequence_nr)
);
"""

# One call writes many batches (group commit): batch b holds p_counts[b]
# events of p_pids[b] numbered from p_firsts[b]; the events' columns are
# concatenated over the batches, and event e's tags are
# p_tags[p_tag_starts[e] .. p_tag_starts[e] + p_tag_counts[e] - 1]. A batch is
# written only when it continues the id's highest sequence number (the row
# update or insert also locks the id against concurrent writers until the
# commit); the result holds, per batch, NULL when it was written and the
# id's current highest number when it was not.
_V1_WRITE = """
CREATE FUNCTION atomr_journal_write(
    p_pids text[], p_firsts bigint[], p_counts int[], p_manifests text[], p_payloads bytea[],
    p_stamps bigint[], p_tag_starts int[], p_tag_counts int[], p_tags text[])
RETURNS bigint[] LANGUAGE plpgsql AS $fn$
DECLARE
    outcome bigint[] := '{}';
    done int := 0;
    n int;
    current_highest bigint;
    tagged boolean := coalesce(array_length(p_tags, 1), 0) > 0;
BEGIN
    FOR b IN 1 .. coalesce(array_length(p_pids, 1), 0) LOOP
        n := p_counts[b];
        IF p_firsts[b] = 1 THEN
            INSERT INTO atomr_journal_highest (persistence_id, highest)
            VALUES (p_pids[b], n) ON CONFLICT (persistence_id) DO NOTHING;
        ELSE
            UPDATE atomr_journal_highest SET highest = p_firsts[b] + n - 1
            WHERE persistence_id = p_pids[b] AND highest = p_firsts[b] - 1;
        END IF;
        IF FOUND THEN
            IF tagged THEN
                WITH written AS (
                    INSERT INTO atomr_journal
                        (persistence_id, sequence_nr, manifest, payload, timestamp_ms, tags)
                    SELECT p_pids[b], p_firsts[b] + i - 1, p_manifests[done + i],
                           p_payloads[done + i], p_stamps[done + i],
                           coalesce(p_tags[p_tag_starts[done + i]
                                           : p_tag_starts[done + i] + p_tag_counts[done + i] - 1],
                                    '{}')
                    FROM generate_series(1, n) AS i
                    RETURNING ordering, tags)
                INSERT INTO atomr_event_tag (tag, ordering)
                SELECT DISTINCT unnest(written.tags), written.ordering FROM written;
            ELSE
                INSERT INTO atomr_journal
                    (persistence_id, sequence_nr, manifest, payload, timestamp_ms, tags)
                SELECT p_pids[b], p_firsts[b] + i - 1, p_manifests[done + i],
                       p_payloads[done + i], p_stamps[done + i], '{}'
                FROM generate_series(1, n) AS i;
            END IF;
            outcome := array_append(outcome, NULL::bigint);
        ELSE
            SELECT highest INTO current_highest FROM atomr_journal_highest
            WHERE persistence_id = p_pids[b];
            outcome := array_append(outcome, coalesce(current_highest, 0));
        END IF;
        done := done + n;
    END LOOP;
    RETURN outcome;
END
$fn$;
"""

#: The transaction lock a write of tagged events takes (see _V2_WRITE).
_TAG_WRITE_LOCK = 0x61746F6D7274  # "atomrt"

# Tag queries resume after the last ordering they delivered, so a reader must
# never see an ordering before every lower ordering is committed (or rolled
# back). Writes of tagged events therefore take one transaction-level
# advisory lock before they insert: their orderings are drawn and committed
# one transaction after another, and the committed tagged events always form
# a prefix of the order (gaps are rolled-back orderings, which never fill).
# Writes without tags take no lock.
_V2_WRITE = _V1_WRITE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
    "BEGIN\n    FOR b IN",
    f"BEGIN\n    IF tagged THEN\n        PERFORM pg_advisory_xact_lock({_TAG_WRITE_LOCK});\n"
    f"    END IF;\n    FOR b IN")
assert _V2_WRITE.count("pg_advisory_xact_lock") == 1

#: The migrations, in order: (version, name, SQL statements).
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "journal, tags and snapshots", (_V1_TABLES, _V1_WRITE)),
    (2, "tagged writes commit in ordering order", (_V2_WRITE,)),
)


def _check_schema(schema: Any) -> str:
    if not isinstance(schema, str):
        raise TypeError(f"schema must be a str, not {type(schema).__name__}")
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"schema must be a plain SQL identifier (letters, digits, _), "
                         f"got {schema!r}")
    return schema


async def _apply(conn: Any, schema: str) -> list[str]:
    """Applies the missing migrations over the connection `conn`; returns
    the names of those it applied."""
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute("""
            CREATE TABLE IF NOT EXISTS atomr_migrations (
                version     INT         PRIMARY KEY,
                name        TEXT        NOT NULL,
                applied_at  TIMESTAMPTZ NOT NULL DEFAULT now())""")
        done = {r[0] for r in await conn.fetch("SELECT version FROM atomr_migrations")}
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            for sql in statements:
                await conn.execute(sql)
            await conn.execute("INSERT INTO atomr_migrations (version, name) VALUES ($1, $2)",
                               version, name)
            applied.append(f"{version}: {name}")
    return applied


async def migrate(dsn: str, *, schema: str = "public", connect_timeout: float = 10.0) -> list[str]:
    """Creates or updates the journal's tables in a database.

    Idempotent, and safe to run from several processes at once: the
    migrations already applied (recorded in the ``atomr_migrations`` table)
    are skipped, and concurrent runs wait for each other. The same as
    ``python -m atomr.persistence.postgres migrate --dsn DSN``.

    Args:
        dsn: A ``postgresql://`` connection URI.
        schema: The PostgreSQL schema to keep the tables in (created when
            missing).
        connect_timeout: Seconds to wait for the connection.

    Returns:
        The migrations applied, as ``"<version>: <name>"`` (empty when the
        schema was up to date).

    Raises:
        JournalError: the database cannot be reached, or a migration failed
            (nothing of it was applied).
    """
    import asyncpg

    from atomr.persistence.postgres._client import _check_dsn
    schema = _check_schema(schema)
    try:
        conn = await asyncpg.connect(_check_dsn(dsn), timeout=connect_timeout)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise JournalError(f"cannot connect to PostgreSQL to migrate: "
                           f"{type(exc).__name__}: {exc}") from exc
    try:
        return await _apply(conn, schema)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise JournalError(f"migrating the atomr schema failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    finally:
        await conn.close()
