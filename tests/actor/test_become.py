"""Behaviours: ``ctx.become`` / ``ctx.become_`` / ``ctx.unbecome`` swap the
handler of the next message, over a behaviour stack."""

from __future__ import annotations

import asyncio

import pytest

from atomr import Actor, props

from _helpers import running_system, wait_until


@pytest.fixture
async def system():
    async with running_system("become") as s:
        yield s


class Moody(Actor):
    """Replies ``(behaviour name, msg)``; commands switch behaviours."""

    def handle(self, ctx, msg):
        return self._dispatch("base", ctx, msg)

    def happy(self, ctx, msg):
        return self._dispatch("happy", ctx, msg)

    async def grumpy(self, ctx, msg):
        await asyncio.sleep(0)
        return self._dispatch("grumpy", ctx, msg)

    def _dispatch(self, name, ctx, msg):
        if isinstance(msg, BaseException):
            raise msg
        if isinstance(msg, tuple):
            op, target, *rest = msg
            handler = getattr(self, target) if isinstance(target, str) else target
            if op == "become":
                ctx.become(handler, *rest)
            elif op == "become_":
                ctx.become_(handler, *rest)
            return (name, "switched")
        if msg == "unbecome":
            ctx.unbecome()
            return (name, "unbecame")
        return (name, msg)


@pytest.fixture
def moody(system):
    return system.actor_of(props(Moody), "moody")


async def test_become_switches_the_handler_from_the_next_message_on(moody):
    # The message that calls become is still answered by the old behaviour.
    assert await moody.ask(("become", "happy")) == ("base", "switched")
    assert await moody.ask("hi") == ("happy", "hi")
    assert await moody.ask("again") == ("happy", "again")


async def test_become_accepts_an_async_handler(moody):
    await moody.ask(("become", "grumpy"))
    assert await moody.ask("hi") == ("grumpy", "hi")


async def test_become_underscore_is_an_alias(moody):
    await moody.ask(("become_", "happy"))
    assert await moody.ask("hi") == ("happy", "hi")


async def test_become_accepts_a_plain_function(moody):
    def shout(ctx, msg):
        return str(msg).upper()

    await moody.ask(("become", shout))
    assert await moody.ask("hi") == "HI"


async def test_become_discarding_the_old_behaviour_then_unbecome_returns_to_handle(moody):
    await moody.ask(("become", "happy"))
    await moody.ask(("become", "grumpy"))  # replaces happy (discard_old=True)
    assert await moody.ask("unbecome") == ("grumpy", "unbecame")
    assert await moody.ask("x") == ("base", "x")


async def test_become_keeping_the_old_behaviour_stacks_for_unbecome(moody):
    await moody.ask(("become", "happy", False))
    await moody.ask(("become", "grumpy", False))
    assert await moody.ask("x") == ("grumpy", "x")
    await moody.ask("unbecome")
    assert await moody.ask("x") == ("happy", "x")
    await moody.ask("unbecome")
    assert await moody.ask("x") == ("base", "x")


async def test_unbecome_at_the_bottom_of_the_stack_keeps_handle(moody):
    assert await moody.ask("unbecome") == ("base", "unbecame")
    assert await moody.ask("unbecome") == ("base", "unbecame")
    assert await moody.ask("x") == ("base", "x")


async def test_discard_old_replaces_only_the_top_of_the_stack(moody):
    await moody.ask(("become", "happy", False))
    await moody.ask(("become", "grumpy", False))
    await moody.ask(("become", "happy", True))  # replaces grumpy
    assert await moody.ask("x") == ("happy", "x")
    await moody.ask("unbecome")
    assert await moody.ask("x") == ("happy", "x")  # the first happy, kept underneath
    await moody.ask("unbecome")
    assert await moody.ask("x") == ("base", "x")


async def test_tells_also_go_to_the_current_behaviour(system):
    log: list = []

    class Switch(Actor):
        def handle(self, ctx, msg):
            log.append(("base", msg))
            ctx.become(self.other)

        def other(self, ctx, msg):
            log.append(("other", msg))
            ctx.unbecome()

    ref = system.actor_of(props(Switch), "switch")
    for i in range(4):
        ref.tell(i)
    await wait_until(lambda: len(log) == 4)
    assert log == [("base", 0), ("other", 1), ("base", 2), ("other", 3)]


async def test_a_restart_resets_the_behaviour_to_handle(moody):
    await moody.ask(("become", "happy"))
    moody.tell(ValueError("restart me"))
    assert await moody.ask("x") == ("base", "x")


async def test_a_behaviour_that_raises_is_supervised_like_handle(moody):
    await moody.ask(("become", "grumpy"))
    with pytest.raises(KeyError):
        await moody.ask(KeyError("to the asker"))
    assert await moody.ask("still grumpy") == ("grumpy", "still grumpy")
    moody.tell(KeyError("restart"))
    assert await moody.ask("x") == ("base", "x")


async def test_become_rejects_a_non_callable(moody):
    with pytest.raises(TypeError):
        await moody.ask(("become", 42))
    assert await moody.ask("x") == ("base", "x")
