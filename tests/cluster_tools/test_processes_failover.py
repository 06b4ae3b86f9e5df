"""Cluster tools between OS processes: a cluster client that loses its
receptionist to kill -9, answers to a publisher on another node, and a
graceful singleton hand-over (tests/multinode's node processes with
tools_node.py's commands)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from multinode._cluster import FAST_REMOTE, cluster_config, join_all, state, wait_agreed
from multinode._nodes import NodeProcess, wait_until
from tests.cluster_tools.test_processes import FORM_DEADLINE, _node, _settled

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

#: The client's heartbeats: every 0.2 s, 1 s of silence accepted.
HEARTBEAT = {"heartbeat_interval": 0.2, "acceptable_heartbeat_pause": 1.0}


def test_a_cluster_client_moves_to_another_receptionist_after_kill_9(nodes):
    config = cluster_config()
    *members, outsider = nodes.start_all(
        [_node(f"cf{i}", config) for i in range(3)] +
        [_node("cfclient", {"remote": FAST_REMOTE}, cluster=False)])
    join_all(members, [members[0].address], timeout=FORM_DEADLINE)
    wait_agreed(members, FORM_DEADLINE, "three nodes form one cluster")

    # A subscriber answers a publisher of another node through its sender.
    members[2].request("ps_answerer", topic="questions")
    wait_until(lambda: members[0].request("ps_nodes", topic="questions") == [members[2].address],
               30.0, "the answerer is known")
    members[0].request("ps_ask_publish", topic="questions", msg="q1")
    wait_until(lambda: members[0].request("ps_answers") == [[members[2].address, "q1"]], 30.0,
               "the answer came back to the publisher")

    # The client knows only cf1's receptionist; the services run elsewhere.
    members[0].request("service", name="svc")
    members[2].request("service", name="svc")
    members[0].request("subscriber", topic="alerts")
    victim = members[1]
    contact = victim.address + "/system/receptionist"
    assert outsider.request("client_connect", contacts=[contact], max_attempts=3,
                            **HEARTBEAT) == contact
    answer = wait_until(lambda: _settled(lambda: outsider.request(
        "client_ask", path="/user/svc", msg="hi", timeout=5.0)), 30.0, "the service answers")
    assert answer[1] == "hi"
    wait_until(lambda: len(members[2].request("ps_nodes", topic="alerts")) == 1, 30.0,
               "the subscriber is known")

    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    victim.kill()
    moved = wait_until(lambda: (lambda st: st if st["reconnects"] == 1 and st["receptionist"]
                                not in (None, contact) else None)(
        outsider.request("client_state")), 30.0, "the client moved to another receptionist")
    failover = time.monotonic() - killed
    assert moved["receptionist"] in (members[0].address + "/system/receptionist",
                                     members[2].address + "/system/receptionist")
    answer = outsider.request("client_ask", path="/user/svc", msg="after", timeout=10.0)
    assert answer[1] == "after" and answer[0] in (members[0].address, members[2].address)
    outsider.request("client_publish", topic="alerts", msg="a1")
    wait_until(lambda: members[0].request("ps_received", topic="alerts") == ["a1"], 30.0,
               "the subscriber got the client's message")
    print(f"\ncluster client failover after kill -9 of its receptionist's node: "
          f"{failover:.2f} s (heartbeat 0.2 s, acceptable pause 1.0 s)")


def test_a_graceful_leave_hands_the_singleton_over_without_overlap(nodes, tmp_path):
    config = cluster_config()
    members = nodes.start_all(_node(f"gh{i}", config) for i in range(3))
    oldest = members[0]
    join_all([oldest], [oldest.address], timeout=FORM_DEADLINE)
    join_all(members[1:], [oldest.address], timeout=FORM_DEADLINE)
    wait_agreed(members, FORM_DEADLINE, "three nodes form one cluster")
    marker = str(tmp_path / "singleton-running")
    for m in members:
        m.request("singleton_start", name="single", marker=marker)

    def events(node: NodeProcess, kind: str) -> list[dict]:
        return node.events_where(lambda e: e.get("event") == "singleton" and e["type"] == kind)

    oldest.wait_event(lambda e: e.get("event") == "singleton" and e["type"] == "started",
                      30.0, "the singleton started on the oldest")
    members[2].request("singleton_tell", name="single", msg="before")
    oldest.wait_event(lambda e: e.get("event") == "singleton" and e["type"] == "msg"
                      and e["msg"] == "before", 30.0, "the message through the proxy")
    ages = {m["address"]: (m["up_number"], int(m["address"].rpartition(":")[2]))
            for m in state(members[1])["members"]}
    survivors = members[1:]
    next_oldest = min(survivors, key=lambda m: ages[m.address])

    left = time.monotonic()
    oldest.request("leave", timeout=30.0)
    new = wait_until(lambda: next((m for m in survivors if events(m, "started")), None), 30.0,
                     "the singleton started on a survivor")
    handed_over = time.monotonic() - left
    assert new is next_oldest
    stopped = events(oldest, "stopped")
    assert len(stopped) == 1 and stopped[0]["t"] <= events(new, "started")[0]["t"]
    wait_until(lambda: sorted(m.request("singleton_state", name="single") for m in survivors) ==
               ["active_here", "active_remote"], 30.0, "the survivors' states")
    members[2].request("singleton_tell", name="single", msg="after")
    new.wait_event(lambda e: e.get("event") == "singleton" and e["type"] == "msg"
                   and e["msg"] == "after", 30.0, "the message reaches the new instance")
    # Never two at once: no instance found another's marker, one started per node.
    assert not any(events(m, "overlap") for m in members)
    assert [len(events(m, "started")) for m in members] == \
        [1] + [1 if m is new else 0 for m in survivors]
    print(f"\nsingleton hand-over on a graceful leave of the oldest: running on {new.name} "
          f"{handed_over:.2f} s after the leave began")
