"""Lifecycle hooks are found as ``getattr`` finds them: the cell skips
binding atomr's no-op defaults, but a hook set on the instance, a hook of
the class, and objects without hooks behave as before."""

from __future__ import annotations

import asyncio

from _helpers import running_system, wait_until

from atomr import Actor, SupervisorStrategy, props

RESTART = SupervisorStrategy.one_for_one(default="restart", max_retries=100, within_seconds=60.0)


async def test_a_hook_set_on_the_instance_shadows_the_default():
    calls: list[str] = []

    class Shadowing(Actor):
        def __init__(self) -> None:
            self.pre_start = lambda ctx: calls.append("pre_start")
            self.post_stop = lambda ctx: calls.append("post_stop")
            self.pre_restart = lambda ctx, reason, msg: calls.append("pre_restart")
            self.post_restart = lambda ctx, reason: calls.append("post_restart")

        async def handle(self, ctx, msg):
            if msg == "fail":
                raise RuntimeError("boom")
            return msg

    async with running_system("hooks") as system:
        ref = system.actor_of(props(Shadowing).with_supervisor_strategy(RESTART), "a")
        assert await ref.ask("x", timeout=5.0) == "x"
        ref.tell("fail")
        await wait_until(lambda: "post_restart" in calls)
        assert await ref.ask("y", timeout=5.0) == "y"
        ref.stop()
        await wait_until(ref.is_terminated)
    assert calls == ["pre_start", "pre_restart", "post_restart", "post_stop"]


async def test_an_object_without_hooks_starts_restarts_and_stops():
    built: list[object] = []

    class Bare:
        def __init__(self) -> None:
            built.append(self)

        async def handle(self, ctx, msg):
            if msg == "fail":
                raise RuntimeError("boom")
            return msg

    async with running_system("hooks") as system:
        ref = system.actor_of(props(Bare, factory=Bare).with_supervisor_strategy(RESTART), "bare")
        assert await ref.ask(1, timeout=5.0) == 1
        ref.tell("fail")
        await wait_until(lambda: len(built) == 2)
        assert await ref.ask(2, timeout=5.0) == 2
        ref.stop()
        await wait_until(ref.is_terminated)


async def test_class_hooks_and_a_getattr_fallback_are_honoured():
    calls: list[str] = []

    class Dynamic(Actor):
        def __getattr__(self, name):  # only for names the class lacks
            if name == "unused":
                return None
            raise AttributeError(name)

        async def pre_start(self, ctx):
            await asyncio.sleep(0)
            calls.append("pre_start")

        def post_stop(self, ctx):
            calls.append("post_stop")

        async def handle(self, ctx, msg):
            return msg

    async with running_system("hooks") as system:
        ref = system.actor_of(props(Dynamic), "d")
        assert await ref.ask("x", timeout=5.0) == "x"
        ref.stop()
        await wait_until(ref.is_terminated)
    assert calls == ["pre_start", "post_stop"]
