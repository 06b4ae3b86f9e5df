"""Serial-link benchmark: one-way tells of 100-byte payloads between two
actor systems of this process over ``SerialTransport.duplex_pair`` (an
AF_UNIX socket pair), raced against the same traffic on plain asyncio
streams over a socket pair (4-byte length prefix, a reader task counting
frames).

Both producers pace themselves the same way: after every 500 messages they
wait while more than 256 KiB wait to be written (atomr:
``RemoteSystem.outbound_buffered``; asyncio: ``writer.drain()`` with the
same high-water mark). A round ends when the receiver has counted all of
its messages.

Run: ``python3 -m pytest benchmarks/test_bench_remote_serial.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, Optional

import pytest

from atomr import Actor, ActorSystem, props
from atomr.remote_serial import RemoteSystem, SerialTransport

IMPLEMENTATIONS = ("atomr", "asyncio")
N = 20_000
ROUNDS = 5
BATCH = 500
HIGH_WATER = 256 << 10
PAYLOAD = bytes(range(100))
WAIT = 60.0


class _Count:
    """The receiver's count and the future of the round's target."""

    def __init__(self) -> None:
        self.n = 0
        self.target = 0
        self.done: Optional[asyncio.Future[int]] = None

    def hit(self) -> None:
        self.n += 1
        if self.n == self.target and self.done is not None and not self.done.done():
            self.done.set_result(self.n)

    def arm(self, n: int) -> "asyncio.Future[int]":
        self.n, self.target = 0, n
        self.done = asyncio.get_running_loop().create_future()
        return self.done


class Counter(Actor[bytes, None]):
    def __init__(self, count: _Count) -> None:
        self.count = count

    def handle(self, ctx: Any, msg: bytes) -> None:
        self.count.hit()


@contextlib.contextmanager
def _atomr(n: int):
    runner = asyncio.Runner()
    count = _Count()

    async def start() -> tuple[Any, ...]:
        ta, tb = SerialTransport.duplex_pair("a", "b", buffer=1 << 18)
        a = await ActorSystem.create("a")
        b = await ActorSystem.create("b")
        ra = await RemoteSystem.start_serial(a, ta)
        rb = await RemoteSystem.start_serial(b, tb)
        for link in (ra, rb):
            link.register_bytes_codec("bytes")
        rb.expose_actor(b.actor_of(props(Counter, factory=lambda: Counter(count)), "counter"),
                        "bytes")
        ref = ra.actor_selection("akka://b/user/counter", "bytes")
        assert ref is not None
        return a, b, ra, ref

    a, b, ra, ref = runner.run(start())

    async def one_round() -> int:
        done = count.arm(n)
        tell = ref.tell
        for i in range(n):
            tell(PAYLOAD)
            if i % BATCH == 0:
                while ra.outbound_buffered > HIGH_WATER:
                    await asyncio.sleep(0)
        return await asyncio.wait_for(done, WAIT)

    def run() -> None:
        assert runner.run(one_round()) == n

    try:
        yield run, None
    finally:
        async def stop() -> None:
            await a.terminate()
            await b.terminate()

        runner.run(stop())
        runner.close()


@contextlib.contextmanager
def _asyncio(n: int):
    runner = asyncio.Runner()
    count = _Count()
    header = struct.Struct("<I")

    async def start() -> tuple[Any, ...]:
        left, right = socket.socketpair()
        for s in (left, right):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        # Both ends' streams are kept: a dropped stream writer closes its socket.
        reader, right_writer = await asyncio.open_connection(sock=right)
        _, writer = await asyncio.open_connection(sock=left)
        writer.transport.set_write_buffer_limits(high=HIGH_WATER)

        async def receive() -> None:
            while True:
                try:
                    size = header.unpack(await reader.readexactly(4))[0]
                    await reader.readexactly(size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                count.hit()

        return writer, right_writer, asyncio.ensure_future(receive())

    writer, right_writer, task = runner.run(start())
    frame = header.pack(len(PAYLOAD)) + PAYLOAD

    async def one_round() -> int:
        done = count.arm(n)
        write = writer.write
        for i in range(n):
            write(frame)
            if i % BATCH == 0:
                await writer.drain()
        return await asyncio.wait_for(done, WAIT)

    def run() -> None:
        assert runner.run(one_round()) == n

    try:
        yield run, None
    finally:
        async def stop() -> None:
            writer.close()
            await task
            right_writer.close()

        runner.run(stop())
        runner.close()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_serial_tell(race, impl):
    """One-way tells of 100 bytes over a socket pair to a counter."""
    race("serial-tell", impl, N, ROUNDS, {"atomr": _atomr, "asyncio": _asyncio}[impl])
