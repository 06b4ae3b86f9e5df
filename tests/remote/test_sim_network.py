"""atomr.remote.testing.SimNetwork: actor systems of one process talking
through the simulated network under virtual time, with injected faults."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

import pytest

from atomr import (
    Actor,
    ActorSystem,
    AskTimeoutError,
    Config,
    InvalidRemoteAddressError,
    RemoteTransportError,
    Terminated,
    props,
)
from atomr.remote import (
    QuarantinedEvent,
    Remote,
    RemoteActorRef,
    RemoteAddressTerminatedError,
    RemoteReachable,
    RemoteUnreachable,
)
from atomr._native import _core
from atomr.remote.testing import SimNetwork
from atomr.testkit import TestScheduler

from _helpers import DEADLINE, GET, Recorder, wait_until


class Calc(Actor):
    def handle(self, ctx: Any, msg: Any) -> Any:
        return msg * 2


@contextlib.asynccontextmanager
async def sim_systems(net: SimNetwork, *names: str) -> AsyncIterator[list[ActorSystem]]:
    """Systems bound to the running loop, each attached to `net`, all
    terminated on exit."""
    systems: list[ActorSystem] = []
    try:
        for name in names:
            system = await ActorSystem.create(name)
            systems.append(system)
            net.attach(system)
        yield systems
    finally:
        for system in systems:
            await asyncio.wait_for(system.terminate(), DEADLINE)


async def recorder(system: ActorSystem, name: str) -> tuple[Any, list]:
    log: list = []
    ref = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), name)
    await wait_until(lambda: ref.ask(GET) is not None)
    return ref, log


async def test_tell_and_ask_between_systems_move_only_with_virtual_time():
    net = SimNetwork(seed=1)
    async with sim_systems(net, "a", "b") as (a, b):
        assert a.address == "akka.tcp://a@a:2552" and b.address == "akka.tcp://b@b:2553"
        assert net.addresses() == ["a:2552", "b:2553"]
        _, log = await recorder(b, "inbox")
        net.set_link(a, b, delay=0.25)
        a.tell_remote(b.address + "/user/inbox", {"n": 1})
        a.actor_selection(b.address + "/user/inbox").tell("second")
        assert net.in_flight() == 2 and net.next_due() == pytest.approx(0.25)
        await asyncio.sleep(0.05)  # real time moves nothing
        assert log == []
        net.advance(0.2)
        await asyncio.sleep(0.05)
        assert log == []
        assert net.advance(0.05) == 2
        await wait_until(lambda: log == [{"n": 1}, "second"])
        assert net.now() == pytest.approx(0.25)

        b.actor_of(props(Calc), "calc")
        ref = a.actor_selection(b.address + "/user/calc")
        assert isinstance(ref, RemoteActorRef)
        assert await net.drive(ref.ask(21)) == 42
        assert await net.drive(asyncio.gather(*(ref.ask(i) for i in range(50)))) == \
            [i * 2 for i in range(50)]
        # Lifecycle events reach the extension: the peers are associated.
        assert Remote.get(a).associations() == {"b:2553": Remote.get(b).uid}
        stats = net.stats(a, b)
        assert stats["sent"] == stats["delivered"] == 2 + 1 + 50
        assert net.stats() == {k: sum(s[k] for s in net.link_stats().values())
                               for k in stats}


async def test_a_partition_times_asks_out_until_healed():
    net = SimNetwork(seed=2)
    async with sim_systems(net, "a", "b", "c") as (a, b, c):
        b.actor_of(props(Calc), "calc")
        c.actor_of(props(Calc), "calc")
        to_b = a.actor_selection(b.address + "/user/calc")
        to_c = a.actor_selection(c.address + "/user/calc")
        assert await net.drive(to_b.ask(1)) == 2
        assert await net.drive(to_c.ask(1)) == 2
        assert set(Remote.get(a).associations()) == {"b:2553", "c:2554"}

        net.partition_groups([c], [a, b])
        assert net.partitioned(a, c) and net.partitioned(c, b)
        assert not net.partitioned(a, b)
        with pytest.raises(AskTimeoutError):
            await net.drive(to_c.ask(2, timeout=0.3))
        assert await net.drive(to_b.ask(3)) == 6  # the rest of the cluster still talks
        # Both sides were told the association is gone.
        await wait_until(lambda: set(Remote.get(a).associations()) == {"b:2553"})
        await wait_until(lambda: Remote.get(c).associations() == {})
        assert net.stats(a, c)["blocked"] >= 1

        net.heal()
        assert await net.drive(to_c.ask(4)) == 8
        await wait_until(lambda: set(Remote.get(a).associations()) == {"b:2553", "c:2554"})


async def test_duplicates_and_reordering_reach_the_receiving_actor():
    net = SimNetwork(seed=3)
    async with sim_systems(net, "a", "b") as (a, b):
        _, dup_log = await recorder(b, "dups")
        _, ooo_log = await recorder(b, "ooo")
        n = 300
        net.set_link(a, b, duplicate=0.3, delay=0.001)
        for i in range(n):
            a.tell_remote(b.address + "/user/dups", i)
        net.run_until_idle()
        stats = net.stats(a, b)
        assert stats["duplicated"] > 0
        await wait_until(lambda: len(dup_log) == n + stats["duplicated"])
        assert sorted(set(dup_log)) == list(range(n))
        assert sorted(dup_log) == dup_log  # a copy comes right behind its original

        net.set_link(a, b, reorder=0.05)
        before = net.stats(a, b)
        for i in range(n):
            a.tell_remote(b.address + "/user/ooo", i)
            net.advance(0.0005)
        net.run_until_idle()
        await wait_until(lambda: len(ooo_log) == n)
        assert sorted(ooo_log) == list(range(n)) and ooo_log != list(range(n))
        late, highest = 0, -1
        for v in ooo_log:
            late += v < highest
            highest = max(highest, v)
        assert late == net.stats(a, b)["reordered"] - before["reordered"] > 0


async def _chaotic_run(seed: int) -> list:
    net = SimNetwork(seed=seed)
    async with sim_systems(net, "a", "b", "c") as (a, b, c):
        _, log = await recorder(c, "inbox")
        net.set_default(drop=0.1, duplicate=0.1, delay=0.002, jitter=0.003, reorder=0.004)
        for i in range(100):
            a.tell_remote(c.address + "/user/inbox", ("a", i))
            b.tell_remote(c.address + "/user/inbox", ("b", i))
        net.run_until_idle()
        expected = net.stats(a, c)["delivered"] + net.stats(b, c)["delivered"]
        await wait_until(lambda: len(log) == expected)
        return [tuple(m) for m in log]


async def test_the_same_seed_gives_the_same_delivery_order():
    first = await _chaotic_run(11)
    second = await _chaotic_run(11)
    other = await _chaotic_run(12)
    assert first == second
    assert len(first) > 150
    assert first != other


async def test_the_network_moves_in_step_with_a_test_scheduler():
    net = SimNetwork(seed=4)
    scheduler = TestScheduler()
    async with sim_systems(net, "a", "b") as (a, b):
        _, log = await recorder(b, "inbox")
        net.set_link(a, b, delay=0.1)
        scheduler.schedule_after(0.5, lambda: a.tell_remote(b.address + "/user/inbox", "tick"))
        net.advance(0.55, scheduler=scheduler)  # the tell goes out at 0.5, due at 0.6
        assert scheduler.now() == pytest.approx(0.55) and net.now() == pytest.approx(0.55)
        assert net.in_flight() == 1 and net.next_due() == pytest.approx(0.6)
        assert net.advance(0.05, scheduler=scheduler) == 1
        await wait_until(lambda: log == ["tick"])
        with pytest.raises(TypeError, match="advance_blocking"):
            net.advance(1.0, scheduler=object())


async def test_a_bare_transport_and_a_stopped_system():
    net = SimNetwork()
    async with sim_systems(net, "a") as (a,):
        _, log = await recorder(a, "inbox")
        raw = net.transport("probe:1")
        raw.start()
        raw.send("a:2552", "/user/inbox", *a.codecs.encode_message("from below"))
        net.run_until_idle()
        await wait_until(lambda: log == ["from below"])
        kinds = [item[1] for item in raw.drain() if item[0] == 2]
        assert kinds == ["associated"]
        assert raw.stats()["envelopes_queued"] == 1
        raw.stop()
        assert not raw.send("a:2552", "/user/inbox", "builtins.str", b"x")
    # The terminated system's address is free again, and what is sent to it
    # meanwhile is counted as undeliverable.
    assert net.addresses() == []
    other = net.transport("b:1")
    other.start()
    other.send("a:2552", "/user/inbox", "builtins.str", b"x")
    net.run_until_idle()
    assert net.stats("b:1", "a:2552")["undeliverable"] == 1
    async with sim_systems(net, "a") as (again,):
        assert again.address == "akka.tcp://a@a:2553"


async def test_a_terminated_peer_ends_the_association():
    net = SimNetwork(seed=5)
    async with sim_systems(net, "a") as (a,):
        async with sim_systems(net, "b") as (b,):
            _, log = await recorder(b, "inbox")
            a.tell_remote(b.address + "/user/inbox", "hi")
            await net.pump(lambda: log == ["hi"])
            assert set(Remote.get(a).associations()) == {"b:2553"}
        await net.pump(lambda: Remote.get(a).associations() == {})
        assert net.addresses() == ["a:2552"]


async def test_bad_arguments_raise_at_the_call():
    net = SimNetwork()
    with pytest.raises(ValueError, match="drop"):
        net.set_default(drop=1.5)
    with pytest.raises(ValueError, match="delay"):
        net.set_link("a:1", "b:1", delay=-1)
    with pytest.raises(TypeError, match="jitter"):
        net.set_link("a:1", "b:1", jitter="1s")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        net.advance(-0.1)
    with pytest.raises(InvalidRemoteAddressError):
        net.partition("a:1", "a:1")
    with pytest.raises(InvalidRemoteAddressError):
        net.transport("has space")
    with pytest.raises(TypeError, match="seed"):
        SimNetwork(seed="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="both"):
        net.heal("a:1")
    held = net.transport("x:1")  # a transport dropped unreferenced frees its address
    with pytest.raises(RemoteTransportError, match="in use"):
        net.transport("x:1")
    held.stop()
    net.transport("x:1").stop()
    async with sim_systems(net, "a") as (a,):
        with pytest.raises(RuntimeError, match="already has a remote transport"):
            net.attach(a)
        system = await ActorSystem.create("b")
        try:
            with pytest.raises(InvalidRemoteAddressError):
                net.attach(system, "b/1")
            with pytest.raises(RemoteTransportError, match="in use"):
                net.attach(system, "a:2552")
            net.attach(system, "b:7")  # a failed attach leaves the system free
            assert system.address == "akka.tcp://b@b:7"
        finally:
            await asyncio.wait_for(system.terminate(), DEADLINE)
    net.set_link("a:1", "b:1", drop=0.5, both_ways=True)
    assert net.faults("b:1", "a:1")["drop"] == 0.5
    net.clear_link("b:1", "a:1")
    assert net.faults("b:1", "a:1")["drop"] == 0.0


def test_a_bare_transport_reports_in_the_shapes_of_the_tcp_transport():
    # Remote drains both kinds of transport alike: the same tuples (an event
    # carries the peer's system name, empty on the simulated network) and
    # the same counters.
    tcp = _core._RemoteTransport("tcp")
    tcp.start()
    try:
        tcp_keys = tcp.stats().keys()
    finally:
        tcp.stop()
    net = SimNetwork()
    a, b = net.transport("a:1"), net.transport("b:1")
    a.start()
    b.start()
    try:
        assert a.send("b:1", "/user/x", "m.M", b"p", sender="/user/y", correlation_id=7)
        net.run_until_idle()
        items = b.drain()
        assert (_core.REMOTE_EVENT, "associated", "a:1", a.uid, "", "") in items
        assert (_core.REMOTE_ENVELOPE, "a:1", a.uid, "/user/x", "/user/y", "m.M", b"p",
                7) in items
        assert a.stats().keys() == tcp_keys
    finally:
        a.stop()
        b.stop()


class _Watcher(Actor):
    def __init__(self, seen: list) -> None:
        self.seen = seen

    def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, Terminated):
            self.seen.append(msg)
            return None
        ctx.watch(msg)
        return "watching"


class _Silent(Actor):
    def handle(self, ctx: Any, msg: Any) -> Any:
        return "up" if msg == "up" else asyncio.sleep(3600)  # never answers


@pytest.mark.parametrize("how", ["attach", "config"])
async def test_a_partition_ends_a_remote_watch_and_fails_a_pending_ask(how):
    """The simulated transport heartbeats and runs the failure detector on
    the virtual clock: cut off, the peer is declared unreachable after the
    acceptable pause (2 s, from attach's `failure_detector` or the system's
    config), its watches end with Terminated(address_terminated) and asks to
    it fail; after the heal its heartbeats make it reachable again."""
    net = SimNetwork(seed=7)
    fast = {"acceptable_heartbeat_pause": 2.0, "check_interval": 0.25}
    config = Config.from_dict({"remote": {"watch-failure-detector": {
        "acceptable-heartbeat-pause": 2.0, "unreachable-nodes-reaper-interval": 0.25}}})
    a = await ActorSystem.create("a", config if how == "config" else None)
    b = await ActorSystem.create("b")
    try:
        net.attach(a, failure_detector=fast if how == "attach" else None)
        net.attach(b)
        events: list = []
        a.event_stream.subscribe(events.append, RemoteUnreachable)
        a.event_stream.subscribe(events.append, RemoteReachable)
        target = b.actor_of(props(_Silent), "target")
        assert await target.ask("up") == "up"
        seen: list = []
        w = a.actor_of(props(_Watcher, factory=lambda: _Watcher(seen)), "watcher")
        remote = a.actor_selection(b.address + "/user/target")
        assert await w.ask(remote) == "watching"
        await net.pump(lambda: Remote.get(b)._watch.watcher_count() == 1)
        pending = asyncio.ensure_future(remote.ask("no answer", timeout=600.0))
        await net.pump(lambda: net.stats(a, b)["delivered"] >= 2)
        net.advance(5.0)  # a few heartbeats: nothing is suspected
        await asyncio.sleep(0.01)
        assert events == [] and seen == [] and not pending.done()

        cut = net.now()
        net.partition(a, b)
        await net.pump(lambda: len(seen) == 1, step=0.25)
        # 1 s interval + 2 s pause + ~6 deviations of 0.1 s after the last
        # heartbeat, which came at most 1 s before the cut.
        assert 2.0 < net.now() - cut < 5.0
        assert seen[0] == Terminated(remote.path) and seen[0].address_terminated
        with pytest.raises(RemoteAddressTerminatedError, match="unreachable"):
            await asyncio.wait_for(pending, DEADLINE)
        assert [(type(e), e.address, e.uid) for e in events] == \
            [(RemoteUnreachable, b.address, Remote.get(b).uid)]

        net.heal()
        await net.pump(lambda: len(events) == 2, step=0.25)
        assert (type(events[1]), events[1].address) == (RemoteReachable, b.address)
    finally:
        for system in (a, b):
            await asyncio.wait_for(system.terminate(), DEADLINE)


async def test_a_new_incarnation_at_an_address_quarantines_the_old_one():
    net = SimNetwork(seed=8)
    async with sim_systems(net, "a") as (a,):
        events: list = []
        a.event_stream.subscribe(events.append, QuarantinedEvent)
        async with sim_systems(net, "b") as (b,):
            _, log = await recorder(b, "inbox")
            a.tell_remote(b.address + "/user/inbox", "hi")
            await net.pump(lambda: log == ["hi"])
            old_uid = Remote.get(b).uid
        b2 = await ActorSystem.create("b")
        try:
            net.attach(b2, "b:2553")
            await net.pump(lambda: len(events) == 1)
            assert (events[0].address, events[0].uid) == ("akka.tcp://b@b:2553", old_uid)
            assert Remote.get(b2).uid != old_uid
        finally:
            await asyncio.wait_for(b2.terminate(), DEADLINE)


def test_attach_rejects_bad_failure_detector_settings():
    net = SimNetwork()
    with pytest.raises(ValueError, match="unknown failure detector"):
        net._net.attach("x:1", failure_detector={"nope": 1})
    with pytest.raises(ValueError, match="threshold"):
        net._net.attach("x:1", failure_detector={"threshold": 0.0})
