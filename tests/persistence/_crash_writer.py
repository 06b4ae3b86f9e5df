"""The writer that test_crash.py kills with SIGKILL.

It recovers an event-sourced actor from the journal at ``argv[1]`` (an LMDB
directory, or a ``postgresql://`` URI for the PostgreSQL journal),
prints ``recovered <seq>``, then persists numbered events forever (batches
of 1 to 3 through ``persist_all``) and prints each acknowledged sequence
number as soon as the ask that persisted it returns. Event ``n`` carries
``{"seq": n}``; the actor's event handler refuses any gap or duplicate, so
a damaged journal fails recovery (the writer then prints
``recovery-failed`` and exits with status 3).
"""

from __future__ import annotations

import asyncio
import random
import sys

from atomr import ActorSystem, props
from atomr.persistence import Effect, EventSourcedActor, LmdbJournal


class Writer(EventSourcedActor):
    persistent_id = "crash-writer"

    def initial_state(self) -> int:
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "status":
            return Effect.reply_message(state)
        first = self.sequence_nr + 1
        events = [{"seq": first + i} for i in range(cmd)]
        return [Effect.persist_all(events), Effect.reply_message(first + cmd - 1)]

    def event_handler(self, state, event, recovery_mode=False):
        if event["seq"] != state + 1:
            raise ValueError(f"event {event['seq']} follows {state}")
        return event["seq"]


async def main(path: str, seed: int) -> int:
    rng = random.Random(seed)
    if path.startswith("postgresql://"):
        from atomr.persistence.postgres import PostgresJournal
        journal = PostgresJournal(path)
    else:
        journal = LmdbJournal(path, map_size=1 << 20)
    system = await ActorSystem.create("crash")
    ref = system.actor_of(props(Writer, factory=lambda: Writer(journal=journal)), "writer")
    try:
        recovered = await ref.ask("status", timeout=30)
    except Exception:
        print("recovery-failed", flush=True)
        return 3
    print(f"recovered {recovered}", flush=True)
    while True:
        acked = await ref.ask(rng.randint(1, 3), timeout=30)
        print(acked, flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))
