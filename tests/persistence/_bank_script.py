"""A script that defines its events itself, as a newcomer's script does.

Run as a program (``python _bank_script.py PATH``) it deposits 5 and 7 into
the account in the LMDB journal at PATH, so its classes live in
``__main__``; test_stable_manifests.py imports the same file as a module and
recovers the account. The stable manifest makes both agree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from atomr import ActorSystem, props
from atomr.codecs import manifest
from atomr.persistence import Effect, EventSourcedActor, LmdbJournal


@manifest("bank.script.Deposited")
@dataclasses.dataclass
class Deposited:
    amount: int


class Account(EventSourcedActor):
    persistent_id = "script-account"

    def initial_state(self) -> int:
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "balance":
            return Effect.reply_message(state)
        return Effect.persist(Deposited(cmd)).then_reply(lambda s: s)

    def event_handler(self, state, event, recovery_mode=False):
        return state + event.amount


def register_codecs(system: ActorSystem) -> None:
    system.codecs.register_dataclass(Deposited)


async def main(path: str) -> None:
    system = await ActorSystem.create("script")
    register_codecs(system)
    journal = LmdbJournal(path)
    ref = system.actor_of(props(Account, factory=lambda: Account(journal=journal)), "account")
    for amount in (5, 7):
        print(await ref.ask(amount), flush=True)
    await system.terminate()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
