"""The cluster tools as system actors, the receptionist's auto-start,
replies to pub-sub senders and singletons that need a lease (in-process
clusters over a ClusterRegistry, real time)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atomr import Actor, props
from atomr.cluster import Cluster
from atomr.cluster_tools import (
    ClusterReceptionist,
    ClusterSingletonManager,
    DistributedPubSub,
    Publish,
    Send,
    SendToAll,
    Subscribe,
)
from atomr.coordination import InMemoryLease, Lease, LeaseSettings, TimeoutSettings
from tests.cluster._cluster_util import systems
from tests.cluster_tools.test_inprocess import Counter, _join, until


class Answerer(Actor):
    """Answers every message to its sender."""

    def __init__(self, node: str) -> None:
        self.node = node

    def handle(self, ctx: Any, msg: Any) -> Any:
        if ctx.sender is not None:
            ctx.sender.tell(("answer", self.node, msg))
        return None


class Publisher(Actor):
    """Sends what it is told through the mediator (so it is the sender);
    records the answers that come back."""

    def __init__(self, mediator: Any, answers: list) -> None:
        self.mediator = mediator
        self.answers = answers

    def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, tuple) and msg and msg[0] == "answer":
            self.answers.append(msg[1:])
        else:
            self.mediator.tell_with_sender(msg, ctx.self_ref)
        return None


def test_the_tools_actors_are_system_actors(registry):
    with systems("ya") as nodes:
        Cluster.with_test_transport(nodes[0], registry)
        ps = DistributedPubSub.get(nodes[0])
        rec = ClusterReceptionist.get(nodes[0])
        assert ps.mediator.path == "akka://ya/system/distributedPubSubMediator"
        assert rec.ref is not None and rec.ref.path == "akka://ya/system/receptionist"
        manager = ClusterSingletonManager.start(nodes[0], props(Answerer, factory=lambda: Answerer(
            "ya")), "one")
        # The manager is the application's (/user, as in Akka); its proxy is internal.
        assert manager.ref.path == "akka://ya/user/one"
        assert nodes[0].system_actor("one-managerProxy") is not None
        assert nodes[0].top_level("one-managerProxy") is None
        assert nodes[0].top_level("distributedPubSubMediator") is None


def test_the_receptionist_starts_with_the_cluster_when_configured(registry):
    with systems("auto", cluster={"client": {"receptionist": {"auto-start": True}}}) as on, \
            systems("manual") as off:
        clusters = [Cluster.with_test_transport(s, registry) for s in on + off]

        async def main() -> None:
            await _join(clusters)
            await until(lambda: on[0].system_actor("receptionist") is not None,
                        "the receptionist started")
            assert on[0].system_actor("distributedPubSubMediator") is not None
            assert ClusterReceptionist.get(on[0]).ref == on[0].system_actor("receptionist")
            assert off[0].system_actor("receptionist") is None

        asyncio.run(main())
        assert off[0].settings["cluster.client.receptionist.auto-start"] is False


def test_subscribers_answer_the_publisher_on_another_node(registry):
    with systems("qa", "qb", "qc") as nodes:
        clusters = [Cluster.with_test_transport(s, registry) for s in nodes]
        answers: list = []

        async def main() -> None:
            await _join(clusters)
            ps = [DistributedPubSub.get(s) for s in nodes]
            for p, s in zip(ps[1:], nodes[1:]):
                ref = s.actor_of(props(Answerer, factory=lambda n=s.name: Answerer(n)), "svc")
                await p.mediator.ask(Subscribe("questions", ref))
                p.put(ref)
            await until(lambda: ps[0].nodes_with("questions") == ["akka://qb", "akka://qc"]
                        and len(ps[0].nodes_with(path="/user/svc")) == 2, "gossiped")
            publisher = nodes[0].actor_of(props(Publisher, factory=lambda: Publisher(
                ps[0].mediator, answers)), "publisher")
            publisher.tell(Publish("questions", "q1"))
            await until(lambda: sorted(answers) == [("qb", "q1"), ("qc", "q1")], f"{answers}")
            answers.clear()
            publisher.tell(Send("/user/svc", "q2"))
            await until(lambda: len(answers) == 1 and answers[0][1] == "q2", f"{answers}")
            answers.clear()
            publisher.tell(SendToAll("/user/svc", "q3"))
            await until(lambda: sorted(answers) == [("qb", "q3"), ("qc", "q3")], f"{answers}")
            answers.clear()
            # The methods take the sender too.
            ps[0].publish("questions", "q4", sender=publisher)
            await until(lambda: sorted(answers) == [("qb", "q4"), ("qc", "q4")], f"{answers}")

        asyncio.run(main())


def _lease(store: InMemoryLease, owner: str) -> Lease:
    return Lease(store, LeaseSettings("single", owner, TimeoutSettings(
        heartbeat_interval=0.05, heartbeat_timeout=2.0, operation_timeout=2.0)))


def test_a_singleton_with_a_lease_runs_only_while_its_node_holds_it(registry):
    with systems("la", "lb") as nodes:
        clusters = [Cluster.with_test_transport(s, registry) for s in nodes]
        log: list = []
        store = InMemoryLease()

        async def main() -> None:
            await _join(clusters)
            store.acquire("intruder", ttl=30.0)
            managers = [ClusterSingletonManager.start(
                s, props(Counter, factory=lambda n=s.name: Counter(log, n)), "single",
                lease=_lease(store, c.self_address), lease_retry_interval=0.1)
                for s, c in zip(nodes, clusters)]
            # The oldest waits for the lease another owner holds.
            await until(lambda: managers[1].state == "active_remote")
            await asyncio.sleep(0.5)
            assert managers[0].state == "starting" and log == []
            store.release("intruder")
            await until(lambda: managers[0].state == "active_here", f"{managers[0].state}")
            assert log == [("start", "la")] and store.check() == "akka://la"
            # Another owner takes it away: the singleton stops at once...
            store.release("akka://la")
            store.acquire("intruder", ttl=30.0)
            await until(lambda: ("stop", "la") in log, f"{log}")
            assert managers[0].state != "active_here"
            assert not managers[0].lease.check_lease()
            # ... and starts again once the lease is free again.
            store.release("intruder")
            await until(lambda: managers[0].state == "active_here" and
                        log.count(("start", "la")) == 2, f"{log}")
            assert managers[0].started_count == 2 and managers[1].started_count == 0
            # A graceful hand-over releases the lease for the next oldest.
            await clusters[0].leave()
            await until(lambda: managers[1].state == "active_here", f"{managers[1].state}")
            assert store.check() == "akka://lb"
            assert log.index(("stop", "la"), log.index(("start", "la"), 1) + 1) < \
                log.index(("start", "lb"))

        asyncio.run(main())


def test_a_singleton_lease_by_name_comes_from_the_lease_provider(registry):
    with systems("na") as nodes:
        cluster = Cluster.with_test_transport(nodes[0], registry)
        log: list = []
        name = f"singleton-by-name-{id(registry)}"

        async def main() -> None:
            await _join([cluster])
            manager = ClusterSingletonManager.start(
                nodes[0], props(Counter, factory=lambda: Counter(log, "na")), "named",
                lease=name)
            await until(lambda: manager.state == "active_here")
            assert InMemoryLease.named(name).check() == "akka://na"
            assert manager.lease is not None and manager.lease.check_lease()

        asyncio.run(main())
        with pytest.raises(TypeError):
            ClusterSingletonManager.start(nodes[0], props(Counter), "x", lease=3)  # type: ignore
        with pytest.raises(ValueError):
            ClusterSingletonManager.start(nodes[0], props(Counter), "x", lease="",)
    # The system's end released it.
    assert InMemoryLease.named(name).check() is None
