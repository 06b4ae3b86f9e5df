"""Distributed data in five network namespaces, Jepsen-style: every node
runs concurrent majority increments (a GCounter) and set adds (an ORSet)
while a real network partition cuts the cluster 2/3 and heals, then one
node is killed with SIGKILL. After that, every write some node saw
acknowledged by a majority is visible on every surviving node."""

from __future__ import annotations

import time

from multinode._cluster import cluster_config, join_all, wait_agreed
from multinode._nodes import NodeProcess, wait_until

FORM_DEADLINE = 60.0
CONVERGE_DEADLINE = 60.0


def test_acknowledged_majority_writes_survive_partitions_and_a_kill(netns_lab, nodes):
    lab = netns_lab(5)
    config = cluster_config()  # no resolver: a cut leaves members unreachable
    config["distributed-data"] = {"gossip-interval": 0.2}
    members = nodes.start_all(
        NodeProcess(f"dd{i}", host=lab.addresses[i], config=config, cluster=True,
                    wrap=lambda argv, i=i: lab.command(i, argv))
        for i in range(5))
    join_all(members, [members[0].address], timeout=FORM_DEADLINE)
    wait_agreed(members, FORM_DEADLINE, "five nodes form one cluster")

    loads = {n.name: n.send("ddata_load", seconds=8.0, timeout=1.0) for n in members}
    time.sleep(1.0)
    lab.partition([0, 1], [2, 3, 4])
    time.sleep(2.5)
    lab.heal()
    time.sleep(1.0)
    victim = members[3]
    victim.kill()
    survivors = [n for n in members if n is not victim]
    attempted = {n.address: n.reply(loads[n.name], timeout=60.0)["attempted"]
                 for n in survivors}

    def acked(n: NodeProcess) -> list[dict]:
        return n.events_where(lambda e: e.get("event") == "ddata_ack")

    acked_incs = {n.address: sum(1 for e in acked(n) if e["what"] == "inc") for n in members}
    acked_adds = {e["element"] for n in members for e in acked(n) if e["what"] == "add"}
    assert sum(acked_incs.values()) > 0 and acked_adds
    # The minority side could not reach a majority while it was cut off:
    # some of its writes were not acknowledged.
    for n in members[:2]:
        assert 0 < acked_incs[n.address] < attempted[n.address]

    def visible() -> bool:
        for n in survivors:
            got = n.request("ddata_read")
            # The entries are keyed by unique address: `<address>#<uid>`.
            by_address: dict[str, int] = {}
            for node, count in got["entries"].items():
                address = node.rpartition("#")[0]
                by_address[address] = by_address.get(address, 0) + count
            if any(by_address.get(a, 0) < k for a, k in acked_incs.items()):
                return False
            if not acked_adds <= set(got["elements"]):
                return False
        return True

    wait_until(visible, CONVERGE_DEADLINE, "every acknowledged write on every survivor")
