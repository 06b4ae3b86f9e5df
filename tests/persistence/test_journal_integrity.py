"""Recovery notices lost or damaged events instead of recovering less.

A flipped byte in an LMDB journal, a gap in the numbers a journal replays,
or a replay that ends before the highest sequence number all fail recovery
with JournalError and stop the actor.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

import pytest

from _helpers import wait_until
from atomr import props
from atomr.errors import AtomrError, JournalError
from atomr.persistence import Effect, EventSourcedActor, InMemoryJournal, LmdbJournal

PID = "integrity-1"
EVENTS = 200


def _marker(n: int) -> str:
    return f"event-{n:05d}-marker"


class Recorder(EventSourcedActor):
    """Persists ``{"n": k, "marker": ...}`` events and counts replays."""

    persistent_id = PID

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recoveries = 0

    def initial_state(self) -> int:
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "get":
            return Effect.reply_message(state)
        return [Effect.persist({"n": state + 1, "marker": _marker(state + 1)}),
                Effect.reply_message(state + 1)]

    def event_handler(self, state, event, recovery_mode=False):
        return event["n"]

    def recovery_completed(self, state, highest_seq):
        self.recoveries += 1


def _spawn(system, journal, name: str):
    actors: list[Recorder] = []

    def factory() -> Recorder:
        actor = Recorder(journal=journal)
        actors.append(actor)
        return actor

    return system.actor_of(props(Recorder, factory=factory), name), actors


async def _expect_failed_recovery(system, journal, name: str, caplog) -> None:
    ref, actors = _spawn(system, journal, name)
    with caplog.at_level(logging.ERROR):
        with pytest.raises(AtomrError):
            await ref.ask("get", timeout=10)
        await wait_until(ref.is_terminated)
    assert actors[0].recoveries == 0
    assert any(isinstance(r.exc_info[1], JournalError) for r in caplog.records
               if r.exc_info), caplog.text


def _flip(data: bytearray, needle: bytes, offset: int) -> None:
    at = data.find(needle)
    assert at >= 0, needle
    data[at + offset] ^= 0x01


@pytest.mark.parametrize("where", ["payload", "key"])
async def test_a_flipped_byte_in_an_lmdb_journal_fails_recovery_with_journal_error(
        system, tmp_path, caplog, where):
    original = tmp_path / "original"
    journal = LmdbJournal(original)
    ref, _ = _spawn(system, journal, "writer")
    for n in range(1, EVENTS + 1):
        assert await ref.ask("add", timeout=10) == n
    data = bytearray((original / "data.mdb").read_bytes())
    if where == "payload":
        _flip(data, _marker(57).encode(), 8)
    else:
        # The key of event 57: id length, id, then the big-endian number.
        key = len(PID).to_bytes(4, "big") + PID.encode() + (57).to_bytes(8, "big")
        _flip(data, key, len(key) - 1)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "data.mdb").write_bytes(bytes(data))
    copy = LmdbJournal(damaged)
    assert copy.highest_sequence_nr(PID) == EVENTS
    with pytest.raises(JournalError, match="damaged"):
        copy.replay_events(PID)
    await _expect_failed_recovery(system, copy, "reader", caplog)


def test_an_empty_journal_file_that_held_data_does_not_recover_as_empty(tmp_path):
    path = tmp_path / "journal"
    journal = LmdbJournal(path)
    journal.write(PID, 1, b"one")
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    (copy / "data.mdb").write_bytes(b"")
    with pytest.raises(JournalError, match="empty"):
        LmdbJournal(copy)


class LossyJournal(InMemoryJournal):
    """Replays without the events numbered in `lost`, or stops after `upto`."""

    def __init__(self, lost: tuple[int, ...] = (), upto: int = 0) -> None:
        super().__init__()
        self.lost = lost
        self.upto = upto

    async def replay_messages(self, persistence_id, from_sequence_nr=1,
                              to_sequence_nr=2**63 - 1, max=2**63 - 1):
        records = await super().replay_messages(persistence_id, from_sequence_nr,
                                                to_sequence_nr, max)
        return [r for r in records if r.sequence_nr not in self.lost
                and (not self.upto or r.sequence_nr <= self.upto)]


@pytest.mark.parametrize("journal_args", [{"lost": (57,)}, {"upto": 56}],
                         ids=["gap", "short-read"])
async def test_a_gap_or_a_short_replay_fails_recovery(system, caplog, journal_args):
    journal = LossyJournal(**journal_args)
    ref, _ = _spawn(system, journal, "writer")
    for n in range(1, EVENTS + 1):
        assert await ref.ask("add", timeout=10) == n
    await _expect_failed_recovery(system, journal, "reader", caplog)


async def test_events_deleted_before_the_first_replayed_one_still_recover(system):
    journal = InMemoryJournal()
    ref, _ = _spawn(system, journal, "writer")
    for n in range(1, 11):
        assert await ref.ask("add", timeout=10) == n
    await journal.delete_messages_to(PID, 4)
    reader, actors = _spawn(system, journal, "reader")
    assert await reader.ask("get", timeout=10) == 10
    assert actors[0].recoveries == 1
