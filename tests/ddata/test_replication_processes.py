"""The Replicator between real OS processes over TCP: convergence of three
nodes, and a Jepsen-style check -- five processes doing concurrent majority
increments and set adds while one is killed with SIGKILL; afterwards every
acknowledged write is visible on every surviving node."""

from __future__ import annotations

import contextlib
import json
import pathlib
import threading
import time
from typing import Any

from remote._procs import STARTUP_DEADLINE, launched

NODE = pathlib.Path(__file__).resolve().parent / "_ddata_node.py"


def ask(peer: Any, command: str, timeout: float = STARTUP_DEADLINE) -> str:
    peer.command(command)
    line = peer.next_line(timeout)
    assert line is not None, f"no answer to {command!r}"
    assert not line.startswith("error"), line
    return line


def start(stack: contextlib.ExitStack, names: list[str], **kw: Any) -> tuple[list[Any], list[str]]:
    nodes = [stack.enter_context(launched(NODE, name, kill_at_exit=True, **kw))
             for name in names]
    peers = [p for p, _ in nodes]
    addresses = [a for _, a in nodes]
    for peer in peers:
        peer.command(f"join {addresses[0]}")
    for peer in peers:
        assert peer.next_line() == "joined"
    deadline = time.monotonic() + STARTUP_DEADLINE
    while not all(ask(p, "size") == f"size {len(names)}" for p in peers):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return peers, addresses


def eventually(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last is True:
            return
        assert time.monotonic() < deadline, last
        time.sleep(0.2)


def test_three_processes_converge():
    with contextlib.ExitStack() as stack:
        peers, addresses = start(stack, ["da", "db", "dc"])
        assert ask(peers[0], "inc c 2 majority 10") == "ok"
        assert ask(peers[1], "inc c 3 local 1") == "ok"
        assert ask(peers[2], "add s x all 10") == "ok"
        assert ask(peers[0], "add s y local 1") == "ok"

        def converged() -> Any:
            got = [(ask(p, "counter c").split()[1], ask(p, "set s")) for p in peers]
            return got == [("5", 'set ["x", "y"]')] * 3 or got

        eventually(converged)


def test_jepsen_concurrent_majority_writes_with_a_kill_survive_on_every_node():
    acks: dict[int, list[str]] = {i: [] for i in range(5)}
    lock = threading.Lock()

    def taker(i: int) -> Any:
        def take(line: str) -> bool:
            if line.startswith("ack "):
                with lock:
                    acks[i].append(line[4:])
                return True
            return False
        return take

    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(launched(NODE, f"j{i}", kill_at_exit=True,
                                              on_line=taker(i))) for i in range(5)]
        peers = [p for p, _ in nodes]
        addresses = [a for _, a in nodes]
        for peer in peers:
            peer.command(f"join {addresses[0]}")
        for peer in peers:
            assert peer.next_line() == "joined"
        eventually(lambda: all(ask(p, "size") == "size 5" for p in peers) or "not joined")
        for peer in peers:
            peer.command("load 4 ctr set 2")
        time.sleep(1.5)
        victim = peers[4]
        victim.proc.kill()  # SIGKILL in the middle of its writes
        victim.proc.wait(timeout=30)
        survivors = peers[:4]
        for peer in survivors:
            line = peer.next_line(60)
            assert line is not None and line.startswith("loaded"), line
        with lock:
            acked_incs = {i: sum(1 for a in acks[i] if a == "inc") for i in range(5)}
            acked_adds = {a[4:] for i in range(5) for a in acks[i] if a.startswith("add ")}
        assert sum(acked_incs.values()) > 0 and acked_adds
        assert acked_incs[4] > 0  # the victim's acknowledged writes count too

        def all_visible() -> Any:
            for p in survivors:
                entries = json.loads(ask(p, "counter ctr").split(" ", 2)[2])
                for i in range(5):
                    # Entries are keyed by unique address: `<address>#<uid>`.
                    mine = sum(n for node, n in entries.items()
                               if node.rpartition("#")[0] == addresses[i])
                    if mine < acked_incs[i]:
                        return f"{addresses[i]}: {mine} < {acked_incs[i]}"
                elements = set(json.loads(ask(p, "set set")[4:]))
                missing = acked_adds - elements
                if missing:
                    return f"missing {sorted(missing)[:5]}"
            return True

        eventually(all_visible)
