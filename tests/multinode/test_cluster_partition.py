"""A five-node cluster in five network namespaces, cut 3/2 by a real
network partition: under keep-majority and under static-quorum (quorum 3)
exactly one side survives. The majority side downs and removes the
minority and converges on its three members; each minority node downs
itself. The partition is drawn so that the leader (the lowest address) is
on the minority side: the majority must find a new leader of its own.
A cut healed before the resolver's stable-after passes leaves all five
members: unreachable, then reachable again, nobody downed.
"""

from __future__ import annotations

import time

import pytest

from multinode._cluster import cluster_config, join_all, wait_agreed
from multinode._nodes import NodeProcess

FORM_DEADLINE = 60.0
#: Detection + stable-after + removal, on a loaded machine.
DECIDE_DEADLINE = 45.0


@pytest.mark.parametrize("sbr", [
    {"strategy": "keep-majority", "stable-after": 2.0},
    {"strategy": "static-quorum", "stable-after": 2.0, "quorum-size": 3},
], ids=["keep-majority", "static-quorum"])
def test_a_3_2_partition_leaves_exactly_the_majority(netns_lab, nodes, sbr):
    lab = netns_lab(5)
    config = cluster_config(sbr=sbr)
    members = nodes.start_all(
        NodeProcess(f"node{i}", host=lab.addresses[i], config=config, cluster=True,
                    wrap=lambda argv, i=i: lab.command(i, argv))
        for i in range(5))
    # One seed: with several, a seed not yet joined can answer others from
    # the one-node cluster every node starts as, and two clusters form.
    join_all(members, [members[0].address], timeout=FORM_DEADLINE)
    leader = wait_agreed(members, FORM_DEADLINE, "five nodes form one cluster")
    assert leader == members[0].address  # the lowest address

    minority, majority = members[:2], members[2:]
    lab.partition([0, 1], [2, 3, 4])
    cut = time.monotonic()
    new_leader = wait_agreed(majority, DECIDE_DEADLINE, "the majority side converges on itself")
    majority_done = time.monotonic() - cut
    assert new_leader == members[2].address
    # The majority's new leader applied the decision: it downed both
    # minority members, then removed them; every majority member saw the
    # removals (see test_cluster_processes.py on when the down is seen).
    for gone in minority:
        seen = [(e["type"], e.get("previous_status")) for e in majority[0].events_where(
            lambda e: e.get("event") == "cluster" and e.get("address") == gone.address
            and e["type"] in ("MemberDowned", "MemberRemoved"))]
        assert seen == [("MemberDowned", None), ("MemberRemoved", "down")], gone.name
        for n in majority:
            assert n.events_where(lambda e: e.get("event") == "cluster"
                                  and e["type"] == "MemberRemoved"
                                  and e["address"] == gone.address), (n.name, gone.name)
    # Each minority node downed itself (its side's leader applied the same
    # decision to its own side), was removed and shut its cluster down.
    for n in minority:
        n.wait_event(lambda e: e.get("event") == "cluster" and e["type"] == "ClusterShuttingDown",
                     DECIDE_DEADLINE, "its cluster shutting down")
        own = [(e["type"], e.get("previous_status")) for e in n.events_where(
            lambda e: e.get("event") == "cluster" and e.get("address") == n.address
            and e["type"] in ("MemberDowned", "MemberRemoved"))]
        assert own == [("MemberDowned", None), ("MemberRemoved", "down")], n.name
        assert n.request("state")["member_count"] == 0
        # It never downed a member of the majority.
        assert not n.events_where(lambda e: e.get("event") == "cluster"
                                  and e["type"] == "MemberDowned"
                                  and e["address"] in {m.address for m in majority}), n.name
    minority_done = time.monotonic() - cut

    # Healing changes nothing: once the two sides talk again, the majority
    # keeps its three members and the removed nodes stay out.
    marks = [len(n.events) for n in majority]
    lab.heal()
    for n, mark in zip(majority, marks):
        for gone in minority:
            n.wait_event(lambda e: e.get("event") == "remote" and e["address"] == gone.address
                         and e["type"] in ("RemoteReachable", "AssociatedEvent"),
                         DECIDE_DEADLINE, f"{gone.name} reachable again", start=mark)
    assert wait_agreed(majority, DECIDE_DEADLINE, "the majority after the heal") == new_leader
    assert all(n.request("state")["member_count"] == 0 for n in minority)
    print(f"\n{sbr['strategy']}: majority converged {majority_done:.2f} s after the cut, "
          f"minority down after {minority_done:.2f} s")


def test_a_partition_healed_before_the_resolver_decides_leaves_all_five(netns_lab, nodes):
    lab = netns_lab(5)
    # The resolver waits 60 s of stability: far beyond this test's cut.
    config = cluster_config(sbr={"strategy": "keep-majority", "stable-after": 60.0})
    members = nodes.start_all(
        NodeProcess(f"node{i}", host=lab.addresses[i], config=config, cluster=True,
                    wrap=lambda argv, i=i: lab.command(i, argv))
        for i in range(5))
    join_all(members, [members[0].address], timeout=FORM_DEADLINE)
    leader = wait_agreed(members, FORM_DEADLINE, "five nodes form one cluster")
    marks = [len(n.events) for n in members]
    sides = [members[:2], members[2:]]
    lab.partition([0, 1], [2, 3, 4])
    for side, other in (sides, sides[::-1]):
        for n in side:
            for o in other:
                n.wait_event(lambda e: e.get("event") == "cluster"
                             and e["type"] == "UnreachableMember" and e["address"] == o.address,
                             DECIDE_DEADLINE, f"{o.name} unreachable",
                             start=marks[members.index(n)])
    lab.heal()
    for side, other in (sides, sides[::-1]):
        for n in side:
            for o in other:
                n.wait_event(lambda e: e.get("event") == "cluster"
                             and e["type"] == "ReachableMember" and e["address"] == o.address,
                             DECIDE_DEADLINE, f"{o.name} reachable again",
                             start=marks[members.index(n)])
    assert wait_agreed(members, DECIDE_DEADLINE, "all five agree again") == leader
    for n in members:
        assert not n.events_where(lambda e: e.get("event") == "cluster"
                                  and e["type"] in ("MemberDowned", "MemberRemoved")), n.name
