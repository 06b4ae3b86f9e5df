"""Remoting across a real network fault: two node processes in network
namespaces of their own, the network between them cut (an nftables drop on
the bridge, or one node's link down) and healed.

While cut, the phi-accrual failure detector declares the peer unreachable on
both sides: a remote watch ends with ``Terminated(address_terminated=True)``
and a pending ask fails with RemoteAddressTerminatedError long before its
own timeout. After the heal the peers reach each other again and messages
flow both ways. Messages sent during a short cut are at most once: some may
be lost, none is duplicated or reordered, and nothing crashes.
"""

from __future__ import annotations

import time

import pytest

from multinode._nodes import NodeCommandError, NodeProcess, wait_until

#: Heartbeats every 100 ms, a 1 s acceptable pause: phi crosses the
#: threshold ~1.6 s after the last heartbeat.
FAST_WATCH = {
    "heartbeat-interval": 0.1,
    "idle-timeout": 5.0,
    "watch-failure-detector": {
        "acceptable-heartbeat-pause": 1.0,
        "min-std-deviation": 0.1,
        "first-heartbeat-estimate": 0.1,
        "unreachable-nodes-reaper-interval": 0.05,
    },
}
#: Detection on a loaded 2-core machine.
DETECTION_DEADLINE = 20.0
#: The pending ask's own timeout: far beyond detection.
ASK_TIMEOUT = 120.0
#: After a heal, how long until the peers talk again.
RECOVERY_DEADLINE = 30.0


def two_nodes(netns_lab, nodes, **remote):
    lab = netns_lab(2)
    a, b = nodes.start_all(
        NodeProcess(name, host=lab.addresses[i], config={"remote": dict(FAST_WATCH, **remote)},
                    wrap=lambda argv, i=i: lab.command(i, argv))
        for i, name in enumerate(("alpha", "beta")))
    assert a.address == f"akka.tcp://alpha@{lab.addresses[0]}:{a.port}"
    return lab, a, b


def answers(node: NodeProcess, peer: NodeProcess, msg: str, timeout: float = 2.0) -> bool:
    """`node` asks `peer`'s echo; True when the answer came."""
    try:
        got = node.request("ask", path=f"{peer.address}/user/echo", msg=msg, timeout=timeout)
    except NodeCommandError as exc:
        assert exc.error in ("AskTimeoutError", "RemoteAddressTerminatedError"), exc
        return False
    assert got["answer"] == msg
    return True


def is_remote(kind: str, peer: NodeProcess):
    return lambda e: (e.get("event") == "remote" and e["type"] == kind
                      and e["address"] == peer.address)


@pytest.mark.parametrize("fault", ["partition", "link-down"])
def test_a_cut_ends_watches_and_fails_pending_asks_and_a_heal_restores_messaging(
        netns_lab, nodes, fault):
    lab, a, b = two_nodes(netns_lab, nodes)
    echo = f"{b.address}/user/echo"
    assert answers(a, b, "hello", timeout=30.0) and answers(b, a, "hello", timeout=30.0)
    assert a.request("watch", path=echo) == "watching"
    assert answers(a, b, "watch registered")  # same connection, after the Watch
    pending = a.send("ask", path=f"{b.address}/user/sink", msg="never answered",
                     timeout=ASK_TIMEOUT)
    assert answers(a, b, "sink got it")  # the pending ask arrived, unanswered

    if fault == "partition":
        lab.partition([0], [1])
    else:
        lab.link_down(1)
    cut = time.monotonic()
    with pytest.raises(NodeCommandError) as failed:
        a.reply(pending, timeout=DETECTION_DEADLINE)
    assert failed.value.error == "RemoteAddressTerminatedError"
    assert "unreachable" in failed.value.message
    failed_after = time.monotonic() - cut
    terminated = a.wait_event(lambda e: e.get("event") == "terminated", DETECTION_DEADLINE,
                              "Terminated of the watched actor")
    assert terminated["path"] == echo and terminated["address_terminated"]
    a.wait_event(is_remote("RemoteUnreachable", b), DETECTION_DEADLINE, "b unreachable")
    b.wait_event(is_remote("RemoteUnreachable", a), DETECTION_DEADLINE, "a unreachable")
    assert failed_after < DETECTION_DEADLINE < ASK_TIMEOUT
    # Still cut: nothing gets through.
    assert not answers(a, b, "during the cut", timeout=0.5)

    mark_a, mark_b = len(a.events), len(b.events)
    if fault == "partition":
        lab.heal()
    else:
        lab.link_up(1)
    wait_until(lambda: answers(a, b, "after the heal"), RECOVERY_DEADLINE, "a reaches b again")
    wait_until(lambda: answers(b, a, "after the heal"), RECOVERY_DEADLINE, "b reaches a again")
    # Both sides learn the other is back (or associate anew) ...
    back = {"RemoteReachable", "AssociatedEvent"}
    a.wait_event(lambda e: e.get("event") == "remote" and e["type"] in back
                 and e["address"] == b.address, RECOVERY_DEADLINE, "b back", start=mark_a)
    b.wait_event(lambda e: e.get("event") == "remote" and e["type"] in back
                 and e["address"] == a.address, RECOVERY_DEADLINE, "a back", start=mark_b)
    # ... and a new watch of the same actor works like any other.
    assert a.request("watch", path=echo) == "watching"
    assert len(a.events_where(lambda e: e.get("event") == "terminated")) == 1
    assert a.running and b.running
    print(f"\n{fault}: pending ask failed {failed_after:.2f} s after the cut")


def test_a_cut_past_the_idle_timeout_closes_the_connection_and_the_heal_associates_anew(
        netns_lab, nodes):
    lab, a, b = two_nodes(netns_lab, nodes, **{"idle-timeout": 2.0})
    assert answers(a, b, "hello", timeout=30.0) and answers(b, a, "hello", timeout=30.0)
    assert a.events_where(is_remote("AssociatedEvent", b))
    lab.partition([0], [1])
    # Silence past the idle timeout: both sides close the connection.
    a.wait_event(is_remote("DisassociatedEvent", b), DETECTION_DEADLINE, "a drops b")
    b.wait_event(is_remote("DisassociatedEvent", a), DETECTION_DEADLINE, "b drops a")
    mark_a, mark_b = len(a.events), len(b.events)
    lab.heal()
    wait_until(lambda: answers(a, b, "after the heal"), RECOVERY_DEADLINE, "a reaches b again")
    wait_until(lambda: answers(b, a, "after the heal"), RECOVERY_DEADLINE, "b reaches a again")
    # A new connection, with the same incarnations: no quarantine.
    a.wait_event(is_remote("AssociatedEvent", b), RECOVERY_DEADLINE, "a new association",
                 start=mark_a)
    b.wait_event(is_remote("AssociatedEvent", a), RECOVERY_DEADLINE, "a new association",
                 start=mark_b)
    for node, peer in ((a, b), (b, a)):
        assert not node.events_where(is_remote("QuarantinedEvent", peer))
        assert {e["uid"] for e in node.events_where(
            lambda e: e.get("event") == "remote" and e["address"] == peer.address)} == {peer.uid}


def test_messages_during_a_short_cut_are_at_most_once_in_order(netns_lab, nodes):
    lab, a, b = two_nodes(netns_lab, nodes)
    recorder = f"{b.address}/user/recorder"
    assert answers(a, b, "hello", timeout=30.0)
    a.request("tell_seq", path=recorder, start=0, count=500)
    assert answers(a, b, "first batch sent")  # FIFO: the batch arrived before this answer

    lab.partition([0], [1])
    a.request("tell_seq", path=recorder, start=500, count=500)
    # The cut is real: an ask times out (well before the detector's verdict).
    assert not answers(a, b, "cut", timeout=0.5)
    a.request("tell_seq", path=recorder, start=1000, count=500)
    lab.heal()

    wait_until(lambda: answers(a, b, "healed"), RECOVERY_DEADLINE, "a reaches b again")
    a.request("tell_seq", path=recorder, start=1500, count=500)
    assert answers(a, b, "last batch sent")
    seen = b.request("recorded")
    assert seen == sorted(set(seen)), "a message was duplicated or reordered"
    assert seen[:500] == list(range(500))
    assert seen[-500:] == list(range(1500, 2000))
    assert set(seen) <= set(range(2000))
    assert a.running and b.running
    for node in (a, b):
        assert "Traceback" not in node.stderr_tail(100_000)
    print(f"\n{len(seen) - 1000} of the 1000 messages sent during the cut arrived")


def test_a_cut_between_two_nodes_leaves_a_third_talking_to_both(netns_lab, nodes):
    lab = netns_lab(3)
    a, b, c = nodes.start_all(
        NodeProcess(name, host=lab.addresses[i], config={"remote": FAST_WATCH},
                    wrap=lambda argv, i=i: lab.command(i, argv))
        for i, name in enumerate(("alpha", "beta", "gamma")))
    for x, y in ((a, b), (a, c), (b, c)):
        assert answers(x, y, "hello", timeout=30.0) and answers(y, x, "hello", timeout=30.0)
    lab.partition([0], [1])  # gamma is in neither group: it reaches both
    a.wait_event(is_remote("RemoteUnreachable", b), DETECTION_DEADLINE, "b unreachable")
    b.wait_event(is_remote("RemoteUnreachable", a), DETECTION_DEADLINE, "a unreachable")
    for x, y in ((a, c), (c, a), (b, c), (c, b)):
        assert answers(x, y, "still here", timeout=5.0), (x.name, y.name)
    assert not c.events_where(lambda e: e.get("event") == "remote"
                              and e["type"] == "RemoteUnreachable")
    assert not a.events_where(is_remote("RemoteUnreachable", c))
    assert not b.events_where(is_remote("RemoteUnreachable", c))
    lab.heal()
    wait_until(lambda: answers(a, b, "healed"), RECOVERY_DEADLINE, "a reaches b again")
