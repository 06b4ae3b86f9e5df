"""ctx.reply_to: a reply handle a handler keeps to answer an ask later."""

from __future__ import annotations

import asyncio
import threading

import pytest

from atomr import Actor, AskTimeoutError, DeferredReply, Failure, props


class Later(Actor):
    """Keeps the reply handles of ("hold", ...) asks; answers them on ("release", value)."""

    def __init__(self) -> None:
        self.held: list = []

    async def handle(self, ctx, msg):
        kind = msg[0]
        if kind == "hold":
            self.held.append(ctx.reply_to)
            assert ctx.reply_to is self.held[-1]  # every read is the same handle
            assert ctx.awaiting_reply is False
            return "ignored: the handle answers"
        if kind == "release":
            handle = self.held.pop(0)
            handle.tell(msg[1])
            return handle
        if kind == "fail":
            self.held.pop(0).fail(msg[1])
            return None
        if kind == "failure":
            self.held.pop(0).tell(Failure(msg[1]))
            return None
        if kind == "thread":
            handle = ctx.reply_to
            threading.Thread(target=handle.tell, args=("from a thread",)).start()
            return None
        if kind == "raise":
            _ = ctx.reply_to
            await asyncio.sleep(0)
            raise ValueError("raised after taking the handle")
        if kind == "tell-only":
            return ctx.reply_to
        if kind == "pipe":
            from atomr.pattern import pipe_to
            pipe_to(self.work(msg[1]), ctx.reply_to)
            return None
        raise AssertionError(kind)

    async def work(self, value):
        await asyncio.sleep(0.01)
        if isinstance(value, BaseException):
            raise value
        return value


async def test_a_held_reply_answers_the_ask_later_exactly_once(system, wait_until):
    ref = system.actor_of(props(Later), "later")
    pending = asyncio.ensure_future(ref.ask(("hold",), timeout=5.0))
    await asyncio.sleep(0.05)
    assert not pending.done()  # the return value did not answer
    handle = await ref.ask(("release", "answered later"), timeout=5.0)
    assert await pending == "answered later"
    assert isinstance(handle, DeferredReply) and handle.answered
    with pytest.raises(RuntimeError, match="answered already"):
        handle.tell("twice")
    with pytest.raises(RuntimeError, match="answered already"):
        handle.fail(ValueError("twice"))


async def test_a_held_reply_fails_the_ask_with_fail_or_a_failure(system):
    ref = system.actor_of(props(Later), "later")
    first = asyncio.ensure_future(ref.ask(("hold",), timeout=5.0))
    second = asyncio.ensure_future(ref.ask(("hold",), timeout=5.0))
    await asyncio.sleep(0.05)
    ref.tell(("fail", KeyError("k")))
    ref.tell(("failure", LookupError("l")))
    with pytest.raises(KeyError):
        await first
    with pytest.raises(LookupError):
        await second


async def test_the_asks_timeout_still_applies_to_a_held_reply(system):
    ref = system.actor_of(props(Later), "later")
    with pytest.raises(AskTimeoutError):
        await ref.ask(("hold",), timeout=0.05)
    handle = await ref.ask(("release", "too late"), timeout=5.0)
    assert handle.answered  # a late answer is dropped, not an error


async def test_a_held_reply_can_be_answered_from_another_thread(system):
    ref = system.actor_of(props(Later), "later")
    assert await ref.ask(("thread",), timeout=5.0) == "from a thread"


def test_a_held_reply_answers_a_blocking_ask(blocking_system):
    ref = blocking_system.actor_of(props(Later), "later")
    assert ref.ask_blocking(("thread",), timeout=5.0) == "from a thread"


async def test_a_handler_that_raises_before_answering_fails_the_ask(system):
    ref = system.actor_of(props(Later), "later")
    with pytest.raises(ValueError, match="after taking the handle"):
        await ref.ask(("raise",), timeout=5.0)


async def test_reply_to_is_none_for_a_tell(system, wait_until):
    seen = []

    class Probe(Actor):
        def handle(self, ctx, msg):
            seen.append(ctx.reply_to)

    ref = system.actor_of(props(Probe), "probe")
    ref.tell("x")
    await wait_until(lambda: seen)
    assert seen == [None]


async def test_pipe_to_a_reply_handle_answers_or_fails_the_ask(system):
    ref = system.actor_of(props(Later), "later")
    assert await ref.ask(("pipe", "piped"), timeout=5.0) == "piped"
    with pytest.raises(ZeroDivisionError):
        await ref.ask(("pipe", ZeroDivisionError("piped failure")), timeout=5.0)


def test_deferred_reply_is_not_built_by_users():
    with pytest.raises(TypeError):
        DeferredReply()


async def test_a_message_stashed_after_taking_its_reply_comes_back_without_it(system):
    class Stasher(Actor):
        def __init__(self) -> None:
            self.handle_ = None
            self.seen: list = []

        def handle(self, ctx, msg):
            if msg == "go":
                ctx.unstash_all()
                return None
            if msg == "answer":
                self.handle_.tell(list(self.seen))
                return None
            self.seen.append((msg, ctx.reply_to is None))
            if self.handle_ is None:
                self.handle_ = ctx.reply_to
                ctx.stash()
            return "not an answer"

    ref = system.actor_of(props(Stasher), "stasher")
    pending = asyncio.ensure_future(ref.ask("job", timeout=5.0))
    await asyncio.sleep(0.05)
    ref.tell("go")
    ref.tell("answer")
    # First seen with its reply (taken), then again from the stash without one.
    assert await pending == [("job", False), ("job", True)]
