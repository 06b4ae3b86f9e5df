"""The native file and socket stages: the island reads and writes the
descriptor itself and waits on it (``io_waits``) when it would block; the
loop wakes it. Back-pressure, cancellation, errors and the peer closing."""

import asyncio
import os
import socket
import struct

import pytest

from atomr._native import _core
from atomr.errors import StreamIOError
from atomr.streams import FileIO, Flow, Framing, Keep, Sink, Source, Tcp

DEADLINE = 30.0


async def _until(cond, what, timeout=DEADLINE):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _open_fds_to(path):
    target = os.path.realpath(path)
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                n += 1
        except OSError:
            pass
    return n


def test_island_waits_on_a_socket_with_nothing_to_read():
    a, b = socket.socketpair()
    try:
        isl = _core.StreamIsland()
        isl.source_fd(a.fileno(), 1024, True, "pair")
        isl.sink_seq()
        assert isl.run(100) == _core.ISLAND_WAITING
        assert isl.io_waits() == [(a.fileno(), False)]
        b.sendall(b"hello")
        assert isl.run(100) == _core.ISLAND_WAITING
        b.close()
        assert isl.run(100) == _core.ISLAND_COMPLETED
        assert isl.io_waits() == []
        assert isl.result() == [b"hello"]
    finally:
        a.close()
        b.close()


def test_island_writer_waits_for_room_and_shuts_the_write_side_down():
    a, b = socket.socketpair()
    try:
        isl = _core.StreamIsland()
        chunk = b"z" * 65536
        isl.source_iter(iter([chunk] * 64))  # 4 MiB: more than the socket takes
        isl.write_fd(a.fileno(), True, "pair")
        isl.sink_ignore()
        assert isl.run(100000) == _core.ISLAND_WAITING
        assert (a.fileno(), True) in isl.io_waits()
        got = bytearray()
        b.setblocking(False)
        outcome = _core.ISLAND_WAITING
        for _ in range(100000):
            try:
                got += b.recv(1 << 20)
            except BlockingIOError:
                pass
            outcome = isl.run(100000)
            if outcome != _core.ISLAND_WAITING:
                break
        assert outcome == _core.ISLAND_COMPLETED
        b.setblocking(True)
        while True:
            data = b.recv(1 << 20)
            if not data:
                break  # the write side was shut down
            got += data
        assert len(got) == 64 * 65536
    finally:
        a.close()
        b.close()


def test_native_io_builders_check_their_arguments():
    isl = _core.StreamIsland()
    with pytest.raises(ValueError):
        isl.source_fd(-1, 16, True, "bad")
    with pytest.raises(ValueError):
        isl.source_fd(0, 0, True, "bad")
    with pytest.raises(ValueError):
        isl.source_file("", 16)
    with pytest.raises(TypeError):
        FileIO.from_path(3.5)


def test_file_source_closes_the_file_when_cancelled_or_done(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 400)
    assert FileIO.from_path(path, chunk_size=10).take(3).run_blocking_collect() == [
        bytes(range(10)), bytes(range(10, 20)), bytes(range(20, 30))]
    assert _open_fds_to(path) == 0
    assert b"".join(FileIO.from_path(path, chunk_size=999).run_blocking_collect()) == \
        path.read_bytes()
    assert _open_fds_to(path) == 0


def test_file_sink_errors_are_stream_io_errors(tmp_path):
    with pytest.raises(StreamIOError, match="cannot write"):
        Source.single(b"x").to(FileIO.to_path(tmp_path)).run_blocking()  # a directory
    with pytest.raises(StreamIOError, match="cannot read"):
        FileIO.from_path(tmp_path).run_blocking_collect()  # reading a directory
    out = tmp_path / "out.bin"
    assert Source.from_iter([b"ab", bytearray(b"cd"), memoryview(b"ef")]).to(
        FileIO.to_path(out)).run_blocking() == 6
    assert _open_fds_to(out) == 0
    assert out.read_bytes() == b"abcdef"


async def _server():
    """A listening socket on the loop; accept() -> the next connection."""
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)

    async def accept():
        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), DEADLINE)
        conn.setblocking(False)
        return conn

    return listener, listener.getsockname()[1], accept


async def test_peer_closing_completes_the_connection_flow():
    loop = asyncio.get_running_loop()
    listener, port, accept = await _server()
    try:
        run = (Source.single(b"ping").via(Tcp.outgoing_connection("127.0.0.1", port))
               .run_collect_async())
        conn = await accept()
        try:
            assert await asyncio.wait_for(loop.sock_recv(conn, 16), DEADLINE) == b"ping"
            await loop.sock_sendall(conn, b"pong")
            conn.shutdown(socket.SHUT_WR)
            assert b"".join(await asyncio.wait_for(run, DEADLINE)) == b"pong"
        finally:
            conn.close()
    finally:
        listener.close()


async def test_cancelling_the_stream_closes_the_socket():
    loop = asyncio.get_running_loop()
    listener, port, accept = await _server()
    try:
        run = (Source.from_iter([b"a"]).via(Tcp.outgoing_connection("127.0.0.1", port))
               .to(Sink.ignore()).run())
        conn = await accept()
        try:
            assert await asyncio.wait_for(loop.sock_recv(conn, 16), DEADLINE) == b"a"
            # the client half-closed its side; its stream still reads
            assert await asyncio.wait_for(loop.sock_recv(conn, 16), DEADLINE) == b""
            assert not run.done()
            run.cancel()

            async def send_until_refused():
                for _ in range(1000):
                    await loop.sock_sendall(conn, b"x" * 65536)
                    await asyncio.sleep(0.01)

            # the socket is closed: writing to it ends in a reset or a broken pipe
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                await asyncio.wait_for(send_until_refused(), DEADLINE)
        finally:
            conn.close()
    finally:
        listener.close()


async def test_a_reset_connection_fails_the_stream_with_stream_io_error():
    listener, port, accept = await _server()
    try:
        run = (Source.from_iter([b"a"]).via(Tcp.outgoing_connection("127.0.0.1", port))
               .run_collect_async())
        conn = await accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset
        with pytest.raises(StreamIOError, match="cannot (read|write|connect to) 127.0.0.1"):
            await asyncio.wait_for(run, DEADLINE)
    finally:
        listener.close()


async def test_a_slow_sink_stops_the_reading_and_the_peer_stalls():
    listener, port, accept = await _server()
    gate = asyncio.Event()
    consumed = []

    async def slow(chunk):
        await gate.wait()
        consumed.append(len(chunk))
        return chunk

    try:
        run = (Source.empty().via(Tcp.outgoing_connection("127.0.0.1", port))
               .via(Flow.map_async(slow)).to(Sink.fold(0, lambda a, c: a + len(c))).run())
        conn = await accept()
        try:
            sent = 0
            block = b"y" * 65536
            stalled = 0
            # the client reads one chunk into map_async and stops: the peer's
            # sends stop once the socket buffers are full
            while stalled < 20 and sent < (256 << 20):
                try:
                    sent += conn.send(block)
                    stalled = 0
                except BlockingIOError:
                    stalled += 1
                    await asyncio.sleep(0.02)
            assert sent < (256 << 20), "the client kept reading for a sink that waits"
            assert not consumed
            gate.set()
            conn.shutdown(socket.SHUT_WR)
            assert await asyncio.wait_for(run, DEADLINE) == sent
        finally:
            conn.close()
    finally:
        listener.close()


async def test_framed_echo_over_the_native_server_and_client():
    echo = Framing.length_field(1 << 20).via(Framing.length_prefix())
    binding, done = (Tcp.bind("127.0.0.1", 0)
                     .to_mat(Sink.foreach(lambda c: c.handle_with(echo)), Keep.both).run())
    port = await asyncio.wait_for(binding.local_port(), DEADLINE)
    frames = [os.urandom(n) for n in (0, 1, 100, 70000, 5, 300000, 3)] * 5
    try:
        runs = [Source.from_iter(frames).via(Framing.length_prefix())
                .via(Tcp.outgoing_connection("127.0.0.1", port))
                .via(Framing.length_field(1 << 20)).run_collect_async() for _ in range(3)]
        for got in await asyncio.wait_for(asyncio.gather(*runs), DEADLINE):
            assert got == frames
    finally:
        binding.unbind()
    await asyncio.wait_for(done, DEADLINE)
