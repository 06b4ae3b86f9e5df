"""A receiver that falls behind does not grow its memory without bound: its
transport stops reading once ``remote.inbound-queue-size`` items wait for
its loop, TCP holds the sender back, and the sender's outbound queue
overflows into dead letters (two real OS processes on loopback; the
receiver is _slow_receiver.py)."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import subprocess
import threading
import time
from typing import Iterator

from atomr import ActorSystem, Config
from atomr.remote import Remote

from _helpers import wait_until
from remote import _procs
from remote._procs import STARTUP_DEADLINE

HERE = pathlib.Path(__file__).resolve().parent
RECEIVER = HERE / "_slow_receiver.py"
DEADLINE = 60.0
LIMIT = 2_000
# One socket read (64 KiB) of small envelopes may land past the limit.
SLACK = 64 * 1024 // 100
PAD = "x" * 200


class _Receiver:
    def __init__(self) -> None:
        self.peer: _procs.Peer
        self.max_queued = 0
        self.pauses = 0
        self._lock = threading.Lock()

    def figure(self, line: str) -> bool:
        """Takes the ``q <queued> <pauses>`` lines of the peer's stdout."""
        if not line.startswith("q "):
            return False
        _, queued, pauses = line.split()
        with self._lock:
            self.max_queued = max(self.max_queued, int(queued))
            self.pauses = int(pauses)
        return True

    @property
    def proc(self) -> subprocess.Popen:
        return self.peer.proc

    def expect(self, wanted: str) -> str:
        line = self.peer.next_line(STARTUP_DEADLINE)
        assert line is not None and line.startswith(wanted), (line, wanted)
        return line

    def command(self, line: str) -> None:
        self.peer.command(line)

    def rss(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def figures(self) -> tuple[int, int]:
        with self._lock:
            return self.max_queued, self.pauses


@contextlib.contextmanager
def slow_receiver(limit: int) -> Iterator[tuple[_Receiver, str]]:
    receiver = _Receiver()
    with _procs.launched(RECEIVER, limit, stderr=subprocess.DEVNULL,
                         on_line=receiver.figure) as (peer, address):
        receiver.peer = peer
        assert address.startswith("akka.tcp://"), address
        yield receiver, address


async def test_a_blocked_receiver_stops_reading_and_the_sender_drops_to_dead_letters():
    system = await ActorSystem.create("flood", Config.from_dict(
        {"remote": {"outbound-queue-size": 5_000}}))
    dead: list = []
    system.subscribe_dead_letters(lambda msg, sender, recipient: dead.append(recipient))
    try:
        remote = Remote.get(system)
        with slow_receiver(LIMIT) as (receiver, address):
            sink = system.actor_selection(f"{address}/user/sink")
            assert await sink.ask(None, timeout=DEADLINE) == 0
            rss_before = receiver.rss()
            receiver.command("block")
            await asyncio.get_running_loop().run_in_executor(None, receiver.expect, "blocked")
            # Flood until the sender's own queue overflows (TCP holds it back),
            # bounded in count and time.
            sent = 0
            until = time.monotonic() + DEADLINE
            while remote.stats()["envelopes_dropped"] < 10_000:
                assert time.monotonic() < until, remote.stats()
                for _ in range(1_000):
                    sink.tell({"n": sent, "pad": PAD})
                    sent += 1
                await asyncio.sleep(0)
            await wait_until(lambda: receiver.figures()[1] >= 1, DEADLINE,
                             "the receiver never paused reading")
            max_queued, _ = receiver.figures()
            rss_blocked = receiver.rss()
            dropped = remote.stats()["envelopes_dropped"]
            receiver.command("unblock")
            # Every envelope the sender did not drop arrives once the loop runs.
            await wait_until(lambda: len(dead) >= dropped, DEADLINE)
            await wait_until(lambda: _count(sink, sent - dropped), DEADLINE,
                             f"the sink did not count {sent - dropped}")
        assert max_queued <= LIMIT + SLACK, (max_queued, sent)
        # The items of 10,000+ messages alone would take several MiB more.
        assert rss_blocked - rss_before < 16 << 20, (rss_blocked - rss_before, sent)
        assert sent - dropped > LIMIT
        assert all(r.endswith("/user/sink") for r in dead[:dropped])
    finally:
        await system.terminate()


async def _count(sink, expected: int) -> bool:
    with contextlib.suppress(Exception):
        return await sink.ask(None, timeout=5.0) == expected
    return False
