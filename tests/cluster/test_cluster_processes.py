"""Three cluster nodes in three OS processes over TCP on loopback."""

from __future__ import annotations

import contextlib
import pathlib
import time

from remote._procs import STARTUP_DEADLINE, launched

NODE = pathlib.Path(__file__).resolve().parent / "_cluster_node.py"


def _ask(peer, command: str, timeout: float = STARTUP_DEADLINE) -> str:
    peer.command(command)
    line = peer.next_line(timeout)
    assert line is not None, f"no answer to {command!r}"
    assert not line.startswith("error"), line
    return line


def test_three_processes_form_one_cluster_and_one_leaves():
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(launched(NODE, name)) for name in ("pa", "pb", "pc")]
        peers = [peer for peer, _ in nodes]
        addresses = [address for _, address in nodes]
        assert all(a.startswith(f"akka.tcp://{n}@127.0.0.1:")
                   for a, n in zip(addresses, ("pa", "pb", "pc")))
        seed = addresses[0]
        for peer in peers:
            peer.command(f"join {seed}")
        for peer in peers:
            assert peer.next_line() == "joined"
        everyone = "up " + ",".join(sorted(addresses))
        deadline = time.monotonic() + STARTUP_DEADLINE
        while not all(_ask(peer, "up") == everyone for peer in peers):
            assert time.monotonic() < deadline, [_ask(peer, "up") for peer in peers]
            time.sleep(0.05)
        leaders = {_ask(peer, "leader") for peer in peers}
        assert len(leaders) == 1 and leaders.pop()[len("leader "):] in addresses

        # The last one leaves; the other two see two members up.
        assert _ask(peers[2], "leave") == "left 0"
        rest = "up " + ",".join(sorted(addresses[:2]))
        while not all(_ask(peer, "up") == rest for peer in peers[:2]):
            assert time.monotonic() < deadline + STARTUP_DEADLINE
            time.sleep(0.05)
