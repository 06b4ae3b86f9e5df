"""Stash: ``ctx.stash()`` keeps the current message with its sender and
pending ask reply; ``ctx.unstash_all()`` puts the stash back ahead of the
mail already queued, in stash order."""

from __future__ import annotations

import asyncio

import pytest

from atomr import Actor, props
from atomr.errors import AskError

from _helpers import GET, Recorder, running_system, wait_until


@pytest.fixture
async def system():
    async with running_system("stash") as s:
        yield s


class Gate(Actor):
    """Stashes everything while closed; "open" unstashes and opens.

    Records ``(msg, sender path or None)`` for every message it handles
    while open; replies ``"handled <msg>"``.
    """

    def __init__(self, log: list) -> None:
        self.log = log
        self.open = False

    def handle(self, ctx, msg):
        if msg == GET:
            return list(self.log)
        if msg == "size":
            return ctx.stash_size
        if msg == "open":
            self.open = True
            ctx.unstash_all()
            return "opened"
        if msg == "close":
            self.open = False
            return "closed"
        if isinstance(msg, BaseException):
            raise msg
        if not self.open:
            ctx.stash()
            return None  # the ask is answered when the message is handled again
        sender = ctx.sender
        self.log.append((msg, None if sender is None else sender.path))
        return f"handled {msg}"


def gate(system, name="gate"):
    log: list = []
    return system.actor_of(props(Gate, factory=lambda: Gate(log)), name), log


async def test_unstash_all_replays_the_stash_in_stash_order(system):
    ref, log = gate(system)
    for i in range(5):
        ref.tell(i)
    assert await ref.ask("size") == 5
    assert await ref.ask("open") == "opened"
    assert await ref.ask(GET) == [(i, None) for i in range(5)]
    assert await ref.ask("size") == 0


async def test_unstashed_messages_go_ahead_of_mail_already_queued(system):
    ref, log = gate(system)
    # All queued before the actor runs: s1 s2 are stashed, then "open"
    # unstashes them while q1 q2 are already waiting in the mailbox.
    for m in ("s1", "s2", "open", "q1", "q2"):
        ref.tell(m)
    await wait_until(lambda: len(log) == 4)
    assert [m for m, _ in log] == ["s1", "s2", "q1", "q2"]


async def test_a_stashed_ask_is_answered_when_the_message_is_finally_handled(system):
    ref, log = gate(system)
    pending = asyncio.ensure_future(ref.ask("question", timeout=5.0))
    assert await ref.ask("size") == 1
    assert not pending.done()
    ref.tell("open")
    assert await pending == "handled question"
    assert log == [("question", None)]


async def test_a_stashed_message_keeps_its_sender(system):
    ref, log = gate(system)
    sender = system.actor_of(props(Recorder), "sender")
    ref.tell_with_sender("from someone", sender)
    ref.tell("open")
    await wait_until(lambda: log)
    assert log == [("from someone", sender.path)]


async def test_stashing_again_after_unstash_works(system):
    ref, log = gate(system)
    ref.tell("a")
    await ref.ask("open")
    await ref.ask("close")
    ref.tell("b")
    ref.tell("c")
    assert await ref.ask("size") == 2
    await ref.ask("open")
    assert [m for m, _ in await ref.ask(GET)] == ["a", "b", "c"]


async def test_stashing_the_same_message_twice_raises_runtime_error(system):
    errors: list = []

    class Twice(Actor):
        def handle(self, ctx, msg):
            ctx.stash()
            try:
                ctx.stash()
            except RuntimeError as exc:
                errors.append(exc)
            return ctx.stash_size

    ref = system.actor_of(props(Twice), "twice")
    ref.tell("x")
    await wait_until(lambda: errors)
    assert isinstance(errors[0], RuntimeError)


async def test_an_ask_whose_handler_raises_after_stashing_gets_the_exception(system):
    """A handler that stashed its message and then raised must not swallow
    the exception: the asker (asks never trigger supervision) receives it."""

    class StashThenFail(Actor):
        def handle(self, ctx, msg):
            ctx.stash()
            raise ValueError("failed after stashing")

    ref = system.actor_of(props(StashThenFail), "stash-then-fail")
    with pytest.raises(ValueError, match="failed after stashing"):
        await ref.ask("x", timeout=2.0)


async def test_stash_with_an_explicit_other_message_stores_that_message(system):
    log: list = []

    class Explicit(Actor):
        def handle(self, ctx, msg):
            if msg == "stash-other":
                ctx.stash({"made": "up"})
                return ctx.stash_size
            if msg == "release":
                ctx.unstash_all()
                return None
            if msg == GET:
                return list(log)
            log.append((msg, ctx.sender))
            return None

    ref = system.actor_of(props(Explicit), "explicit")
    assert await ref.ask("stash-other") == 1
    ref.tell("release")
    assert await wait_until(lambda: ref.ask(GET)) == [({"made": "up"}, None)]


async def test_stash_works_after_an_await_in_an_async_handler(system):
    log: list = []

    class AsyncGate(Actor):
        def __init__(self):
            self.open = False

        async def handle(self, ctx, msg):
            await asyncio.sleep(0)
            if msg == "open":
                self.open = True
                ctx.unstash_all()
                return None
            if not self.open:
                ctx.stash()
                return None
            log.append(msg)
            return f"late {msg}"

    ref = system.actor_of(props(AsyncGate), "async-gate")
    answer = asyncio.ensure_future(ref.ask("q", timeout=5.0))
    ref.tell("t")
    ref.tell("open")
    assert await answer == "late q"
    await wait_until(lambda: len(log) == 2)
    assert log == ["q", "t"]


async def test_the_stash_is_put_back_into_the_mailbox_on_restart(system):
    """Akka's Stash: a restart unstashes everything, so the fresh instance
    handles the stashed messages first."""
    seen: list = []
    made: list = []

    class Incarnation(Gate):
        def __init__(self):
            super().__init__(seen)
            made.append(self)
            self.open = len(made) > 1  # the second incarnation handles everything

    ref = system.actor_of(props(Incarnation), "restarting")
    ref.tell("s1")
    ref.tell("s2")
    ref.tell(ValueError("restart"))
    ref.tell("after")
    await wait_until(lambda: len(seen) == 3)
    assert [m for m, _ in seen] == ["s1", "s2", "after"]
    assert len(made) == 2


async def test_a_stashed_ask_fails_promptly_when_the_actor_stops(system):
    ref, log = gate(system)
    pending = asyncio.ensure_future(ref.ask("never handled", timeout=30.0))
    assert await ref.ask("size") == 1
    ref.stop()
    with pytest.raises(AskError):
        await asyncio.wait_for(pending, 10.0)
    assert log == []


async def test_stash_size_counts_the_stashed_messages(system):
    ref, _ = gate(system)
    assert await ref.ask("size") == 0
    for i in range(3):
        ref.tell(i)
    assert await ref.ask("size") == 3


# -- stash and replies: a returned value answers now ---------------------------------------------


class Deferring(Actor):
    """Stashes "later" messages until "open"; while closed, a stashed ask is
    answered now with "early" when `answer_early`, else left for later."""

    def __init__(self, log: list, answer_early: bool) -> None:
        self.log = log
        self.answer_early = answer_early
        self.open = False

    async def handle(self, ctx, msg):
        if msg == "open":
            self.open = True
            ctx.unstash_all()
            return "opened"
        if msg == "async-early" and not self.open:
            await asyncio.sleep(0)
            ctx.stash()
            return "early"
        if not self.open:
            ctx.stash()
            return "early" if self.answer_early else None
        self.log.append(msg)
        return f"handled {msg}"


def deferring(system, answer_early, name="deferring"):
    log: list = []
    ref = system.actor_of(props(Deferring, factory=lambda: Deferring(log, answer_early)), name)
    return ref, log


async def test_a_handler_that_stashes_and_returns_a_value_answers_the_ask_now(system):
    ref, log = deferring(system, True)
    assert await ref.ask("later", timeout=5.0) == "early"
    assert await ref.ask("async-early", timeout=5.0) == "early"
    # The stashed copies carry no reply: handled later, the asker saw only "early".
    assert await ref.ask("open", timeout=5.0) == "opened"
    await wait_until(lambda: log == ["later", "async-early"])


async def test_a_handler_that_stashes_and_returns_none_defers_the_reply(system):
    ref, log = deferring(system, False)
    pending = asyncio.ensure_future(ref.ask("later", timeout=5.0))
    await asyncio.sleep(0.05)
    assert not pending.done()
    ref.tell("open")
    assert await pending == "handled later"
