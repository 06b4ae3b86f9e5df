"""Stream benchmarks: a fused atomr stream raced against the same pipeline
written as a plain Python for-loop, with reactivex and with aiostream.

Scenario ``stream-map-filter-fold``: ``from_iter(range(N)) -> map(f) ->
filter(p) -> fold(0, g)`` with trivial callables (``x + 1``, ``x & 1 == 0``,
``a + b``); one operation is one source element. Implementations:

* ``atomr``: ``Source.from_iter(range(N)).map(f).filter(p).to(Sink.fold(0, g))
  .run_blocking()`` -- the C++ island calls the three callables per element.
* ``python-loop``: ``for x in range(N): y = f(x); if p(y): acc = g(acc, y)``,
  the floor any Python-callable pipeline pays (target: atomr >= 0.5x).
* ``reactivex``: ``rx.from_iterable(range(N)).pipe(ops.map(f), ops.filter(p),
  ops.reduce(g, 0))`` subscribed synchronously (target: atomr >= 10x).
* ``aiostream``: ``stream.iterate(range(N)) | pipe.map(f) | pipe.filter(p)
  | pipe.reduce(g, 0)`` awaited on an asyncio loop (target: atomr >= 10x).

Each checks its result against the loop's. Run: ``tox -e bench`` or
``python3 -m pytest benchmarks/test_bench_streams.py``.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import pytest

from atomr.streams import Sink, Source

SCENARIO = "stream-map-filter-fold"
SIZES = {"atomr": 1_000_000, "python-loop": 1_000_000, "reactivex": 200_000, "aiostream": 50_000}
ROUNDS = 7


def f(x):
    return x + 1


def p(x):
    return x & 1 == 0


def g(a, b):
    return a + b


def expected(n: int) -> int:
    acc = 0
    for x in range(n):
        y = f(x)
        if p(y):
            acc = g(acc, y)
    return acc


@contextmanager
def _atomr(n: int):
    graph = Source.from_iter(range(n)).map(f).filter(p).to(Sink.fold(0, g))
    want = expected(n)

    def one_round():
        assert graph.run_blocking() == want

    yield one_round, None


@contextmanager
def _python_loop(n: int):
    want = expected(n)

    def one_round():
        acc = 0
        for x in range(n):
            y = f(x)
            if p(y):
                acc = g(acc, y)
        assert acc == want

    yield one_round, None


@contextmanager
def _reactivex(n: int):
    rx = pytest.importorskip("reactivex")
    from reactivex import operators as ops

    want = expected(n)

    def one_round():
        out = []
        rx.from_iterable(range(n)).pipe(ops.map(f), ops.filter(p), ops.reduce(g, 0)).subscribe(
            on_next=out.append)
        assert out == [want]

    yield one_round, None


@contextmanager
def _aiostream(n: int):
    pytest.importorskip("aiostream")
    from aiostream import pipe, stream

    want = expected(n)
    loop = asyncio.new_event_loop()

    async def pipeline():
        return await (stream.iterate(range(n)) | pipe.map(f) | pipe.filter(p) | pipe.reduce(g, 0))

    def one_round():
        assert loop.run_until_complete(pipeline()) == want

    try:
        yield one_round, None
    finally:
        loop.close()


@pytest.mark.parametrize("impl, factory", [
    ("atomr", _atomr),
    ("python-loop", _python_loop),
    ("reactivex", _reactivex),
    ("aiostream", _aiostream),
])
def test_stream_map_filter_fold(race, impl, factory):
    """from_iter -> map -> filter -> fold, elements per second, on each implementation."""
    race(SCENARIO, impl, SIZES[impl], ROUNDS, factory)


# ---------------------------------------------------------------------------------------
# Scenario ``stream-broadcast``: ``from_iter(range(N))`` broadcast to two sinks,
# one ``map(f) -> fold(0, g)``, the other ``fold(0, g)``. One operation is one
# source element. Implementations:
#
# * ``atomr``: a GraphDsl with ``Broadcast(2)``: every branch synchronous, so
#   the junction and both sinks are fused in one island.
# * ``atomr-channels``: the same graph with one sink marked asynchronous, which
#   makes GraphDsl split it into islands joined by channels (the way every
#   fan-out ran before junctions were fused).
# * ``python-loop``: one for-loop feeding both folds.
# * ``reactivex``: ``from_iterable(range(N)).pipe(ops.publish())`` with two
#   subscribed pipelines, then ``connect()``.

BROADCAST_SIZES = {"atomr": 300_000, "atomr-channels": 50_000, "python-loop": 300_000,
                   "reactivex": 100_000}


def _broadcast_expected(n: int) -> tuple[int, int]:
    return sum(range(1, n + 1)), sum(range(n))


def _broadcast_graph(n: int, split: bool):
    from atomr.streams import Broadcast, Flow, GraphDsl

    g = GraphDsl()
    b = g.add(Broadcast(2))
    g.edge(g.add(Source.from_iter(range(n))), b)
    g.edge(b, g.add(Flow.map(f).to(Sink.fold(0, g_add))))
    plain = Sink.fold(0, g_add)
    if split:
        plain = Sink(plain._build, True)
    g.edge(b, g.add(plain))
    return g.to_graph()


def g_add(a, b):
    return a + b


@contextmanager
def _atomr_broadcast(n: int, split: bool = False):
    graph = _broadcast_graph(n, split)
    want = _broadcast_expected(n)

    def one_round():
        assert graph.run_blocking() == want

    yield one_round, None


@contextmanager
def _atomr_broadcast_channels(n: int):
    with _atomr_broadcast(n, True) as r:
        yield r


@contextmanager
def _python_loop_broadcast(n: int):
    want = _broadcast_expected(n)

    def one_round():
        a = b = 0
        for x in range(n):
            a = g_add(a, f(x))
            b = g_add(b, x)
        assert (a, b) == want

    yield one_round, None


@contextmanager
def _reactivex_broadcast(n: int):
    rx = pytest.importorskip("reactivex")
    from reactivex import operators as ops

    want = _broadcast_expected(n)

    def one_round():
        out: list = [None, None]
        shared = rx.from_iterable(range(n)).pipe(ops.publish())
        shared.pipe(ops.map(f), ops.reduce(g_add, 0)).subscribe(
            on_next=lambda v: out.__setitem__(0, v))
        shared.pipe(ops.reduce(g_add, 0)).subscribe(on_next=lambda v: out.__setitem__(1, v))
        shared.connect()
        assert tuple(out) == want

    yield one_round, None


@pytest.mark.parametrize("impl, factory", [
    ("atomr", _atomr_broadcast),
    ("atomr-channels", _atomr_broadcast_channels),
    ("python-loop", _python_loop_broadcast),
    ("reactivex", _reactivex_broadcast),
])
def test_stream_broadcast(race, impl, factory):
    """A broadcast to two folding sinks, source elements per second."""
    race("stream-broadcast", impl, BROADCAST_SIZES[impl], ROUNDS, factory)


# ---------------------------------------------------------------------------------------
# Scenario ``stream-map-async``: ``map_async(h, parallelism=8)`` over a trivial
# coroutine (``await asyncio.sleep(0); return x + 1``) into a fold, against
# ``asyncio.gather`` over batches of 8 calls. One operation is one element.

ASYNC_SIZE = 20_000


async def h(x):
    await asyncio.sleep(0)
    return x + 1


def _async_expected(n: int) -> int:
    return sum(range(1, n + 1))


@contextmanager
def _atomr_map_async(n: int):
    graph = Source.from_iter(range(n)).map_async(h, parallelism=8).to(Sink.fold(0, g))
    want = _async_expected(n)
    loop = asyncio.new_event_loop()

    async def go():
        return await graph.run()

    def one_round():
        assert loop.run_until_complete(go()) == want

    try:
        yield one_round, None
    finally:
        loop.close()


@contextmanager
def _gather_batches(n: int):
    want = _async_expected(n)
    loop = asyncio.new_event_loop()

    async def go():
        acc = 0
        for start in range(0, n, 8):
            for y in await asyncio.gather(*(h(x) for x in range(start, min(n, start + 8)))):
                acc += y
        return acc

    def one_round():
        assert loop.run_until_complete(go()) == want

    try:
        yield one_round, None
    finally:
        loop.close()


@pytest.mark.parametrize("impl, factory", [
    ("atomr", _atomr_map_async),
    ("asyncio-gather", _gather_batches),
])
def test_stream_map_async(race, impl, factory):
    """map_async(parallelism=8) against asyncio.gather in batches of 8."""
    race("stream-map-async", impl, ASYNC_SIZE, ROUNDS, factory)


# ---------------------------------------------------------------------------------------
# Scenario ``stream-tcp-echo``: a client sends FRAMES frames of FRAME bytes, each
# prefixed with its 4-byte little-endian length, over loopback TCP to a server
# that reframes and echoes them; the client reads the frames back. One
# operation is one byte echoed (the rate is bytes/s).
#
# * ``atomr``: server ``Tcp.bind(...)`` handling each connection with
#   ``Framing.length_field -> Framing.length_prefix``; client
#   ``from_iter(frames) -> length_prefix -> Tcp.outgoing_connection ->
#   length_field -> fold``.
# * ``asyncio-streams``: ``asyncio.start_server`` / ``open_connection``, the
#   server ``readexactly``-ing header and body and writing them back, the
#   client writing every frame from one task and reading them back in another.

FRAME = 16384
FRAMES = 512


@contextmanager
def _atomr_tcp(n: int):
    from atomr.streams import Framing, Keep, Tcp

    frames = [bytes([i % 256]) * FRAME for i in range(FRAMES)]
    loop = asyncio.new_event_loop()
    echo = Framing.length_field(1 << 20).via(Framing.length_prefix())

    async def start():
        binding, done = (Tcp.bind("127.0.0.1", 0)
                         .to_mat(Sink.foreach(lambda c: c.handle_with(echo)), Keep.both).run())
        return binding, done, await binding.local_port()

    binding, done, port = loop.run_until_complete(start())
    client = (Source.from_iter(frames).via(Framing.length_prefix())
              .via(Tcp.outgoing_connection("127.0.0.1", port))
              .via(Framing.length_field(1 << 20))
              .to(Sink.fold(0, lambda a, fr: a + len(fr))))

    async def go():
        return await client.run()

    def one_round():
        assert loop.run_until_complete(go()) == n

    try:
        yield one_round, None
    finally:
        binding.unbind()
        loop.run_until_complete(asyncio.wait_for(done, 10))
        loop.close()


@contextmanager
def _asyncio_tcp(n: int):
    frames = [bytes([i % 256]) * FRAME for i in range(FRAMES)]
    loop = asyncio.new_event_loop()

    async def serve(reader, writer):
        try:
            while True:
                header = await reader.readexactly(4)
                body = await reader.readexactly(int.from_bytes(header, "little"))
                writer.write(header + body)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]

    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send():
            for fr in frames:
                writer.write(len(fr).to_bytes(4, "little") + fr)
                await writer.drain()
            writer.write_eof()

        task = asyncio.ensure_future(send())
        total = 0
        for _ in frames:
            header = await reader.readexactly(4)
            total += len(await reader.readexactly(int.from_bytes(header, "little")))
        await task
        writer.close()
        return total

    def one_round():
        assert loop.run_until_complete(go()) == n

    try:
        yield one_round, None
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


@pytest.mark.parametrize("impl, factory", [
    ("atomr", _atomr_tcp),
    ("asyncio-streams", _asyncio_tcp),
])
def test_stream_tcp_echo(race, impl, factory):
    """A length-framed TCP echo over loopback, bytes echoed per second."""
    race("stream-tcp-echo", impl, FRAME * FRAMES, ROUNDS, factory)


# ---------------------------------------------------------------------------------------
# Scenario ``stream-file-read``: a FILE_SIZE-byte file read in FILE_CHUNK-byte
# chunks, the chunk lengths summed. One operation is one byte read.
#
# * ``atomr``: ``FileIO.from_path(path, chunk_size=FILE_CHUNK) ->
#   fold(0, a + len(chunk))`` run blocking -- the island reads the file.
# * ``python-read``: ``open(path, "rb")`` and ``f.read(FILE_CHUNK)`` in a loop
#   summing the lengths.

FILE_SIZE = 64 * 1024 * 1024
FILE_CHUNK = 65536


def _add_len(a, chunk):
    return a + len(chunk)


@contextmanager
def _file(n: int):
    import os
    import tempfile

    fd, path = tempfile.mkstemp(prefix="atomr-bench-")
    try:
        with os.fdopen(fd, "wb") as f:
            block = bytes(range(256)) * 4096
            for _ in range(n // len(block)):
                f.write(block)
        yield path
    finally:
        os.unlink(path)


@contextmanager
def _atomr_file(n: int):
    from atomr.streams import FileIO

    with _file(n) as path:
        graph = FileIO.from_path(path, chunk_size=FILE_CHUNK).to(Sink.fold(0, _add_len))

        def one_round():
            assert graph.run_blocking() == n

        yield one_round, None


@contextmanager
def _python_file(n: int):
    with _file(n) as path:

        def one_round():
            total = 0
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(FILE_CHUNK)
                    if not chunk:
                        break
                    total = _add_len(total, chunk)
            assert total == n

        yield one_round, None


@pytest.mark.parametrize("impl, factory", [
    ("atomr", _atomr_file),
    ("python-read", _python_file),
])
def test_stream_file_read(race, impl, factory):
    """FileIO.from_path into a fold against a plain read loop, bytes per second."""
    race("stream-file-read", impl, FILE_SIZE, ROUNDS, factory)
