"""Soak: N real processes on this machine form one cluster over TCP on
loopback (``make soak-cluster``; not part of ``make test``).

Starts N node processes (tests/multinode/cluster_node.py, each an actor
system with ``Cluster.with_tcp_transport`` on 127.0.0.1 and a kernel-chosen
port), has every node join the same seed nodes, and waits until every node
sees all N members up, none unreachable, and the same leader. Reports the
time the processes took to start, the time from the join commands to that
convergence, and each node's resident memory (VmRSS) once converged and
again after a quiet period with the cluster gossiping and heartbeating.
Every process is killed at the end, whatever happened.

Usage: python3 scripts/cluster_soak.py [--nodes 50] [--seeds 1]
       [--hold 30] [--timeout 600] [--default-timing] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import threading
import time
from typing import Any

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from multinode._cluster import agreed_view, cluster_config, state  # noqa: E402
from multinode._nodes import NodeGroup, NodeProcess  # noqa: E402


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "mean": statistics.fmean(values)}


def start_in_batches(group: NodeGroup, nodes: list[NodeProcess], batch: int) -> None:
    for i in range(0, len(nodes), batch):
        group.start_all(nodes[i:i + batch], deadline=120.0)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=50)
    # More than one seed: a seed not yet joined may answer joiners from the
    # one-node cluster it starts as, and the nodes can end in two clusters.
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--hold", type=float, default=30.0,
                   help="seconds to keep the converged cluster running before the second "
                        "memory reading")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--batch", type=int, default=10, help="processes started at once")
    p.add_argument("--default-timing", action="store_true",
                   help="the cluster's default gossip, heartbeat and failure detector "
                        "settings instead of the tests' fast ones")
    p.add_argument("--json", default="", help="also write the results to this file")
    args = p.parse_args(argv)
    if args.nodes < 2 or not 1 <= args.seeds <= args.nodes:
        p.error("need --nodes >= 2 and 1 <= --seeds <= --nodes")
    if args.hold <= 0 or args.timeout <= 0:
        p.error("--hold and --timeout must be positive")

    # The tests' fast gossip and heartbeats, with pauses of up to 10 s
    # accepted: many processes share few cores, and a slow start must not
    # read as a failure.
    if args.default_timing:
        config: dict[str, Any] = {}
    else:
        config = cluster_config(sbr=None)
        config["cluster"]["failure-detector"]["acceptable-heartbeat-pause"] = 10.0
        config["remote"]["watch-failure-detector"]["acceptable-heartbeat-pause"] = 10.0
        config["remote"]["idle-timeout"] = 30.0
    results: dict[str, Any] = {"nodes": args.nodes, "seeds": args.seeds, "cpus": os.cpu_count(),
                               "timing": "default" if args.default_timing else "fast"}
    with NodeGroup() as group:
        nodes = [NodeProcess(f"soak{i}", config=config, cluster=True,
                             lifetime=args.timeout + args.hold + 300.0)
                 for i in range(args.nodes)]
        t0 = time.monotonic()
        start_in_batches(group, nodes, args.batch)
        results["start_s"] = round(time.monotonic() - t0, 2)
        print(f"{args.nodes} processes ready in {results['start_s']} s", flush=True)
        results["rss_idle_kib"] = summary([rss_kib(n.pid) for n in nodes])

        seeds = [n.address for n in nodes[:args.seeds]]
        t1 = time.monotonic()
        errors: list[BaseException] = []

        def join(n: NodeProcess) -> None:
            try:
                n.request("join", seeds=seeds, timeout=args.timeout,
                          reply_timeout=args.timeout + 30.0)
            except BaseException as exc:  # reported below
                errors.append(exc)

        joiners = [threading.Thread(target=join, args=(n,)) for n in nodes]
        for t in joiners:
            t.start()
        for t in joiners:
            t.join()
        if errors:
            raise errors[0]
        results["all_joined_s"] = round(time.monotonic() - t1, 2)
        print(f"every join_seed_nodes returned after {results['all_joined_s']} s", flush=True)

        deadline = t1 + args.timeout
        leader = None
        last_report = 0.0
        while leader is None:
            leader = agreed_view(nodes)
            now = time.monotonic()
            if leader is None:
                if now > deadline:
                    counts = sorted(len(state(n)["members"]) for n in nodes)
                    raise SystemExit(f"no convergence within {args.timeout} s; member counts "
                                     f"seen: {counts}")
                if now - last_report > 10:
                    last_report = now
                    ups = sorted(sum(m["status"] == "up" for m in state(n)["members"])
                                 for n in nodes)
                    print(f"  {now - t1:.0f} s: members up per node {ups[0]}..{ups[-1]}",
                          flush=True)
                time.sleep(0.5)
        results["converged_s"] = round(time.monotonic() - t1, 2)
        results["leader"] = leader
        print(f"all {args.nodes} nodes see {args.nodes} members up, leader {leader}, "
              f"{results['converged_s']} s after the joins started", flush=True)
        results["rss_converged_kib"] = summary([rss_kib(n.pid) for n in nodes])
        cpu0 = {n.pid: cpu_seconds(n.pid) for n in nodes}

        hold_end = time.monotonic() + args.hold
        while time.monotonic() < hold_end:
            time.sleep(min(1.0, max(0.0, hold_end - time.monotonic())))
        if agreed_view(nodes) is None:
            raise SystemExit(f"the cluster lost its agreement during the {args.hold} s hold")
        results["rss_after_hold_kib"] = summary([rss_kib(n.pid) for n in nodes])
        cpu = [(cpu_seconds(n.pid) - cpu0[n.pid]) / args.hold * 100 for n in nodes]
        results["cpu_percent_per_node_during_hold"] = summary(cpu)
        results["hold_s"] = args.hold
    print(json.dumps(results, indent=2))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
