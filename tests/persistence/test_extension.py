"""The Persistence extension: one per actor system, built from its
``persistence`` settings, used by persistent actors, closed at termination."""

from __future__ import annotations

import pytest

from atomr import ActorSystem, ActorSystemTerminatedError, Config, props
from atomr.errors import AtomrError
from atomr.persistence import Effect, EventSourcedActor, InMemoryJournal, Persistence


class Counter(EventSourcedActor):
    persistent_id = "ext-counter"

    def initial_state(self):
        return 0

    async def command_handler(self, state, ctx, cmd):
        if cmd == "incr":
            return [Effect.persist(1), Effect.reply_message(state + 1)]
        return Effect.reply_message(state)

    def event_handler(self, state, event, recovery_mode=False):
        return state + event


async def test_the_extension_is_created_once_per_system(system):
    first = Persistence.get(system)
    assert Persistence.get(system) is first
    assert first.journal() is first.journal()
    assert isinstance(first.journal(), InMemoryJournal)


async def test_a_second_system_gets_its_own_extension_and_journal(system):
    other = await ActorSystem.create("persistence-other")
    try:
        assert Persistence.get(other) is not Persistence.get(system)
        assert Persistence.get(other).journal() is not Persistence.get(system).journal()
    finally:
        await other.terminate()


async def test_the_extension_reads_the_persistence_section():
    config = Config.from_dict({"persistence": {"snapshot-every": 5, "snapshot-store": "none",
                                               "max-concurrent-recoveries": 3}})
    system = await ActorSystem.create("persistence-config", config)
    try:
        persistence = Persistence.get(system)
        assert persistence.snapshot_every == 5
        assert persistence.snapshot_store() is None
    finally:
        await system.terminate()


async def test_persistent_actors_use_the_extension_journal(system):
    ref = system.actor_of(props(Counter), "counter")
    assert await ref.ask("incr", timeout=5.0) == 1
    assert Persistence.get(system).journal().highest_sequence_nr("ext-counter") == 1


async def test_the_permitter_is_closed_when_the_system_terminates():
    system = await ActorSystem.create("persistence-shutdown")
    persistence = Persistence.get(system)
    await system.terminate()
    with pytest.raises(AtomrError):
        await persistence.permitter.acquire()


async def test_a_terminated_system_gets_no_new_extension():
    system = await ActorSystem.create("persistence-late")
    await system.terminate()
    with pytest.raises(ActorSystemTerminatedError):
        Persistence.get(system)


def test_the_extension_is_not_constructed_directly():
    with pytest.raises(TypeError, match="Persistence.get"):
        Persistence()
