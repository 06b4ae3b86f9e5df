"""Actor.asyncio_task: handlers that need to run inside their own asyncio Task."""

from __future__ import annotations

import asyncio

import pytest

from atomr import Actor, ActorSystem, props


class Timed(Actor):
    """Uses asyncio.timeout as the handler's very first statement."""

    asyncio_task = True

    def __init__(self):
        self.started_in_task = None

    async def pre_start(self, ctx):
        self.started_in_task = asyncio.current_task() is not None

    async def handle(self, ctx, msg):
        async with asyncio.timeout(msg):
            await asyncio.sleep(0.5)
        return "slept"


class Quick(Actor):
    asyncio_task = True

    async def handle(self, ctx, msg):
        task = asyncio.current_task()
        return (task is not None, msg)


class Plain(Actor):
    async def handle(self, ctx, msg):
        return asyncio.current_task() is not None


@pytest.fixture
async def system():
    s = await ActorSystem.create("tasks")
    try:
        yield s
    finally:
        await s.terminate()


async def test_a_task_mode_handler_can_start_with_asyncio_timeout(system):
    ref = system.actor_of(props(Timed), "timed")
    with pytest.raises(TimeoutError):
        await ref.ask(0.01, timeout=5.0)
    assert await ref.ask(2.0, timeout=5.0) == "slept"


async def test_task_mode_handlers_and_hooks_see_their_task(system):
    built = []
    ref = system.actor_of(props(Timed, factory=lambda: built.append(Timed()) or built[-1]),
                          "hooks")
    await ref.ask(2.0, timeout=5.0)
    assert built[0].started_in_task is True
    quick = system.actor_of(props(Quick), "quick")
    assert await asyncio.gather(*(quick.ask(i) for i in range(20))) == \
        [(True, i) for i in range(20)]


async def test_default_handlers_that_do_not_suspend_see_a_task_too(system):
    ref = system.actor_of(props(Plain), "plain")
    assert await ref.ask("x") is True


async def test_a_failing_task_mode_handler_is_supervised_like_any_other(system):
    class Boom(Actor):
        asyncio_task = True
        instances = 0

        def __init__(self):
            Boom.instances += 1

        async def handle(self, ctx, msg):
            if msg == "boom":
                raise ValueError("boom")
            return Boom.instances

    ref = system.actor_of(props(Boom), "boom")
    assert await ref.ask("n") == 1
    with pytest.raises(ValueError):
        await ref.ask("boom")  # an ask gets the exception, no restart
    ref.tell("boom")  # a tell fails the actor: restarted by the default strategy
    deadline = asyncio.get_running_loop().time() + 5.0
    while await ref.ask("n") != 2:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
