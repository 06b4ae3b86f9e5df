"""Cluster metrics between the members of a ClusterRegistry (real time):
every node's sample reaches every node, removed members are dropped, and
the adaptive router sends more work to members with more spare capacity."""

from __future__ import annotations

import asyncio
import collections
import itertools

import pytest

from atomr import ActorSystem, props
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster.routing import ClusterRouterGroupSettings, cluster_router_group
from atomr.cluster_metrics import (
    METRICS_ACTOR,
    AdaptiveLoadBalancingLogic,
    ClusterMetricsExtension,
    NodeMetrics,
)
from tests.cluster._cluster_util import config
from tests.cluster._routing_actors import Counter
from tests.cluster.test_cluster_routing import join, nodes_of, poll

FAST_METRICS = {"metrics": {"collect-interval": 0.1, "moving-average-half-life": 0.2}}


@pytest.fixture
def three():
    registry = ClusterRegistry()
    made: list[ActorSystem] = []
    try:
        for name in ("ma", "mb", "mc"):
            made.append(ActorSystem.create_blocking(name, config(FAST_METRICS)))
        join(registry, made, made[0])
        yield registry, made
    finally:
        for system in made:
            system.terminate_blocking(10.0)
        registry.close()


def test_metrics_converge_on_every_node_and_removed_members_are_dropped(three):
    _, systems = three
    exts = [ClusterMetricsExtension.get(s) for s in systems]
    assert ClusterMetricsExtension.get(systems[0]) is exts[0]
    assert systems[0].system_actor(METRICS_ACTOR) is not None
    everyone = {"akka://ma", "akka://mb", "akka://mc"}
    poll(lambda: all({m.address for m in e.snapshot()} == everyone for e in exts),
         what="every node has every node's sample")
    for e in exts:
        for m in e.snapshot():
            assert 0.0 <= m.cpu_load <= 1.0 and 0 < m.memory_used <= m.memory_max
    # The samples keep coming: a later snapshot has newer timestamps.
    before = exts[0].metrics_of("akka://mc").timestamp
    poll(lambda: exts[0].metrics_of("akka://mc").timestamp > before, what="a newer sample of c")
    assert exts[0].metrics().node_count() == 3 and exts[0].node_count() == 3

    asyncio.run(Cluster.get(systems[2]).leave(timeout=20.0))
    poll(lambda: all(e.metrics_of("akka://mc") is None for e in exts[:2]),
         what="c's metrics dropped on a and b")
    # Pushes c sent before it left must not bring it back: after further
    # rounds of pushes between a and b it is still gone.
    for _ in range(3):
        seen = exts[0].metrics_of("akka://mb").timestamp
        poll(lambda: exts[0].metrics_of("akka://mb").timestamp > seen)
    assert all(e.metrics_of("akka://mc") is None and e.node_count() == 2 for e in exts[:2])


def test_set_collector_checks_its_argument_and_samples_of_others_are_refused(three):
    _, systems = three
    ext = ClusterMetricsExtension.get(systems[0])
    with pytest.raises(TypeError):
        ext.set_collector(42)  # type: ignore[arg-type]
    calls = [0]

    def wrong() -> NodeMetrics:
        calls[0] += 1
        return NodeMetrics("akka://someone-else", 1, 0.123)

    ext.set_collector(wrong)
    poll(lambda: calls[0] >= 3, what="the collector ran")
    assert ext.metrics_of("akka://someone-else") is None
    assert all(e.metrics_of("akka://someone-else") is None
               for e in (ClusterMetricsExtension.get(s) for s in systems))
    ext.set_collector(lambda: NodeMetrics("akka://ma", 2**60, 0.77, 1, 2))
    poll(lambda: ClusterMetricsExtension.get(systems[1]).metrics_of("akka://ma") is not None
         and ClusterMetricsExtension.get(systems[1]).metrics_of("akka://ma").cpu_load == 0.77,
         what="b sees a's pluggable sample")
    with pytest.raises(TypeError):
        ClusterMetricsExtension(systems[0])


def test_adaptive_router_sends_more_to_members_with_spare_capacity(three):
    _, systems = three
    loads = {"akka://ma": 0.5, "akka://mb": 0.95, "akka://mc": 0.05}
    clock = itertools.count(1)
    for s in systems:
        ext = ClusterMetricsExtension.get(s)
        me = Cluster.get(s).self_address
        ext.set_collector(lambda me=me: NodeMetrics(me, next(clock), loads[me], 1, 2))
    a = systems[0]
    ext_a = ClusterMetricsExtension.get(a)
    poll(lambda: all(ext_a.metrics_of(addr) is not None and ext_a.metrics_of(addr).cpu_load == load
                     for addr, load in loads.items()), what="a sees every load")
    counters = [s.actor_of(props(Counter), "work") for s in systems]
    router = a.actor_of(cluster_router_group(AdaptiveLoadBalancingLogic("cpu"),
                                             ClusterRouterGroupSettings(["/user/work"])),
                        "adaptive")
    poll(lambda: nodes_of(router) == {"ma": 1, "mb": 1, "mc": 1})
    for i in range(600):
        router.tell(i)
    poll(lambda: sum(c.ask_blocking("count") for c in counters) == 600, what="all delivered")
    got = [c.ask_blocking("count") for c in counters]
    # Weights 0.5 : 0.05 : 0.95 -> about 200 : 20 : 380.
    assert got[2] > got[0] > got[1], got
    assert got[1] < 60 and got[2] > 300, got
    # "adaptive" by name: the mix selector, from the same metrics.
    named = a.actor_of(cluster_router_group("adaptive",
                                            ClusterRouterGroupSettings(["/user/work"])), "named")
    poll(lambda: nodes_of(named) == {"ma": 1, "mb": 1, "mc": 1})
    before = [c.ask_blocking("count") for c in counters]
    for i in range(300):
        named.tell(i)
    poll(lambda: sum(c.ask_blocking("count") for c in counters) == 900)
    extra = collections.Counter({i: c.ask_blocking("count") - before[i]
                                 for i, c in enumerate(counters)})
    # mix = (cpu weight + heap weight 0.5) / 2: 0.5, 0.275, 0.725
    assert extra[2] > extra[1], extra
