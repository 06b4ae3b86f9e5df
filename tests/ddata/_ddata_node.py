"""A cluster node with a replicator in a process of its own, for the
multi-process tests and benchmarks of distributed data.

``python _ddata_node.py <name> [no-deltas]`` starts system `name` with a cluster over
TCP on a kernel-picked loopback port, prints its cluster address, then
answers one line per command read from stdin:

* ``join <seed> ...`` -> ``joined``
* ``size`` -> ``size <replicas the replicator counts>``
* ``inc <key> <n> <level> <timeout>`` -> ``ok`` / ``timeout`` (GCounter +n;
  level ``local``, ``majority`` or ``all``)
* ``add <key> <element> <level> <timeout>`` -> ``ok`` / ``timeout`` (ORSet)
* ``counter <key>`` -> ``counter <value> <json of the per-node entries>``
* ``set <key>`` -> ``set <json of the sorted elements>``
* ``load <seconds> <counter key> <set key> <timeout>`` -> runs majority
  increments and set adds (unique elements ``<name>-<i>``) for `seconds`;
  prints ``ack inc`` / ``ack add <element>`` as each is acknowledged (a
  majority held it), then ``loaded <attempted increments> <attempted adds>``
* ``bench <n> <level>`` -> ``bench <updates per second>`` (`n` sequential
  GCounter increments at `level`)
* ``ormap <key> <n>`` -> ``ormap`` after `n` ORMap (LwwRegister) puts,
  100 keys per update

It ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

from atomr import ActorSystem, Config
from atomr.cluster import Cluster
from atomr.ddata import GCounter, LwwRegister, ORMap, ORSet, Replicator, WriteConsistency

FAST = {"gossip-interval": 0.1, "heartbeat-interval": 0.1, "seed-node-timeout": 1.0,
        "retry-unsuccessful-join-after": 1.0,
        "failure-detector": {"acceptable-heartbeat-pause": 5.0}}


def level(name: str, timeout: float) -> WriteConsistency:
    if name == "local":
        return WriteConsistency.local()
    if name == "majority":
        return WriteConsistency.majority(timeout)
    if name == "all":
        return WriteConsistency.all(timeout)
    raise ValueError(f"unknown level {name}")


def out(line: str) -> None:
    with _OUT:
        print(line, flush=True)


_OUT = threading.Lock()


def main() -> None:
    name = sys.argv[1]
    deltas = "no-deltas" not in sys.argv[2:]
    system = ActorSystem.create_blocking(name, Config.from_dict(
        {"cluster": FAST, "distributed-data": {"gossip-interval": 0.2,
                                               "delta-crdt.enabled": deltas}}))
    try:
        cluster = Cluster.with_tcp_transport(system, "127.0.0.1:0")
        rep = Replicator.get(system)
        out(cluster.self_address)

        def inc(n: int):
            return lambda c: c.increment(rep.node, n) or c

        def run(coro):
            return asyncio.run_coroutine_threadsafe(coro, system.loop).result()

        async def load(seconds: float, ckey: str, skey: str, timeout: float) -> str:
            wc = WriteConsistency.majority(timeout)
            end = time.monotonic() + seconds
            incs = adds = 0

            async def one_inc() -> None:
                if await rep.update(ckey, GCounter, inc(1), wc) == "ok":
                    out("ack inc")

            async def one_add(element: str) -> None:
                if await rep.update(skey, ORSet, lambda s: s.add(element) or s, wc) == "ok":
                    out(f"ack add {element}")

            while time.monotonic() < end:
                incs += 1
                adds += 1
                await asyncio.gather(one_inc(), one_add(f"{name}-{adds}"))
            return f"loaded {incs} {adds}"

        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            try:
                if cmd[0] == "join":
                    asyncio.run(cluster.join_seed_nodes(cmd[1:], timeout=60.0))
                    out("joined")
                elif cmd[0] == "size":
                    out(f"size {rep.cluster_size}")
                elif cmd[0] == "inc":
                    out(run(rep.update(cmd[1], GCounter, inc(int(cmd[2])),
                                       level(cmd[3], float(cmd[4])))))
                elif cmd[0] == "add":
                    element = cmd[2]
                    out(run(rep.update(cmd[1], ORSet, lambda s: s.add(element) or s,
                                       level(cmd[3], float(cmd[4])))))
                elif cmd[0] == "counter":
                    value = run(rep.get_value(cmd[1], GCounter))
                    out("counter " + ("0 {}" if value is None else
                                      f"{value.value()} {json.dumps(value.entries())}"))
                elif cmd[0] == "set":
                    value = run(rep.get_value(cmd[1], ORSet))
                    out("set " + json.dumps([] if value is None else sorted(value.elements())))
                elif cmd[0] == "load":
                    out(run(load(float(cmd[1]), cmd[2], cmd[3], float(cmd[4]))))
                elif cmd[0] == "bench":
                    n, wc = int(cmd[1]), level(cmd[2], 5.0)

                    async def bench() -> float:
                        t0 = time.perf_counter()
                        for _ in range(n):
                            assert await rep.update("bench", GCounter, inc(1), wc) == "ok"
                        return n / (time.perf_counter() - t0)

                    out(f"bench {run(bench()):.1f}")
                elif cmd[0] == "ormap":
                    key, n = cmd[1], int(cmd[2])

                    async def fill() -> None:
                        for base in range(0, n, 100):
                            def put(m, base=base):
                                for i in range(base, min(n, base + 100)):
                                    m.put(f"k{i}", LwwRegister(f"v{i}".encode()))
                                return m
                            await rep.update(key, ORMap, put)

                    run(fill())
                    out("ormap")
                elif cmd[0] == "ormap-size":
                    value = run(rep.get_value(cmd[1], ORMap))
                    out(f"ormap-size {0 if value is None else value.size()}")
                else:
                    out(f"error unknown command {cmd[0]}")
            except Exception as exc:  # reported to the test, which fails on it
                out(f"error {type(exc).__name__}: {exc}")
    finally:
        system.terminate_blocking(30.0)


if __name__ == "__main__":
    main()
