"""Behaviour of user actors (atomr.actor): handlers, ordering, lifecycle hooks
and what happens when user code raises."""

from __future__ import annotations

import asyncio
import time

import pytest

from atomr import Actor, AskError, Context, props


class SyncEcho(Actor):
    def handle(self, ctx, msg):
        return ("sync", msg)


class AsyncEcho(Actor):
    async def handle(self, ctx, msg):
        await asyncio.sleep(0)
        return ("async", msg)


class Recorder(Actor):
    """Records every message; answers "log" with the list recorded so far."""

    def __init__(self):
        self.seen = []

    def handle(self, ctx, msg):
        if msg == "log":
            return list(self.seen)
        self.seen.append(msg)
        return None


class Boom(Exception):
    pass


# -- handlers ------------------------------------------------------------------


async def test_sync_handle_return_value_is_the_ask_reply(system):
    ref = system.actor_of(props(SyncEcho), "echo")
    assert await ref.ask(1) == ("sync", 1)


async def test_async_handle_return_value_is_the_ask_reply(system):
    ref = system.actor_of(props(AsyncEcho), "echo")
    assert await ref.ask("hi") == ("async", "hi")


async def test_handler_returning_none_replies_none(system):
    class Quiet(Actor):
        def handle(self, ctx, msg):
            return None

    ref = system.actor_of(props(Quiet), "quiet")
    assert await ref.ask("x") is None


async def test_message_is_passed_by_reference_not_copied(system):
    ref = system.actor_of(props(SyncEcho), "echo")
    payload = {"mutable": [1, 2, 3]}
    _, got = await ref.ask(payload)
    assert got is payload


async def test_async_handler_that_suspends_many_times_runs_to_completion(system):
    class Deep(Actor):
        async def handle(self, ctx, msg):
            total = 0
            for i in range(5):
                await asyncio.sleep(0.001)
                total += i
            return total

    ref = system.actor_of(props(Deep), "deep")
    assert await ref.ask("go") == 10


async def test_tells_to_one_actor_arrive_in_fifo_order(system):
    ref = system.actor_of(props(Recorder), "rec")
    for i in range(1000):
        ref.tell(i)
    assert await ref.ask("log") == list(range(1000))


async def test_awaiting_handler_processes_one_message_at_a_time_in_fifo_order(system):
    class Slow(Actor):
        def __init__(self):
            self.active = 0
            self.max_active = 0
            self.order = []

        async def handle(self, ctx, msg):
            if msg == "report":
                return self.max_active, list(self.order)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            await asyncio.sleep(0.001 if msg % 2 else 0)  # really suspend
            self.order.append(msg)
            self.active -= 1
            return msg

    ref = system.actor_of(props(Slow), "slow")
    for i in range(50):
        ref.tell(i)
    # Concurrent asks interleaved with the tells must queue behind them too.
    asks = [ref.ask(100 + i) for i in range(10)]
    assert await asyncio.gather(*asks) == [100 + i for i in range(10)]
    max_active, order = await ref.ask("report")
    assert max_active == 1
    assert order == list(range(50)) + [100 + i for i in range(10)]


async def test_each_actor_gets_its_own_instance_from_the_factory(system):
    class Counter(Actor):
        def __init__(self):
            self.n = 0

        def handle(self, ctx, msg):
            self.n += 1
            return self.n

    a = system.actor_of(props(Counter), "a")
    b = system.actor_of(props(Counter), "b")
    assert [await a.ask(0) for _ in range(3)] == [1, 2, 3]
    assert await b.ask(0) == 1


async def test_actor_receives_a_real_context_in_handle(system):
    class Introspect(Actor):
        def handle(self, ctx, msg):
            return isinstance(ctx, Context), ctx.path

    ref = system.actor_of(props(Introspect), "me")
    assert await ref.ask(None) == (True, "akka://app/user/me")


def test_actor_subclass_without_handle_cannot_be_instantiated():
    class NoHandle(Actor):
        pass

    with pytest.raises(TypeError):
        NoHandle()


async def test_actor_subclass_without_handle_fails_to_start_and_asks_fail(system, wait_until):
    class NoHandle(Actor):
        pass

    ref = system.actor_of(props(NoHandle), "nohandle")
    with pytest.raises(AskError):
        await ref.ask("x", timeout=5.0)
    await wait_until(ref.is_terminated)


# -- lifecycle hooks -------------------------------------------------------------


def _hooked(kind: str, events: list):
    if kind == "sync":
        class Hooked(Actor):
            def pre_start(self, ctx):
                events.append(("pre_start", ctx.path, ctx.self_ref))

            def handle(self, ctx, msg):
                events.append(("handle", msg))
                return msg

            def post_stop(self, ctx):
                events.append(("post_stop", ctx.path, ctx.self_ref))
    else:
        class Hooked(Actor):
            async def pre_start(self, ctx):
                await asyncio.sleep(0.001)
                events.append(("pre_start", ctx.path, ctx.self_ref))

            async def handle(self, ctx, msg):
                events.append(("handle", msg))
                return msg

            async def post_stop(self, ctx):
                await asyncio.sleep(0.001)
                events.append(("post_stop", ctx.path, ctx.self_ref))
    return Hooked


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_lifecycle_hooks_run_in_order_with_a_real_context(system, wait_until, kind):
    events = []
    ref = system.actor_of(props(_hooked(kind, events)), "hooked")
    assert await ref.ask("m") == "m"
    ref.stop()
    await wait_until(ref.is_terminated)
    assert [e[0] for e in events] == ["pre_start", "handle", "post_stop"]
    assert events[0][1] == "akka://app/user/hooked"
    assert events[0][2] == ref
    assert events[2][1] == "akka://app/user/hooked"
    assert events[2][2] == ref


async def test_messages_wait_for_an_async_pre_start_to_finish(system):
    class SlowStart(Actor):
        def __init__(self):
            self.ready = False

        async def pre_start(self, ctx):
            await asyncio.sleep(0.05)
            self.ready = True

        def handle(self, ctx, msg):
            return self.ready

    ref = system.actor_of(props(SlowStart), "slowstart")
    assert await ref.ask("ready?") is True


async def test_post_stop_runs_exactly_once_despite_repeated_stops(system, wait_until):
    calls = []

    class Once(Actor):
        def handle(self, ctx, msg):
            if msg == "stop-self":
                ctx.stop_self()
            return None

        def post_stop(self, ctx):
            calls.append(ctx.path)

    ref = system.actor_of(props(Once), "once")
    await ref.ask("ping")
    ref.stop()
    ref.stop()
    ref.tell("stop-self")
    ref.stop()
    await wait_until(ref.is_terminated)
    # The system terminate in the fixture must not run it again either.
    await system.terminate()
    assert calls == ["akka://app/user/once"]


async def test_system_terminate_runs_post_stop_of_every_actor(system):
    stopped = []

    class Tracked(Actor):
        def handle(self, ctx, msg):
            return None

        def post_stop(self, ctx):
            stopped.append(ctx.path)

    refs = [system.actor_of(props(Tracked), f"t{i}") for i in range(3)]
    for r in refs:
        await r.ask("started")
    await asyncio.wait_for(system.terminate(), 10)
    assert sorted(stopped) == sorted(r.path for r in refs)
    assert all(r.is_terminated() for r in refs)


async def test_children_stop_before_their_parent(system, wait_until):
    order = []

    class Leaf(Actor):
        def handle(self, ctx, msg):
            return None

        async def post_stop(self, ctx):
            await asyncio.sleep(0.005)  # a slow child must still finish first
            order.append(ctx.path)

    class Middle(Actor):
        async def pre_start(self, ctx):
            await ctx.spawn(props(Leaf), "leaf")

        def handle(self, ctx, msg):
            return None

        def post_stop(self, ctx):
            order.append(ctx.path)

    class Top(Actor):
        async def pre_start(self, ctx):
            await ctx.spawn(props(Middle), "m1")
            await ctx.spawn(props(Leaf), "l2")

        def handle(self, ctx, msg):
            return "started"

        def post_stop(self, ctx):
            order.append(ctx.path)

    top = system.actor_of(props(Top), "top")
    assert await top.ask("started?") == "started"
    top.stop()
    await wait_until(top.is_terminated)
    assert len(order) == 4
    assert order[-1] == "akka://app/user/top"
    assert order.index("akka://app/user/top/m1/leaf") < order.index("akka://app/user/top/m1")
    assert set(order) == {
        "akka://app/user/top", "akka://app/user/top/m1",
        "akka://app/user/top/m1/leaf", "akka://app/user/top/l2",
    }


async def test_stop_lets_the_current_message_finish_and_replies_to_it(system, wait_until):
    gate = asyncio.Event()
    entered = asyncio.Event()
    stopped = []

    class Busy(Actor):
        async def handle(self, ctx, msg):
            entered.set()
            await gate.wait()
            return "finished"

        def post_stop(self, ctx):
            stopped.append(True)

    ref = system.actor_of(props(Busy), "busy")
    reply = asyncio.ensure_future(ref.ask("work", timeout=10))
    await asyncio.wait_for(entered.wait(), 10)
    ref.stop()
    assert not stopped  # still busy with the current message
    gate.set()
    assert await reply == "finished"
    await wait_until(ref.is_terminated)
    assert stopped == [True]


# -- failures --------------------------------------------------------------------


class Fragile(Actor):
    def __init__(self):
        self.handled = 0

    async def handle(self, ctx, msg):
        if msg == "boom":
            raise Boom("kaboom")
        if msg == "async-boom":
            await asyncio.sleep(0.001)
            raise KeyError("late")
        self.handled += 1
        return self.handled


async def test_handler_exception_for_ask_is_reraised_with_its_own_type(system):
    ref = system.actor_of(props(Fragile), "fragile")
    with pytest.raises(Boom, match="kaboom"):
        await ref.ask("boom")
    with pytest.raises(KeyError):
        await ref.ask("async-boom")


async def test_actor_keeps_its_state_and_works_after_an_ask_handler_exception(system):
    ref = system.actor_of(props(Fragile), "fragile")
    assert await ref.ask("ok") == 1
    with pytest.raises(Boom):
        await ref.ask("boom")
    assert await ref.ask("ok") == 2
    assert not ref.is_terminated()


async def test_sync_handler_exception_for_ask_is_reraised(system):
    class SyncFail(Actor):
        def handle(self, ctx, msg):
            raise ZeroDivisionError(msg)

    ref = system.actor_of(props(SyncFail), "sf")
    with pytest.raises(ZeroDivisionError, match="x"):
        await ref.ask("x")
    with pytest.raises(ZeroDivisionError):
        await ref.ask("y")


@pytest.mark.parametrize("msg", ["boom", "async-boom"])
async def test_handler_exception_for_tell_leaves_the_system_and_other_actors_running(
        system, msg):
    victim = system.actor_of(props(Fragile), "victim")
    bystander = system.actor_of(props(Fragile), "bystander")
    assert await victim.ask("ok") == 1
    victim.tell(msg)
    assert await bystander.ask("ok") == 1
    assert not system.is_terminated
    fresh = system.actor_of(props(SyncEcho), "fresh")
    assert await fresh.ask(5) == ("sync", 5)


@pytest.mark.parametrize("msg", ["boom", "async-boom"])
async def test_handler_exception_for_tell_stops_the_actor_under_a_stopping_strategy(
        system, wait_until, msg):
    stopped = []

    class Doomed(Fragile):
        def post_stop(self, ctx):
            stopped.append(ctx.path)

    victim = system.actor_of(_stopping(props(Doomed)), "victim")
    bystander = system.actor_of(props(Fragile), "bystander")
    assert await victim.ask("ok") == 1
    victim.tell(msg)
    await wait_until(victim.is_terminated)
    assert stopped == ["akka://app/user/victim"]
    assert not system.is_terminated
    assert await bystander.ask("ok") == 1


async def test_handler_exception_for_tell_restarts_the_actor_by_default(system, wait_until):
    starts = []

    class Restartable(Fragile):
        def pre_start(self, ctx):
            starts.append(self)

    ref = system.actor_of(props(Restartable), "phoenix")
    assert await ref.ask("ok") == 1
    assert await ref.ask("ok") == 2
    ref.tell("boom")
    # Same ref, fresh instance (state reset), pre_start ran again.
    assert await ref.ask("ok", timeout=10) == 1
    assert not ref.is_terminated()
    assert len(starts) == 2 and starts[0] is not starts[1]


def _stopping(p):
    from atomr.supervision import SupervisorStrategy

    return p.with_supervisor_strategy(SupervisorStrategy.stopping())


async def test_child_failing_on_tell_is_stopped_and_parent_keeps_running(system, wait_until):
    class Parent(Actor):
        async def handle(self, ctx, msg):
            if msg == "spawn":
                return await ctx.spawn(_stopping(props(Fragile)), "kid")
            return ctx.child("kid")

    parent = system.actor_of(props(Parent), "parent")
    kid = await parent.ask("spawn")
    assert await kid.ask("ok") == 1
    kid.tell("boom")
    await wait_until(kid.is_terminated)
    assert not parent.is_terminated()
    # The parent learnt of it (the child is gone from its children) and answers.
    assert await parent.ask("children") is None


async def test_factory_raising_stops_the_actor_and_asks_fail(system, wait_until):
    def factory():
        raise Boom("cannot build")

    ref = system.actor_of(props(Actor, factory=factory), "broken")
    start = time.monotonic()
    with pytest.raises(AskError):
        await ref.ask("x", timeout=10)
    assert time.monotonic() - start < 5
    await wait_until(ref.is_terminated)
    with pytest.raises(AskError):
        await ref.ask("again", timeout=10)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_pre_start_raising_stops_the_actor_and_asks_fail(system, wait_until, kind):
    handled = []

    if kind == "sync":
        class BadStart(Actor):
            def pre_start(self, ctx):
                raise Boom("no start")

            def handle(self, ctx, msg):
                handled.append(msg)
    else:
        class BadStart(Actor):
            async def pre_start(self, ctx):
                await asyncio.sleep(0.001)
                raise Boom("no start")

            def handle(self, ctx, msg):
                handled.append(msg)

    ref = system.actor_of(props(BadStart), "badstart")
    start = time.monotonic()
    with pytest.raises(AskError):
        await ref.ask("x", timeout=10)
    assert time.monotonic() - start < 5
    await wait_until(ref.is_terminated)
    assert handled == []


async def test_post_stop_exception_does_not_prevent_termination(system, wait_until):
    class BadStop(Actor):
        def handle(self, ctx, msg):
            return msg

        def post_stop(self, ctx):
            raise Boom("stop failed")

    ref = system.actor_of(props(BadStop), "badstop")
    assert await ref.ask(1) == 1
    ref.stop()
    await wait_until(ref.is_terminated)
    other = system.actor_of(props(SyncEcho), "other")
    assert await other.ask(2) == ("sync", 2)


async def test_asks_queued_behind_a_failing_tell_fail_fast_under_a_stopping_strategy(system):
    release = asyncio.Event()
    entered = asyncio.Event()

    class Brittle(Actor):
        async def handle(self, ctx, msg):
            if msg == "boom":
                entered.set()
                await release.wait()
                raise Boom("tell failed")
            return msg

    ref = system.actor_of(_stopping(props(Brittle)), "brittle")
    ref.tell("boom")
    await asyncio.wait_for(entered.wait(), 10)
    queued = asyncio.ensure_future(ref.ask("after", timeout=10))
    release.set()
    start = time.monotonic()
    with pytest.raises(AskError):
        await queued
    assert time.monotonic() - start < 5


async def test_parent_stopped_after_failing_stops_its_children_first(system, wait_until):
    order = []

    class Kid(Actor):
        def handle(self, ctx, msg):
            return msg

        def post_stop(self, ctx):
            order.append("kid")

    class Parent(Actor):
        async def handle(self, ctx, msg):
            if msg == "spawn":
                return await ctx.spawn(props(Kid), "kid")
            raise Boom("parent failed")

        def post_stop(self, ctx):
            order.append("parent")

    parent = system.actor_of(_stopping(props(Parent)), "parent")
    kid = await parent.ask("spawn")
    parent.tell("fail")
    await wait_until(parent.is_terminated)
    assert kid.is_terminated()
    assert order == ["kid", "parent"]


async def test_mail_left_in_the_mailbox_at_stop_goes_to_dead_letters_in_order(system,
                                                                              wait_until):
    release = asyncio.Event()
    entered = asyncio.Event()
    letters = []

    class Busy(Actor):
        async def handle(self, ctx, msg):
            entered.set()
            await release.wait()

    system.subscribe_dead_letters(lambda msg, sender, path: letters.append((msg, path)))
    ref = system.actor_of(props(Busy), "busy")
    ref.tell("current")
    await asyncio.wait_for(entered.wait(), 10)
    for i in range(3):
        ref.tell(i)
    before = system.dead_letter_count
    ref.stop()
    release.set()
    await wait_until(ref.is_terminated)
    await wait_until(lambda: len(letters) >= 3)
    assert letters == [(i, "akka://app/user/busy") for i in range(3)]
    assert system.dead_letter_count == before + 3


async def test_sync_handle_returning_a_coroutine_is_awaited_for_the_reply(system):
    class Delegating(Actor):
        def handle(self, ctx, msg):
            return self.compute(msg)

        async def compute(self, msg):
            await asyncio.sleep(0.001)
            return msg * 2

    ref = system.actor_of(props(Delegating), "delegating")
    assert await ref.ask(21) == 42
