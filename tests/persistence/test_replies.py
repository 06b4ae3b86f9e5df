"""Persistent actor replies: then_reply / then_run with the state after the
events, replies to a ref carried in the command, and ctx in
recovery_completed."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Optional

import pytest

from _helpers import GET, Recorder, wait_until
from atomr import ActorRef, props
from atomr.errors import EventRejectedError
from atomr.persistence import Effect, EventSourcedActor, InMemoryJournal


@dataclasses.dataclass
class Deposit:
    amount: int
    reply_to: Optional[ActorRef] = None


class Account(EventSourcedActor):
    persistent_id = "account-1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ran: list = []

    def initial_state(self):
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "get":
            return Effect.none().then_reply(lambda s: s)
        if cmd == "old-style":
            return [Effect.persist(1), Effect.reply_message(state)]
        if cmd == "then-run":
            return Effect.persist_all([1, 2]).then_run(self.ran.append).then_reply(
                lambda s: ("after", s))
        if cmd == "async-reply":
            async def later(s):
                await asyncio.sleep(0)
                return s * 10
            return Effect.persist(1).then_reply(later)
        if cmd == "rejected":
            return Effect.persist({1, 2}).then_run(self.ran.append).then_reply(lambda s: "no")
        if cmd == "two-steps":
            return [Effect.persist(1).then_run(self.ran.append),
                    Effect.persist(2).then_run(self.ran.append).then_reply(lambda s: s)]
        if isinstance(cmd, Deposit):
            return Effect.persist(cmd.amount).then_reply(lambda s: ("balance", s),
                                                         reply_to=cmd.reply_to)
        if isinstance(cmd, tuple) and cmd[0] == "fixed":
            return [Effect.reply_message(("fixed", state), reply_to=cmd[1]),
                    Effect.persist(5)]
        return None

    def event_handler(self, state, event, recovery_mode=False):
        return state + event


def spawn(system, **kwargs):
    actors: list[Account] = []

    def factory():
        actors.append(Account(**kwargs))
        return actors[-1]

    return system.actor_of(props(Account, factory=factory), "account"), actors


async def test_then_reply_answers_the_ask_with_the_state_after_the_events(system):
    ref, _ = spawn(system)
    assert await ref.ask("old-style") == 0  # reply_message: the state the command saw
    assert await ref.ask("then-run") == ("after", 4)
    assert await ref.ask("async-reply") == 50
    assert await ref.ask("get") == 5


async def test_then_run_runs_after_each_effect_with_its_state(system):
    ref, actors = spawn(system)
    assert await ref.ask("then-run") == ("after", 3)
    assert actors[0].ran == [3]
    assert await ref.ask("two-steps") == 6
    assert actors[0].ran == [3, 4, 6]


async def test_nothing_runs_after_a_rejected_persist(system):
    ref, actors = spawn(system)
    with pytest.raises(EventRejectedError):
        await ref.ask("rejected")
    assert actors[0].ran == []
    assert await ref.ask("get") == 0


async def test_a_reply_goes_to_the_ref_carried_in_the_command(system):
    log: list = []
    probe = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), "probe")
    ref, _ = spawn(system)
    ref.tell(Deposit(7, reply_to=probe))
    await wait_until(lambda: log == [("balance", 7)])
    ref.tell(("fixed", probe))
    await wait_until(lambda: len(log) == 2)
    assert log[1] == ("fixed", 7)  # value fixed by the command, sent after the persist
    assert await ref.ask("get") == 12
    # An ask with a reply_to elsewhere answers the ask with None.
    assert await ref.ask(Deposit(1, reply_to=probe)) is None
    await wait_until(lambda: len(log) == 3)
    assert log[2] == ("balance", 13)
    assert await probe.ask(GET) == log


def test_effect_values_stay_unchanged_and_bad_arguments_fail_at_once():
    base = Effect.persist(1)
    chained = base.then_run(print).then_reply(str)
    assert repr(base) == "<Effect persist events=[1]>"
    assert "then=run,reply" in repr(chained)
    assert chained.kind == "persist" and chained.events == [1]
    assert Effect.reply_message(1).reply_to is None
    with pytest.raises(TypeError, match="callable"):
        base.then_reply(42)
    with pytest.raises(TypeError, match="callable"):
        base.then_run("x")
    with pytest.raises(TypeError, match="reply_to"):
        base.then_reply(str, reply_to="not a ref")
    with pytest.raises(TypeError, match="reply_to"):
        Effect.reply_message(1, reply_to=object())


class Greeter(EventSourcedActor):
    """recovery_completed(ctx, state, highest_seq): tells a ref from ctx."""

    persistent_id = "greeter"

    def __init__(self, target, **kwargs):
        super().__init__(**kwargs)
        self.target = target

    def initial_state(self):
        return 0

    def command_handler(self, state, ctx, cmd):
        return Effect.persist(cmd).then_reply(lambda s: s)

    def event_handler(self, state, event, recovery_mode=False):
        return state + event

    async def recovery_completed(self, ctx, state, highest_seq):
        self.target.tell(("recovered", ctx.path, state, highest_seq))


class OldForm(Greeter):
    def recovery_completed(self, state, highest_seq):
        self.target.tell(("old", state, highest_seq))


class OneArgument(Greeter):
    def recovery_completed(self, state):
        self.target.tell(("one", state))


@pytest.mark.parametrize("cls, expected", [
    (Greeter, ("recovered", "akka://app/user/g", 3, 1)),
    (OldForm, ("old", 3, 1)),
    (OneArgument, ("one", 3)),
])
async def test_recovery_completed_gets_ctx_and_old_forms_still_work(system, cls, expected):
    log: list = []
    probe = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), "probe")
    journal = InMemoryJournal()
    first = system.actor_of(props(cls, factory=lambda: cls(probe, journal=journal)), "first")
    assert await first.ask(3) == 3
    await wait_until(lambda: len(log) == 1)  # the first start's own report
    first.stop()
    await wait_until(first.is_terminated)
    log.clear()
    system.actor_of(props(cls, factory=lambda: cls(probe, journal=journal)), "g")
    await wait_until(lambda: log == [expected])
