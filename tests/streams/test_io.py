"""Framing, FileIO and Tcp."""

from __future__ import annotations

import asyncio

import pytest

from atomr.errors import FramingError, StreamIOError
from atomr.streams import FileIO, Flow, Framing, Keep, Sink, Source, Tcp


def test_delimiter_framing_reassembles_across_chunks():
    chunks = [b"ab", b"c\nde", b"\n\nf", b"g\n"]
    out = Source.from_iter(chunks).via(Framing.delimiter(b"\n", 16)).run_blocking_collect()
    assert out == [b"abc", b"de", b"", b"fg"]
    multi = Source.from_iter([b"a\r", b"\nb\r\n"]).via(Framing.delimiter(b"\r\n", 16))
    assert multi.run_blocking_collect() == [b"a", b"b"]


def test_delimiter_framing_fails_on_oversize_and_truncation():
    with pytest.raises(FramingError):
        Source.single(b"x" * 20).via(Framing.delimiter(b"\n", 8)).run_blocking_collect()
    with pytest.raises(FramingError):
        Source.single(b"a\nrest").via(Framing.delimiter(b"\n", 8)).run_blocking_collect()
    out = (Source.single(b"a\nrest").via(Framing.delimiter(b"\n", 8, allow_truncation=True))
           .run_blocking_collect())
    assert out == [b"a", b"rest"]
    with pytest.raises(ValueError):
        Framing.delimiter(b"", 8)
    with pytest.raises(TypeError):
        Source.single("text").via(Framing.delimiter(b"\n", 8)).run_blocking_collect()


def test_length_field_framing_round_trips_and_takes_akka_options():
    frames = [b"", b"a", b"hello" * 30]
    wire = b"".join(Source.from_iter(frames).via(Framing.length_prefix()).run_blocking_collect())
    chunks = [wire[i:i + 7] for i in range(0, len(wire), 7)]
    out = Source.from_iter(chunks).via(Framing.length_field(1024)).run_blocking_collect()
    assert out == frames
    assert wire[:4] == (0).to_bytes(4, "little")

    big = b"\xff" + (3).to_bytes(2, "big") + b"xyz"
    kept = (Source.single(big).via(Framing.length_field(16, 2, field_offset=1, byte_order="big",
                                                        keep_header=True))
            .run_blocking_collect())
    assert kept == [big]
    with pytest.raises(FramingError):
        Source.single((100).to_bytes(4, "little")).via(Framing.length_field(10)).run_blocking_collect()
    with pytest.raises(FramingError):
        Source.single(b"\x05\x00\x00\x00ab").via(Framing.length_field(10)).run_blocking_collect()
    with pytest.raises(ValueError):
        Framing.length_field(10, 9)


def test_file_io_writes_and_reads_back(tmp_path):
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 100
    written = (Source.from_iter([data[i:i + 1000] for i in range(0, len(data), 1000)])
               .to(FileIO.to_path(path)).run_blocking())
    assert written == len(data)
    chunks = FileIO.from_path(path, chunk_size=4096).run_blocking_collect()
    assert b"".join(chunks) == data and max(map(len, chunks)) == 4096
    assert Source.single(b"more").to(FileIO.to_path(path, append=True)).run_blocking() == 4
    assert b"".join(FileIO.from_path(path).run_blocking_collect()) == data + b"more"
    with pytest.raises(StreamIOError):
        FileIO.from_path(tmp_path / "missing").run_blocking_collect()
    with pytest.raises(TypeError):
        Source.single("str").to(FileIO.to_path(path)).run_blocking()


def test_file_io_source_stops_reading_when_cancelled(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 100000)
    assert len(FileIO.from_path(path, chunk_size=10).take(3).run_blocking_collect()) == 3


async def test_tcp_framed_echo():
    echo = Framing.length_field(1 << 20).via(Framing.length_prefix())
    binding, server_done = (Tcp.bind("127.0.0.1", 0)
                            .to_mat(Sink.foreach(lambda conn: conn.handle_with(echo)), Keep.both)
                            .run())
    port = await asyncio.wait_for(binding.local_port(), 10)
    frames = [bytes([i % 256]) * (i * 37) for i in range(200)]
    try:
        got = await asyncio.wait_for(
            Source.from_iter(frames).via(Framing.length_prefix())
            .via(Tcp.outgoing_connection("127.0.0.1", port))
            .via(Framing.length_field(1 << 20)).run_collect_async(), 20)
        assert got == frames
    finally:
        binding.unbind()
    await asyncio.wait_for(server_done, 10)


async def test_tcp_connect_failure_fails_the_stream():
    binding, done = Tcp.bind("127.0.0.1", 0).to_mat(Sink.ignore(), Keep.both).run()
    port = await binding.local_port()
    binding.unbind()
    await asyncio.wait_for(done, 10)
    with pytest.raises(StreamIOError):
        await asyncio.wait_for(Source.single(b"x").via(Tcp.outgoing_connection("127.0.0.1", port))
                               .run_collect_async(), 10)


async def test_tcp_peer_backpressures_the_writer():
    # a server that never reads: the client's writes stop once the socket
    # buffers are full, so the source is not drained
    pulled = []

    def gen():
        for i in range(100000):
            pulled.append(i)
            yield b"x" * 65536

    binding, done = (Tcp.bind("127.0.0.1", 0)
                     .to_mat(Sink.foreach(lambda conn: conn.handle_with(
                         Flow.map_async(lambda x: asyncio.sleep(3600)))), Keep.both).run())
    port = await binding.local_port()
    client = (Source.from_iter(gen()).via(Tcp.outgoing_connection("127.0.0.1", port))
              .to(Sink.ignore()).run())
    await asyncio.sleep(0.3)
    assert len(pulled) < 2000  # far fewer than 100000 chunks: back-pressured
    client.cancel()
    binding.unbind()
    await asyncio.wait_for(done, 10)


def _free_port():
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


async def test_tcp_outgoing_and_incoming_in_the_original_shape():
    port = _free_port()
    incoming = Tcp.incoming(f"127.0.0.1:{port}")  # listening from now on
    addrs = []
    got = (incoming.map(lambda pair: addrs.append(pair[0]) or pair[1])
           .scan(b"", lambda acc, data: acc + data)
           .take_while(lambda acc: len(acc) < 10, inclusive=True).run_collect_async())
    conn = await asyncio.get_running_loop().run_in_executor(
        None, Tcp.outgoing, "127.0.0.1", port)
    assert conn.remote_addr == f"127.0.0.1:{port}"
    assert conn.send(b"hello")
    assert conn.send(b"world")
    received = await asyncio.wait_for(got, 10)
    assert received[-1] == b"helloworld"
    assert addrs and all(addr.startswith("127.0.0.1:") for addr in addrs)
    conn.close()
    assert not conn.send(b"late")
    # the server closes its side once it read the end: the read side completes
    assert await asyncio.wait_for(conn.source().run_collect_async(), 10) == []
    with pytest.raises(ValueError):
        Tcp.outgoing("not-an-ip", 1)
    with pytest.raises(RuntimeError):
        Tcp.outgoing("127.0.0.1", _free_port())  # nobody listens there
    with pytest.raises(ValueError):
        Tcp.incoming("no-port")
