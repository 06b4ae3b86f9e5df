"""Cluster helpers over node processes (cluster_node.py started with
``cluster=True``): their config, their views, and waiting for them to agree.

Used by the cluster process tests and by scripts/cluster_soak.py; imports
nothing from the test suite.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Optional, Sequence

from multinode._nodes import NodeProcess

#: Fast failure detection for tests: remoting heartbeats every 100 ms, a
#: 1 s acceptable pause.
FAST_REMOTE = {
    "heartbeat-interval": 0.1,
    "idle-timeout": 5.0,
    "watch-failure-detector": {
        "acceptable-heartbeat-pause": 1.0,
        "min-std-deviation": 0.1,
        "first-heartbeat-estimate": 0.1,
        "unreachable-nodes-reaper-interval": 0.05,
    },
}

#: The cluster's own gossip and heartbeat timing, fast as well.
FAST_CLUSTER = {
    "gossip-interval": 0.2,
    "seed-node-timeout": 2.0,
    "heartbeat-interval": 0.2,
    "failure-detector": {
        "acceptable-heartbeat-pause": 1.0,
        "min-std-deviation": 0.1,
        "first-heartbeat-estimate": 0.2,
    },
}


def cluster_config(sbr: Optional[dict] = None, **cluster: Any) -> dict:
    """The config tree of a test node: fast detection, `sbr` as the
    ``cluster.sbr`` section (None: no resolver), extra ``cluster`` keys."""
    section: dict[str, Any] = dict(FAST_CLUSTER, **cluster)
    if sbr is not None:
        section["sbr"] = dict(sbr)
    return {"remote": FAST_REMOTE, "cluster": section}


def state(node: NodeProcess) -> dict:
    """The node's ``state`` reply: members, leader, member_count, unreachable."""
    result: dict = node.request("state")
    return result


def up_addresses(st: dict) -> set[str]:
    return {m["address"] for m in st["members"] if m["status"] == "up"}


def agreed_view(nodes: Sequence[NodeProcess],
                expected: Optional[Iterable[str]] = None) -> Optional[str]:
    """The common leader when every node in `nodes` sees exactly `expected`
    (default: the nodes' own addresses) as its members, all up, none
    unreachable, and all name the same leader among them; else None."""
    want = set(expected) if expected is not None else {n.address for n in nodes}
    leaders = set()
    for n in nodes:
        st = state(n)
        if {m["address"] for m in st["members"]} != want or up_addresses(st) != want:
            return None
        if st["unreachable"] or st["member_count"] != len(want):
            return None
        leaders.add(st["leader"])
    if len(leaders) != 1:
        return None
    leader = leaders.pop()
    return leader if leader in want else None


def wait_agreed(nodes: Sequence[NodeProcess], timeout: float, what: str,
                expected: Optional[Iterable[str]] = None, poll: float = 0.2) -> str:
    """Waits until :func:`agreed_view` holds; returns the leader. On timeout,
    AssertionError with every node's last view."""
    deadline = time.monotonic() + timeout
    while True:
        leader = agreed_view(nodes, expected)
        if leader is not None:
            return leader
        if time.monotonic() >= deadline:
            views = {}
            for n in nodes:
                try:
                    views[n.name] = state(n)
                except Exception as exc:  # the report names what failed
                    views[n.name] = repr(exc)
            raise AssertionError(f"{what}: no agreement within {timeout} s; views: {views}")
        time.sleep(poll)


def join_all(nodes: Sequence[NodeProcess], seeds: Sequence[str], timeout: float) -> None:
    """Every node joins `seeds` (commands sent together, replies awaited)."""
    pending = [(n, n.send("join", seeds=list(seeds), timeout=timeout)) for n in nodes]
    for n, rid in pending:
        n.reply(rid, timeout=timeout + 30.0)

