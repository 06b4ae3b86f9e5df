"""Default handlers and hooks run inside an asyncio Task from their first statement."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from atomr import Actor, props
from atomr.pattern import CircuitBreaker

_var: contextvars.ContextVar = contextvars.ContextVar("_var", default="unset")


class Guarded(Actor):
    """Calls through the library's circuit breaker as its first statement."""

    def __init__(self) -> None:
        self.breaker = CircuitBreaker(max_failures=1, call_timeout=5.0, reset_timeout=60.0)

    async def handle(self, ctx, msg):
        value = await self.breaker.call_async(self.work(msg))
        return (value, self.breaker.state)

    async def work(self, msg):
        if msg == "suspend":
            await asyncio.sleep(0)
        return msg


class FirstStatement(Actor):
    """Uses asyncio.timeout / wait_for / current_task before any await."""

    def __init__(self) -> None:
        self.started_task = None

    async def pre_start(self, ctx):
        self.started_task = asyncio.current_task()

    async def handle(self, ctx, msg):
        kind, arg = msg
        if kind == "timeout":
            async with asyncio.timeout(arg):
                await asyncio.sleep(1.0)
            return "slept"
        if kind == "timeout-ok":
            async with asyncio.timeout(5.0):
                return "quick"
        if kind == "wait_for":
            return await asyncio.wait_for(asyncio.sleep(0, "waited"), 5.0)
        if kind == "task":
            task = asyncio.current_task()
            if arg:
                await asyncio.sleep(0)
            return task is not None and task is asyncio.current_task()
        if kind == "hook-task":
            return self.started_task is not None
        if kind == "var":
            _var.set(arg)
            await asyncio.sleep(0)
            return _var.get()
        raise AssertionError(kind)


async def test_circuit_breaker_call_async_works_as_a_handlers_first_statement(system):
    ref = system.actor_of(props(Guarded), "guarded")
    assert await ref.ask("now", timeout=5.0) == ("now", "closed")
    assert await ref.ask("suspend", timeout=5.0) == ("suspend", "closed")
    assert await ref.ask("again", timeout=5.0) == ("again", "closed")


async def test_asyncio_timeout_from_the_first_statement_expires_and_passes(system):
    ref = system.actor_of(props(FirstStatement), "first")
    with pytest.raises(TimeoutError):
        await ref.ask(("timeout", 0.01), timeout=5.0)
    assert await ref.ask(("timeout-ok", None), timeout=5.0) == "quick"
    # A timeout that does not expire leaves no cancellation behind for later handlers.
    for _ in range(3):
        assert await ref.ask(("timeout-ok", None), timeout=5.0) == "quick"
    with pytest.raises(TimeoutError):
        await ref.ask(("timeout", 0.01), timeout=5.0)


async def test_wait_for_and_current_task_from_the_first_statement(system):
    ref = system.actor_of(props(FirstStatement), "first")
    assert await ref.ask(("wait_for", None), timeout=5.0) == "waited"
    assert await ref.ask(("task", False), timeout=5.0) is True
    assert await ref.ask(("task", True), timeout=5.0) is True  # the same task after suspending
    assert await ref.ask(("hook-task", None), timeout=5.0) is True


async def test_many_handlers_in_one_drain_each_see_a_task(system):
    refs = [system.actor_of(props(FirstStatement), f"a{i}") for i in range(5)]
    results = await asyncio.gather(*(r.ask(("task", i % 2 == 0), timeout=5.0)
                                     for r in refs for i in range(10)))
    assert all(results)


async def test_a_context_variable_set_before_the_first_suspension_survives_it(system):
    ref = system.actor_of(props(FirstStatement), "first")
    assert await ref.ask(("var", "one"), timeout=5.0) == "one"
    assert await ref.ask(("var", "two"), timeout=5.0) == "two"


def test_a_blocking_system_runs_first_statement_timeouts(blocking_system):
    ref = blocking_system.actor_of(props(FirstStatement), "first")
    assert ref.ask_blocking(("timeout-ok", None), timeout=5.0) == "quick"
    with pytest.raises(TimeoutError):
        ref.ask_blocking(("timeout", 0.01), timeout=5.0)


async def test_the_idle_host_task_is_not_among_the_programs_tasks(system):
    ref = system.actor_of(props(FirstStatement), "first")
    assert await ref.ask(("task", True), timeout=5.0) is True
    assert await ref.ask(("task", False), timeout=5.0) is True
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_suspended_handler_task_is_among_the_programs_tasks(system):
    seen = []

    class Lister(Actor):
        async def handle(self, ctx, msg):
            await asyncio.sleep(0)
            seen.append(asyncio.current_task() in asyncio.all_tasks())

    await system.actor_of(props(Lister), "lister").ask("x", timeout=5.0)
    assert seen == [True]


async def test_hooks_run_after_a_suspended_hook_also_start_inside_a_task(system, wait_until):
    seen = []

    class Restarting(Actor):
        async def handle(self, ctx, msg):
            raise ValueError("restart")

        async def pre_restart(self, ctx, reason, message):
            await asyncio.sleep(0)  # the next hook then starts from this task's end

        async def post_restart(self, ctx, reason):
            async with asyncio.timeout(5.0):
                seen.append(asyncio.current_task() is not None)

    system.actor_of(props(Restarting), "restarting").tell("boom")
    await wait_until(lambda: seen)
    assert seen == [True]
