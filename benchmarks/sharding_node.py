"""A sharding node for benchmarks/test_bench_sharding.py, in a process of
its own: ``python sharding_node.py <name>`` starts system `name` with a
cluster over TCP on a loopback port, prints its cluster address, starts
``/user/counter`` (counts the messages it gets) and ``/user/count``
(answers an ask with the process's total), then obeys one command per
stdin line, answering one line each:

* ``join <seed>`` -> ``ok`` once up in the seed's cluster;
* ``region`` -> ``ok`` once the region of type ``bench`` runs (its
  entities count their messages into the same total);
* ``shards`` -> ``shards <n>`` (how many the region hosts);
* ``shard_ids`` -> ``shard_ids <id>,<id>,...``;
* ``leave`` -> ``ok`` once the region shut down and the node left.

It ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

from atomr import Actor, ActorSystem, Config, props
from atomr.cluster import Cluster
from atomr.cluster_sharding import ShardRegion

FAST = {"gossip-interval": 0.2, "heartbeat-interval": 0.2, "seed-node-timeout": 1.0,
        "retry-unsuccessful-join-after": 1.0,
        "failure-detector": {"acceptable-heartbeat-pause": 5.0}}
CONFIG = {"cluster": FAST, "remote": {"outbound-queue-size": 2_000_000}}

_lock = threading.Lock()
_total = [0]


class Counter(Actor):
    def handle(self, ctx: Any, msg: Any) -> None:
        with _lock:
            _total[0] += 1


class Count(Actor):
    def handle(self, ctx: Any, msg: Any) -> int:
        with _lock:
            return _total[0]


def extract(msg: dict) -> tuple[str, str, dict]:
    """Entity ``e<i>``, shard ``i % 30``."""
    return msg["e"], str(int(msg["e"][1:]) % 30), msg


def start(name: str) -> tuple[ActorSystem, Cluster]:
    system = ActorSystem.create_blocking(name, Config.from_dict(CONFIG))
    cluster = Cluster.with_tcp_transport(system, "127.0.0.1:0")
    system.actor_of(props(Counter), "counter")
    system.actor_of(props(Count), "count")
    return system, cluster


def start_region(system: ActorSystem) -> ShardRegion:
    return ShardRegion.start(system=system, type_name="bench", entity_props=props(Counter),
                             message_extractor=extract)


def main() -> None:
    system, cluster = start(sys.argv[1])
    region = None
    try:
        print(cluster.self_address, flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            if cmd[0] == "join":
                asyncio.run(cluster.join_seed_nodes(cmd[1:], timeout=60.0))
            elif cmd[0] == "region":
                region = start_region(system)
            elif cmd[0] == "shards":
                print(f"shards {region.shard_count() if region else 0}", flush=True)
                continue
            elif cmd[0] == "shard_ids":
                print("shard_ids " + ",".join(region.shard_ids() if region else []), flush=True)
                continue
            elif cmd[0] == "leave":
                if region is not None:
                    region.shutdown()
                asyncio.run(cluster.leave(timeout=60.0))
            print("ok", flush=True)
    finally:
        system.terminate_blocking(30.0)


if __name__ == "__main__":
    main()
