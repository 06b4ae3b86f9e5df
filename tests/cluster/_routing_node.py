"""A cluster node for the multi-process cluster routing test.

``python _routing_node.py <name>`` starts system `name` with a cluster over
TCP on a kernel-picked loopback port, cluster routing and cluster metrics,
and an ``Echo`` actor at ``/user/echo``; prints its cluster address, then
answers one line per command read from stdin:

* ``join <seed>`` -> ``joined``
* ``up`` -> ``up <address>,...`` (the members up in its view)
* ``routers`` -> ``ok``: starts a round-robin group over ``/user/echo``
  (``grp``) and a round-robin pool of 3, at most 2 per node (``pool``)
* ``routees <router>`` -> ``routees <name>:<count>,...`` (by system name)
* ``spread <router> <n>`` -> ``spread <name>:<count>,...``: who answered
  `n` asks through the router
* ``metrics`` -> ``metrics <address>,...`` (the members with metrics here)

It ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import collections
import sys

from _routing_actors import Echo

from atomr import ActorSystem, Config, props
from atomr.cluster import Cluster
from atomr.cluster.routing import (
    ClusterRouterGroupSettings,
    ClusterRouterPoolSettings,
    ClusterRouting,
    cluster_router_group,
    cluster_router_pool,
)
from atomr.cluster_metrics import ClusterMetricsExtension
from atomr.routing import GetRoutees

FAST = {"gossip-interval": 0.1, "heartbeat-interval": 0.1, "seed-node-timeout": 1.0,
        "retry-unsuccessful-join-after": 1.0,
        "failure-detector": {"acceptable-heartbeat-pause": 3.0},
        "metrics": {"collect-interval": 0.2, "moving-average-half-life": 0.6}}


def _counts(names: list[str]) -> str:
    c = collections.Counter(names)
    return ",".join(f"{k}:{c[k]}" for k in sorted(c))


def _system_name(path: str) -> str:
    return path.split("://", 1)[1].split("@")[0].split("/")[0]


def main() -> None:
    system = ActorSystem.create_blocking(sys.argv[1], Config.from_dict({"cluster": FAST}))
    routers = {}
    try:
        cluster = Cluster.with_tcp_transport(system, "127.0.0.1:0")
        ClusterRouting.get(system)
        metrics = ClusterMetricsExtension.get(system)
        system.actor_of(props(Echo), "echo")
        print(cluster.self_address, flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            try:
                if cmd[0] == "join":
                    asyncio.run(cluster.join_seed_nodes(cmd[1:], timeout=60.0))
                    print("joined", flush=True)
                elif cmd[0] == "up":
                    up = sorted(m.address for m in cluster.membership_snapshot().members()
                                if m.status == "up")
                    print("up " + ",".join(up), flush=True)
                elif cmd[0] == "routers":
                    routers["grp"] = system.actor_of(cluster_router_group(
                        "round_robin", ClusterRouterGroupSettings(["/user/echo"])), "grp")
                    routers["pool"] = system.actor_of(cluster_router_pool(
                        props(Echo), "round_robin",
                        ClusterRouterPoolSettings(3, max_instances_per_node=2)), "pool")
                    print("ok", flush=True)
                elif cmd[0] == "routees":
                    refs = routers[cmd[1]].ask_blocking(GetRoutees(), timeout=10.0)
                    print("routees " + _counts([_system_name(r.path) for r in refs]),
                          flush=True)
                elif cmd[0] == "spread":
                    router, n = routers[cmd[1]], int(cmd[2])

                    async def asks(router=router, n=n) -> list:
                        return [await router.ask(i, timeout=10.0) for i in range(n)]

                    print("spread " + _counts([name for name, _ in asyncio.run(asks())]),
                          flush=True)
                elif cmd[0] == "metrics":
                    print("metrics " + ",".join(m.address for m in metrics.snapshot()),
                          flush=True)
                else:
                    print(f"error unknown command {cmd[0]}", flush=True)
            except Exception as exc:  # reported to the test, which fails on it
                print(f"error {type(exc).__name__}: {exc}", flush=True)
    finally:
        system.terminate_blocking(30.0)


if __name__ == "__main__":
    main()
