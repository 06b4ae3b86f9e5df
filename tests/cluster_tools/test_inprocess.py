"""Cluster tools on in-process clusters over a ClusterRegistry (real time)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any


from atomr import Actor, props
from atomr.cluster import Cluster
from atomr.cluster_tools import (
    ClusterSingletonManager,
    ClusterSingletonProxy,
    DistributedPubSub,
    GetTopics,
    Publish,
    Subscribe,
    SubscribeAck,
)
from tests._helpers import wait_until
from tests.cluster._cluster_util import systems


#: Joins, gossip and removals on a loaded 2-core machine.
DEADLINE = 30.0


async def until(pred: Any, message: str = "") -> Any:
    return await wait_until(pred, DEADLINE, message)


class Sink(Actor):
    """Records every message in a shared list."""

    def __init__(self, seen: list, tag: str = "") -> None:
        self.seen = seen
        self.tag = tag

    def handle(self, ctx: Any, msg: Any) -> Any:
        self.seen.append((self.tag, msg) if self.tag else msg)
        return msg


def sink(seen: list, tag: str = "") -> Any:
    return props(Sink, factory=lambda: Sink(seen, tag))


async def _join(clusters: list[Cluster]) -> None:
    seed = clusters[0].self_address
    await asyncio.gather(*(c.join_seed_nodes([seed]) for c in clusters))
    await until(lambda: all(c.member_count() == len(clusters) and c.converged and
                                 all(m.status == "up" for m in c.membership_snapshot().members())
                                 for c in clusters), message="cluster up and converged")


def test_publish_reaches_actor_and_callable_subscribers_on_every_node(registry):
    with systems("pa", "pb", "pc") as nodes:
        clusters = [Cluster.with_test_transport(s, registry) for s in nodes]
        seen: list = []
        lock = threading.Lock()
        calls: list = []

        def on_b(msg: Any) -> None:
            with lock:
                calls.append((threading.get_ident(), msg))

        async def main() -> None:
            await _join(clusters)
            ps = [DistributedPubSub.get(s) for s in nodes]
            for i, s in enumerate(nodes):
                ref = s.actor_of(sink(seen, s.name), "sub")
                assert await ps[i].mediator.ask(Subscribe("news", ref)) == SubscribeAck(
                    Subscribe("news", ref))
            ps[1].subscribe("news", on_b)
            await until(lambda: all(len(p.nodes_with("news")) == 3 for p in ps),
                             message="registry gossiped")
            assert all(p.topics() == ["news"] for p in ps)
            ps[0].publish("news", "hello")
            await until(lambda: sorted(seen) == [("pa", "hello"), ("pb", "hello"),
                                                       ("pc", "hello")], message=f"{seen}")
            await until(lambda: [m for _, m in calls] == ["hello"])
            # Through the mediator's protocol, from c.
            ps[2].mediator.tell(Publish("news", "again"))
            await until(lambda: len(seen) == 6 and len(calls) == 2)
            topics = await ps[2].mediator.ask(GetTopics())
            assert topics.topics == frozenset({"news"})
            # Nothing is delivered twice.
            await asyncio.sleep(0.3)
            assert len(seen) == 6 and len(calls) == 2

        asyncio.run(main())


def test_groups_send_and_send_to_all(registry):
    with systems("ga", "gb") as nodes:
        clusters = [Cluster.with_test_transport(s, registry) for s in nodes]
        seen: list = []

        async def main() -> None:
            await _join(clusters)
            a, b = (DistributedPubSub.get(s) for s in nodes)
            for s, p in zip(nodes, (a, b)):
                p.subscribe("jobs", s.actor_of(sink(seen, s.name + "-w1"), "w1"), group="workers")
                p.subscribe("jobs", s.actor_of(sink(seen, s.name + "-w2"), "w2"), group="workers")
                p.subscribe("jobs", s.actor_of(sink(seen, s.name + "-l"), "logger"), group="log")
                p.put(s.actor_of(sink(seen, s.name + "-svc"), "svc"))
            await until(lambda: len(a.nodes_with("jobs", "workers")) == 2 and
                             len(a.nodes_with(path="/user/svc")) == 2 and
                             len(b.nodes_with(path="/user/svc")) == 2)
            for i in range(20):
                a.publish("jobs", i, send_one_message_to_each_group=True)
            await until(lambda: len(seen) == 40, message=f"{len(seen)}")
            workers = [m for t, m in seen if "-w" in t]
            logs = [m for t, m in seen if t.endswith("-l")]
            assert sorted(workers) == list(range(20)) and sorted(logs) == list(range(20))
            seen.clear()
            # send: one of them; local affinity prefers this node's.
            for i in range(10):
                assert b.send("/user/svc", i, local_affinity=True)
            await until(lambda: len(seen) == 10)
            assert {t for t, _ in seen} == {"gb-svc"}
            seen.clear()
            assert a.send_to_all("/user/svc", "all") == 2
            await until(lambda: sorted(seen) == [("ga-svc", "all"), ("gb-svc", "all")])
            seen.clear()
            assert a.send_to_all("/user/svc", "others", all_but_self=True) == 1
            await until(lambda: seen == [("gb-svc", "others")])
            assert not a.send("/user/nothing", 1)

        asyncio.run(main())


def test_a_stopped_subscriber_and_a_removed_node_are_pruned(registry):
    with systems("ra", "rb", "rc") as nodes:
        clusters = [Cluster.with_test_transport(s, registry) for s in nodes]
        seen: list = []

        async def main() -> None:
            await _join(clusters)
            ps = [DistributedPubSub.get(s) for s in nodes]
            refs = [s.actor_of(sink(seen, s.name), "sub") for s in nodes]
            for p, ref in zip(ps, refs):
                p.subscribe("t", ref)
            await until(lambda: len(ps[0].nodes_with("t")) == 3)
            # A subscriber that stops is unsubscribed, and the others learn it.
            refs[1].stop()
            await until(lambda: ps[0].nodes_with("t") == ["akka://ra", "akka://rc"],
                             message=f"{ps[0].nodes_with('t')}")
            # A node that is removed from the cluster is pruned from the registry.
            await clusters[2].leave()
            await until(lambda: ps[0].nodes_with("t") == ["akka://ra"],
                             message=f"{ps[0].nodes_with('t')}")
            assert "akka://rc" not in ps[0]._versions()
            ps[0].publish("t", "x")
            await until(lambda: seen == [("ra", "x")])

        asyncio.run(main())


class Counter(Actor):
    """A singleton that counts what it receives and says where it runs."""

    def __init__(self, log: list, node: str, stop_delay: float = 0.0) -> None:
        self.log = log
        self.node = node
        self.stop_delay = stop_delay

    def pre_start(self, ctx: Any) -> None:
        self.log.append(("start", self.node))

    async def post_stop(self, ctx: Any) -> None:
        # A slow stop: the next instance must still wait for it.
        await asyncio.sleep(self.stop_delay)
        self.log.append(("stop", self.node))

    def handle(self, ctx: Any, msg: Any) -> Any:
        self.log.append((self.node, msg))
        return self.node


def test_singleton_runs_on_the_oldest_and_moves_on_leave(registry):
    with systems("sa", "sb", "sc") as nodes:
        clusters = [Cluster.with_test_transport(s, registry) for s in nodes]
        log: list = []

        async def main() -> None:
            await _join(clusters)
            managers = [ClusterSingletonManager.start(
                s, props(Counter, factory=lambda n=s.name: Counter(log, n, 0.5)), "counter",
                buffer_size=10) for s in nodes]
            # sa formed the cluster: it is the oldest.
            await until(lambda: [m.state for m in managers] ==
                             ["active_here", "active_remote", "active_remote"],
                             message=f"{[m.state for m in managers]}")
            for i in range(5):
                managers[2].tell(i)
            await until(lambda: [x for x in log if x[0] == "sa"] ==
                             [("sa", i) for i in range(5)], message=f"{log}")
            # Graceful leave: the old instance stops before the new one starts.
            await clusters[0].leave()
            await until(lambda: managers[1].state == "active_here",
                             message=f"{[m.state for m in managers]}")
            assert log.index(("stop", "sa")) < log.index(("start", "sb"))
            assert sum(m.started_count for m in managers) == 2
            for i in range(5, 8):
                managers[2].tell(i)
            await until(lambda: [x for x in log if x[0] == "sb"] ==
                             [("sb", i) for i in range(5, 8)], message=f"{log}")
            assert managers[2].state == "active_remote"
            assert managers[2].drops == 0

        asyncio.run(main())


def test_proxy_buffers_while_there_is_no_singleton_and_counts_drops(registry):
    with systems("xa", "xb") as nodes:
        clusters = [Cluster.with_test_transport(s, registry) for s in nodes]
        log: list = []

        async def main() -> None:
            await _join(clusters)
            # Only the role "worker" may run it, and no node has it yet: no singleton.
            proxy = ClusterSingletonProxy.start(nodes[1], "lonely", role="worker",
                                                buffer_size=3)
            for i in range(5):
                proxy.tell(i)
            assert proxy.buffered == 3 and proxy.drops == 2
            await asyncio.sleep(0.3)
            assert proxy.buffered == 3 and proxy.location is None
            # Without a role the oldest runs it; the buffer goes there in order.
            manager = ClusterSingletonManager.start(
                nodes[0], props(Counter, factory=lambda: Counter(log, "xa")), "lonely")
            ClusterSingletonManager.start(
                nodes[1], props(Counter, factory=lambda: Counter(log, "xb")), "lonely")
            assert manager.state == "inactive"
            other = ClusterSingletonProxy.start(nodes[1], "lonely", name="p2", buffer_size=3)
            for i in range(3):
                other.tell(i)
            await until(lambda: [m for n, m in log if n == "xa"] == [0, 1, 2],
                             message=f"{log}")
            assert other.drops == 0 and other.buffered == 0 and other.location == "akka://xa"
            # The role-bound proxy still has nothing to deliver to.
            assert proxy.buffered == 3 and proxy.drops == 2

        asyncio.run(main())
