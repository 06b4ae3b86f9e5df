"""Remote death watch between two systems in this process: ``ctx.watch`` on
a RemoteActorRef delivers ``atomr.Terminated`` as for a local actor, and the
remote lifecycle events reach the event stream."""

from __future__ import annotations

import asyncio

import pytest

from atomr import Actor, ActorSystem, Config, Terminated, props
from atomr.remote import (
    AssociatedEvent,
    DisassociatedEvent,
    Remote,
    RemoteActorRef,
    RemoteAddressTerminatedError,
    RemoteUnreachable,
    RemotingLifecycleEvent,
)

from _helpers import DEADLINE, wait_until
from remote._watch_peer import FAST_WATCH
from remote.test_tell_remote import free_port, remote_system


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
            ctx.watch(ref)
            return "watching"
        if op == "unwatch":
            ctx.unwatch(ref)
            return "unwatched"
        raise AssertionError(msg)


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


def watcher(system: ActorSystem, name: str = "watcher"):
    seen: list = []
    return system.actor_of(props(Watcher, factory=lambda: Watcher(seen)), name), seen


async def started(system: ActorSystem, name: str):
    ref = system.actor_of(props(Echo), name)
    assert await ref.ask("up") == "up"
    return ref


def registered(system: ActorSystem) -> int:
    return Remote.get(system)._watch.watcher_count()


def watching(system: ActorSystem) -> int:
    return Remote.get(system)._watch.watched_count()


async def test_watcher_gets_terminated_when_the_remote_actor_stops():
    async with remote_system("a") as a, remote_system("b") as b:
        target = await started(b, "target")
        w, seen = watcher(a)
        remote = a.actor_selection(b.address + "/user/target")
        assert isinstance(remote, RemoteActorRef)
        assert await w.ask(("watch", remote)) == "watching"
        await wait_until(lambda: registered(b) == 1)
        target.stop()
        await wait_until(lambda: len(seen) == 1)
        assert seen == [Terminated(remote.path)]
        assert seen[0].existence_confirmed and not seen[0].address_terminated
        # The registration is gone on both sides; nothing more arrives.
        await wait_until(lambda: registered(b) == 0 and watching(a) == 0)
        assert await w.ask(("watch", a.actor_selection(b.address + "/user/nobody")))
        await wait_until(lambda: len(seen) == 2)
        assert seen[0] == Terminated(remote.path)


async def test_watching_a_path_that_does_not_exist_terminates_promptly():
    async with remote_system("a") as a, remote_system("b") as b:
        w, seen = watcher(a)
        missing = a.actor_selection(b.address + "/user/missing")
        await w.ask(("watch", missing))
        await wait_until(lambda: len(seen) == 1)
        assert seen[0] == Terminated(missing.path)
        assert not seen[0].existence_confirmed and not seen[0].address_terminated
        assert registered(b) == 0 and watching(a) == 0


async def test_unwatch_stops_the_notification():
    async with remote_system("a") as a, remote_system("b") as b:
        target = await started(b, "target")
        other = await started(b, "other")
        w, seen = watcher(a)
        remote = a.actor_selection(b.address + "/user/target")
        remote_other = a.actor_selection(b.address + "/user/other")
        await w.ask(("watch", remote))
        await w.ask(("watch", remote_other))
        await wait_until(lambda: registered(b) == 2)
        assert await w.ask(("unwatch", remote)) == "unwatched"
        await wait_until(lambda: registered(b) == 1)
        target.stop()
        other.stop()
        # `other` is still watched: its Terminated proves the one for
        # `target` (stopped first, on the same connection) never came.
        await wait_until(lambda: len(seen) == 1)
        await asyncio.sleep(0)  # anything queued behind it is handled too
        assert seen == [Terminated(remote_other.path)]


async def test_watching_twice_gives_one_terminated():
    async with remote_system("a") as a, remote_system("b") as b:
        target = await started(b, "target")
        w, seen = watcher(a)
        remote = a.actor_selection(b.address + "/user/target")
        await w.ask(("watch", remote))
        await w.ask(("watch", a.actor_selection(b.address + "/user/target")))
        await wait_until(lambda: registered(b) == 1)
        assert watching(a) == 1
        target.stop()
        marker = a.actor_selection(b.address + "/user/nobody")
        await w.ask(("watch", marker))
        await wait_until(lambda: len(seen) == 2)
        assert sorted(t.path for t in seen) == sorted([remote.path, marker.path])


async def test_a_watcher_that_stops_withdraws_its_remote_registration():
    async with remote_system("a") as a, remote_system("b") as b:
        await started(b, "target")
        w, seen = watcher(a)
        await w.ask(("watch", a.actor_selection(b.address + "/user/target")))
        await wait_until(lambda: registered(b) == 1)
        w.stop()
        await wait_until(lambda: registered(b) == 0 and watching(a) == 0)
        assert seen == []


async def test_watchers_get_terminated_when_the_remote_system_shuts_down():
    events: list = []
    async with remote_system("a") as a:
        a.event_stream.subscribe(events.append, RemotingLifecycleEvent)
        b = await ActorSystem.create("b", Config.from_dict({"remote": {}}))
        try:
            Remote.get(b)
            b_address, b_uid = b.address, Remote.get(b).uid
            await started(b, "target")
            w, seen = watcher(a)
            remote = a.actor_selection(b_address + "/user/target")
            await w.ask(("watch", remote))
            await wait_until(lambda: registered(b) == 1)
        finally:
            await asyncio.wait_for(b.terminate(), DEADLINE)
        await wait_until(lambda: len(seen) == 1)
        assert seen == [Terminated(remote.path)]
        await wait_until(lambda: any(isinstance(e, DisassociatedEvent) for e in events))
        assert AssociatedEvent(b_address, b_uid, inbound=False) in events
        gone = next(e for e in events if isinstance(e, DisassociatedEvent))
        assert gone.address == b_address and gone.uid == b_uid and gone.reason
        assert watching(a) == 0


async def test_watching_a_system_that_is_never_reached_terminates():
    events: list = []
    async with remote_system("a", **FAST_WATCH) as a:
        a.event_stream.subscribe(events.append, RemoteUnreachable)
        w, seen = watcher(a)
        ghost = f"akka.tcp://ghost@127.0.0.1:{free_port()}"
        remote = a.actor_selection(ghost + "/user/x")
        pending = remote.ask("anyone?", timeout=120.0)
        await w.ask(("watch", remote))
        with pytest.raises(RemoteAddressTerminatedError, match="unreachable"):
            await asyncio.wait_for(pending, DEADLINE)
        await wait_until(lambda: len(seen) == 1)
        assert seen[0] == Terminated(remote.path) and seen[0].address_terminated
        assert [(e.address, e.uid) for e in events] == [(ghost, 0)]
        # A later watch of it ends at once.
        await w.ask(("watch", a.actor_selection(ghost + "/user/y")))
        await wait_until(lambda: len(seen) == 2)
        assert seen[1].address_terminated


async def test_associated_events_are_published_on_both_sides():
    a_events: list = []
    b_events: list = []
    async with remote_system("a") as a, remote_system("b") as b:
        a.event_stream.subscribe(a_events.append, AssociatedEvent)
        b.event_stream.subscribe(b_events.append, AssociatedEvent)
        await started(b, "echo")
        assert await a.actor_selection(b.address + "/user/echo").ask(1) == 1
        await wait_until(lambda: a_events and b_events)
        assert a_events == [AssociatedEvent(b.address, Remote.get(b).uid, inbound=False)]
        assert b_events == [AssociatedEvent(a.address, Remote.get(a).uid, inbound=True)]


async def test_watch_of_a_non_ref_is_still_a_type_error():
    async with remote_system("a") as a:
        w, _ = watcher(a)
        with pytest.raises(TypeError, match="watch expects an ActorRef"):
            await w.ask(("watch", "not a ref"))


@pytest.mark.parametrize("key, value, match", [
    ("threshold", 0.0, "threshold"),
    ("threshold", float("inf"), "threshold"),
    ("max-sample-size", 0, "max-sample-size"),
    ("min-std-deviation", 0.0, "min-std-deviation"),
    ("acceptable-heartbeat-pause", -1.0, "acceptable-heartbeat-pause"),
    ("first-heartbeat-estimate", 0.0, "first-heartbeat-estimate"),
    ("unreachable-nodes-reaper-interval", 0.0, "unreachable-nodes-reaper-interval"),
    ("threshold", "high", "threshold"),
])
async def test_bad_failure_detector_settings_are_a_value_error(key, value, match):
    config = Config.from_dict({"remote": {"watch-failure-detector": {key: value}}})
    systems = []
    try:
        with pytest.raises(ValueError, match=match):
            # Checked when the system reads its config, or (for values the
            # config schema cannot judge) when the transport starts.
            systems.append(await ActorSystem.create("bad", config))
            Remote.get(systems[0])
    finally:
        for system in systems:
            await asyncio.wait_for(system.terminate(), DEADLINE)
