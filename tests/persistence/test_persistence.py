"""atomr.persistence: event-sourced actors, effects, recovery, failures,
configuration, codecs and the recovery permitter."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from typing import Any

import pytest

from _helpers import running_system, wait_until
from atomr import ActorSystem, Config, props
from atomr.errors import AtomrError, EventRejectedError, JournalError
from atomr.persistence import (
    Effect, EventSourcedActor, InMemoryJournal, InMemorySnapshotStore, Journal, LmdbJournal,
    LmdbSnapshotStore, RecoveryPermitter, register_journal,
)

# -- actors and journals used below ------------------------------------------------------------


class Counter(EventSourcedActor):
    """The spec's counter, recording how its handlers were called."""

    persistent_id = "counter-1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replayed: list = []
        self.handled: list = []
        self.recoveries = 0

    def initial_state(self):
        return {"count": 0}

    async def command_handler(self, state, ctx, cmd):
        self.handled.append(cmd)
        op = cmd["op"]
        if op == "incr":
            return [Effect.persist({"type": "Incremented", "by": cmd["by"]}),
                    Effect.reply_message("ok")]
        if op == "incr-many":
            return [Effect.persist_all({"type": "Incremented", "by": b} for b in cmd["by"])]
        if op == "snap":
            return [Effect.snapshot()]
        if op == "every":
            return Effect.snapshot(every=cmd["n"])
        if op == "get":
            return [Effect.reply_message(state["count"])]
        if op == "seq":
            return Effect.reply_message(self.sequence_nr)
        if op == "bad":
            return [Effect.persist({"type": "Incremented", "by": 1}),
                    Effect.persist({"type": "Weird", "by": {1, 2}}),
                    Effect.reply_message("unreachable")]
        if op == "stop":
            return [Effect.reply_message("bye"), Effect.stop()]
        if op == "two-replies":
            return [Effect.reply_message(1), Effect.none(), Effect.reply_message(2)]
        return None

    def event_handler(self, state, event, recovery_mode=False):
        if recovery_mode:
            self.replayed.append(event)
        if event["type"] == "Incremented":
            state["count"] += event["by"]
        return state

    async def recovery_completed(self, state, highest_seq):
        self.recoveries += 1


def spawn_counter(system, name="counter", **kwargs):
    actors: list[Counter] = []

    def factory():
        actor = Counter(**kwargs)
        actors.append(actor)
        return actor

    return system.actor_of(props(Counter, factory=factory), name), actors


class GatedJournal(InMemoryJournal):
    """An in-memory journal whose replays and writes wait for a gate, and
    which counts concurrent replays."""

    def __init__(self) -> None:
        super().__init__()
        self.replay_gate = asyncio.Event()
        self.replay_gate.set()
        self.write_gate = asyncio.Event()
        self.write_gate.set()
        self.replaying = 0
        self.max_replaying = 0
        self.writes_waiting = 0

    async def read_highest_sequence_nr(self, persistence_id):
        self.replaying += 1
        self.max_replaying = max(self.max_replaying, self.replaying)
        try:
            await self.replay_gate.wait()
        finally:
            self.replaying -= 1
        return await super().read_highest_sequence_nr(persistence_id)

    async def write_messages(self, batches):
        self.writes_waiting += 1
        try:
            await self.write_gate.wait()
        finally:
            self.writes_waiting -= 1
        return await super().write_messages(batches)


class FailingJournal(InMemoryJournal):
    """Fails every write after the first `ok_writes`, or every replay."""

    def __init__(self, ok_writes: int = 0, fail_replay: bool = False) -> None:
        super().__init__()
        self.ok_writes = ok_writes
        self.fail_replay = fail_replay

    async def write_messages(self, batches):
        if self.ok_writes <= 0:
            raise JournalError("disk on fire")
        self.ok_writes -= 1
        return await super().write_messages(batches)

    async def replay_messages(self, *args, **kwargs):
        if self.fail_replay:
            raise JournalError("cannot read")
        return await super().replay_messages(*args, **kwargs)


# -- effects -------------------------------------------------------------------------------------


def test_effects_expose_kind_events_every_and_value():
    e = Effect.persist({"a": 1})
    assert (e.kind, e.events, e.every, e.value) == ("persist", [{"a": 1}], None, None)
    assert Effect.persist_all(iter([1, 2])).events == [1, 2]
    assert Effect.persist_all([1]).kind == "persist"
    assert Effect.snapshot().kind == "snapshot" and Effect.snapshot().every is None
    assert Effect.snapshot(every=5).every == 5
    assert Effect.reply_message(42).value == 42 and Effect.reply_message(42).kind == "reply"
    assert Effect.stop().kind == "stop"
    assert Effect.none().kind == "none"
    assert not hasattr(Effect, "reply") and not hasattr(Effect.reply_message(1), "reply_value")
    with pytest.raises(AttributeError):
        Effect.none().kind = "persist"
    with pytest.raises(ValueError):
        Effect.snapshot(every=-1)


def test_an_empty_persistent_id_is_refused_at_construction():
    class NoId(EventSourcedActor):
        pass

    with pytest.raises(ValueError, match="persistent_id"):
        NoId()
    assert NoId(persistent_id="given").persistent_id == "given"
    with pytest.raises(TypeError):
        Counter(journal=object())


# -- the actor -------------------------------------------------------------------------------------


async def test_the_spec_counter_persists_replies_and_recovers_in_a_new_system():
    journal = InMemoryJournal()
    async with running_system("one") as system:
        system.use_json_codec(default=True)
        ref, _ = spawn_counter(system, journal=journal)
        assert await ref.ask({"op": "incr", "by": 2}) == "ok"
        await ref.ask({"op": "incr", "by": 3})
        assert await ref.ask({"op": "get"}) == 5
        assert await ref.ask({"op": "seq"}) == 2
    assert journal.highest_sequence_nr("counter-1") == 2
    async with running_system("two") as system:
        ref, actors = spawn_counter(system, journal=journal)
        assert await ref.ask({"op": "get"}) == 5
        assert await ref.ask({"op": "seq"}) == 2
        assert actors[0].replayed == [{"type": "Incremented", "by": 2},
                                      {"type": "Incremented", "by": 3}]
        assert actors[0].recoveries == 1
        assert actors[0].state == {"count": 5}


async def test_persist_all_writes_one_atomic_batch_and_applies_in_order(system):
    journal = InMemoryJournal()
    ref, actors = spawn_counter(system, journal=journal)
    assert await ref.ask({"op": "incr-many", "by": [1, 10, 100]}) is None
    assert await ref.ask({"op": "get"}) == 111
    events = journal.replay_events("counter-1")
    assert [seq for seq, *_ in events] == [1, 2, 3]
    assert len({manifest for _, _, manifest, _ in events}) == 1


async def test_the_last_reply_wins_and_no_reply_answers_none(system):
    ref, _ = spawn_counter(system)
    assert await ref.ask({"op": "two-replies"}) == 2
    assert await ref.ask({"op": "unknown"}) is None


async def test_the_stop_effect_replies_then_stops(system):
    ref, _ = spawn_counter(system)
    assert await ref.ask({"op": "stop"}) == "bye"
    await wait_until(ref.is_terminated)


async def test_a_snapshot_then_recovery_replays_only_the_tail(system):
    journal, store = InMemoryJournal(), InMemorySnapshotStore()
    ref, _ = spawn_counter(system, "c1", journal=journal, snapshot_store=store)
    for _ in range(3):
        await ref.ask({"op": "incr", "by": 1})
    await ref.ask({"op": "snap"})
    await ref.ask({"op": "incr", "by": 10})
    assert store.load("counter-1")[0] == 3
    ref.stop()
    await wait_until(ref.is_terminated)
    ref2, actors = spawn_counter(system, "c2", journal=journal, snapshot_store=store)
    assert await ref2.ask({"op": "get"}) == 13
    assert actors[0].replayed == [{"type": "Incremented", "by": 10}]
    assert await ref2.ask({"op": "seq"}) == 4


async def test_snapshot_every_n_events_follows_the_cadence(system):
    journal, store = InMemoryJournal(), InMemorySnapshotStore()
    ref, _ = spawn_counter(system, journal=journal, snapshot_store=store, snapshot_every=3)
    for _ in range(7):
        await ref.ask({"op": "incr", "by": 1})
    assert store.load("counter-1")[0] == 6
    await ref.ask({"op": "every", "n": 0})  # cadence off
    for _ in range(5):
        await ref.ask({"op": "incr", "by": 1})
    assert store.load("counter-1")[0] == 6
    await ref.ask({"op": "every", "n": 2})  # 13 - 6 >= 2: snapshot at once
    await ref.ask({"op": "incr", "by": 1})
    assert store.load("counter-1")[0] == 13
    await ref.ask({"op": "incr", "by": 1})
    assert store.load("counter-1")[0] == 13
    await ref.ask({"op": "incr", "by": 1})
    assert store.load("counter-1")[0] == 15


async def test_commands_sent_during_recovery_wait_and_run_in_order(system):
    journal = GatedJournal()
    for seq in (1, 2):
        event = {"type": "Incremented", "by": 5}
        journal.write_event("counter-1", seq, system.codecs.encode("builtins.dict", event),
                            "builtins.dict")
    journal.replay_gate.clear()
    ref, actors = spawn_counter(system, journal=journal)
    await wait_until(lambda: journal.replaying == 1)
    ref.tell({"op": "incr", "by": 1})
    first = asyncio.ensure_future(ref.ask({"op": "get"}))
    ref.tell({"op": "incr", "by": 2})
    last = asyncio.ensure_future(ref.ask({"op": "get"}))
    await asyncio.sleep(0)
    assert not first.done() and actors[0].handled == []
    journal.replay_gate.set()
    assert await first == 11
    assert await last == 13
    assert [c["op"] for c in actors[0].handled] == ["incr", "get", "incr", "get"]


async def test_commands_arriving_while_a_persist_is_in_flight_wait_in_order(system):
    journal = GatedJournal()
    ref, actors = spawn_counter(system, journal=journal)
    assert await ref.ask({"op": "get"}) == 0
    journal.write_gate.clear()
    pending = asyncio.ensure_future(ref.ask({"op": "incr", "by": 1}))
    await wait_until(lambda: journal.writes_waiting == 1)
    gets = [asyncio.ensure_future(ref.ask({"op": "get"})) for _ in range(3)]
    more = asyncio.ensure_future(ref.ask({"op": "incr", "by": 5}))
    await asyncio.sleep(0.01)
    assert len(actors[0].handled) == 2  # the get above and the incr in flight
    journal.write_gate.set()
    assert await pending == "ok"
    assert await asyncio.gather(*gets) == [1, 1, 1]
    assert await more == "ok"
    assert await ref.ask({"op": "get"}) == 6


async def test_an_unencodable_event_fails_the_ask_and_the_actor_keeps_running(system, caplog):
    journal = InMemoryJournal()
    ref, actors = spawn_counter(system, journal=journal)
    await ref.ask({"op": "incr", "by": 1})
    with pytest.raises(EventRejectedError, match="encode"):
        await ref.ask({"op": "bad"})
    # The first persist of "bad" went through; the unencodable one did not.
    assert journal.highest_sequence_nr("counter-1") == 2
    assert await ref.ask({"op": "get"}) == 2
    ref.tell({"op": "bad"})  # a tell: reported, no supervision restart
    assert await ref.ask({"op": "get"}) == 3
    assert len(actors) == 1 and actors[0].recoveries == 1
    assert "rejected" in caplog.text
    assert not ref.is_terminated()


async def test_a_journal_failure_fails_the_ask_and_stops_the_actor(system):
    journal = FailingJournal(ok_writes=1)
    ref, _ = spawn_counter(system, journal=journal)
    assert await ref.ask({"op": "incr", "by": 1}) == "ok"
    with pytest.raises(JournalError, match="disk on fire"):
        await ref.ask({"op": "incr", "by": 1})
    await wait_until(ref.is_terminated)
    assert journal.highest_sequence_nr("counter-1") == 1


async def test_a_journal_failure_on_a_tell_stops_the_actor_too(system):
    ref, actors = spawn_counter(system, journal=FailingJournal())
    ref.tell({"op": "incr", "by": 1})
    await wait_until(ref.is_terminated)
    assert len(actors) == 1


async def test_a_recovery_failure_stops_the_actor(system):
    journal = FailingJournal(fail_replay=True)
    journal.write("counter-1", 1, b"\x80")
    ref, actors = spawn_counter(system, journal=journal)
    await wait_until(ref.is_terminated)
    assert actors[0].recoveries == 0


async def test_events_use_the_systems_codecs_and_user_codecs(system):
    @dataclasses.dataclass
    class Deposited:
        amount: int

    class Account(EventSourcedActor):
        persistent_id = "account-1"

        def initial_state(self):
            return 0

        def command_handler(self, state, ctx, cmd):
            if cmd == "get":
                return Effect.reply_message(state)
            return Effect.persist(Deposited(cmd))

        def event_handler(self, state, event, recovery_mode=False):
            return state + event.amount

    manifest = f"{Deposited.__module__}.{Deposited.__qualname__}"
    with pytest.warns(UserWarning, match="not strictly validated"):
        system.register_codec("deposit-json",
                              lambda d: json.dumps({"amount": d.amount}).encode(),
                              lambda b: Deposited(**json.loads(b)), manifests=[manifest],
                              strict=False)
    journal = InMemoryJournal()
    ref = system.actor_of(props(Account, factory=lambda: Account(journal=journal)), "account")
    await ref.ask(7)
    await ref.ask(5)
    assert await ref.ask("get") == 12
    [(seq, payload, stored_manifest, _), _] = journal.replay_events("account-1")
    assert stored_manifest == manifest and json.loads(payload) == {"amount": 7}
    ref.stop()
    await wait_until(ref.is_terminated)
    ref2 = system.actor_of(props(Account, factory=lambda: Account(journal=journal)), "account2")
    assert await ref2.ask("get") == 12


async def test_a_codec_registry_given_to_the_constructor_is_used(system):
    from atomr.codecs import PyCodecRegistry

    registry = PyCodecRegistry()
    registry.register_json(["builtins.dict"])
    journal = InMemoryJournal()
    ref, _ = spawn_counter(system, journal=journal, codec_registry=registry)
    await ref.ask({"op": "incr", "by": 4})
    [(_, payload, manifest, _)] = journal.replay_events("counter-1")
    assert manifest == "builtins.dict"
    assert json.loads(payload) == {"type": "Incremented", "by": 4}


async def test_by_default_each_system_keeps_one_in_memory_journal(system):
    ref, _ = spawn_counter(system, "a")
    await ref.ask({"op": "incr", "by": 3})
    ref.stop()
    await wait_until(ref.is_terminated)
    ref2, actors = spawn_counter(system, "b")
    assert await ref2.ask({"op": "get"}) == 3
    async with running_system("other") as other:
        ref3, _ = spawn_counter(other)
        assert await ref3.ask({"op": "get"}) == 0


async def test_the_lmdb_journal_and_snapshot_store_are_chosen_by_config(tmp_path):
    config = Config.from_dict({"persistence": {
        "journal": "lmdb", "snapshot-every": 2,
        "lmdb": {"path": str(tmp_path / "db"), "map-size": 1 << 20}}})
    async with running_system("cfg", config) as system:
        ref, _ = spawn_counter(system)
        for _ in range(5):
            await ref.ask({"op": "incr", "by": 2})
    assert LmdbSnapshotStore(tmp_path / "db").load("counter-1")[0] == 4
    async with running_system("cfg", config) as system:
        ref, actors = spawn_counter(system)
        assert await ref.ask({"op": "get"}) == 10
        assert len(actors[0].replayed) == 1  # snapshot at 4, then event 5


async def test_misconfigured_persistence_stops_the_actor(caplog):
    config = Config.from_dict({"persistence": {"journal": "lmdb"}})  # no path
    async with running_system("bad", config) as system:
        ref, _ = spawn_counter(system)
        await wait_until(ref.is_terminated)
    assert "persistence.lmdb.path" in caplog.text
    config = Config.from_dict({"persistence": {"journal": "no-such-plugin"}})
    async with running_system("bad2", config) as system:
        ref, _ = spawn_counter(system)
        await wait_until(ref.is_terminated)
    assert "no-such-plugin" in caplog.text


async def test_a_registered_plugin_journal_is_selected_by_config():
    made: list[Journal] = []

    def factory(settings):
        made.append(InMemoryJournal())
        return made[-1]

    register_journal("test-plugin", factory)
    config = Config.from_dict({"persistence": {"journal": "test-plugin"}})
    async with running_system("plug", config) as system:
        ref, _ = spawn_counter(system)
        await ref.ask({"op": "incr", "by": 1})
    assert len(made) == 1 and made[0].highest_sequence_nr("counter-1") == 1


async def test_lmdb_journal_failure_at_the_maximum_map_size_stops_the_actor(system, tmp_path):
    journal = LmdbJournal(tmp_path / "tiny", map_size=128 << 10, max_map_size=256 << 10)

    class Blob(EventSourcedActor):
        persistent_id = "blob"

        def command_handler(self, state, ctx, size):
            return [Effect.persist(b"x" * size), Effect.reply_message(size)]

    ref = system.actor_of(props(Blob, factory=lambda: Blob(journal=journal)), "blob")
    assert await ref.ask(1000) == 1000
    with pytest.raises(JournalError, match="full"):
        await ref.ask(1 << 20)
    await wait_until(ref.is_terminated)
    assert journal.highest_sequence_nr("blob") == 1


async def test_the_lmdb_map_grows_under_an_actor(system, tmp_path):
    journal = LmdbJournal(tmp_path / "grow", map_size=64 << 10, sync=False)
    before = journal.map_size

    class Blob(EventSourcedActor):
        persistent_id = "blob"

        def command_handler(self, state, ctx, size):
            return [Effect.persist(b"y" * size), Effect.reply_message(size)]

    ref = system.actor_of(props(Blob, factory=lambda: Blob(journal=journal)), "blob")
    for _ in range(100):
        await ref.ask(4096)
    assert journal.map_size > before
    assert journal.highest_sequence_nr("blob") == 100


# -- the synchronous journal API -------------------------------------------------------------------


def test_in_memory_journal_sync_api_follows_the_spec():
    j = InMemoryJournal()
    j.write("p", 1, b"a", tags=["t"])
    j.write_event("p", 2, b"b", "my.Event")
    j.write("q", 1, b"c", ["t"])
    with pytest.raises(AtomrError, match="expected 3"):
        j.write("p", 5, b"x")
    with pytest.raises(EventRejectedError):
        j.write("p", 3, "not bytes")  # type: ignore[arg-type]
    assert j.replay("p") == [b"a", b"b"]
    assert j.replay_events("p") == [(1, b"a", "bytes", ["t"]), (2, b"b", "my.Event", [])]
    assert j.replay_events("p", from_seq=2) == [(2, b"b", "my.Event", [])]
    assert j.replay_events("p", 1, 2, max=1) == [(1, b"a", "bytes", ["t"])]
    assert j.highest_sequence_nr("p") == 2 and j.highest_sequence_nr("zzz") == 0
    assert j.events_by_tag("t") == [("p", 1, b"a", ["t"]), ("q", 1, b"c", ["t"])]
    assert sorted(j.all_persistence_ids()) == ["p", "q"]
    j.delete_to("p", 1)
    assert j.replay("p") == [b"b"]


async def test_raw_bytes_written_with_the_sync_api_replay_as_bytes(system):
    class Raw(EventSourcedActor):
        persistent_id = "raw"

        def initial_state(self):
            return []

        def command_handler(self, state, ctx, cmd):
            return Effect.reply_message(list(state))

        def event_handler(self, state, event, recovery_mode=False):
            return state + [event]

    journal = InMemoryJournal()
    journal.write("raw", 1, b"\x00one")
    journal.write("raw", 2, b"two")
    ref = system.actor_of(props(Raw, factory=lambda: Raw(journal=journal)), "raw")
    assert await ref.ask("state") == [b"\x00one", b"two"]


def test_in_memory_snapshot_store_sync_api_follows_the_spec():
    s = InMemorySnapshotStore()
    assert s.load("p") is None
    s.save("p", 3, b"three")
    s.save("p", 7, b"seven")
    assert s.load("p") == (7, b"seven")
    s.delete("p", 7)
    assert s.load("p") is None


# -- recovery permits -------------------------------------------------------------------------------


def test_permitter_rejects_zero_and_counts_permits():
    with pytest.raises(ValueError):
        RecoveryPermitter(0)
    p = RecoveryPermitter(2)
    assert (p.capacity(), p.available(), p.in_flight()) == (2, 2, 0)
    p.acquire_blocking()  # a gate: takes and gives back
    assert p.available() == 2


async def test_permitter_hands_permits_to_waiters_in_order_and_close_fails_them():
    p = RecoveryPermitter(1)
    await p.acquire()
    order: list[int] = []

    async def waiter(n: int) -> None:
        await p.acquire()
        order.append(n)
        p.release()

    tasks = [asyncio.ensure_future(waiter(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert order == [] and p.in_flight() == 1
    p.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order == [0, 1, 2] and p.in_flight() == 0

    await p.acquire()
    blocked = asyncio.ensure_future(p.acquire())
    thread_error: list[BaseException] = []

    def blocking() -> None:
        try:
            p.acquire_blocking()
        except AtomrError as exc:
            thread_error.append(exc)

    t = threading.Thread(target=blocking)
    t.start()
    await wait_until(lambda: len(p._waiters) == 2)
    p.close()
    with pytest.raises(AtomrError, match="closed"):
        await blocked
    await asyncio.get_running_loop().run_in_executor(None, t.join, 10)
    assert thread_error and "closed" in str(thread_error[0])
    with pytest.raises(AtomrError):
        p.acquire_blocking()


async def test_a_cancelled_waiter_does_not_leak_its_permit():
    p = RecoveryPermitter(1)
    await p.acquire()
    waiting = asyncio.ensure_future(p.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    p.release()
    assert p.in_flight() == 0
    with pytest.raises(TimeoutError):
        await p.acquire()
        await asyncio.get_running_loop().run_in_executor(None, p.acquire_blocking, 0.05)
    p.release()


async def test_the_permitter_limits_concurrent_recoveries(system):
    journal = GatedJournal()
    journal.replay_gate.clear()
    permitter = RecoveryPermitter(2)
    refs = [spawn_counter(system, f"c{i}", journal=journal, recovery_permitter=permitter,
                          persistent_id=f"entity-{i}")[0] for i in range(6)]
    await wait_until(lambda: journal.replaying == 2)
    await asyncio.sleep(0.02)
    assert journal.replaying == 2 and permitter.in_flight() == 2
    journal.replay_gate.set()
    for ref in refs:
        assert await ref.ask({"op": "get"}) == 0
    assert journal.max_replaying == 2 and permitter.in_flight() == 0


async def test_the_systems_permitter_comes_from_config():
    journal = GatedJournal()
    journal.replay_gate.clear()
    config = Config.from_dict({"persistence": {"max-concurrent-recoveries": 1}})
    async with running_system("permits", config) as system:
        refs = [spawn_counter(system, f"c{i}", journal=journal, persistent_id=f"e{i}")[0]
                for i in range(3)]
        await wait_until(lambda: journal.replaying == 1)
        journal.replay_gate.set()
        for ref in refs:
            assert await ref.ask({"op": "get"}) == 0
        assert journal.max_replaying == 1


def test_a_blocking_system_persists_through_lmdb(tmp_path):
    journal = LmdbJournal(tmp_path / "blocking")
    system = ActorSystem.create_blocking("blocking")
    try:
        ref, _ = spawn_counter(system, journal=journal)
        for _ in range(3):
            assert ref.ask_blocking({"op": "incr", "by": 1}, 10) == "ok"
        assert ref.ask_blocking({"op": "get"}, 10) == 3
    finally:
        system.terminate_blocking(timeout=10)
    assert journal.highest_sequence_nr("counter-1") == 3


async def test_context_awaiting_reply_tells_asks_from_tells(system):
    from atomr import Actor

    seen: list = []

    class Probe(Actor):
        def handle(self, ctx, msg):
            seen.append((msg, ctx.awaiting_reply))
            return msg

    ref = system.actor_of(props(Probe), "probe")
    ref.tell("told")
    assert await ref.ask("asked") == "asked"
    assert seen == [("told", False), ("asked", True)]


async def test_persistence_settings_are_validated_when_the_system_is_created():
    from atomr.config import ConfigError

    with pytest.raises(ConfigError, match="persistence.lmdb.sync"):
        await ActorSystem.create("cfg", Config.from_dict({"persistence": {"lmdb": {"sync": 1}}}))
    with pytest.raises(ConfigError, match="max-concurrent-recoveries"):
        await ActorSystem.create("cfg", Config.from_dict(
            {"persistence": {"max-concurrent-recoveries": 0}}))
