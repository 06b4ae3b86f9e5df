"""Random and mutated frames fired at a live system's port from raw sockets
(many connections, reconnecting when closed) while a well-behaved peer keeps
asking: every ask is answered, the target process stays up, its open file
descriptors come back to where they were, and its log says malformed
frames were refused. The target is _garbage_target.py, in a process of its
own; the well-behaved peer is this process's system.

``ATOMR_GARBAGE_FRAMES`` sets how many frames are fired (``make soak``: one
million; the default keeps the test well under half a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import random
import socket
import struct
import subprocess
import tempfile
import threading
import time
from typing import Iterator

from atomr import ActorSystem
from atomr.remote import Remote

from remote._procs import launched

HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE / "_garbage_target.py"
DEADLINE = 60.0
FRAMES = int(os.environ.get("ATOMR_GARBAGE_FRAMES", "100000"))
FRAMES_PER_CONNECTION = 10
ATTACKERS = 4
ASK_TIMEOUT = 10.0

VERSION = 1
HANDSHAKE, HANDSHAKE_ACK, ENVELOPE, HEARTBEAT, HEARTBEAT_ACK, CLOSE = range(1, 7)
MAGIC = 0x524D5441
# The address the attackers' handshakes claim (nothing listens there).
CLAIMED_HOST, CLAIMED_PORT = "127.0.0.1", 9


def _frame(kind: int, body: bytes, version: int = VERSION) -> bytes:
    return struct.pack("<IBB", len(body) + 2, version, kind) + body


def _string(s: bytes) -> bytes:
    return struct.pack("<I", len(s)) + s


def _handshake(uid: int, kind: int = HANDSHAKE, protocol: int = 1) -> bytes:
    body = struct.pack("<IHQHB", MAGIC, protocol, uid, CLAIMED_PORT, 0)
    return _frame(kind, body + _string(b"attacker") + _string(CLAIMED_HOST.encode()))


def _envelope(rng: random.Random) -> bytes:
    flags = rng.randrange(4)
    body = bytes([flags])
    if flags & 2:
        body += struct.pack("<Q", rng.getrandbits(64))
    body += _string(b"/user/nobody")
    if flags & 1:
        body += _string(b"akka.tcp://attacker@127.0.0.1:9/user/x")
    body += _string(b"builtins.int") + b"\x05"
    return _frame(ENVELOPE, body)


def _valid(rng: random.Random) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return _frame(HEARTBEAT, struct.pack("<Q", rng.getrandbits(64)))
    if choice == 1:
        return _frame(HEARTBEAT_ACK, struct.pack("<Q", rng.getrandbits(64)))
    return _envelope(rng)


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    """One of: bit flips, a truncation, a lying length, a bad version or
    kind, or random bytes."""
    b = bytearray(frame)
    how = rng.randrange(7)
    if how == 0:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif how == 1:
        del b[rng.randrange(1, len(b)):]
    elif how == 2:
        lie = rng.choice([0, 1, 2, len(b) - 5, len(b) + 10, 1 << 31, 0xFFFFFFFF,
                          rng.getrandbits(32)])
        b[0:4] = struct.pack("<I", lie & 0xFFFFFFFF)
    elif how == 3:
        b[4] = rng.choice([0, 2, 255, rng.randrange(256)])
    elif how == 4:
        b[5] = rng.choice([0, 7, 255, rng.randrange(7, 256)])
    elif how == 5:  # a lying string length inside the body
        if len(b) > 10:
            i = rng.randrange(6, len(b) - 4)
            b[i:i + 4] = struct.pack("<I", rng.getrandbits(32))
    else:
        b = bytearray(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    return bytes(b)


def _connection_bytes(rng: random.Random, n: int) -> bytes:
    """`n` frames for one connection: usually a handshake (valid or mutated
    first), then valid frames with mutated ones among them."""
    out = []
    start = rng.randrange(5)
    if start == 0:
        out.append(_mutate(rng, _handshake(rng.getrandbits(64) | 1)))
    elif start == 1:
        out.append(_handshake(rng.getrandbits(64) | 1, protocol=rng.choice([0, 2, 0xFFFF])))
    elif start == 2:
        out.append(_mutate(rng, _valid(rng)))  # no handshake first
    else:
        out.append(_handshake(rng.getrandbits(64) | 1))
    for _ in range(n - 1):
        frame = _valid(rng)
        out.append(_mutate(rng, frame) if rng.random() < 0.1 else frame)
    return b"".join(out)


def _attack(port: int, frames: int, seed: int, counts: dict, lock: threading.Lock) -> None:
    rng = random.Random(seed)
    fired = connections = 0
    deadline = time.monotonic() + 10 * DEADLINE
    while fired < frames and time.monotonic() < deadline:
        n = min(FRAMES_PER_CONNECTION, frames - fired)
        data = _connection_bytes(rng, n)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
                connections += 1
                with contextlib.suppress(OSError):  # the target closed first
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):  # until the target closes
                        pass
        except OSError:
            continue  # the accept backlog was full: reconnect
        fired += n
    with lock:
        counts["frames"] += fired
        counts["connections"] += connections


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@contextlib.contextmanager
def target_process(lifetime: float) -> Iterator[tuple[subprocess.Popen, str, pathlib.Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        log = pathlib.Path(tmp) / "stderr.log"
        with open(log, "w") as err:
            with launched(TARGET, lifetime, stderr=err,
                          failure_detail=log.read_text) as (target, address):
                yield target.proc, address, log


async def _wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_garbage_frames_are_refused_while_a_good_peer_keeps_getting_answers():
    started = time.monotonic()
    system = await ActorSystem.create("good")
    try:
        Remote.get(system)
        with target_process(lifetime=20 * DEADLINE) as (proc, address, log):
            echo = system.actor_selection(f"{address}/user/echo")
            assert await echo.ask({"double": 1}, timeout=DEADLINE) == 2
            fds_before = _fds(proc.pid)
            _, _, port = address.rpartition(":")
            counts = {"frames": 0, "connections": 0}
            lock = threading.Lock()
            attackers = [threading.Thread(
                target=_attack, args=(int(port), FRAMES // ATTACKERS, seed, counts, lock),
                daemon=True) for seed in range(ATTACKERS)]
            for thread in attackers:
                thread.start()
            answered = 0
            while any(thread.is_alive() for thread in attackers):
                # Every ask of the good peer is answered, throughout.
                n = answered + 2
                assert await echo.ask({"double": n}, timeout=ASK_TIMEOUT) == 2 * n
                answered += 1
                assert proc.poll() is None, "the target died"
            for thread in attackers:
                thread.join(DEADLINE)
            attack_seconds = time.monotonic() - started
            assert counts["frames"] >= FRAMES - ATTACKERS, counts
            assert proc.poll() is None, "the target died"
            assert await echo.ask({"double": 21}, timeout=DEADLINE) == 42
            # Every attacker connection is closed on the target's side too.
            await _wait_for(lambda: _fds(proc.pid) <= fds_before, DEADLINE,
                            f"fds: {_fds(proc.pid)} now, {fds_before} before")
            text = log.read_text()
            assert "remote malformed frame" in text, text[-2000:]
            assert "remote handshake refused" in text, text[-2000:]
            assert "Traceback" not in text, text[-4000:]
            assert answered >= 1
        print(f"\n{counts['frames']} frames over {counts['connections']} connections, "
              f"{answered} asks answered meanwhile, {attack_seconds:.1f} s")
    finally:
        await system.terminate()
