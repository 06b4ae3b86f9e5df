"""Death watch: ``ctx.watch(ref)`` delivers ``atomr.Terminated(path)``
exactly once through ``handle`` when the watched actor stops."""

from __future__ import annotations

import dataclasses

import pytest

import atomr
from atomr import Actor, SupervisorStrategy, Terminated, props

from _helpers import GET, Recorder, running_system, wait_until


@pytest.fixture
async def system():
    async with running_system("watch") as s:
        yield s


class Watcher(Actor):
    """Watches/unwatches refs on command and records every Terminated."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def handle(self, ctx, msg):
        if isinstance(msg, Terminated):
            self.seen.append(msg)
            return None
        op, ref = msg
        if op == "watch":
            return ctx.watch(ref)
        if op == "unwatch":
            return ctx.unwatch(ref)
        if op == "watch-twice":
            ctx.watch(ref)
            ctx.watch(ref)
            return None
        raise AssertionError(msg)


class Quiet(Actor):
    def handle(self, ctx, msg):
        if isinstance(msg, BaseException):
            raise msg
        return msg


def watcher(system, name="watcher"):
    seen: list = []
    return system.actor_of(props(Watcher, factory=lambda: Watcher(seen)), name), seen


async def test_watcher_gets_terminated_once_when_the_watched_actor_stops(system):
    w, seen = watcher(system)
    target = system.actor_of(props(Quiet), "target")
    assert await w.ask(("watch", target)) is target
    target.stop()
    await wait_until(lambda: seen, message="Terminated delivered")
    assert seen == [Terminated(target.path)]
    assert isinstance(seen[0], atomr.Terminated)
    # A barrier: a second watched actor stopping later proves nothing more came for the first.
    barrier = system.actor_of(props(Quiet), "barrier")
    await w.ask(("watch", barrier))
    barrier.stop()
    await wait_until(lambda: len(seen) == 2)
    assert seen == [Terminated(target.path), Terminated(barrier.path)]


async def test_watching_an_already_stopped_actor_delivers_terminated_at_once(system):
    target = system.actor_of(props(Quiet), "target")
    target.stop()
    await wait_until(target.is_terminated)
    w, seen = watcher(system)
    await w.ask(("watch", target))
    await wait_until(lambda: seen)
    assert seen == [Terminated("akka://watch/user/target")]


async def test_unwatch_before_the_stop_delivers_nothing(system):
    w, seen = watcher(system)
    target = system.actor_of(props(Quiet), "target")
    barrier = system.actor_of(props(Quiet), "barrier")
    await w.ask(("watch", target))
    await w.ask(("watch", barrier))
    await w.ask(("unwatch", target))
    target.stop()
    await wait_until(target.is_terminated)
    barrier.stop()
    await wait_until(lambda: seen)
    assert seen == [Terminated(barrier.path)]
    assert await w.ask(("unwatch", target)) is target  # unwatching again is harmless


async def test_watching_twice_still_delivers_terminated_once(system):
    w, seen = watcher(system)
    target = system.actor_of(props(Quiet), "target")
    barrier = system.actor_of(props(Quiet), "barrier")
    await w.ask(("watch-twice", target))
    target.stop()
    await wait_until(lambda: seen)
    await w.ask(("watch", barrier))
    barrier.stop()
    await wait_until(lambda: len(seen) >= 2)
    assert seen == [Terminated(target.path), Terminated(barrier.path)]


async def test_every_watcher_gets_its_own_terminated(system):
    target = system.actor_of(props(Quiet), "target")
    watchers = [watcher(system, f"w{i}") for i in range(5)]
    for ref, _ in watchers:
        await ref.ask(("watch", target))
    target.stop()
    for _, seen in watchers:
        await wait_until(lambda: seen)
    assert all(seen == [Terminated(target.path)] for _, seen in watchers)


async def test_parent_watching_its_child_sees_it_stop_itself(system):
    seen: list = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            self.kid = await ctx.spawn(props(SelfStopper), "kid")
            ctx.watch(self.kid)

        def handle(self, ctx, msg):
            if isinstance(msg, Terminated):
                seen.append(msg)
                return None
            self.kid.tell(msg)
            return self.kid

    class SelfStopper(Actor):
        def handle(self, ctx, msg):
            ctx.stop_self()

    parent = system.actor_of(props(Parent), "parent")
    kid = await parent.ask("stop yourself")
    await wait_until(lambda: seen)
    assert seen == [Terminated(kid.path)] == [Terminated("akka://watch/user/parent/kid")]


async def test_watchers_see_an_actor_stopped_by_its_supervisor(system):
    w, seen = watcher(system)
    target = system.actor_of(
        props(Quiet).with_supervisor_strategy(SupervisorStrategy.stopping()), "target")
    await w.ask(("watch", target))
    target.tell(ValueError("fatal"))
    await wait_until(lambda: seen)
    assert seen == [Terminated(target.path)]


async def test_a_restart_of_the_watched_actor_delivers_no_terminated(system):
    w, seen = watcher(system)
    target = system.actor_of(props(Quiet), "target")  # default: restart
    barrier = system.actor_of(props(Quiet), "barrier")
    await w.ask(("watch", target))
    target.tell(ValueError("restart me"))
    assert await target.ask("back") == "back"
    await w.ask(("watch", barrier))
    barrier.stop()
    await wait_until(lambda: seen)
    assert seen == [Terminated(barrier.path)]
    assert not target.is_terminated()


async def test_terminated_arrives_when_the_watched_actor_stopped_by_terminate_of_its_parent(
        system):
    w, seen = watcher(system)
    kids = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            kids.append(await ctx.spawn(props(Quiet), "kid"))

        def handle(self, ctx, msg):
            return None

    parent = system.actor_of(props(Parent), "parent")
    await wait_until(lambda: kids)
    await w.ask(("watch", kids[0]))
    parent.stop()
    await wait_until(lambda: seen)
    assert seen == [Terminated(kids[0].path)]
    assert parent.is_terminated()


async def test_terminated_is_delivered_as_ordinary_mail_through_handle(system):
    log: list = []
    rec = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), "rec")

    class Forwarder(Actor):
        def handle(self, ctx, msg):
            if isinstance(msg, tuple):
                ctx.watch(msg[1])
                return None
            rec.tell(("got", msg))

    fwd = system.actor_of(props(Forwarder), "fwd")
    target = system.actor_of(props(Quiet), "target")
    await fwd.ask(("watch", target))
    target.stop()
    assert await wait_until(lambda: rec.ask(GET)) == [("got", Terminated(target.path))]


async def test_watch_and_unwatch_reject_non_refs(system):
    class Bad(Actor):
        def handle(self, ctx, msg):
            getattr(ctx, msg)("akka://watch/user/x")

    ref = system.actor_of(props(Bad), "bad")
    with pytest.raises(TypeError):
        await ref.ask("watch")
    with pytest.raises(TypeError):
        await ref.ask("unwatch")


def test_terminated_is_a_frozen_value_type():
    t = Terminated("akka://s/user/a")
    assert t == Terminated(path="akka://s/user/a")
    assert hash(t) == hash(Terminated("akka://s/user/a"))
    assert t != Terminated("akka://s/user/b")
    assert t.path == "akka://s/user/a"
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.path = "other"  # type: ignore[misc]
