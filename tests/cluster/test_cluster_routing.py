"""Cluster-aware routers over a ClusterRegistry (real time): groups and
pools follow the members joining, leaving and becoming unreachable; pool
deployment counts; settings validation."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import Any, Callable, Iterator

import pytest

from atomr import ActorSystem, props
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster.routing import (
    DEPLOYER,
    ClusterRouterGroupSettings,
    ClusterRouterPoolSettings,
    ClusterRouting,
    ConsistentHashableEnvelope,
    RoutingLogic,
    cluster_router_group,
    cluster_router_pool,
)
from atomr.routing import Broadcast, GetRoutees
from tests.cluster._cluster_util import config
from tests.cluster._routing_actors import Counter, Echo

DEADLINE = 30.0


def poll(pred: Callable[[], Any], timeout: float = DEADLINE, what: str = "") -> Any:
    """`pred()` once it is truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def cluster_of(*names: str, roles: dict[str, list[str]] | None = None,
               ) -> Iterator[tuple[ClusterRegistry, list[ActorSystem]]]:
    """Systems `names` on one registry, joined and running ClusterRouting."""
    registry = ClusterRegistry()
    made: list[ActorSystem] = []
    try:
        for name in names:
            made.append(ActorSystem.create_blocking(
                name, config({"roles": (roles or {}).get(name, [])})))
        join(registry, made, made[0])
        yield registry, made
    finally:
        for system in made:
            system.terminate_blocking(10.0)
        registry.close()


def join(registry: ClusterRegistry, systems: list[ActorSystem], seed: ActorSystem) -> None:
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    for s in systems:
        ClusterRouting.get(s)
    seed_address = Cluster.get(seed).self_address

    async def main() -> None:
        await asyncio.gather(*(c.join_seed_nodes([seed_address]) for c in clusters))

    asyncio.run(main())


def routees(router: Any) -> list[Any]:
    return router.ask_blocking(GetRoutees())


def nodes_of(router: Any) -> collections.Counter:
    """Routees per system name (``akka://a/...`` or ``akka.tcp://a@...``)."""
    out: collections.Counter = collections.Counter()
    for r in routees(router):
        out[r.path.split("://", 1)[1].split("@")[0].split("/")[0]] += 1
    return out


def answers(router: Any, n: int) -> collections.Counter:
    """Who answered `n` asks through `router` (Echo routees)."""
    async def main() -> list[Any]:
        return [await router.ask(i, timeout=10.0) for i in range(n)]
    return collections.Counter(name for name, _ in asyncio.run(main()))


# -- settings -----------------------------------------------------------------------


def test_settings_are_checked_at_the_call_site():
    with pytest.raises(ValueError):
        ClusterRouterGroupSettings([])
    with pytest.raises(ValueError):
        ClusterRouterGroupSettings(["worker"])  # no /user/
    with pytest.raises(ValueError):
        ClusterRouterGroupSettings(["akka://a/user/worker"])
    with pytest.raises(ValueError):
        ClusterRouterGroupSettings(["/user/w", "/user/w"])
    with pytest.raises(TypeError):
        ClusterRouterGroupSettings([3])
    with pytest.raises(ValueError):
        ClusterRouterGroupSettings(["/user/w"], use_roles=[])
    with pytest.raises(TypeError):
        ClusterRouterGroupSettings(["/user/w"], allow_local_routees="yes")
    g = ClusterRouterGroupSettings("/user/w", use_roles="backend")
    assert g.routees_paths == ("/user/w",) and g.use_roles == frozenset({"backend"})
    with pytest.raises(ValueError):
        ClusterRouterPoolSettings(0)
    with pytest.raises(ValueError):
        ClusterRouterPoolSettings(3, max_instances_per_node=0)
    with pytest.raises(TypeError):
        ClusterRouterPoolSettings(2.5)
    with pytest.raises(TypeError):
        ClusterRouterPoolSettings(True)
    p = ClusterRouterPoolSettings(6, 2, allow_local_routees=False, use_roles=["a", "b"])
    assert (p.total_instances, p.max_instances_per_node, p.allow_local_routees) == (6, 2, False)
    assert "total_instances=6" in repr(p)


def test_factories_reject_bad_logic_props_and_settings():
    group = ClusterRouterGroupSettings(["/user/w"])
    pool = ClusterRouterPoolSettings(2)
    with pytest.raises(ValueError, match="unknown cluster routing logic"):
        cluster_router_group("smallest_pie", group)
    with pytest.raises(TypeError):
        cluster_router_group(3, group)
    with pytest.raises(TypeError):
        cluster_router_group("random", pool)
    with pytest.raises(TypeError):
        cluster_router_pool(props(Echo), "random", group)
    with pytest.raises(ValueError, match="class name"):
        cluster_router_pool(props(Echo, factory=lambda: Echo()), "random", pool)

    class Local(Echo):
        pass

    with pytest.raises(ValueError, match="module-level"):
        cluster_router_pool(props(Local), "random", pool)
    with pytest.raises(TypeError):
        cluster_router_pool(Echo, "random", pool)  # type: ignore[arg-type]
    for logic in ("round_robin", "random", "broadcast", "consistent_hash", "adaptive"):
        assert cluster_router_pool(props(Echo), logic, pool).kind_label == "router"
        assert cluster_router_group(logic, group).kind_label == "router"


# -- groups -------------------------------------------------------------------------


def test_group_routes_over_every_member_and_follows_join_unreachable_and_leave():
    with cluster_of("ga", "gb", "gc") as (registry, (a, b, c)):
        for s in (a, b, c):
            s.actor_of(props(Echo), "echo")
        router = a.actor_of(cluster_router_group(
            "round_robin", ClusterRouterGroupSettings(["/user/echo"])), "group")
        poll(lambda: nodes_of(router) == {"ga": 1, "gb": 1, "gc": 1}, what="3 routees")
        assert answers(router, 9) == {"ga": 3, "gb": 3, "gc": 3}

        # A member that comes up gets a routee.
        d = ActorSystem.create_blocking("gd", config())
        try:
            d.actor_of(props(Echo), "echo")
            join(registry, [d], a)
            poll(lambda: nodes_of(router).get("gd") == 1, what="d's routee")
            assert answers(router, 8) == {"ga": 2, "gb": 2, "gc": 2, "gd": 2}

            # An unreachable member loses it, and gets it back when reachable.
            registry.partition_groups(["akka://ga", "akka://gb", "akka://gd"], ["akka://gc"])
            poll(lambda: "gc" not in nodes_of(router), what="c unreachable")
            assert answers(router, 6) == {"ga": 2, "gb": 2, "gd": 2}
            registry.heal()
            poll(lambda: nodes_of(router).get("gc") == 1, what="c reachable again")

            # A member that leaves (is removed) loses it.
            asyncio.run(Cluster.get(d).leave(timeout=20.0))
            poll(lambda: "gd" not in nodes_of(router), what="d removed")
            assert answers(router, 3) == {"ga": 1, "gb": 1, "gc": 1}
        finally:
            d.terminate_blocking(10.0)


def test_group_by_role_without_local_routees_and_broadcast():
    roles = {"ra": ["front"], "rb": ["back"], "rc": ["back"]}
    with cluster_of("ra", "rb", "rc", roles=roles) as (_, (a, b, c)):
        counters = [s.actor_of(props(Counter), "count") for s in (a, b, c)]
        router = a.actor_of(cluster_router_group(
            "broadcast", ClusterRouterGroupSettings(["/user/count"], use_roles="back")), "bc")
        poll(lambda: nodes_of(router) == {"rb": 1, "rc": 1}, what="the back members")
        for i in range(5):
            router.tell(i)
        poll(lambda: [c.ask_blocking("count") for c in counters] == [0, 5, 5],
             what="each back member got every message")
        local = a.actor_of(cluster_router_group(
            "random", ClusterRouterGroupSettings(["/user/count"], allow_local_routees=False)),
            "nolocal")
        poll(lambda: nodes_of(local) == {"rb": 1, "rc": 1}, what="no local routee")
        local.tell(Broadcast("x"))  # Broadcast reaches every routee whatever the logic
        poll(lambda: [c.ask_blocking("count") for c in counters] == [0, 6, 6])

        # A local routee that stops is no routee; a new actor at its path is.
        mine = a.actor_of(cluster_router_group(
            "round_robin", ClusterRouterGroupSettings(["/user/count"])), "mine")
        poll(lambda: nodes_of(mine) == {"ra": 1, "rb": 1, "rc": 1})
        counters[0].stop()
        poll(lambda: nodes_of(mine) == {"rb": 1, "rc": 1}, what="a's stopped routee out")
        poll(lambda: a.top_level("count") is None)
        fresh = a.actor_of(props(Counter), "count")
        poll(lambda: nodes_of(mine) == {"ra": 1, "rb": 1, "rc": 1}, what="the new one in")
        for i in range(3):
            mine.tell(i)
        poll(lambda: fresh.ask_blocking("count") == 1)


def test_consistent_hash_group_keeps_a_key_on_one_routee():
    with cluster_of("ha", "hb", "hc") as (_, systems):
        for s in systems:
            s.actor_of(props(Echo), "echo")
        router = systems[0].actor_of(cluster_router_group(
            "consistent_hash", ClusterRouterGroupSettings(["/user/echo"])), "hash")
        poll(lambda: len(routees(router)) == 3)

        async def main() -> dict[str, set[str]]:
            seen: dict[str, set[str]] = collections.defaultdict(set)
            for i in range(60):
                key = f"k{i % 12}"
                name, msg = await router.ask(ConsistentHashableEnvelope(key, key), timeout=10)
                assert msg == key
                seen[key].add(name)
            return seen

        seen = asyncio.run(main())
        assert all(len(v) == 1 for v in seen.values())
        assert len({next(iter(v)) for v in seen.values()}) > 1  # keys spread


class _FirstOnly(RoutingLogic):
    def select(self, message: Any, routees: Any) -> Any:
        return [min(routees, key=lambda r: r.address)]


def test_a_routing_logic_of_ones_own():
    with cluster_of("la", "lb") as (_, (a, b)):
        for s in (a, b):
            s.actor_of(props(Echo), "echo")
        router = b.actor_of(cluster_router_group(
            _FirstOnly(), ClusterRouterGroupSettings(["/user/echo"])), "first")
        poll(lambda: len(routees(router)) == 2)
        assert answers(router, 4) == {"la": 4}


# -- pools --------------------------------------------------------------------------


def test_pool_deploys_within_the_limits_and_redeploys_when_a_member_leaves():
    with cluster_of("pa", "pb", "pc") as (_, (a, b, c)):
        pool = a.actor_of(cluster_router_pool(
            props(Echo), "round_robin", ClusterRouterPoolSettings(5, max_instances_per_node=2)),
            "pool")
        poll(lambda: len(routees(pool)) == 5, what="5 routees")
        assert sorted(nodes_of(pool).values()) == [1, 2, 2]
        assert answers(pool, 10) == {k: 2 * v for k, v in nodes_of(pool).items()}
        # The remote routees are top-level actors of the other members.
        remote_names = [r.path.rsplit("/", 1)[1] for r in routees(pool)
                        if "@pb" in r.path]
        assert remote_names and all(b.top_level(n) is not None for n in remote_names)

        capped = a.actor_of(cluster_router_pool(
            props(Echo), "random", ClusterRouterPoolSettings(10, max_instances_per_node=1)),
            "capped")
        poll(lambda: nodes_of(capped) == {"pa": 1, "pb": 1, "pc": 1}, what="one per node")

        # c leaves: its routees go; the pool redeploys up to 2 per node.
        asyncio.run(Cluster.get(c).leave(timeout=20.0))
        poll(lambda: nodes_of(pool) == {"pa": 2, "pb": 2}, what="redeployed on a and b")
        poll(lambda: nodes_of(capped) == {"pa": 1, "pb": 1})
        assert answers(pool, 8) == {"pa": 4, "pb": 4}

        # Stopping the router undeploys its routees on the other members.
        names_on_b = [r.path.rsplit("/", 1)[1] for r in routees(pool) if "@pb" in r.path]
        assert names_on_b
        pool.stop()
        poll(lambda: all(b.top_level(n) is None for n in names_on_b),
             what="b's routees stopped with the router")
        assert b.top_level(DEPLOYER) is not None


def test_pool_by_role_without_local_routees_and_unreachable_members():
    roles = {"qa": [], "qb": ["w"], "qc": ["w"]}
    with cluster_of("qa", "qb", "qc", roles=roles) as (registry, (a, b, c)):
        pool = a.actor_of(cluster_router_pool(
            props(Echo), "round_robin",
            ClusterRouterPoolSettings(4, max_instances_per_node=2, allow_local_routees=False,
                                      use_roles="w")), "wpool")
        poll(lambda: nodes_of(pool) == {"qb": 2, "qc": 2}, what="2 on each worker")
        registry.partition_groups(["akka://qa", "akka://qb"], ["akka://qc"])
        poll(lambda: nodes_of(pool) == {"qb": 2}, what="c's routees out while unreachable")
        assert answers(pool, 4) == {"qb": 4}
        registry.heal()
        poll(lambda: nodes_of(pool) == {"qb": 2, "qc": 2}, what="c's routees back")
        assert answers(pool, 4) == {"qb": 2, "qc": 2}
