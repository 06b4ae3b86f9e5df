"""Persistence benchmarks: atomr's event-sourced actors on the LMDB journal
(synced commits) raced against a hand-written asyncio actor that journals
to a JSON-lines file with fsync (``baselines_persistence.JsonlCounter``).

* persist-1: one actor, one ask per event; every event is durable (fsynced)
  before the next command is handled. Rate = events / round time.
* persist-100: 100 actors, each asked for its events concurrently; atomr's
  LMDB writer commits the pending writes of all actors in one transaction
  (group commit), the baseline fsyncs each file on its own (in threads).
* recover: one actor recovers N events (snapshot-less replay through its
  event handler) -- a spawn plus the first ask, against reading and folding
  the JSON-lines file.

Run: ``tox -e bench`` or ``python3 -m pytest benchmarks -k persistence``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

import pytest

from atomr import ActorSystem, props
from atomr.persistence import Effect, EventSourcedActor, LmdbJournal, PersistentRecord
from baselines import stop_asyncio_actors
from baselines_persistence import JsonlCounter, recover_jsonl, write_jsonl_events

IMPLS = ("atomr", "jsonl-fsync")
SIZES = {
    "persist-1": {"atomr": 1_000, "jsonl-fsync": 1_000},
    "persist-100": {"atomr": 10_000, "jsonl-fsync": 5_000},
    "recover": {"atomr": 100_000, "jsonl-fsync": 100_000},
}
ACTORS = 100
ROUNDS = 5
WAIT = 60.0


class Counter(EventSourcedActor):
    """The event-sourced twin of JsonlCounter: each increment is an event."""

    def initial_state(self) -> int:
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "get":
            return Effect.reply_message(state)
        return [Effect.persist({"type": "Incremented", "by": cmd}),
                Effect.reply_message(self.sequence_nr + 1)]

    def event_handler(self, state, event, recovery_mode=False):
        return state + event["by"]


@contextmanager
def scratch_dir() -> Iterator[str]:
    """A fresh directory on the machine's disk (fsync is real there)."""
    path = tempfile.mkdtemp(prefix="atomr-bench-persistence-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def atomr_system(name: str) -> Iterator[tuple[asyncio.Runner, ActorSystem]]:
    with asyncio.Runner() as runner:
        system = runner.run(ActorSystem.create(name))
        try:
            yield runner, system
        finally:
            runner.run(system.terminate())
            assert system.is_terminated


# -- persist: one actor and 100 actors ------------------------------------------------
#
# The harness is shared with test_bench_persistence_postgres.py: `rounds`
# drives any set of ask functions, `persist_on` runs the Counter actors on
# any journal, `recover_on` recovers one from any journal.


def rounds(runner: asyncio.Runner, asks: list, per_actor: int):
    """One timed round: each ask function is called `per_actor` times in
    turn, all of them concurrently; each returns the event count so far."""
    expected = [0]

    async def drive(ask) -> int:
        last = 0
        for _ in range(per_actor):
            last = await ask(1)
        return last

    async def one_round() -> None:
        expected[0] += per_actor
        assert await asyncio.gather(*(drive(a) for a in asks)) == [expected[0]] * len(asks)

    return lambda: runner.run(one_round())


@contextmanager
def persist_on(make_journal, n: int, actors: int, name: str = "bench-persist"):
    """Rounds of `actors` Counter actors persisting n events in total on
    the journal `make_journal()` makes (closed afterwards when it can be)."""
    with atomr_system(name) as (runner, system):
        journal = make_journal()
        try:
            refs = [system.actor_of(props(Counter, factory=lambda i=i: Counter(
                journal=journal, persistent_id=f"counter-{i}")), f"counter-{i}")
                for i in range(actors)]
            yield rounds(runner, [lambda m, r=r: r.ask(m, timeout=WAIT) for r in refs],
                         n // actors), None
        finally:
            close = getattr(journal, "close", None)
            if close is not None:
                close()


@contextmanager
def _persist_atomr(n: int, actors: int):
    with scratch_dir() as path, persist_on(lambda: LmdbJournal(path), n, actors) as r:
        yield r


@contextmanager
def _persist_jsonl(n: int, actors: int):
    with scratch_dir() as path, asyncio.Runner() as runner:
        async def make() -> list[JsonlCounter]:
            return [JsonlCounter(os.path.join(path, f"counter-{i}.jsonl"))
                    for i in range(actors)]

        counters = runner.run(make())
        try:
            yield rounds(runner, [c.ask for c in counters], n // actors), None
        finally:
            runner.run(stop_asyncio_actors(counters))
            for c in counters:
                c.close()


@pytest.mark.parametrize("impl", IMPLS)
def test_persist_one_actor(race, impl):
    """Persisted events/s of one actor: one ask per event, each event fsynced
    (LMDB synced commit vs. JSON line + fsync) before the reply."""
    factory = _persist_atomr if impl == "atomr" else _persist_jsonl
    race("persist-1", impl, SIZES["persist-1"][impl], ROUNDS, lambda n: factory(n, 1))


@pytest.mark.parametrize("impl", IMPLS)
def test_persist_100_actors(race, impl):
    """Persisted events/s of 100 actors persisting concurrently (atomr: group
    commit into one LMDB transaction; baseline: one fsynced file per actor,
    fsyncs in threads)."""
    factory = _persist_atomr if impl == "atomr" else _persist_jsonl
    race("persist-100", impl, SIZES["persist-100"][impl], ROUNDS,
         lambda n: factory(n, ACTORS))


# -- recovery ---------------------------------------------------------------------------------


@contextmanager
def recover_on(make_journal, n: int, name: str = "bench-recover"):
    """Rounds of one Counter actor recovering n events from the journal
    `make_journal()` makes (filled first, untimed; closed afterwards when it
    can be)."""
    with atomr_system(name) as (runner, system):
        journal = make_journal()
        try:
            payload = system.codecs.encode("builtins.dict", {"type": "Incremented", "by": 1})

            async def fill() -> None:
                for start in range(1, n + 1, 1000):
                    batch = [PersistentRecord("counter", seq, "builtins.dict", payload)
                             for seq in range(start, min(start + 1000, n + 1))]
                    assert await journal.write_messages([batch]) == [None]

            runner.run(fill())
            spawned = [0]

            async def one_round() -> None:
                spawned[0] += 1
                ref = system.actor_of(props(Counter, factory=lambda: Counter(
                    journal=journal, persistent_id="counter")), f"recover-{spawned[0]}")
                assert await ref.ask("get", timeout=WAIT) == n
                ref.stop()

            yield (lambda: runner.run(one_round())), None
        finally:
            close = getattr(journal, "close", None)
            if close is not None:
                close()


@contextmanager
def _recover_atomr(n: int):
    with scratch_dir() as path, recover_on(lambda: LmdbJournal(path, sync=False), n) as r:
        yield r


@contextmanager
def _recover_jsonl(n: int):
    with scratch_dir() as path:
        file = os.path.join(path, "counter.jsonl")
        write_jsonl_events(file, n)

        def one_round() -> None:
            assert recover_jsonl(file) == n

        yield one_round, None


@pytest.mark.parametrize("impl", IMPLS)
def test_recovery(race, impl):
    """Recovered events/s: an actor replays N events from the LMDB journal
    (decode + event handler) before answering its first ask, vs. reading
    and folding a JSON-lines file of N events."""
    factory = _recover_atomr if impl == "atomr" else _recover_jsonl
    race("recover", impl, SIZES["recover"][impl], ROUNDS, factory)
