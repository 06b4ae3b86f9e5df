"""A receiver that falls behind does not grow its memory without bound: its
transport stops reading once ``remote.inbound-queue-size`` items wait for
its loop, TCP holds the sender back, and the sender's outbound queue
overflows into dead letters (two real OS processes on loopback; the
receiver is _slow_receiver.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import queue
import subprocess
import sys
import threading
import time
from typing import Iterator

from atomr import ActorSystem, Config
from atomr.remote import Remote

from _helpers import wait_until

HERE = pathlib.Path(__file__).resolve().parent
RECEIVER = HERE / "_slow_receiver.py"
STARTUP_DEADLINE = 60.0  # a Python process starting on a loaded 2-core machine
DEADLINE = 60.0
LIMIT = 2_000
# One socket read (64 KiB) of small envelopes may land past the limit.
SLACK = 64 * 1024 // 100
PAD = "x" * 200


class _Receiver:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue = queue.Queue()
        self.max_queued = 0
        self.pauses = 0
        self._lock = threading.Lock()

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("q "):
                _, queued, pauses = line.split()
                with self._lock:
                    self.max_queued = max(self.max_queued, int(queued))
                    self.pauses = int(pauses)
            else:
                self.lines.put(line)
        self.lines.put(None)

    def expect(self, wanted: str) -> str:
        line = self.lines.get(timeout=STARTUP_DEADLINE)
        assert line is not None and line.startswith(wanted), (line, wanted)
        return line

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

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
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(RECEIVER), str(limit)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    receiver = _Receiver(proc)
    reader = threading.Thread(target=receiver.read, daemon=True)
    reader.start()
    try:
        yield receiver, receiver.expect("akka.tcp://")
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=DEADLINE)
        reader.join(timeout=DEADLINE)
        for stream in (proc.stdout, proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


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
