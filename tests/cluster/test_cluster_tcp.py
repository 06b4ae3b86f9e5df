"""Cluster over TCP in one process: with_tcp_transport, joins, remote
traffic alongside the daemon's, remote death watch tied to membership, and
``actor.provider = "cluster"``."""

from __future__ import annotations

import asyncio
import re

import pytest

from atomr import Actor, ActorSystem, Terminated, props
from atomr.cluster import Cluster, MemberRemoved
from atomr.remote import Remote
from tests.cluster._cluster_util import config, events_until, systems


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


class Collector(Actor):
    def __init__(self, seen: list) -> None:
        self.seen = seen

    def handle(self, ctx, msg):
        if isinstance(msg, tuple) and msg[0] == "watch":
            ctx.watch(msg[1])
            return "watching"
        self.seen.append(msg)
        return None


def _up(c: Cluster) -> set[str]:
    return {m.address for m in c.membership_snapshot().members() if m.status == "up"}


async def _converged(clusters: list[Cluster], timeout: float = 20.0) -> None:
    everyone = {c.self_address for c in clusters}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(_up(c) == everyone for c in clusters):
        assert loop.time() < deadline, [_up(c) for c in clusters]
        await asyncio.sleep(0.01)


def test_port_zero_picks_a_port_and_names_the_address():
    with systems("tz") as (s,):
        c = Cluster.with_tcp_transport(s, ":0")
        m = re.fullmatch(r"akka\.tcp://tz@127\.0\.0\.1:(\d+)", c.self_address)
        assert m and int(m.group(1)) > 0
        assert s.address == c.self_address
        assert Remote.get(s).port == int(m.group(1))
        assert Cluster.get(s) is c


def test_advertised_host():
    with systems("tadv") as (s,):
        c = Cluster.with_tcp_transport(s, "127.0.0.1:0", advertised_host="127.0.0.1")
        assert c.self_address.startswith("akka.tcp://tadv@127.0.0.1:")


@pytest.mark.parametrize("bad", ["nonsense", "127.0.0.1:99999", "127.0.0.1:x", "1.2.3.4.5:0",
                                 "192.0.2.1:0", "", "a b:0"])
def test_bad_bind_address_is_a_value_error(bad):
    with systems("tbad") as (s,):
        with pytest.raises(ValueError):
            Cluster.with_tcp_transport(s, bad)
        # Nothing was started: the system can still pick a transport.
        assert s.address == "akka://tbad"
        c = Cluster.with_tcp_transport(s, "127.0.0.1:0")
        assert c.self_address.startswith("akka.tcp://tbad@127.0.0.1:")


def test_three_systems_join_over_tcp_and_remote_tells_still_work():
    with systems("ta", "tb", "tc") as (a, b, c):
        ca, cb, cc = (Cluster.with_tcp_transport(s, "127.0.0.1:0") for s in (a, b, c))
        assert ca.member_count() == cb.member_count() == cc.member_count() == 1
        c.actor_of(props(Echo), "echo")
        seen: list = []
        b.actor_of(props(Collector, factory=lambda: Collector(seen)), "sink")

        async def main():
            await asyncio.gather(ca.join_seed_nodes([ca.self_address]),
                                 cb.join_seed_nodes([ca.self_address]),
                                 cc.join_seed_nodes([ca.self_address]))
            await _converged([ca, cb, cc])
            # The leader is the first member in address order (the lowest port).
            lowest = min((ca, cb, cc), key=lambda x: int(x.self_address.rpartition(":")[2]))
            assert ca.leader == cb.leader == cc.leader == lowest.self_address
            echo = a.actor_selection(c.address + "/user/echo")
            for i in range(50):
                assert await echo.ask(i, timeout=10) == i
            sink = a.actor_selection(b.address + "/user/sink")
            for i in range(200):
                sink.tell(i)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while len(seen) < 200:
                assert loop.time() < deadline
                await asyncio.sleep(0.01)
            assert seen == list(range(200))

        asyncio.run(main())
        # The daemon's envelopes never reached the actors or dead letters.
        assert sum(x.stats()["gossip_received"] + x.stats()["status_received"]
                   for x in (ca, cb, cc)) > 0
        assert all(x.stats()["malformed"] == 0 for x in (ca, cb, cc))
        assert Remote.get(b).stats()["inbound_undelivered"] == 0


def test_remote_watch_ends_when_the_member_is_downed_and_removed():
    with systems("wa", "wb", "wc") as (a, b, c):
        ca, cb, cc = (Cluster.with_tcp_transport(s, "127.0.0.1:0") for s in (a, b, c))
        c.actor_of(props(Echo), "target")
        seen: list = []
        w = b.actor_of(props(Collector, factory=lambda: Collector(seen)), "watcher")

        async def main():
            await asyncio.gather(ca.join_seed_nodes([ca.self_address]),
                                 cb.join_seed_nodes([ca.self_address]),
                                 cc.join_seed_nodes([ca.self_address]))
            await _converged([ca, cb, cc])
            target = b.actor_selection(c.address + "/user/target")
            assert await target.ask("up", timeout=10) == "up"
            assert await w.ask(("watch", target), timeout=10) == "watching"
            sub = cb.subscribe(["MemberRemoved"])
            await ca.down(cc.self_address)
            removed = await events_until(sub, lambda e: isinstance(e, MemberRemoved))
            assert removed[-1].member.address == cc.self_address
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not seen:
                assert loop.time() < deadline, "no Terminated after the member was removed"
                await asyncio.sleep(0.01)
            t = seen[0]
            assert isinstance(t, Terminated) and t.address_terminated
            assert t.path == target.path
            # The target itself still runs: only its node left the cluster.
            assert c.actor_selection("/user/target") is not None

        asyncio.run(main())


def test_provider_cluster_starts_remoting_and_joins_the_seed_nodes():
    a = ActorSystem.create_blocking("pa", config(actor={"provider": "cluster"},
                                                 remote={"port": 0}))
    try:
        ca = Cluster.get(a)
        assert ca.self_address == a.address and a.address.startswith("akka.tcp://pa@")
        b = ActorSystem.create_blocking(
            "pb", config({"seed-nodes": [ca.self_address, "akka.tcp://pb@127.0.0.1:1"]},
                         actor={"provider": "cluster"}, remote={"port": 0}))
        try:
            cb = Cluster.get(b)

            async def main():
                await _converged([ca, cb])

            # a is a one-node cluster of itself (it has no seed nodes) that b joins.
            asyncio.run(main())
            assert cb.leader == ca.leader in (ca.self_address, cb.self_address)
        finally:
            b.terminate_blocking(10.0)
    finally:
        a.terminate_blocking(10.0)


def test_get_uses_the_remoting_the_system_already_runs():
    with systems("rr", remote={"enabled": True, "port": 0}) as (s,):
        c = Cluster.get(s)
        assert c.self_address == s.address == Remote.get(s).address


async def test_provider_cluster_with_an_async_system():
    system = await ActorSystem.create("pasync", config(actor={"provider": "cluster"},
                                                       remote={"port": 0}))
    try:
        c = Cluster.get(system)
        assert c.self_address == system.address
        await c.join_seed_nodes([c.self_address])
        assert c.self_status() == "up" and c.leader == c.self_address
        sub = c.subscribe(["MemberUp"])
        replay = await asyncio.wait_for(sub.__anext__(), 10)
        assert replay.member.address == c.self_address
    finally:
        await system.terminate()
    assert sub.closed
