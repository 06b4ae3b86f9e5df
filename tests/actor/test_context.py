"""Context: the per-message handle a handler gets (self_ref, path, sender,
spawn, stop_self, stop_child) and its scope rules."""

from __future__ import annotations

import asyncio

import pytest

from atomr import (
    Actor,
    ActorNameTakenError,
    ActorRef,
    ActorTerminatedError,
    Context,
    InvalidActorNameError,
    props,
)


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


class Spawner(Actor):
    """Runs the callable it is sent with its ctx and returns the result."""

    async def handle(self, ctx, msg):
        result = msg(ctx)
        if asyncio.iscoroutine(result):
            result = await result
        return result


# -- self_ref / path / sender ------------------------------------------------------


async def test_self_ref_and_path_describe_the_actor(system):
    ref = system.actor_of(props(Spawner), "worker")
    me, path = await ref.ask(lambda ctx: (ctx.self_ref, ctx.path))
    assert me == ref
    assert isinstance(me, ActorRef)
    assert path == "akka://app/user/worker" == me.path


async def test_sender_is_the_ref_given_to_tell_with_sender_even_after_awaiting(system,
                                                                              wait_until):
    seen = []

    class Slow(Actor):
        async def handle(self, ctx, msg):
            before = ctx.sender
            await asyncio.sleep(0.001)
            seen.append((msg, before, ctx.sender))

    slow = system.actor_of(props(Slow), "slow")
    a = system.actor_of(props(Echo), "a")
    b = system.actor_of(props(Echo), "b")
    slow.tell_with_sender(1, a)
    slow.tell(2)
    slow.tell_with_sender(3, b)
    await wait_until(lambda: len(seen) == 3)
    assert seen == [(1, a, a), (2, None, None), (3, b, b)]


async def test_sender_is_none_for_ask(system):
    ref = system.actor_of(props(Spawner), "worker")
    assert await ref.ask(lambda ctx: ctx.sender) is None


def test_context_cannot_be_constructed_from_python():
    with pytest.raises(TypeError):
        Context()


# -- scope -------------------------------------------------------------------------


async def test_using_context_after_its_handler_returned_raises_runtime_error(system):
    kept = []
    ref = system.actor_of(props(Spawner), "worker")
    await ref.ask(lambda ctx: kept.append(ctx))
    ctx = kept[0]
    for use in (lambda: ctx.self_ref, lambda: ctx.path, lambda: ctx.sender,
                lambda: ctx.spawn(props(Echo), "late"), ctx.stop_self,
                lambda: ctx.stop_child("x")):
        with pytest.raises(RuntimeError, match="outside of its handler scope"):
            use()
    # None of the attempted mutations happened: the actor still works.
    assert await ref.ask(lambda c: "alive") == "alive"
    assert not ref.is_terminated()


async def test_context_used_by_a_background_task_after_handler_returned_raises(system,
                                                                              wait_until):
    outcome = []

    class Leaky(Actor):
        def handle(self, ctx, msg):
            async def later():
                await asyncio.sleep(0.01)
                try:
                    ctx.self_ref
                except RuntimeError as exc:
                    outcome.append(type(exc))
                else:
                    outcome.append("no error")

            asyncio.get_running_loop().create_task(later())
            return "returned"

    ref = system.actor_of(props(Leaky), "leaky")
    assert await ref.ask("go") == "returned"
    await wait_until(lambda: outcome)
    assert outcome == [RuntimeError]


async def test_context_kept_from_an_earlier_message_stays_invalid_while_a_later_one_runs(
        system):
    # A Context leaked from one handler must not come back to life (and show
    # another message's sender) while the actor handles a later message.
    gate = asyncio.Event()
    entered = asyncio.Event()

    class Keeper(Actor):
        async def handle(self, ctx, msg):
            if msg == "keep":
                return ctx
            entered.set()
            await gate.wait()
            return "held"

    ref = system.actor_of(props(Keeper), "keeper")
    other = system.actor_of(props(Echo), "other")
    kept = await ref.ask("keep")
    ref.tell_with_sender("hold", other)
    await asyncio.wait_for(entered.wait(), 10)
    try:
        with pytest.raises(RuntimeError, match="outside of its handler scope"):
            kept.sender
    finally:
        gate.set()


async def test_context_in_lifecycle_hooks_is_out_of_scope_afterwards(system, wait_until):
    kept = []

    class Hook(Actor):
        def pre_start(self, ctx):
            kept.append(ctx.path)
            kept.append(ctx)

        def handle(self, ctx, msg):
            return msg

    ref = system.actor_of(props(Hook), "hook")
    assert await ref.ask(1) == 1
    assert kept[0] == "akka://app/user/hook"
    with pytest.raises(RuntimeError):
        kept[1].path


# -- spawn ----------------------------------------------------------------------------


async def test_spawn_returns_a_ref_that_can_also_be_awaited(system):
    async def both(ctx):
        direct = ctx.spawn(props(Echo), "direct")
        awaited = await ctx.spawn(props(Echo), "awaited")
        return direct, awaited

    ref = system.actor_of(props(Spawner), "parent")
    direct, awaited = await ref.ask(both)
    assert isinstance(direct, ActorRef) and isinstance(awaited, ActorRef)
    assert direct.path == "akka://app/user/parent/direct"
    assert awaited.path == "akka://app/user/parent/awaited"
    assert await direct.ask("d") == "d"
    assert await awaited.ask("a") == "a"


async def test_spawned_child_runs_while_parent_handler_awaits_it(system):
    async def spawn_and_ask(ctx):
        child = await ctx.spawn(props(Echo), "child")
        return await child.ask("through the child", timeout=5)

    ref = system.actor_of(props(Spawner), "parent")
    assert await ref.ask(spawn_and_ask) == "through the child"


async def test_spawn_from_a_sync_handler(system):
    class SyncParent(Actor):
        def handle(self, ctx, msg):
            return ctx.spawn(props(Echo), msg)

    ref = system.actor_of(props(SyncParent), "parent")
    child = await ref.ask("kid")
    assert child.path == "akka://app/user/parent/kid"
    assert await child.ask(7) == 7


async def test_spawn_in_pre_start(system):
    class Eager(Actor):
        async def pre_start(self, ctx):
            self.child = await ctx.spawn(props(Echo), "early")

        def handle(self, ctx, msg):
            return self.child

    ref = system.actor_of(props(Eager), "eager")
    child = await ref.ask("child?")
    assert child.path == "akka://app/user/eager/early"
    assert await child.ask("x") == "x"


async def test_anonymous_children_get_unique_dollar_prefixed_names(system):
    def many(ctx):
        return [ctx.spawn(props(Echo)) for _ in range(30)]

    ref = system.actor_of(props(Spawner), "parent")
    kids = await ref.ask(many)
    names = [k.path.rsplit("/", 1)[1] for k in kids]
    assert all(k.path.startswith("akka://app/user/parent/$") for k in kids)
    assert all(n.startswith("$") and len(n) > 1 for n in names)
    assert len(set(names)) == 30
    assert await kids[-1].ask("last") == "last"


async def test_anonymous_names_do_not_repeat_after_children_stop(system, wait_until):
    ref = system.actor_of(props(Spawner), "parent")
    first = await ref.ask(lambda ctx: ctx.spawn(props(Echo)))
    first.stop()
    await wait_until(first.is_terminated)
    second = await ref.ask(lambda ctx: ctx.spawn(props(Echo)))
    assert second.path != first.path


async def test_spawn_with_a_taken_child_name_raises(system):
    def twice(ctx):
        ctx.spawn(props(Echo), "dup")
        try:
            ctx.spawn(props(Echo), "dup")
        except Exception as exc:  # noqa: BLE001 - inspected below
            return exc
        return None

    ref = system.actor_of(props(Spawner), "parent")
    exc = await ref.ask(twice)
    assert isinstance(exc, ActorNameTakenError)
    assert isinstance(exc, RuntimeError)  # the original contract of ctx.spawn
    assert isinstance(exc, ValueError)
    assert "dup" in str(exc)
    assert not ref.is_terminated()


@pytest.mark.parametrize("bad", ["", "$x", "a/b", "a b"])
async def test_spawn_with_an_invalid_child_name_raises(system, bad):
    ref = system.actor_of(props(Spawner), "parent")
    with pytest.raises(InvalidActorNameError):
        await ref.ask(lambda ctx: ctx.spawn(props(Echo), bad))


async def test_spawn_with_non_props_raises_type_error(system):
    ref = system.actor_of(props(Spawner), "parent")
    with pytest.raises(TypeError):
        await ref.ask(lambda ctx: ctx.spawn(Echo, "x"))


async def test_children_lists_the_live_children_in_creation_order(system):
    def make(ctx):
        ctx.spawn(props(Echo), "first")
        ctx.spawn(props(Echo), "second")
        return [c.path for c in ctx.children]

    ref = system.actor_of(props(Spawner), "parent")
    assert await ref.ask(make) == ["akka://app/user/parent/first",
                                   "akka://app/user/parent/second"]


async def test_child_and_parent_accessors(system):
    def make(ctx):
        kid = ctx.spawn(props(Echo), "kid")
        return kid, ctx.child("kid"), ctx.child("missing"), ctx.parent, ctx.system

    ref = system.actor_of(props(Spawner), "parent")
    kid, looked_up, missing, parent, owner = await ref.ask(make)
    assert looked_up == kid
    assert missing is None
    assert parent is not None and parent.path == "akka://app/user"
    assert owner is system


# -- stop_self / stop_child --------------------------------------------------------------


async def test_stop_self_still_delivers_the_reply_then_stops(system, wait_until):
    stopped = []

    class Quitter(Actor):
        def handle(self, ctx, msg):
            ctx.stop_self()
            # The stop is applied when the handler ends: ctx is still usable.
            return ("bye", ctx.path)

        def post_stop(self, ctx):
            stopped.append(ctx.path)

    ref = system.actor_of(props(Quitter), "quitter")
    assert await ref.ask("quit") == ("bye", "akka://app/user/quitter")
    await wait_until(ref.is_terminated)
    assert stopped == ["akka://app/user/quitter"]
    with pytest.raises(ActorTerminatedError):
        await ref.ask("again", timeout=5)


async def test_stop_self_from_an_async_handler_after_awaiting(system, wait_until):
    class Quitter(Actor):
        async def handle(self, ctx, msg):
            await asyncio.sleep(0.001)
            ctx.stop_self()
            await asyncio.sleep(0.001)
            return "done"

    ref = system.actor_of(props(Quitter), "quitter")
    assert await ref.ask("quit") == "done"
    await wait_until(ref.is_terminated)


async def test_stop_child_stops_only_the_named_child(system, wait_until):
    def make(ctx):
        return ctx.spawn(props(Echo), "a"), ctx.spawn(props(Echo), "b")

    ref = system.actor_of(props(Spawner), "parent")
    a, b = await ref.ask(make)
    await ref.ask(lambda ctx: ctx.stop_child("a"))
    await wait_until(a.is_terminated)
    assert not b.is_terminated()
    assert await b.ask("b alive") == "b alive"
    assert not ref.is_terminated()


async def test_stop_child_with_unknown_name_is_a_no_op(system):
    ref = system.actor_of(props(Spawner), "parent")
    kid = await ref.ask(lambda ctx: ctx.spawn(props(Echo), "kid"))
    assert await ref.ask(lambda ctx: ctx.stop_child("nobody")) is None
    assert await kid.ask("still here") == "still here"
    assert await ref.ask(lambda ctx: "parent fine") == "parent fine"


async def test_child_name_is_reusable_after_the_child_stopped(system, wait_until):
    ref = system.actor_of(props(Spawner), "parent")
    old = await ref.ask(lambda ctx: ctx.spawn(props(Echo), "kid"))
    await ref.ask(lambda ctx: ctx.stop_child("kid"))
    await wait_until(old.is_terminated)
    new = await ref.ask(lambda ctx: ctx.spawn(props(Echo), "kid"))
    assert new.path == old.path
    assert new != old
    assert await new.ask("again") == "again"
