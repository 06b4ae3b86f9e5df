"""Cluster tools between OS processes over TCP on loopback (the node
processes of tests/multinode, with the tools' commands: tools_node.py)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from multinode._cluster import FAST_REMOTE, cluster_config, join_all, state, wait_agreed
from multinode._nodes import NodeCommandError, NodeProcess, wait_until
from tests.cluster_tools import tools_node

#: Python processes start on a loaded 2-core machine.
FORM_DEADLINE = 60.0
#: Failure detection (~1.6 s), stable-after (1 s), removal, the poll.
TAKEOVER_DEADLINE = 45.0

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def _node(name: str, config: dict, cluster: bool = True) -> NodeProcess:
    return NodeProcess(name, config=config, cluster=cluster, wrap=tools_node.wrap)


def _settled(call: object) -> object:
    """`call()`, or None while it fails inside the node."""
    try:
        return call()  # type: ignore[operator]
    except NodeCommandError:
        return None


def test_pubsub_across_three_processes_and_a_cluster_client_from_outside(nodes):
    config = cluster_config()
    *members, outsider = nodes.start_all(
        [_node(f"ps{i}", config) for i in range(3)] +
        [_node("outsider", {"remote": FAST_REMOTE}, cluster=False)])
    join_all(members, [members[0].address], timeout=FORM_DEADLINE)
    wait_agreed(members, FORM_DEADLINE, "three nodes form one cluster")
    addresses = sorted(m.address for m in members)

    for m in members:
        m.request("ps_subscribe", topic="news")
    for m in members:
        wait_until(lambda m=m: m.request("ps_nodes", topic="news") == addresses, 30.0,
                   f"{m.name} knows every subscriber")
    members[1].request("ps_publish", topic="news", msg="m1")
    members[2].request("ps_publish", topic="news", msg="m2")
    for m in members:
        wait_until(lambda m=m: sorted(m.request("ps_received", topic="news")) == ["m1", "m2"],
                   30.0, f"{m.name} received both")

    # Services on two nodes, a subscriber on the third; the client outside
    # the cluster knows only the third's receptionist.
    members[0].request("service", name="svc")
    members[2].request("service", name="svc")
    members[1].request("subscriber", topic="alerts")
    contact = members[1].address + "/system/receptionist"
    assert outsider.request("client_connect", contacts=[contact], max_attempts=3) == contact
    answer = wait_until(lambda: _settled(lambda: outsider.request(
        "client_ask", path="/user/svc", msg="hi", timeout=5.0)), 30.0, "the service answers")
    assert answer[1] == "hi" and answer[0] in (members[0].address, members[2].address)
    wait_until(lambda: members[0].request("ps_nodes", topic="alerts") == [members[1].address],
               30.0, "the receptionist's subscriber is known")
    outsider.request("client_publish", topic="alerts", msg="a1")
    wait_until(lambda: members[1].request("ps_received", topic="alerts") == ["a1"], 30.0,
               "the subscriber got the client's message")
    # The outsider never became a member.
    assert all(outsider.address not in m.request("state")["members"] for m in members)


def test_singleton_moves_when_the_oldest_process_is_killed(nodes):
    config = cluster_config(sbr={"strategy": "keep-majority", "stable-after": 1.0})
    members = nodes.start_all(_node(f"sg{i}", config) for i in range(3))
    oldest = members[0]
    # The seed forms the cluster first: it is the oldest (up number 1).
    join_all([oldest], [oldest.address], timeout=FORM_DEADLINE)
    join_all(members[1:], [oldest.address], timeout=FORM_DEADLINE)
    wait_agreed(members, FORM_DEADLINE, "three nodes form one cluster")
    for m in members:
        m.request("singleton_start", name="single")

    def started(node: NodeProcess) -> list[dict]:
        return node.events_where(lambda e: e.get("event") == "singleton" and
                                 e["type"] == "started")

    oldest.wait_event(lambda e: e.get("event") == "singleton" and e["type"] == "started",
                      30.0, "the singleton started on the oldest")
    wait_until(lambda: [m.request("singleton_state", name="single") for m in members] ==
               ["active_here", "active_remote", "active_remote"], 30.0, "the states")
    members[2].request("singleton_tell", name="single", msg="before")
    oldest.wait_event(lambda e: e.get("event") == "singleton" and e["type"] == "msg"
                      and e["msg"] == "before", 30.0, "the message through the proxy")
    assert not started(members[1]) and not started(members[2])

    os.kill(oldest.pid, signal.SIGKILL)
    killed = time.monotonic()
    oldest.kill()
    survivors = members[1:]
    new = wait_until(lambda: next((m for m in survivors if started(m)), None), TAKEOVER_DEADLINE,
                     "the singleton started on a survivor")
    took_over = started(new)[0]["_at"] - killed
    removed = min(e["_at"] for m in survivors for e in m.events_where(
        lambda e: e.get("event") == "cluster" and e["type"] == "MemberRemoved"
        and e["address"] == oldest.address)) - killed
    # Exactly one survivor runs it: the next oldest (age ordering: up
    # number, then the address's port on this one host).
    assert [bool(started(m)) for m in survivors].count(True) == 1
    ages = {m["address"]: (m["up_number"], int(m["address"].rpartition(":")[2]))
            for m in state(survivors[0])["members"]}
    assert new.address == min(ages, key=ages.__getitem__)
    wait_until(lambda: sorted(m.request("singleton_state", name="single") for m in survivors) ==
               ["active_here", "active_remote"], 30.0, "the survivors' states")
    members[2].request("singleton_tell", name="single", msg="after")
    new.wait_event(lambda e: e.get("event") == "singleton" and e["type"] == "msg"
                   and e["msg"] == "after", 30.0, "the message reaches the new instance")
    print(f"\nsingleton take-over after kill -9 of the oldest: removed after {removed:.2f} s, "
          f"singleton running on {new.name} after {took_over:.2f} s")
    assert took_over >= removed
