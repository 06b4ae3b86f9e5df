"""Which snapshot store a persistent actor uses: the one that goes with its
journal, whether the journal came from the constructor or from config."""

from __future__ import annotations

import logging
from typing import Any, Optional

from _helpers import running_system, wait_until
from atomr import Config, props
from atomr.persistence import (
    Effect, EventSourcedActor, InMemoryJournal, InMemorySnapshotStore, Journal, LmdbJournal,
    LmdbSnapshotStore, Persistence, register_journal,
)


class Tally(EventSourcedActor):
    persistent_id = "tally-1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replayed = 0

    def initial_state(self):
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "get":
            return Effect.reply_message(state)
        if cmd == "snap":
            return [Effect.snapshot(), Effect.reply_message("ok")]
        return [Effect.persist(cmd), Effect.reply_message("ok")]

    def event_handler(self, state, event, recovery_mode=False):
        if recovery_mode:
            self.replayed += 1
        return state + event


def spawn(system, name="tally", **kwargs):
    actors: list[Tally] = []

    def factory():
        actors.append(Tally(**kwargs))
        return actors[-1]

    return system.actor_of(props(Tally, factory=factory), name), actors


async def test_an_lmdb_journal_given_by_constructor_brings_its_snapshot_store(tmp_path):
    path = tmp_path / "db"
    async with running_system("ctor") as system:
        ref, _ = spawn(system, journal=LmdbJournal(path), snapshot_every=2)
        for _ in range(5):
            assert await ref.ask(1) == "ok"
        assert await Persistence.get(system).snapshot_store().load_snapshot("tally-1") is None
    assert LmdbSnapshotStore(path).load("tally-1")[0] == 4
    async with running_system("ctor") as system:
        ref, actors = spawn(system, journal=LmdbJournal(path))
        assert await ref.ask("get") == 5
        assert actors[0].replayed == 1  # the snapshot at 4, then event 5


async def test_the_journals_store_is_one_object_per_journal(tmp_path):
    journal = InMemoryJournal()
    assert isinstance(journal.snapshot_store(), InMemorySnapshotStore)
    assert journal.snapshot_store() is journal.snapshot_store()
    assert InMemoryJournal().snapshot_store() is not journal.snapshot_store()
    lmdb = LmdbJournal(tmp_path / "db", map_size=1 << 20, sync=False)
    store = lmdb.snapshot_store()
    assert isinstance(store, LmdbSnapshotStore) and store is lmdb.snapshot_store()
    assert store.path == lmdb.path


async def test_an_in_memory_journal_keeps_snapshots_across_systems():
    journal = InMemoryJournal()
    async with running_system("a") as system:
        ref, _ = spawn(system, journal=journal)
        for _ in range(3):
            await ref.ask(2)
        assert await ref.ask("snap") == "ok"
        await ref.ask(2)
    assert journal.snapshot_store().load("tally-1")[0] == 3
    async with running_system("b") as system:
        ref, actors = spawn(system, journal=journal)
        assert await ref.ask("get") == 8
        assert actors[0].replayed == 1


async def test_an_explicit_snapshot_store_still_wins(system, tmp_path):
    journal, store = LmdbJournal(tmp_path / "db", sync=False), InMemorySnapshotStore()
    ref, _ = spawn(system, journal=journal, snapshot_store=store, snapshot_every=1)
    await ref.ask(1)
    assert store.load("tally-1")[0] == 1
    assert journal.snapshot_store().load("tally-1") is None


class BareJournal(Journal):
    """A plugin journal (events kept by an in-memory journal it wraps) with
    a snapshot store only when it is given one."""

    def __init__(self, store: Optional[InMemorySnapshotStore] = None) -> None:
        self.inner = InMemoryJournal()
        self.store = store

    async def write_messages(self, batches):
        return await self.inner.write_messages(batches)

    async def replay_messages(self, *args, **kwargs):
        return await self.inner.replay_messages(*args, **kwargs)

    async def read_highest_sequence_nr(self, persistence_id):
        return await self.inner.read_highest_sequence_nr(persistence_id)

    async def delete_messages_to(self, persistence_id, to_sequence_nr):
        await self.inner.delete_messages_to(persistence_id, to_sequence_nr)

    def snapshot_store(self):
        return self.store


async def test_a_configured_plugin_journal_brings_its_own_snapshot_store():
    made: list[BareJournal] = []

    def factory(settings):
        made.append(BareJournal(InMemorySnapshotStore()))
        return made[-1]

    register_journal("paired-plugin", factory)
    config = Config.from_dict({"persistence": {"journal": "paired-plugin",
                                               "snapshot-every": 2}})
    async with running_system("plug", config) as system:
        ref, _ = spawn(system)
        for _ in range(3):
            await ref.ask(1)
        assert Persistence.get(system).snapshot_store() is made[0].store
    assert made[0].store.load("tally-1")[0] == 2


async def test_a_journal_without_a_store_warns_when_a_snapshot_is_due(system, caplog):
    caplog.set_level(logging.WARNING, logger="atomr.persistence")
    journal = BareJournal()
    ref, _ = spawn(system, journal=journal, snapshot_every=1)
    await ref.ask(1)
    await ref.ask(1)
    assert await ref.ask("get") == 2
    await wait_until(lambda: "no snapshot store" in caplog.text)
    assert caplog.text.count("no snapshot store") == 1
