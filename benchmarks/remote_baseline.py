"""The baseline of the remote benchmarks: actors reached over TCP with
nothing but asyncio streams and msgpack.

A frame is a 4-byte big-endian length and a msgpack array:
``[actor, correlation, message]`` from client to server (correlation
``None`` for a tell) and ``[correlation, answer]`` back. The server feeds
the asyncio actors of baselines.py (``counter``: an AsyncioCounter,
``echo``: an AsyncioEcho) and writes each ask's answer when its future
completes. Both sides read in large chunks and split the frames out of
them, and the client's tells only append to the stream's buffer, so the
baseline pays one syscall per batch of frames, not per frame.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Optional

import msgpack

from baselines import AsyncioCounter, AsyncioEcho, stop_asyncio_actors

_LEN = struct.Struct(">I")
_CHUNK = 1 << 16


def _frame(obj: Any, _pack=msgpack.packb, _len=_LEN.pack) -> bytes:
    body = _pack(obj)
    return _len(len(body)) + body


async def _frames(reader: asyncio.StreamReader):
    """Yields the batches of decoded frames as they arrive; ends at EOF."""
    buf = b""
    unpack = msgpack.unpackb
    unlen = _LEN.unpack_from
    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            return
        buf = buf + chunk if buf else chunk
        out = []
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (size,) = unlen(buf, pos)
            if end - pos - 4 < size:
                break
            out.append(unpack(buf[pos + 4:pos + 4 + size]))
            pos += 4 + size
        buf = buf[pos:]
        yield out


class AsyncioTcpServer:
    """The receiving side: listens on ``host:port`` (0: any free port)."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Optional[asyncio.base_events.Server] = None
        self._actors: dict[str, Any] = {}
        self._conns: set[asyncio.Task] = set()

    @classmethod
    async def start(cls, host: str, port: int) -> "AsyncioTcpServer":
        self = cls()
        self._actors = {"counter": AsyncioCounter(), "echo": AsyncioEcho()}
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        actors = self._actors
        write = writer.write

        def answer(correlation: int, fut: "asyncio.Future[Any]") -> None:
            result = fut.exception() or fut.result()
            if isinstance(result, BaseException):
                result = repr(result)
            write(_frame([correlation, result]))

        try:
            async for batch in _frames(reader):
                for name, correlation, msg in batch:
                    actor = actors[name]
                    if correlation is None:
                        actor.tell(msg)
                    else:
                        fut = actor.ask(msg)
                        fut.add_done_callback(lambda f, c=correlation: answer(c, f))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._conns.discard(task)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        await self._server.wait_closed()
        await stop_asyncio_actors(list(self._actors.values()))


class AsyncioTcpClient:
    """The sending side: one connection to an AsyncioTcpServer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._next = 0
        self._pending: dict[int, asyncio.Future] = {}
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    @classmethod
    async def connect(cls, host: str, port: int) -> "AsyncioTcpClient":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        pending = self._pending
        async for batch in _frames(reader):
            for correlation, answer in batch:
                fut = pending.pop(correlation, None)
                if fut is not None and not fut.done():
                    fut.set_result(answer)

    def tell(self, actor: str, msg: Any) -> None:
        """Queues `msg` for `actor` (written when the loop gets to it)."""
        self._writer.write(_frame([actor, None, msg]))

    def ask(self, actor: str, msg: Any) -> "asyncio.Future[Any]":
        """Sends `msg` to `actor`; a future of its answer."""
        self._next += 1
        fut = asyncio.get_running_loop().create_future()
        self._pending[self._next] = fut
        self._writer.write(_frame([actor, self._next, msg]))
        return fut

    async def drain(self) -> None:
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass
        self._reader_task.cancel()
        await asyncio.gather(self._reader_task, return_exceptions=True)
