"""Persistence queries and projections, one suite on the three stores
(in-memory, LMDB, PostgreSQL): events by persistence id and by tag (current
and live, offsets, the switch from current to live), persistence ids,
concurrent writers, projections restarting after handler failures and after
their process is killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from atomr import ActorSystem, Config, props
from atomr.errors import AtomrError
from atomr.persistence import (
    Effect, EventSourcedActor, InMemoryJournal, LmdbJournal, PersistentRecord,
)
from atomr.persistence.projection import (
    InMemoryOffsetStore, SnapshotOffsetStore, at_least_once, events_by_persistence_id,
    events_by_tag,
)
from atomr.persistence.query import (
    EventEnvelope, NoOffset, PersistenceQuery, ReadJournal, Sequence,
)
from atomr.streams import Keep, KillSwitches, Sink

HERE = pathlib.Path(__file__).resolve().parent
WORKER = HERE / "_projection_worker.py"
DEADLINE = 30.0

STORES = ("inmemory", "lmdb", "postgres")


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    """``(kind, make_journal)``: `make_journal()` opens another journal object
    on the same storage (another client of the same database for PostgreSQL,
    the same object for the in-memory store)."""
    kind = request.param
    opened = []
    if kind == "inmemory":
        journal = InMemoryJournal()
        yield kind, lambda: journal
        return
    if kind == "lmdb":
        def make():
            return LmdbJournal(tmp_path / "journal", sync=False)
        yield kind, make
        return
    dsn, schema = request.getfixturevalue("postgres_schema")
    from atomr.persistence.postgres import PostgresJournal

    def make_pg():
        j = PostgresJournal(dsn, schema=schema, pool_size=4)
        opened.append(j)
        return j
    try:
        yield kind, make_pg
    finally:
        for j in opened:
            j.close()


def _write(journal, pid: str, first: int, payloads: list, tags=()) -> None:
    """Writes one batch through the async interface (every backend)."""
    async def go():
        batch = [PersistentRecord(pid, first + i, "bytes", p, 1000 + first + i, tuple(tags))
                 for i, p in enumerate(payloads)]
        assert await journal.write_messages([batch]) == [None]
    asyncio.run(go())


async def _awrite(journal, pid: str, seq: int, payload: bytes, tags=()) -> None:
    record = PersistentRecord(pid, seq, "bytes", payload, 1000 + seq, tuple(tags))
    assert await journal.write_messages([[record]]) == [None]


def _pairs(envelopes) -> list[tuple[str, int]]:
    return [(e.persistence_id, e.sequence_nr) for e in envelopes]


async def _until(predicate, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# -- events by persistence id -------------------------------------------------------------


def test_current_events_by_persistence_id(store):
    kind, make = store
    journal = make()
    _write(journal, "a", 1, [b"1", b"2", b"3", b"4"], tags=["t"])
    _write(journal, "b", 1, [b"x"])
    rj = ReadJournal(journal)
    all_a = rj.current_events_by_persistence_id("a").run_blocking_collect()
    assert [e.event for e in all_a] == [b"1", b"2", b"3", b"4"]
    assert [e.offset for e in all_a] == [Sequence(1), Sequence(2), Sequence(3), Sequence(4)]
    first = all_a[0]
    assert isinstance(first, EventEnvelope)
    assert (first.persistence_id, first.sequence_nr, first.timestamp, first.tags) == (
        "a", 1, 1001, ("t",))
    middle = rj.current_events_by_persistence_id("a", 2, 3).run_blocking_collect()
    assert [e.sequence_nr for e in middle] == [2, 3]
    assert rj.current_events_by_persistence_id("nobody").run_blocking_collect() == []
    # A Source is a blueprint: every run reads afresh.
    source = rj.current_events_by_persistence_id("b")
    assert _pairs(source.run_blocking_collect()) == [("b", 1)]
    _write(journal, "b", 2, [b"y"])
    assert _pairs(source.run_blocking_collect()) == [("b", 1), ("b", 2)]
    with pytest.raises(TypeError):
        rj.current_events_by_persistence_id(7)
    with pytest.raises(ValueError):
        rj.current_events_by_persistence_id("a", -1)


def test_live_events_by_persistence_id_follows_and_ends_at_to_sequence_nr(store):
    kind, make = store
    journal = make()
    _write(journal, "a", 1, [b"1", b"2"])
    rj = ReadJournal(journal, refresh_interval=0.05)

    async def main():
        done = asyncio.ensure_future(rj.events_by_persistence_id("a", 2, 5).run_collect_async())
        await asyncio.sleep(0.1)
        assert not done.done()
        for seq in (3, 4, 5, 6):
            await _awrite(journal, "a", seq, str(seq).encode())
        return await asyncio.wait_for(done, DEADLINE)

    got = asyncio.run(main())
    assert [e.sequence_nr for e in got] == [2, 3, 4, 5]


# -- events by tag ---------------------------------------------------------------------------


def test_current_events_by_tag_in_global_order_with_exclusive_offsets(store):
    kind, make = store
    journal = make()
    _write(journal, "b", 1, [b"b1"], tags=["red"])
    _write(journal, "a", 1, [b"a1", b"a2"], tags=["red", "blue"])
    _write(journal, "c", 1, [b"c1"], tags=["blue"])
    _write(journal, "a", 3, [b"a3"])                       # untagged
    _write(journal, "c", 2, [b"c2"], tags=["red"])
    rj = ReadJournal(journal, batch_size=2)                 # several pages
    red = rj.current_events_by_tag("red").run_blocking_collect()
    assert _pairs(red) == [("b", 1), ("a", 1), ("a", 2), ("c", 2)]
    offsets = [e.offset.value for e in red]
    assert offsets == sorted(offsets) and len(set(offsets)) == 4
    assert [e.event for e in red] == [b"b1", b"a1", b"a2", b"c2"]
    assert red[1].tags == ("red", "blue")
    # Offsets are exclusive: from an envelope's offset, the events after it.
    for i, envelope in enumerate(red):
        for offset in (envelope.offset, envelope.offset.value):
            after = rj.current_events_by_tag("red", offset).run_blocking_collect()
            assert _pairs(after) == _pairs(red[i + 1:])
    assert _pairs(rj.current_events_by_tag("red", NoOffset).run_blocking_collect()) == _pairs(red)
    assert _pairs(rj.current_events_by_tag("blue").run_blocking_collect()) == [
        ("a", 1), ("a", 2), ("c", 1)]
    assert rj.current_events_by_tag("green").run_blocking_collect() == []
    # Deleted events are not returned.
    asyncio.run(journal.delete_messages_to("a", 1))
    assert _pairs(rj.current_events_by_tag("red").run_blocking_collect()) == [
        ("b", 1), ("a", 2), ("c", 2)]
    with pytest.raises(TypeError):
        rj.current_events_by_tag("red", "soon")
    with pytest.raises(ValueError):
        rj.current_events_by_tag("red", -1)


def test_current_events_by_tag_completes_with_what_was_stored_at_the_start(store):
    kind, make = store
    journal = make()
    for i in range(1, 6):
        _write(journal, "p", i, [b"%d" % i], tags=["t"])
    rj = ReadJournal(journal, batch_size=2)

    async def main():
        seen = []

        async def slow(envelope):
            seen.append(envelope)
            if envelope.sequence_nr == 1:  # more events arrive while it runs
                for seq in range(6, 9):
                    await _awrite(journal, "p", seq, b"late", ["t"])
            return envelope

        await rj.current_events_by_tag("t").map_async(slow).run_collect_async()
        return seen

    got = asyncio.run(main())
    assert [e.sequence_nr for e in got] == [1, 2, 3, 4, 5]


def test_live_events_by_tag_switches_from_current_to_live_without_gap_or_repeat(store):
    kind, make = store
    journal = make()
    highest: dict[str, int] = {}

    async def put(pid, tags=("t",)):
        highest[pid] = highest.get(pid, 0) + 1
        await _awrite(journal, pid, highest[pid], f"{pid}-{highest[pid]}".encode(), tags)

    async def main():
        for i in range(30):
            await put(f"p{i % 3}")
        rj = ReadJournal(journal, refresh_interval=0.05, batch_size=7)
        got: list = []
        switch, done = (rj.events_by_tag("t").via_mat(KillSwitches.single(), Keep.right)
                        .to_mat(Sink.foreach(got.append), Keep.both).run())
        # Written while the query reads what was there: some before, some
        # after its switch to live, some with another tag.
        for i in range(30):
            await put(f"q{i % 4}", ("t",) if i % 5 else ("other",))
            if i % 7 == 0:
                await asyncio.sleep(0.02)
        expected = _pairs(await ReadJournal(journal).current_events_by_tag("t").run_collect_async())
        assert len(expected) == 30 + 24
        await _until(lambda: len(got) >= len(expected), "the live query to catch up")
        await asyncio.sleep(0.2)  # several refresh intervals: nothing more comes
        switch.shutdown()
        await asyncio.wait_for(done, DEADLINE)
        return expected, got

    expected, got = asyncio.run(main())
    assert _pairs(got) == expected
    offsets = [e.offset.value for e in got]
    assert offsets == sorted(set(offsets))


def test_a_write_through_the_journal_wakes_a_live_query_before_its_next_poll(store):
    kind, make = store
    journal = make()
    rj = ReadJournal(journal, refresh_interval=3600.0)   # no poll within the test

    async def main():
        tagged = asyncio.ensure_future(rj.events_by_tag("t").take(1).run_collect_async())
        by_pid = asyncio.ensure_future(
            rj.events_by_persistence_id("p").take(1).run_collect_async())
        def waiters() -> int:
            signal = journal.__dict__.get("_write_signal")
            return 0 if signal is None else len(signal._waiters)

        await _until(lambda: waiters() == 2, "both queries to wait")
        await _awrite(journal, "p", 1, b"1", ["t"])
        return await asyncio.wait_for(asyncio.gather(tagged, by_pid), DEADLINE)

    tagged, by_pid = asyncio.run(main())
    assert _pairs(tagged) == _pairs(by_pid) == [("p", 1)]


def test_tag_queries_under_concurrent_writers_resume_without_loss_or_duplicates(store):
    """Writers in several threads, each with its own journal object (its own
    PostgreSQL client: concurrent transactions), while a reader keeps
    resuming current_events_by_tag from the last offset it got: the reader
    ends with every tagged event exactly once, in offset order."""
    kind, make = store
    writers, per_writer = 4, 40
    journals = [make() for _ in range(writers)]
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            async def go():
                for seq in range(1, per_writer + 1):
                    tags = ("t",) if seq % 4 else ("u",)
                    await _awrite(journals[w], f"w{w}", seq, b"%d" % seq, tags)
            asyncio.run(go())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    rj = ReadJournal(make(), batch_size=5)
    got = []
    offset = 0
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + DEADLINE
        expected_count = writers * (per_writer - per_writer // 4)
        while len(got) < expected_count:
            assert time.monotonic() < deadline, f"only {len(got)} of {expected_count} events"
            page = rj.current_events_by_tag("t", offset).run_blocking_collect()
            if page:
                offset = page[-1].offset.value
                got.extend(page)
    finally:
        for t in threads:
            t.join(DEADLINE)
    assert not errors, errors
    assert len(got) == len(set(_pairs(got)))
    assert sorted(_pairs(got)) == sorted((f"w{w}", s) for w in range(writers)
                                         for s in range(1, per_writer + 1) if s % 4)
    offsets = [e.offset.value for e in got]
    assert offsets == sorted(offsets)
    # Each writer's events arrive in its own order.
    for w in range(writers):
        seqs = [e.sequence_nr for e in got if e.persistence_id == f"w{w}"]
        assert seqs == sorted(seqs)


# -- persistence ids ---------------------------------------------------------------------------


def test_persistence_ids_current_and_live(store):
    kind, make = store
    journal = make()
    _write(journal, "a", 1, [b"1"])
    _write(journal, "b", 1, [b"1"])
    rj = ReadJournal(journal, refresh_interval=0.05)
    assert sorted(rj.current_persistence_ids().run_blocking_collect()) == ["a", "b"]

    async def main():
        done = asyncio.ensure_future(rj.persistence_ids().take(4).run_collect_async())
        await asyncio.sleep(0.1)
        await _awrite(journal, "a", 2, b"2")        # not a new id
        await _awrite(journal, "c", 1, b"1")
        await _awrite(journal, "d", 1, b"1")
        return await asyncio.wait_for(done, DEADLINE)

    got = asyncio.run(main())
    assert sorted(got[:2]) == ["a", "b"] and sorted(got[2:]) == ["c", "d"]


# -- actors, the extension, decoding ----------------------------------------------------------


class Account(EventSourcedActor):
    persistent_id = "account"

    def initial_state(self):
        return 0

    async def command_handler(self, state, ctx, cmd):
        return [Effect.persist({"type": "Deposited", "amount": cmd}, tags=["bank"]),
                Effect.reply_message(state + cmd)]

    def event_handler(self, state, event, recovery_mode=False):
        return state + event["amount"]


async def test_read_journal_of_the_system_decodes_actor_events():
    system = await ActorSystem.create("query-ext", Config({"persistence": {
        "query": {"refresh-interval": 0.05}}}))
    try:
        ref = system.actor_of(props(Account), "acct")
        for amount in (5, 7):
            await ref.ask(amount, timeout=DEADLINE)
        query = PersistenceQuery.get(system)
        rj = query.read_journal_for()
        assert rj is query.read_journal_for("inmemory")
        assert rj.identifier == "inmemory" and rj.refresh_interval == 0.05
        got = await rj.current_events_by_tag("bank").run_collect_async()
        assert [e.event for e in got] == [{"type": "Deposited", "amount": 5},
                                          {"type": "Deposited", "amount": 7}]
        assert [e.persistence_id for e in got] == ["account", "account"]
        from atomr.config import ConfigError
        with pytest.raises(ConfigError, match="lmdb"):
            query.read_journal_for("lmdb")
        with pytest.raises(TypeError):
            query.read_journal_of(object())
    finally:
        await system.terminate()


def test_an_event_that_does_not_decode_fails_the_stream():
    journal = InMemoryJournal()
    journal.write_event("p", 1, b"\xff\x00", "no.such.Manifest", ["t"])
    rj = ReadJournal(journal)
    with pytest.raises(AtomrError, match="event 1 of `p`"):
        rj.current_events_by_tag("t").run_blocking_collect()
    with pytest.raises(TypeError):
        ReadJournal(object())
    with pytest.raises(ValueError):
        ReadJournal(journal, refresh_interval=0)


# -- projections -------------------------------------------------------------------------------


def test_projection_restarts_after_handler_failures_and_resumes_from_the_stored_offset(store):
    kind, make = store
    journal = make()
    for i in range(1, 11):
        _write(journal, "p", i, [b"%d" % i], tags=["t"])
    rj = ReadJournal(journal, refresh_interval=0.05, batch_size=3)
    calls: list[int] = []
    handled: list[int] = []
    failed = set()

    def handler(envelope):                    # sync handler
        calls.append(envelope.sequence_nr)
        if envelope.sequence_nr in (4, 8) and envelope.sequence_nr not in failed:
            failed.add(envelope.sequence_nr)
            raise RuntimeError(f"boom at {envelope.sequence_nr}")
        handled.append(envelope.sequence_nr)

    provider = events_by_tag(rj, "t")
    assert isinstance(provider.offset_store, SnapshotOffsetStore)
    projection = at_least_once("view", provider, handler, min_backoff=0.01, max_backoff=0.05)

    async def main():
        task = asyncio.ensure_future(projection.run())
        await _until(lambda: len(handled) == 10, "ten handled events")
        await _awrite(journal, "p", 11, b"11", ["t"])     # the live tail
        await _until(lambda: len(handled) == 11, "the live event")
        projection.stop()
        await asyncio.wait_for(task, DEADLINE)
        return await projection.offset_store.read_offset("view")

    stored = asyncio.run(main())
    assert handled == list(range(1, 12))
    assert calls == [1, 2, 3, 4, 4, 5, 6, 7, 8, 8, 9, 10, 11]
    assert projection.restarts == 2
    last = ReadJournal(journal).current_events_by_tag("t").run_blocking_collect()[-1]
    assert stored == last.offset.value
    # A new projection object with the same id starts after the stored offset.
    again: list[int] = []

    async def resume():
        async def ahandler(envelope):          # async handler
            again.append(envelope.sequence_nr)
        p2 = at_least_once("view", events_by_tag(rj, "t"), ahandler)
        task = asyncio.ensure_future(p2.run())
        await _awrite(journal, "p", 12, b"12", ["t"])
        await _until(lambda: again == [12], "the event after the stored offset")
        p2.stop()
        await asyncio.wait_for(task, DEADLINE)

    asyncio.run(resume())


def test_projection_gives_up_after_max_restarts_and_checks_its_arguments():
    journal = InMemoryJournal()
    journal.write("p", 1, b"1", ["t"])
    rj = ReadJournal(journal)

    def handler(envelope):
        raise ValueError("always")

    projection = at_least_once("p1", events_by_tag(rj, "t"), handler, min_backoff=0.0,
                               max_restarts=2, offset_store=InMemoryOffsetStore())
    with pytest.raises(ValueError, match="always"):
        asyncio.run(projection.run())
    assert projection.restarts == 2
    with pytest.raises(ValueError):
        at_least_once("", events_by_tag(rj, "t"), handler)
    with pytest.raises(TypeError):
        at_least_once("x", rj, handler)
    with pytest.raises(ValueError):
        at_least_once("x", events_by_tag(rj, "t"), handler, save_offset_after_envelopes=0)


def test_projection_by_persistence_id_saves_every_n_envelopes():
    journal = InMemoryJournal()
    for i in range(1, 8):
        journal.write("p", i, b"%d" % i)
    rj = ReadJournal(journal, refresh_interval=0.05)
    store = InMemoryOffsetStore()
    seen: list[int] = []
    projection = at_least_once("by-pid", events_by_persistence_id(rj, "p"), lambda e: seen.append(
        e.sequence_nr), offset_store=store, save_offset_after_envelopes=3)

    async def main():
        task = asyncio.ensure_future(projection.run())
        await _until(lambda: len(seen) == 7, "seven events")
        assert await store.read_offset("by-pid") == 6     # saved after 3 and 6
        projection.stop()
        await asyncio.wait_for(task, DEADLINE)
        assert await store.read_offset("by-pid") == 7     # and when it stops

    asyncio.run(main())
    assert seen == list(range(1, 8))


# -- a projection killed with SIGKILL ---------------------------------------------------------


def _start_worker(kind: str, target: str, schema: str, output: pathlib.Path) -> subprocess.Popen:
    env = dict(os.environ)
    root = str(HERE.parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, str(WORKER), kind, target, schema, "t", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _lines(output: pathlib.Path) -> list[str]:
    if not output.exists():
        return []
    return [line for line in output.read_text().splitlines() if line]


def _wait_lines(proc: subprocess.Popen, output: pathlib.Path, count: int) -> None:
    deadline = time.monotonic() + DEADLINE * 2
    while len(set(_lines(output))) < count:
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, f"{len(_lines(output))} lines of {count}"
        time.sleep(0.01)


@pytest.mark.parametrize("kind", ["lmdb", "postgres"])
def test_a_projection_killed_mid_way_resumes_without_losing_events(kind, tmp_path, request):
    n = 120
    if kind == "lmdb":
        target, schema = str(tmp_path / "journal"), "public"
        journal = LmdbJournal(target, sync=False)
        close = lambda: None  # noqa: E731
    else:
        target, schema = request.getfixturevalue("postgres_schema")
        from atomr.persistence.postgres import PostgresJournal
        journal = PostgresJournal(target, schema=schema)
        close = journal.close
    output = tmp_path / "handled.txt"
    procs: list[subprocess.Popen] = []
    try:
        for i in range(1, n // 2 + 1):
            _write(journal, f"e{i % 5}", _next(i), [b"x"], tags=["t"])
        first = _start_worker(kind, target, schema, output)
        procs.append(first)
        _wait_lines(first, output, 25)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(DEADLINE)
        killed_at = len(_lines(output))
        assert killed_at < n // 2
        second = _start_worker(kind, target, schema, output)
        procs.append(second)
        for i in range(n // 2 + 1, n + 1):                 # the live tail
            _write(journal, f"e{i % 5}", _next(i), [b"x"], tags=["t"])
        _wait_lines(second, output, n)
        os.kill(second.pid, signal.SIGKILL)
        second.wait(DEADLINE)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(DEADLINE)
            if proc.stderr is not None:
                proc.stderr.close()
        close()
    lines = _lines(output)
    expected = {f"e{i % 5} {_next(i)}" for i in range(1, n + 1)}
    assert set(lines) == expected                      # nothing lost
    # The second run started from the stored offset, not from the beginning:
    # only the envelope in flight when the first was killed comes twice.
    assert len(lines) - len(expected) <= 2, len(lines) - len(expected)


def _next(i: int) -> int:
    """The sequence number of the i-th event (ids e0..e4 in turn)."""
    return (i - 1) // 5 + 1 if i % 5 else i // 5


def test_the_query_doc_example_runs(tmp_path):
    import re
    doc = HERE.parent.parent / "docs" / "persistence-query.md"
    code = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)[0]
    script = tmp_path / "example.py"
    script.write_text(code)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["[('alice', 10), ('bob', 10)]", "[1]",
                                          "[('alice', 10), ('bob', 10), ('carol', 5)]"]


async def _pg_write(conn, pid: str, seq: int) -> None:
    """One tagged event through the journal's write function, on `conn`."""
    await conn.fetchval("SELECT atomr_journal_write($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        [pid], [seq], [1], ["bytes"], [b"x"], [0], [1], [1], ["t"])


def test_postgres_tagged_writes_commit_in_ordering_order(postgres_schema):
    """A transaction that drew a lower ordering but has not committed must
    keep a later writer's higher ordering invisible: otherwise a reader
    resuming after the higher offset would skip the lower event for good.
    The second writer waits for the first one's commit."""
    asyncpg = pytest.importorskip("asyncpg")
    from atomr.persistence.postgres import PostgresJournal
    dsn, schema = postgres_schema
    journal = PostgresJournal(dsn, schema=schema)
    rj = ReadJournal(journal)

    async def main():
        settings = {"search_path": schema}
        first = await asyncpg.connect(dsn, server_settings=settings)
        second = await asyncpg.connect(dsn, server_settings=settings)
        try:
            tx = first.transaction()
            await tx.start()
            await _pg_write(first, "slow", 1)            # draws the lower ordering
            pid = await second.fetchval("SELECT pg_backend_pid()")
            later = asyncio.ensure_future(_pg_write(second, "fast", 1))

            waiting = [False]

            async def watch():
                while not later.done():
                    waiting[0] = await first.fetchval(
                        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                        pid) is True
                    if waiting[0]:
                        return
                    await asyncio.sleep(0.01)

            # With the lock the second writer waits; without it, it commits.
            await asyncio.wait_for(watch(), DEADLINE)
            assert later.done() or waiting[0]
            seen = await rj.current_events_by_tag("t").run_collect_async()
            offset = seen[-1].offset.value if seen else 0
            await tx.commit()
            await asyncio.wait_for(later, DEADLINE)
            seen += await rj.current_events_by_tag("t", offset).run_collect_async()
            return _pairs(seen)
        finally:
            await first.close()
            await second.close()

    try:
        assert sorted(asyncio.run(main())) == [("fast", 1), ("slow", 1)]
    finally:
        journal.close()
