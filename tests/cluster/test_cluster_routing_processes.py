"""Cluster-aware routers between three OS processes over TCP on loopback:
a group and a pool spread messages over every node, and adapt when one
process is SIGKILLed; the nodes' metrics reach each other."""

from __future__ import annotations

import contextlib
import pathlib
import time

from remote._procs import STARTUP_DEADLINE, launched

NODE = pathlib.Path(__file__).resolve().parent / "_routing_node.py"


def _ask(peer, command: str, timeout: float = STARTUP_DEADLINE) -> str:
    peer.command(command)
    line = peer.next_line(timeout)
    assert line is not None, f"no answer to {command!r}"
    assert not line.startswith("error"), line
    return line


def _until(peer, command: str, pred, what: str) -> str:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        line = _ask(peer, command)
        if pred(line):
            return line
        assert time.monotonic() < deadline, f"{what}: last answer {line!r}"
        time.sleep(0.1)


def _counts(line: str) -> dict[str, int]:
    body = line.split(" ", 1)[1] if " " in line else ""
    return {k: int(v) for k, v in (item.split(":") for item in body.split(",") if item)}


def test_group_and_pool_routers_spread_over_three_processes_and_adapt_to_a_kill():
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(launched(NODE, name, kill_at_exit=True))
                 for name in ("xa", "xb", "xc")]
        peers = [peer for peer, _ in nodes]
        addresses = [address for _, address in nodes]
        for peer in peers:
            peer.command(f"join {addresses[0]}")
        for peer in peers:
            assert peer.next_line() == "joined"
        everyone = "up " + ",".join(sorted(addresses))
        for peer in peers:
            _until(peer, "up", lambda line: line == everyone, "all three up")
        a = peers[0]
        assert _ask(a, "routers") == "ok"
        _until(a, "routees grp", lambda line: _counts(line) == {"xa": 1, "xb": 1, "xc": 1},
               "a group routee on each node")
        _until(a, "routees pool", lambda line: _counts(line) == {"xa": 1, "xb": 1, "xc": 1},
               "a pool routee deployed on each node")
        assert _counts(_ask(a, "spread grp 9")) == {"xa": 3, "xb": 3, "xc": 3}
        assert _counts(_ask(a, "spread pool 9")) == {"xa": 3, "xb": 3, "xc": 3}
        for peer in peers:
            _until(peer, "metrics", lambda line: line == "metrics " + ",".join(sorted(addresses)),
                   "every node's metrics on every node")

        # SIGKILL c: once it is unreachable its routees are gone; the pool
        # deploys its third routee on a or b (at most 2 per node).
        peers[2].proc.kill()
        peers[2].proc.wait(timeout=STARTUP_DEADLINE)
        _until(a, "routees grp", lambda line: _counts(line) == {"xa": 1, "xb": 1},
               "c's group routee removed")
        pool = _counts(_until(a, "routees pool",
                              lambda line: set(_counts(line)) == {"xa", "xb"}
                              and sum(_counts(line).values()) == 3,
                              "the pool redeployed on a and b"))
        assert sorted(pool.values()) == [1, 2]
        assert _counts(_ask(a, "spread grp 4")) == {"xa": 2, "xb": 2}
        assert _counts(_ask(a, "spread pool 6")) == {k: 2 * v for k, v in pool.items()}
