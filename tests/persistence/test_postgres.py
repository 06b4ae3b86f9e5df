"""The PostgreSQL journal and snapshot store on a throwaway server (see
conftest.py): the conformance suite, the migration command, group commit,
the optimistic sequence-number check between writers that share an id
(processes and actors), connection loss and server restarts, and the
configuration."""

from __future__ import annotations

import asyncio
import os
import pathlib
import subprocess
import sys
import time

import pytest

from atomr import ActorSystem, Config, props
from atomr.config import ConfigError
from atomr.errors import EventRejectedError, JournalError
from atomr.persistence import (
    Effect, EventSourcedActor, Journal, Persistence, PersistentRecord, SnapshotRecord,
    SnapshotStore,
)
from atomr.persistence.tck import JournalSpec, SnapshotStoreSpec

if os.environ.get("CI"):
    import asyncpg  # CI installs it: never skip there
else:
    asyncpg = pytest.importorskip("asyncpg")

from atomr.persistence.postgres import (  # noqa: E402
    PostgresJournal, PostgresSnapshotStore, migrate,
)

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEADLINE = 30.0


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _rec(pid: str, seq: int, payload: bytes = b"e", tags=()) -> PersistentRecord:
    return PersistentRecord(pid, seq, "test.Event", payload, 1_000 + seq, tuple(tags))


# -- the conformance suite ------------------------------------------------------------


class TestPostgresJournal(JournalSpec):
    @pytest.fixture
    def journal(self, postgres_schema) -> Journal:
        dsn, schema = postgres_schema
        journal = PostgresJournal(dsn, schema=schema)
        yield journal
        journal.close()


class TestPostgresSnapshotStore(SnapshotStoreSpec):
    @pytest.fixture
    def store(self, postgres_schema) -> SnapshotStore:
        dsn, schema = postgres_schema
        store = PostgresSnapshotStore(dsn, schema=schema)
        yield store
        store.close()


class TestPostgresJournalSnapshotStore(SnapshotStoreSpec):
    """The store a journal hands out shares its pool and passes the suite too."""

    @pytest.fixture
    def store(self, postgres_schema) -> SnapshotStore:
        dsn, schema = postgres_schema
        journal = PostgresJournal(dsn, schema=schema, pool_size=2)
        store = journal.snapshot_store()
        assert journal.snapshot_store() is store
        yield store
        journal.close()


# -- the schema -----------------------------------------------------------------------


def _migrate_cli(dsn: str, schema: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "atomr.persistence.postgres", "migrate",
                           "--dsn", dsn, "--schema", schema], capture_output=True, text=True,
                          env=_env(), timeout=120)


def test_migrate_command_creates_the_schema_once(postgres_cluster):
    dsn = postgres_cluster.dsn("atomr_test")
    first = _migrate_cli(dsn, "cli_schema")
    assert first.returncode == 0, first.stderr
    assert "applied migration 1" in first.stdout
    again = _migrate_cli(dsn, "cli_schema")
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
    rows = postgres_cluster.psql(
        "SELECT string_agg(version::text, ',' ORDER BY version) FROM cli_schema.atomr_migrations",
        "atomr_test")
    assert rows == "1,2"
    tables = postgres_cluster.psql(
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
        "WHERE table_schema = 'cli_schema'", "atomr_test")
    assert tables == ("atomr_event_tag,atomr_journal,atomr_journal_highest,atomr_migrations,"
                      "atomr_snapshot")
    bad = subprocess.run([sys.executable, "-m", "atomr.persistence.postgres", "migrate",
                          "--dsn", "mysql://nope"], capture_output=True, text=True, env=_env(),
                         timeout=120)
    assert bad.returncode == 1 and "postgresql://" in bad.stderr


async def test_concurrent_migrations_apply_each_step_once(postgres_cluster):
    dsn = postgres_cluster.dsn("atomr_test")
    results = await asyncio.gather(*(migrate(dsn, schema="racing") for _ in range(4)))
    # One run applies every migration; the others find nothing left to do.
    from atomr.persistence.postgres._schema import MIGRATIONS
    assert sorted(len(r) for r in results) == [0, 0, 0, len(MIGRATIONS)]


async def test_a_journal_on_a_schema_without_tables_says_to_migrate(postgres_cluster):
    journal = PostgresJournal(postgres_cluster.dsn("atomr_test"), schema="never_migrated")
    try:
        with pytest.raises(JournalError, match="migrate"):
            await journal.write_messages([[_rec("a", 1)]])
        with pytest.raises(JournalError, match="migrate"):
            await journal.read_highest_sequence_nr("a")
    finally:
        journal.close()


def test_bad_arguments_are_rejected_at_construction():
    with pytest.raises(ValueError, match="postgresql://"):
        PostgresJournal("host=db user=app")
    with pytest.raises(TypeError):
        PostgresJournal(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="schema"):
        PostgresJournal("postgresql://db/x", schema="a; DROP TABLE x")
    with pytest.raises(ValueError, match="pool_size"):
        PostgresSnapshotStore("postgresql://db/x", pool_size=0)
    with pytest.raises(ValueError, match="connect_timeout"):
        PostgresJournal("postgresql://db/x", connect_timeout=0)


async def test_text_postgres_cannot_hold_is_rejected_per_batch(postgres_schema):
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema)
    try:
        results = await journal.write_messages([
            [_rec("a\x00b", 1)], [_rec("b", 1, tags=("bad\x00tag",))],
            [PersistentRecord("c", 1, "m\ud800", b"")], [_rec("d", 2**63)], [_rec("ok", 1)]])
        assert [type(r) for r in results[:4]] == [EventRejectedError] * 4
        assert results[4] is None
        assert await journal.persistence_ids() == ["ok"]
        with pytest.raises(ValueError):
            await journal.snapshot_store().save_snapshot(SnapshotRecord("s\x00", 1, 1, "m", b""))
    finally:
        journal.close()


# -- group commit, ordering and tags -----------------------------------------------------


async def test_concurrent_writes_share_commits_and_get_a_global_order(postgres_schema):
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema)
    try:
        async def writer(n: int) -> None:
            for seq in range(1, 11):
                assert await journal.write_messages(
                    [[_rec(f"w{n}", seq, tags=("all", f"w{n}") if seq % 2 else ("all",))]]
                ) == [None]

        await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(100))), DEADLINE)
        rounds = journal._client.rounds
        assert rounds < 1000 / 4, f"{rounds} commits for 1000 writes: no group commit"
        tagged = await journal.tagged_events("all", 0, 2000)
        orderings = [o for o, _ in tagged]
        assert len(tagged) == 1000 and orderings == sorted(set(orderings))
        # Each writer's events are in its own order within the global one.
        for n in range(100):
            assert [r.sequence_nr for _, r in tagged if r.persistence_id == f"w{n}"] == \
                list(range(1, 11))
        page = await journal.tagged_events("w7", 0, 3)
        assert [r.sequence_nr for _, r in page] == [1, 3, 5]
        rest = await journal.tagged_events("w7", page[-1][0])
        assert [r.sequence_nr for _, r in rest] == [7, 9]
        await journal.delete_messages_to("w7", 5)
        assert [r.sequence_nr for _, r in await journal.tagged_events("w7")] == [7, 9]
    finally:
        journal.close()


async def test_writes_from_two_actor_systems_share_one_journal(postgres_schema):
    """Two systems (two event loops) on one journal: each actor's events come
    back in order and the journal outlives both systems."""
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema)
    systems = [ActorSystem.create_blocking(f"pg{i}") for i in range(2)]
    try:
        refs = [s.actor_of(props(Tally, factory=lambda i=i: Tally(f"tally-{i}", journal)), "t")
                for i, s in enumerate(systems)]

        async def drive(ref) -> list:
            return [await ref.ask(1, timeout=DEADLINE) for _ in range(20)]

        results = await asyncio.gather(*(drive(r) for r in refs))
        assert results == [list(range(1, 21))] * 2
    finally:
        for s in systems:
            await asyncio.to_thread(s.terminate_blocking, DEADLINE)
    try:
        assert journal.highest_sequence_nr("tally-0") == 20
        assert [seq for seq, *_ in journal.replay_events("tally-1")] == list(range(1, 21))
    finally:
        journal.close()


# -- two writers of one persistence id -------------------------------------------------------

_TWO_WRITERS = """
import asyncio, os, sys, time
from atomr.persistence import PersistentRecord
from atomr.persistence.postgres import PostgresJournal

async def main(dsn, schema, name, count, go):
    journal = PostgresJournal(dsn, schema=schema)
    while not os.path.exists(go):
        time.sleep(0.001)
    for seq in range(1, count + 1):
        result = (await journal.write_messages(
            [[PersistentRecord("shared", seq, "m", f"{name}-{seq}".encode())]]))[0]
        print(f"{seq} {'ok' if result is None else 'rejected'}", flush=True)
    journal.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
"""


def test_two_processes_writing_one_id_never_lose_or_duplicate(postgres_schema, tmp_path):
    """Two processes each write events 1..N of one id as fast as they can:
    for every number exactly one of them is acknowledged and the stored
    event is that writer's; the rest are rejected."""
    dsn, schema = postgres_schema
    script = tmp_path / "writer.py"
    script.write_text(_TWO_WRITERS)
    go = tmp_path / "go"
    count = 300
    procs = [subprocess.Popen([sys.executable, str(script), dsn, schema, name, str(count),
                               str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env()) for name in ("A", "B")]
    try:
        go.write_text("go")
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    acks: dict[int, list[str]] = {}
    rejected = 0
    for (out, err), name, p in zip(outs, ("A", "B"), procs):
        assert p.returncode == 0, err
        lines = out.split()
        for seq, outcome in zip(lines[::2], lines[1::2]):
            if outcome == "ok":
                acks.setdefault(int(seq), []).append(name)
            else:
                rejected += 1
    assert sorted(acks) == list(range(1, count + 1)), "a number nobody wrote"
    assert all(len(names) == 1 for names in acks.values()), "a number written twice"
    assert rejected == count
    journal = PostgresJournal(dsn, schema=schema)
    try:
        events = journal.replay_events("shared")
        assert [seq for seq, *_ in events] == list(range(1, count + 1))
        for seq, payload, *_ in events:
            assert payload == f"{acks[seq][0]}-{seq}".encode()
    finally:
        journal.close()


class Tally(EventSourcedActor):
    persistent_id = "tally"

    def __init__(self, pid: str, journal) -> None:
        super().__init__(journal=journal, persistent_id=pid)

    def initial_state(self) -> int:
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "get":
            return Effect.reply_message(state)
        return [Effect.persist({"by": cmd}), Effect.reply_message(self.sequence_nr + 1)]

    def event_handler(self, state, event, recovery_mode=False):
        return state + event["by"]


async def test_a_second_actor_on_the_same_id_is_rejected(postgres_schema):
    """Two incarnations of one entity (as in a split brain), each with its
    own journal object: the one that writes second is rejected and what
    the first wrote stays."""
    dsn, schema = postgres_schema
    j1, j2 = PostgresJournal(dsn, schema=schema), PostgresJournal(dsn, schema=schema)
    system = await ActorSystem.create("twins")
    try:
        a = system.actor_of(props(Tally, factory=lambda: Tally("twin", j1)), "a")
        b = system.actor_of(props(Tally, factory=lambda: Tally("twin", j2)), "b")
        assert await a.ask("get", timeout=DEADLINE) == 0
        assert await b.ask("get", timeout=DEADLINE) == 0
        assert await a.ask(5, timeout=DEADLINE) == 1
        with pytest.raises(EventRejectedError, match="another writer"):
            await b.ask(7, timeout=DEADLINE)
        assert await a.ask(1, timeout=DEADLINE) == 2
        assert [p for _, p, *_ in await asyncio.to_thread(j1.replay_events, "twin")] != []
        assert await j2.read_highest_sequence_nr("twin") == 2
    finally:
        await system.terminate()
        j1.close()
        j2.close()


# -- connection loss ------------------------------------------------------------------------


async def _wait_for(pred, what: str):
    deadline = time.monotonic() + DEADLINE
    while True:
        value = await pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_killed_backend_fails_the_write_then_the_pool_reconnects(postgres_schema):
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema, pool_size=2)
    admin = await asyncpg.connect(dsn)
    blocker = await asyncpg.connect(dsn)
    try:
        await journal.write_messages([[_rec("x", 1)]])
        # Hold the id's row lock so the next write waits inside the server.
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute(
            f'SELECT 1 FROM "{schema}".atomr_journal_highest WHERE persistence_id = $1 '
            f'FOR UPDATE', "x")
        write = asyncio.ensure_future(journal.write_messages([[_rec("x", 2)]]))
        waiting = await _wait_for(lambda: admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%atomr_journal_write%'"), "the write to wait on the lock")
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", waiting[0][0])
        with pytest.raises(JournalError, match="PostgreSQL"):
            await asyncio.wait_for(write, DEADLINE)
        await tx.rollback()
        # Nothing of the failed write was stored; the journal works again.
        assert [r.sequence_nr for r in await journal.replay_messages("x")] == [1]
        assert await journal.write_messages([[_rec("x", 2)]]) == [None]
        assert [r.sequence_nr for r in await journal.replay_messages("x")] == [1, 2]
    finally:
        await admin.close()
        await blocker.close()
        journal.close()


async def test_a_server_restart_fails_calls_while_down_then_recovers(postgres_cluster,
                                                                    postgres_schema):
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema, connect_timeout=5.0)
    store = journal.snapshot_store()
    system = await ActorSystem.create("restart")
    try:
        ref = system.actor_of(props(Tally, factory=lambda: Tally("survivor", journal)), "t1")
        for i in range(1, 6):
            assert await ref.ask(1, timeout=DEADLINE) == i
        await asyncio.to_thread(postgres_cluster.stop, "fast")
        with pytest.raises(JournalError):
            await ref.ask(1, timeout=DEADLINE)  # the actor stops: its state is in doubt
        with pytest.raises(JournalError):
            await journal.read_highest_sequence_nr("survivor")
        with pytest.raises(JournalError):
            await store.load_snapshot("survivor")
        await asyncio.to_thread(postgres_cluster.start)
        again = system.actor_of(props(Tally, factory=lambda: Tally("survivor", journal)), "t2")
        assert await again.ask("get", timeout=DEADLINE) == 5
        assert await again.ask(1, timeout=DEADLINE) == 6
        assert await store.load_snapshot("survivor") is None
    finally:
        if not postgres_cluster.running:
            await asyncio.to_thread(postgres_cluster.start)
        await system.terminate()
        journal.close()


async def test_a_closed_journal_raises_journal_error(postgres_schema):
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema)
    await journal.write_messages([[_rec("a", 1)]])
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        await journal.read_highest_sequence_nr("a")


# -- configuration -----------------------------------------------------------------------------


async def test_the_config_selects_the_postgres_journal_and_its_store(postgres_schema):
    dsn, schema = postgres_schema
    config = Config.from_dict({"persistence": {
        "journal": "postgres", "postgres.dsn": dsn, "postgres.schema": schema,
        "postgres.pool-size": 2}})
    system = await ActorSystem.create("configured", config)
    try:
        persistence = Persistence.get(system)
        journal = persistence.journal()
        assert isinstance(journal, PostgresJournal)
        assert isinstance(persistence.snapshot_store(), PostgresSnapshotStore)
        assert journal._client.pool_size == 2 and journal._client.schema == schema
        ref = system.actor_of(props(Tally, factory=lambda: Tally("configured", None)), "t")
        assert await ref.ask(3, timeout=DEADLINE) == 1
        assert await journal.read_highest_sequence_nr("configured") == 1
    finally:
        await system.terminate()
    # Terminating the system closed the pools it built.
    await _wait_for(lambda: _closed(journal), "the pool to close")
    with pytest.raises(JournalError, match="closed"):
        await journal.read_highest_sequence_nr("configured")


async def _closed(journal: PostgresJournal) -> bool:
    return journal._client._closed and journal._client._pool is None


async def test_the_postgres_journal_needs_a_dsn():
    system = await ActorSystem.create("nodsn", Config.from_dict(
        {"persistence": {"journal": "postgres"}}))
    try:
        with pytest.raises(ConfigError, match="postgres.dsn"):
            Persistence.get(system).journal()
    finally:
        await system.terminate()


async def test_an_actor_recovers_thousands_of_events_and_its_snapshot(postgres_schema):
    """Recovery reads the journal in chunks (more events than one chunk
    here), after the snapshot the store kept."""
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema)
    system = await ActorSystem.create("recovering")
    try:
        codecs = system.codecs
        manifest, payload = codecs.encode_message({"by": 1})
        records = [PersistentRecord("big", seq, manifest, payload) for seq in range(1, 9001)]
        for start in range(0, 9000, 1500):
            assert await journal.write_messages([records[start:start + 1500]]) == [None]
        ref = system.actor_of(props(Tally, factory=lambda: Tally("big", journal)), "a")
        assert await ref.ask("get", timeout=DEADLINE) == 9000
        snap_manifest, snap_payload = codecs.encode_message(100_000)
        await journal.snapshot_store().save_snapshot(
            SnapshotRecord("big", 8000, 1, snap_manifest, snap_payload))
        again = system.actor_of(props(Tally, factory=lambda: Tally("big", journal)), "b")
        assert await again.ask("get", timeout=DEADLINE) == 100_000 + 1000
    finally:
        await system.terminate()
        journal.close()


async def test_recovery_uses_a_subclass_replay_messages(postgres_schema):
    """Recovery reads rows directly only while replay_messages is the
    journal's own: a subclass that replaces it is called."""
    dsn, schema = postgres_schema
    calls = []

    class Counting(PostgresJournal):
        async def replay_messages(self, persistence_id, *args):
            calls.append(args)
            return await super().replay_messages(persistence_id, *args)

    journal = Counting(dsn, schema=schema)
    system = await ActorSystem.create("subclassed")
    try:
        ref = system.actor_of(props(Tally, factory=lambda: Tally("sub", journal)), "a")
        assert await ref.ask(2, timeout=DEADLINE) == 1
        again = system.actor_of(props(Tally, factory=lambda: Tally("sub", journal)), "b")
        assert await again.ask("get", timeout=DEADLINE) == 2
        assert calls, "recovery bypassed the subclass's replay_messages"
    finally:
        await system.terminate()
        journal.close()
