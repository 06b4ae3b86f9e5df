"""The network namespace lab itself: addresses, a real bidirectional
partition between groups that heals, a node's link going down and up, and a
teardown that leaves no namespace or process behind."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from multinode._netns import NetnsLab, delete_stale_namespaces, unavailable_reason

PORT = 7000
#: A TCP connect to a node across a partition must fail within this.
CONNECT_TIMEOUT = 1.5

SERVER = f"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], {PORT}))
s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hi")
    c.close()
"""

CLIENT = f"""
import socket, sys
s = socket.socket()
s.settimeout({CONNECT_TIMEOUT})
try:
    s.connect((sys.argv[1], {PORT}))
    print(s.recv(2).decode())
except OSError as exc:
    print(type(exc).__name__)
"""


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def reaches(lab: NetnsLab, src: int, dst: int) -> bool:
    """Whether a TCP connect from node `src` to `dst`'s server gets its
    greeting. A cut shows as a timeout (packets dropped silently) or, with a
    link down, as "no route to host" (ARP fails); never as a refusal, which
    would mean the server is gone rather than the network."""
    out = lab.run(src, [sys.executable, "-c", CLIENT, lab.addresses[dst]]).strip()
    assert out in ("hi", "TimeoutError", "OSError"), out
    return out == "hi"


def serve(lab: NetnsLab, i: int) -> subprocess.Popen:
    proc = subprocess.Popen(lab.command(i, [sys.executable, "-c", SERVER, lab.addresses[i]]),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
    return proc


def test_partition_between_groups_is_bidirectional_and_heals(netns_lab):
    lab = netns_lab(4)
    assert lab.addresses == ["10.77.0.1", "10.77.0.2", "10.77.0.3", "10.77.0.4"]
    servers = [serve(lab, i) for i in range(4)]
    try:
        assert all(reaches(lab, a, b) for a in range(4) for b in range(4) if a != b)
        lab.partition([0, 1], [2, 3])
        assert lab.groups == [[0, 1], [2, 3]]
        # Inside each side: fine. Across: silent drops both ways.
        assert reaches(lab, 0, 1) and reaches(lab, 1, 0)
        assert reaches(lab, 2, 3) and reaches(lab, 3, 2)
        for a, b in ((0, 2), (2, 0), (1, 3), (3, 1)):
            assert not reaches(lab, a, b), (a, b)
        # A new partition replaces the old one.
        lab.partition([0], [1, 2, 3])
        assert reaches(lab, 2, 1) and not reaches(lab, 1, 0) and not reaches(lab, 0, 3)
        lab.heal()
        assert lab.groups is None
        assert all(reaches(lab, a, b) for a in range(4) for b in range(4) if a != b)
    finally:
        for s in servers:
            s.kill()
            s.wait()


def test_link_down_isolates_a_node_until_it_comes_back(netns_lab):
    lab = netns_lab(3)
    servers = [serve(lab, i) for i in range(3)]
    try:
        lab.link_down(1)
        assert not reaches(lab, 0, 1) and not reaches(lab, 1, 2)
        assert reaches(lab, 0, 2)
        lab.link_up(1)
        # The carrier comes back asynchronously; a connect then succeeds.
        deadline = time.monotonic() + 10.0
        while not reaches(lab, 0, 1):
            assert time.monotonic() < deadline, "node 1 not reachable after link up"
        assert reaches(lab, 1, 2)
    finally:
        for s in servers:
            s.kill()
            s.wait()


def test_close_kills_what_runs_inside_and_deletes_every_namespace():
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"network namespace lab unavailable: {reason}")
    lab = NetnsLab(2)
    try:
        made = {lab.hub, lab.namespace(0), lab.namespace(1)}
        assert made <= namespaces()
        left = subprocess.Popen(lab.command(1, [sys.executable, "-c", SERVER, lab.addresses[1]]),
                                stdout=subprocess.PIPE, text=True)
        assert left.stdout is not None and left.stdout.readline().strip() == "listening"
        assert left.pid in lab.pids()
    finally:
        lab.close()
    assert left.wait(timeout=30) != 0  # killed by the lab
    left.stdout.close()
    assert not made & namespaces()
    lab.close()  # idempotent


def test_bad_arguments_are_refused(netns_lab):
    with pytest.raises(ValueError):
        NetnsLab(0)
    lab = netns_lab(2)
    with pytest.raises(ValueError, match="two non-empty groups"):
        lab.partition([0, 1])
    with pytest.raises(ValueError, match="two groups"):
        lab.partition([0, 1], [1])
    with pytest.raises(ValueError, match="no node 5"):
        lab.partition([0], [5])
    with pytest.raises(ValueError, match="no node"):
        lab.link_down(2)


def test_namespaces_of_a_dead_test_run_are_deleted(netns_lab):
    netns_lab(1)  # skips where labs cannot be built
    # A pid that is surely not running: beyond the kernel's pid_max.
    with open("/proc/sys/kernel/pid_max") as f:
        dead = int(f.read()) + 1
    name = f"atomr-{dead}-0-hub"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert name in delete_stale_namespaces()
        assert name not in namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
