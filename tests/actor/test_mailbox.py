"""Bounded mailboxes (``Props.with_mailbox(atomr.core.BoundedMailbox(...))``).

A full bounded mailbox applies its overflow strategy to the next user
message: ``drop_new`` refuses it, ``drop_head`` evicts the oldest queued
message, ``drop_tail`` evicts the newest queued one, and ``fail`` raises
:class:`atomr.errors.MailboxOverflowError` at the ``tell``. Refused and
evicted messages go to dead letters (``system.dead_letter_count`` and
``system.subscribe_dead_letters``).

To fill a mailbox deterministically the actor is kept busy: its first
message ("block") suspends the handler on a gate the test opens later, so
everything told meanwhile stays queued. The message being handled is not in
the mailbox any more and does not count against the capacity.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from atomr import Actor, AtomrError, Props, props, routing
from atomr.core import BoundedMailbox, OverflowStrategy
from atomr.errors import ActorTerminatedError, AskError, MailboxOverflowError

from _helpers import DEADLINE, wait_until


class Gated(Actor):
    """Logs every message; ``"block"`` keeps the handler suspended until
    the test sets `gate`. Answers ``(own name, msg)``."""

    def __init__(self, log: list, gate: asyncio.Event) -> None:
        self.log = log
        self.gate = gate

    async def handle(self, ctx, msg):
        self.log.append(msg)
        if msg == "block":
            await self.gate.wait()
        return (ctx.self_ref.name, msg)


def gated(log: list, gate: asyncio.Event) -> Props:
    return props(Gated, factory=lambda: Gated(log, gate))


class DeadLetters:
    """Collects the messages of the dead letters of `system` (a listener)."""

    def __init__(self, system) -> None:
        self.system = system
        self.messages: list = []
        self.start = system.dead_letter_count
        system.subscribe_dead_letters(self)

    def __call__(self, message, sender, recipient) -> None:
        self.messages.append(message)

    @property
    def count(self) -> int:
        return self.system.dead_letter_count - self.start

    def close(self) -> None:
        self.system.unsubscribe_dead_letters(self)


@pytest.fixture
def dead_letters(system):
    letters = DeadLetters(system)
    try:
        yield letters
    finally:
        letters.close()


async def blocked_actor(system, mailbox, log: list, gate: asyncio.Event, name: str = "boxed"):
    """Spawns a Gated actor with `mailbox` and waits until it is busy."""
    ref = system.actor_of(gated(log, gate).with_mailbox(mailbox), name)
    ref.tell("block")
    await wait_until(lambda: log == ["block"])
    return ref


# -- the four overflow strategies --------------------------------------------------------------


async def test_drop_new_refuses_messages_beyond_capacity_into_dead_letters(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(3, "drop_new"), log, gate)
        for i in range(1, 6):
            ref.tell(i)
        assert dead_letters.count == 2
        assert dead_letters.messages == [4, 5]
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 4)
    assert await ref.ask("done", timeout=DEADLINE) == ("boxed", "done")
    assert log == ["block", 1, 2, 3, "done"]
    assert dead_letters.count == 2


async def test_drop_head_evicts_the_oldest_queued_messages(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(3, "drop_head"), log, gate)
        for i in range(1, 6):
            ref.tell(i)
        assert dead_letters.count == 2
        assert dead_letters.messages == [1, 2]
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 4)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", 3, 4, 5, "done"]
    assert dead_letters.count == 2


async def test_drop_tail_evicts_the_newest_queued_message(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(3, "drop_tail"), log, gate)
        for i in range(1, 6):
            ref.tell(i)
        # 4 evicts 3 (the newest queued), then 5 evicts 4
        assert dead_letters.count == 2
        assert dead_letters.messages == [3, 4]
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 4)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", 1, 2, 5, "done"]
    assert dead_letters.count == 2


async def test_fail_raises_mailbox_overflow_error_at_the_tell(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(3, "fail"), log, gate)
        for i in range(1, 4):
            ref.tell(i)
        for i in (4, 5):
            with pytest.raises(MailboxOverflowError) as info:
                ref.tell(i)
            assert ref.path in str(info.value)
            assert isinstance(info.value, AtomrError)
        # the teller got the error; the refused message is not also a dead letter
        assert dead_letters.count == 0
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 4)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", 1, 2, 3, "done"]
    # the actor lives on and accepts mail again once there is room
    ref.tell(6)
    assert await ref.ask("again", timeout=DEADLINE) == ("boxed", "again")
    assert log[-2:] == [6, "again"]


@pytest.mark.parametrize("strategy", ["drop_new", "drop_head", "drop_tail", "fail"])
async def test_a_bounded_mailbox_below_capacity_loses_nothing(system, dead_letters, strategy):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(4, strategy), log, gate)
        for i in range(4):
            ref.tell(i)
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 5)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", 0, 1, 2, 3, "done"]
    assert dead_letters.count == 0


async def test_capacity_counts_queued_messages_not_everything_ever_sent(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    ref = await blocked_actor(system, BoundedMailbox(2, "drop_new"), log, gate)
    try:
        ref.tell("a")
        ref.tell("b")
        ref.tell("refused")
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 3)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    gate.clear()
    ref.tell("block")
    await wait_until(lambda: log[-1] == "block")
    try:
        ref.tell("c")
        ref.tell("d")
        ref.tell("refused too")
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 7)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", "a", "b", "done", "block", "c", "d", "done"]
    assert dead_letters.messages == ["refused", "refused too"]


async def test_an_unbounded_mailbox_keeps_every_message(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, None, log, gate)
        for i in range(2000):
            ref.tell(i)
    finally:
        gate.set()
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", *range(2000), "done"]
    assert dead_letters.count == 0


async def test_an_ask_refused_by_a_full_mailbox_fails_promptly(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(1, "drop_new"), log, gate)
        ref.tell("queued")
        with pytest.raises(AskError):
            await asyncio.wait_for(ref.ask("refused", timeout=DEADLINE), DEADLINE)
    finally:
        gate.set()
    assert dead_letters.messages == ["refused"]


async def test_an_ask_evicted_by_drop_head_fails_promptly(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(1, "drop_head"), log, gate)
        evicted = ref.ask("first", timeout=DEADLINE)
        ref.tell("second")
        with pytest.raises(AskError):
            await asyncio.wait_for(evicted, DEADLINE)
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 2)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", "second", "done"]
    assert dead_letters.messages == ["first"]


@pytest.mark.parametrize("strategy", ["drop_new", "drop_head"])
async def test_an_ask_lost_to_overflow_does_not_claim_the_live_actor_terminated(
        system, dead_letters, strategy):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, BoundedMailbox(1, strategy), log, gate)
        if strategy == "drop_new":
            ref.tell("queued")
            lost = ref.ask("lost", timeout=DEADLINE)  # refused
        else:
            lost = ref.ask("lost", timeout=DEADLINE)
            ref.tell("queued")  # evicts the ask
        with pytest.raises(AskError) as info:
            await asyncio.wait_for(lost, DEADLINE)
        assert not ref.is_terminated()
        # ActorTerminatedError means "the asked actor has stopped": not the case here
        assert not isinstance(info.value, ActorTerminatedError), repr(info.value)
    finally:
        gate.set()


def test_drop_new_on_a_blocking_system_with_tells_from_another_thread(blocking_system,
                                                                     wait_until_blocking):
    log: list = []
    letters: list = []
    gate = threading.Event()

    class Blocking(Actor):
        def handle(self, ctx, msg):
            log.append(msg)
            if msg == "block":
                gate.wait(DEADLINE)
            return msg

    start = blocking_system.dead_letter_count
    blocking_system.subscribe_dead_letters(lambda m, s, r: letters.append(m))
    ref = blocking_system.actor_of(
        props(Blocking).with_mailbox(BoundedMailbox(2, "drop_new")), "blocking")
    try:
        ref.tell("block")
        wait_until_blocking(lambda: log == ["block"])
        for i in range(5):
            ref.tell(i)
        assert blocking_system.dead_letter_count - start == 3
    finally:
        gate.set()
    wait_until_blocking(lambda: len(log) == 3)  # the backlog is handled
    assert ref.ask_blocking("done", DEADLINE) == "done"
    assert log == ["block", 0, 1, "done"]
    wait_until_blocking(lambda: len(letters) == 3)
    assert letters == [2, 3, 4]


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -1, -100])
def test_bounded_mailbox_capacity_must_be_positive(capacity):
    with pytest.raises(ValueError):
        BoundedMailbox(capacity)


@pytest.mark.parametrize("capacity", [1.5, "3", None, True])
def test_bounded_mailbox_capacity_must_be_an_int(capacity):
    with pytest.raises(TypeError):
        BoundedMailbox(capacity)


def test_bounded_mailbox_overflow_must_be_a_known_strategy():
    with pytest.raises(ValueError):
        BoundedMailbox(3, "drop_everything")
    with pytest.raises(ValueError):
        OverflowStrategy("block")


def test_bounded_mailbox_accepts_names_and_strategy_objects():
    by_name = BoundedMailbox(5, "drop_tail")
    by_object = BoundedMailbox(5, OverflowStrategy.DROP_TAIL)
    assert by_name == by_object and hash(by_name) == hash(by_object)
    assert by_name.capacity == 5
    assert by_name.overflow.name == "drop_tail"
    assert BoundedMailbox(1).overflow.name == "drop_new"  # the default
    assert BoundedMailbox(2, "fail") != BoundedMailbox(2, "drop_new")


def test_with_mailbox_takes_a_dict_and_returns_a_copy():
    base = props(Gated)
    bounded = base.with_mailbox({"capacity": 2, "overflow": "drop_head"})
    assert bounded.mailbox == BoundedMailbox(2, "drop_head")
    assert base.mailbox is None
    assert base.with_mailbox({"capacity": 7}).mailbox == BoundedMailbox(7, "drop_new")
    assert bounded.with_mailbox(None).mailbox is None


def test_with_mailbox_dict_is_validated_like_the_constructor():
    with pytest.raises(ValueError):
        props(Gated).with_mailbox({"capacity": 0})
    with pytest.raises(ValueError):
        props(Gated).with_mailbox({"capacity": 2, "overflow": "sideways"})
    with pytest.raises(TypeError):
        props(Gated).with_mailbox({"capacity": "2"})
    with pytest.raises(TypeError):
        props(Gated).with_mailbox({"size": 2})


async def test_a_dict_mailbox_bounds_the_actor(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    try:
        ref = await blocked_actor(system, {"capacity": 2, "overflow": "drop_head"}, log, gate)
        for i in range(5):
            ref.tell(i)
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 3)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", 3, 4, "done"]
    assert dead_letters.messages == [0, 1, 2]


async def test_the_props_mailbox_keyword_bounds_the_actor(system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    ref = system.actor_of(props(Gated, factory=lambda: Gated(log, gate),
                                mailbox=BoundedMailbox(1, "drop_new")), "kw")
    ref.tell("block")
    await wait_until(lambda: log == ["block"])
    try:
        ref.tell("kept")
        ref.tell("refused")
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 2)  # the backlog is handled
    await ref.ask("done", timeout=DEADLINE)
    assert log == ["block", "kept", "done"]
    assert dead_letters.messages == ["refused"]


# -- bounded routees ---------------------------------------------------------------------------


async def block_all_routees(router, log: list, n: int) -> list:
    rs = routing.routees(router)
    router.tell(routing.Broadcast("block"))
    await wait_until(lambda: log.count("block") == n)
    return rs


async def test_full_drop_new_routees_of_a_round_robin_pool_dead_letter_the_excess(
        system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    routee = gated(log, gate).with_mailbox(BoundedMailbox(2, "drop_new"))
    router = system.actor_of(routing.round_robin(routee, 2), "pool")
    try:
        rs = await block_all_routees(router, log, 2)
        for i in range(7):
            router.tell(i)
        assert dead_letters.count == 3
        assert sorted(dead_letters.messages) == [4, 5, 6]
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 2 + 4)  # the backlog is handled
    for r in rs:
        await r.ask("done", timeout=DEADLINE)
    assert sorted(m for m in log if isinstance(m, int)) == [0, 1, 2, 3]
    assert dead_letters.count == 3


async def test_drop_head_routees_of_a_round_robin_pool_keep_their_newest_message(
        system, dead_letters):
    log: list = []
    gate = asyncio.Event()
    routee = gated(log, gate).with_mailbox(BoundedMailbox(1, "drop_head"))
    router = system.actor_of(routing.round_robin(routee, 2), "pool")
    try:
        rs = await block_all_routees(router, log, 2)
        for i in range(6):
            router.tell(i)
        assert dead_letters.count == 4
        assert sorted(dead_letters.messages) == [0, 1, 2, 3]
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 2 + 2)  # the backlog is handled
    for r in rs:
        await r.ask("done", timeout=DEADLINE)
    assert sorted(m for m in log if isinstance(m, int)) == [4, 5]


@pytest.mark.parametrize("strategy", ["drop_new", "drop_head"])
async def test_every_copy_a_full_broadcast_routee_loses_is_a_dead_letter(
        system, dead_letters, strategy):
    log: list = []
    gate = asyncio.Event()
    routee = gated(log, gate).with_mailbox(BoundedMailbox(1, strategy))
    router = system.actor_of(routing.broadcast(routee, 3), "bc")
    try:
        rs = await block_all_routees(router, log, 3)
        router.tell("a")  # queued by all three
        router.tell("b")  # each routee loses one copy: "b" (drop_new) or "a" (drop_head)
        lost = "b" if strategy == "drop_new" else "a"
        assert dead_letters.count == 3
        assert dead_letters.messages == [lost] * 3
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 3 + 3)  # the backlog is handled
    for r in rs:
        await r.ask("done", timeout=DEADLINE)
    kept = "a" if strategy == "drop_new" else "b"
    assert log.count(kept) == 3 and log.count(lost) == 0


class _TimerFilled(Actor):
    """On ``"block"``: waits until the test filled the mailbox, schedules a
    ``"tick"`` to itself and stays busy until `gate` opens."""

    def __init__(self, log: list, filled: asyncio.Event, gate: asyncio.Event) -> None:
        self.log = log
        self.filled = filled
        self.gate = gate

    async def handle(self, ctx, msg):
        self.log.append(msg)
        if msg == "block":
            await self.filled.wait()
            ctx.schedule_once(0.0, "tick")
            await self.gate.wait()


async def test_a_message_a_timer_evicts_from_a_full_mailbox_is_a_dead_letter(system, dead_letters):
    log: list = []
    filled, gate = asyncio.Event(), asyncio.Event()
    p = props(_TimerFilled, factory=lambda: _TimerFilled(log, filled, gate))
    ref = system.actor_of(p.with_mailbox(BoundedMailbox(1, "drop_head")), "timed")
    try:
        ref.tell("block")
        await wait_until(lambda: log == ["block"])
        ref.tell("first")  # fills the mailbox; the timer's tick evicts it
        filled.set()
        await wait_until(lambda: dead_letters.messages == ["first"])
    finally:
        filled.set()
        gate.set()
    await wait_until(lambda: log == ["block", "tick"])
