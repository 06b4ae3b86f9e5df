"""An event-sourced counter on the durable LMDB journal.

Each run recovers the counter from the journal, increments it three times,
takes a snapshot, and prints what it recovered and where it ended. Run it
twice with the same path and the second run continues where the first one
stopped -- the state survived the process.

Run: python examples/persistence_counter.py [JOURNAL_DIR]
(default: a directory under the system's temp dir)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from typing import Any

from atomr import ActorSystem, Context, props
from atomr.persistence import Effect, EventSourcedActor, LmdbJournal, LmdbSnapshotStore


class Counter(EventSourcedActor):
    """Counts increments; every increment is an event in the journal."""

    persistent_id = "example-counter"

    def initial_state(self) -> dict[str, int]:
        return {"count": 0}

    async def command_handler(self, state: dict[str, int], ctx: Context,
                              cmd: dict[str, Any]) -> list[Effect]:
        if cmd["op"] == "incr":
            return [Effect.persist({"type": "Incremented", "by": cmd["by"]}),
                    Effect.reply_message(state["count"] + cmd["by"])]
        if cmd["op"] == "snapshot":
            return [Effect.snapshot(), Effect.reply_message(self.sequence_nr)]
        if cmd["op"] == "get":
            return [Effect.reply_message(state["count"])]
        return []

    def event_handler(self, state: dict[str, int], event: dict[str, Any],
                      recovery_mode: bool = False) -> dict[str, int]:
        if event["type"] == "Incremented":
            state["count"] += event["by"]
        return state


async def main(path: str) -> None:
    journal = LmdbJournal(path)
    snapshots = LmdbSnapshotStore(path)
    system = await ActorSystem.create("persistence-example")
    try:
        counter = system.actor_of(
            props(Counter, factory=lambda: Counter(journal=journal, snapshot_store=snapshots)),
            "counter")
        recovered = await counter.ask({"op": "get"})
        print(f"recovered count = {recovered} from {path}")
        for _ in range(3):
            await counter.ask({"op": "incr", "by": 1})
        await counter.ask({"op": "snapshot"})
        print(f"count is now {await counter.ask({'op': 'get'})} "
              f"({journal.highest_sequence_nr('example-counter')} events in the journal)")
    finally:
        await system.terminate()


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        tempfile.gettempdir(), "atomr-persistence-counter")
    asyncio.run(main(target))
