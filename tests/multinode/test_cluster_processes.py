"""A cluster of five OS processes over TCP on loopback: they form one
cluster (every node sees five members up and the same leader); one is
killed with SIGKILL, the split brain resolver (keep-majority) downs it and
the other four converge on four members; the node restarted on the same
port, a new incarnation with a new uid, joins again and all five agree."""

from __future__ import annotations

import os
import signal
import time

import pytest

from multinode._cluster import cluster_config, join_all, state, wait_agreed
from multinode._nodes import NodeProcess

#: Five Python processes start on a loaded 2-core machine.
FORM_DEADLINE = 60.0
#: Detection (~1.6 s) + stable-after (2 s) + the removal's gossip rounds.
DOWN_DEADLINE = 45.0

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


@pytest.mark.parametrize("kill", ["member", "leader"])
def test_five_processes_form_a_cluster_survive_a_kill_and_take_the_restarted_node_back(
        nodes, kill):
    config = cluster_config(sbr={"strategy": "keep-majority", "stable-after": 2.0})
    members = nodes.start_all(NodeProcess(f"node{i}", config=config, cluster=True)
                              for i in range(5))
    # One seed: with several, a seed not yet joined can answer others from
    # the one-node cluster every node starts as, and two clusters form.
    seeds = [members[0].address]
    started = time.monotonic()
    join_all(members, seeds, timeout=FORM_DEADLINE)
    leader = wait_agreed(members, FORM_DEADLINE, "five nodes form one cluster")
    formed = time.monotonic() - started

    # Kill a member that is not the leader (the leader stays and acts), or
    # the leader (the next one takes over and acts).
    if kill == "leader":
        victim = next(n for n in members if n.address == leader)
    else:
        victim = next(n for n in reversed(members) if n.address != leader)
    survivors = [n for n in members if n is not victim]
    old_uid = victim.uid
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    victim.kill()  # reaps it
    for n in survivors:
        n.wait_event(lambda e: e.get("event") == "cluster" and e["type"] == "UnreachableMember"
                     and e["address"] == victim.address, DOWN_DEADLINE, "the victim unreachable")
    new_leader = wait_agreed(survivors, DOWN_DEADLINE, "the four survivors converge")
    converged_four = time.monotonic() - killed
    assert (new_leader == leader) == (kill == "member")
    # The survivors' leader applied the resolver's decision: it downed the
    # victim, then removed it; every survivor saw the removal. (The others
    # may learn of the down only with the removal: the leader removes an
    # unreachable down member without waiting for them to see the down.)
    lead = next(n for n in survivors if n.address == new_leader)
    seen = [(e["type"], e.get("previous_status")) for e in lead.events_where(
        lambda e: e.get("event") == "cluster" and e.get("address") == victim.address
        and e["type"] in ("MemberDowned", "MemberRemoved"))]
    assert seen == [("MemberDowned", None), ("MemberRemoved", "down")]
    for n in survivors:
        assert n.events_where(lambda e: e.get("event") == "cluster" and e["type"] == "MemberRemoved"
                              and e["address"] == victim.address), n.name

    victim.restart()
    assert victim.uid != old_uid
    assert victim.address == f"akka.tcp://{victim.name}@127.0.0.1:{victim.port}"
    rejoin_started = time.monotonic()
    # It rejoins through a survivor (the seed may have been the victim).
    victim.request("join", seeds=[survivors[0].address], timeout=FORM_DEADLINE,
                   reply_timeout=FORM_DEADLINE + 30.0)
    wait_agreed(members, FORM_DEADLINE, "the restarted node rejoins")
    rejoined = time.monotonic() - rejoin_started
    print(f"\n{kill} killed: formed in {formed:.2f} s; kill -9 -> 4 converged after {converged_four:.2f} s; "
          f"rejoined in {rejoined:.2f} s")
    assert all(len(state(n)["members"]) == 5 for n in members)
