"""A cluster node in a process of its own, for the multi-process tests.

``python _cluster_node.py <name>`` starts system `name` with a cluster over
TCP on a kernel-picked loopback port, prints its cluster address, then
answers one line per command read from stdin:

* ``join <seed> ...`` -> ``joined`` (or ``error <text>``)
* ``up`` -> ``up <address>,<address>,...`` (the members up in its view)
* ``leader`` -> ``leader <address>``
* ``leave`` -> ``left <member count>``

It ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from atomr import ActorSystem, Config
from atomr.cluster import Cluster

FAST = {"gossip-interval": 0.1, "heartbeat-interval": 0.1, "seed-node-timeout": 1.0,
        "retry-unsuccessful-join-after": 1.0,
        "failure-detector": {"acceptable-heartbeat-pause": 5.0}}


def main() -> None:
    system = ActorSystem.create_blocking(sys.argv[1], Config.from_dict({"cluster": FAST}))
    try:
        cluster = Cluster.with_tcp_transport(system, "127.0.0.1:0")
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
                elif cmd[0] == "leader":
                    print(f"leader {cluster.leader}", flush=True)
                elif cmd[0] == "leave":
                    asyncio.run(cluster.leave(timeout=60.0))
                    print(f"left {cluster.member_count()}", flush=True)
                else:
                    print(f"error unknown command {cmd[0]}", flush=True)
            except Exception as exc:  # reported to the test, which fails on it
                print(f"error {type(exc).__name__}: {exc}", flush=True)
    finally:
        system.terminate_blocking(30.0)


if __name__ == "__main__":
    main()
