"""Bytes: Framing (delimiter and length-field framing), FileIO and Tcp
(on asyncio's streams).

Framing stages are native stages of the fused interpreter (C++ decoders
over one byte buffer, one frame per pull); FileIO reads and writes on the island's thread; Tcp
connections are async sources and sinks of the graph's loop, read as
downstream demands and written with the socket's flow control
(``drain``), so a slow peer back-pressures the stream.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable, Iterator, Optional

from atomr.errors import StreamIOError
from atomr.streams import _dsl
from atomr.streams._channel import consume, cut
from atomr.streams._run import Run
from atomr.streams._timed import _EOS, _take

_Decider = Callable[[BaseException], int]

#: Bytes a TCP read asks for at once.
READ_SIZE = 262144


def _as_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"a framing stage takes bytes, not {type(chunk).__name__}")


class Framing:
    """Bytes chunks to frames (Akka's Framing)."""

    @staticmethod
    def delimiter(delim: bytes, max_frame_length: int, allow_truncation: bool = False
                  ) -> "_dsl.Flow[Any, Any]":
        """Frames separated by `delim` (stripped), reassembled across
        chunks. A frame longer than `max_frame_length` fails the stream
        with FramingError, as does data after the last delimiter unless
        `allow_truncation` (then it is the last frame)."""
        if not isinstance(delim, (bytes, bytearray)) or not delim:
            raise ValueError(f"the delimiter is non-empty bytes, got {delim!r}")
        size = _dsl._check_count(max_frame_length, "max_frame_length", 1)
        d = bytes(delim)
        trunc = bool(allow_truncation)
        return _dsl._linear(lambda isl, _: isl.delimiter_framing(d, size, trunc))

    @staticmethod
    def length_field(max_frame_length: int, field_length: int = 4, *, field_offset: int = 0,
                     byte_order: str = "little", keep_header: bool = False
                     ) -> "_dsl.Flow[Any, Any]":
        """Frames prefixed by their length: a `field_length`-byte unsigned
        integer (1 to 8 bytes, `byte_order` ``"little"`` or ``"big"``) at
        `field_offset`, counting the bytes after the header; the header is
        stripped unless `keep_header`. A frame longer than
        `max_frame_length`, or a stream ending inside a frame, fails with
        FramingError."""
        size = _dsl._check_count(max_frame_length, "max_frame_length", 1)
        length = _dsl._check_count(field_length, "field_length", 1)
        if length > 8:
            raise ValueError(f"field_length is 1 to 8 bytes, got {field_length}")
        offset = _dsl._check_count(field_offset, "field_offset")
        if byte_order not in ("little", "big"):
            raise ValueError(f"byte_order is 'little' or 'big', got {byte_order!r}")
        keep = bool(keep_header)
        big = byte_order == "big"
        return _dsl._linear(lambda isl, _: isl.length_field_framing(size, length, offset, big, keep))

    @staticmethod
    def length_prefix(field_length: int = 4, byte_order: str = "little"
                      ) -> "_dsl.Flow[Any, Any]":
        """The encoder of ``length_field``'s defaults: each bytes element
        prefixed with its length."""
        length = _dsl._check_count(field_length, "field_length", 1)
        if length > 8:
            raise ValueError(f"field_length is 1 to 8 bytes, got {field_length}")
        if byte_order not in ("little", "big"):
            raise ValueError(f"byte_order is 'little' or 'big', got {byte_order!r}")
        big = byte_order == "big"
        return _dsl._linear(lambda isl, _: isl.length_prefix(length, big))


# --------------------------------------------------------------------------- FileIO


class FileIO:
    """Files as sources and sinks of bytes (Akka's FileIO)."""

    @staticmethod
    def from_path(path: Any, chunk_size: int = 8192) -> "_dsl.Source[Any]":
        """The file's bytes in chunks of up to `chunk_size`, opened when the
        graph runs (every run reads it afresh). An I/O error fails the
        stream with StreamIOError."""
        size = _dsl._check_count(chunk_size, "chunk_size", 1)

        def chunks() -> Iterator[bytes]:
            try:
                f = open(path, "rb")
            except OSError as exc:
                raise StreamIOError(f"cannot read {path}: {exc}") from exc
            with f:
                while True:
                    try:
                        data = f.read(size)
                    except OSError as exc:
                        raise StreamIOError(f"cannot read {path}: {exc}") from exc
                    if not data:
                        return
                    yield data

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            run.island.source_iter(chunks())
            return None

        return _dsl.Source(build)

    @staticmethod
    def to_path(path: Any, append: bool = False) -> "_dsl.Sink[Any, Any]":
        """Writes bytes elements to the file (created or truncated, or
        appended to), opened when the graph runs; materializes the number
        of bytes written. A non-bytes element fails the stream with
        TypeError, an I/O error with StreamIOError."""
        mode = "ab" if append else "wb"

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            try:
                f = open(path, mode)
            except OSError as exc:
                raise StreamIOError(f"cannot write {path}: {exc}") from exc

            def write(total: int, chunk: Any) -> int:
                data = _as_bytes(chunk)
                try:
                    f.write(data)
                except OSError as exc:
                    raise StreamIOError(f"cannot write {path}: {exc}") from exc
                return total + len(data)

            run.island.sink_fold(0, write, None)
            run.finishers.append(lambda exc: f.close())
            return run.completion

        return _dsl.Sink(build)


# --------------------------------------------------------------------------- Tcp


async def _write_all(up: Any, writer: asyncio.StreamWriter) -> None:
    """Writes what `up` (a channel of bytes) gives, then half-closes."""
    while True:
        x = await _take(up)
        if x is _EOS:
            break
        parts = [_as_bytes(x)]
        while up.buf:
            parts.append(_as_bytes(up.take_one()))
        writer.write(b"".join(parts) if len(parts) > 1 else parts[0])
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _read_all(reader: asyncio.StreamReader, task: "asyncio.Task[Any]"
                    ) -> AsyncIterator[list[Any]]:
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            break
        yield [data]
    await task  # the write side's failure, if any


def _connection_flow(connect: Callable[[], Any]) -> "_dsl.Flow[Any, Any]":
    def build(run: Run, decider: Optional[_Decider]) -> Any:
        up = cut(run)
        loop = run.loop
        assert loop is not None

        async def gen() -> AsyncIterator[list[Any]]:
            try:
                reader, writer = await connect()
            except OSError as exc:
                raise StreamIOError(f"cannot connect: {exc}") from exc
            task = loop.create_task(_write_all(up, writer))
            try:
                async for batch in _read_all(reader, task):
                    yield batch
            finally:
                if not task.done():
                    task.cancel()
                writer.close()

        consume(run, gen())
        return None

    return _dsl.Flow(build, True)


class IncomingConnection:
    """A connection accepted by ``Tcp.bind``: ``handle_with(flow)`` runs
    the received bytes through `flow` and writes what it emits back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._handled = False
        peer = writer.get_extra_info("peername")
        self.remote_address = f"{peer[0]}:{peer[1]}" if peer else ""

    def handle_with(self, flow: "_dsl.Flow[Any, Any]") -> Any:
        """Runs the connection through `flow` on the running loop; the
        awaitable completion of the run (the connection is closed then)."""
        if self._handled:
            raise RuntimeError("this connection is already handled")
        self._handled = True
        reader, writer = self._reader, self._writer
        return _bytes_source_of(reader).via(flow).to(_bytes_sink_of(writer)).run()


def _bytes_source_of(reader: asyncio.StreamReader) -> "_dsl.Source[Any]":
    async def gen() -> AsyncIterator[list[Any]]:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            yield [data]

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        consume(run, gen())
        return None

    return _dsl.Source(build, True)


def _high_water(transport: Any) -> int:
    limits = getattr(transport, "get_write_buffer_limits", None)
    return int(limits()[1]) if limits is not None else 0


def _bytes_sink_of(writer: asyncio.StreamWriter) -> "_dsl.Sink[Any, Any]":
    def build(run: Run, decider: Optional[_Decider]) -> Any:
        assert run.loop is not None
        written = run.loop.create_future()
        written.set_result(None)
        transport = writer.transport
        high = _high_water(transport)

        def write(x: Any) -> Any:
            """Writes x now; waits for the socket only while the
            transport's buffer is above its high-water mark (a done future
            otherwise: the island goes on without a loop callback)."""
            writer.write(_as_bytes(x))
            if transport.get_write_buffer_size() <= high:
                return written
            return writer.drain()

        def finished(exc: Optional[BaseException]) -> None:
            if exc is None and writer.can_write_eof() and not writer.is_closing():
                try:
                    writer.write_eof()
                except OSError:
                    pass
            writer.close()

        run.island.map_async(write, 1, True, None)
        run.island.sink_ignore()
        run.finishers.append(finished)
        return run.completion

    return _dsl.Sink(build, True)


class ServerBinding:
    """What ``Tcp.bind`` materializes to: ``await local_port()`` once the
    server listens; ``unbind()`` stops accepting (the stream completes)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._bound: asyncio.Future[Any] = loop.create_future()
        self._server: Optional[asyncio.AbstractServer] = None
        self._unbound = threading.Event()
        self._wake: Optional[asyncio.Future[Any]] = None

    async def local_port(self) -> int:
        """The port the server listens on."""
        port: int = await asyncio.shield(self._bound)
        return port

    def unbind(self) -> None:
        """Stops listening; the connections source completes."""
        self._unbound.set()
        if self._server is not None:
            self._server.close()
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)


class Tcp:
    """TCP connections as flows, on asyncio (Akka's Tcp), and the
    original's ``outgoing`` / ``incoming`` shapes."""

    @staticmethod
    def outgoing(host: str, port: int) -> "TcpOutgoing":
        """Connects to `host` (an IP address literal; another string is a
        ValueError) and `port` now; a failure raises RuntimeError."""
        return TcpOutgoing(host, port)

    @staticmethod
    def incoming(bind_addr: str) -> "_dsl.Source[Any]":
        """Binds ``"ip:port"`` now (RuntimeError when it cannot); a Source,
        run once, of ``(remote_addr, data)`` for every chunk any client
        sends (back-pressured per client)."""
        return _incoming(bind_addr)

    @staticmethod
    def outgoing_connection(host: str, port: int) -> "_dsl.Flow[Any, Any]":
        """A Flow that connects to `host`:`port` when it runs: its bytes
        elements are written (back-pressured by the socket), and what the
        peer sends is emitted; completes when the peer closes. A failed
        connect fails the stream with StreamIOError."""
        if not isinstance(host, str):
            raise TypeError(f"host is a str, not {type(host).__name__}")
        p = _dsl._check_count(port, "port", 1)
        return _connection_flow(lambda: asyncio.open_connection(host, p, limit=READ_SIZE))

    @staticmethod
    def bind(host: str, port: int = 0, backlog: int = 100) -> "_dsl.Source[Any]":
        """A Source of :class:`IncomingConnection` accepted on `host`:`port`
        (0: any free port), materializing a :class:`ServerBinding`. Accepting
        is back-pressured: connections wait while downstream does not pull."""
        if not isinstance(host, str):
            raise TypeError(f"host is a str, not {type(host).__name__}")
        p = _dsl._check_count(port, "port")
        size = _dsl._check_count(backlog, "backlog", 1)

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            if run.loop is None:
                raise RuntimeError("Tcp.bind needs an event loop")
            loop = run.loop
            binding = ServerBinding(loop)
            pending: list[IncomingConnection] = []

            def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                pending.append(IncomingConnection(reader, writer))
                wake, binding._wake = binding._wake, None
                if wake is not None and not wake.done():
                    wake.set_result(None)

            async def gen() -> AsyncIterator[list[Any]]:
                try:
                    server = await asyncio.start_server(accepted, host, p, backlog=size, limit=READ_SIZE)
                except OSError as exc:
                    err = StreamIOError(f"cannot bind {host}:{p}: {exc}")
                    binding._bound.set_exception(err)
                    binding._bound.exception()
                    raise err from exc
                binding._server = server
                binding._bound.set_result(server.sockets[0].getsockname()[1])
                try:
                    while not binding._unbound.is_set():
                        if pending:
                            batch = list(pending)
                            pending.clear()
                            yield batch
                            continue
                        binding._wake = loop.create_future()
                        await binding._wake
                finally:
                    server.close()

            consume(run, gen())
            run.finishers.append(lambda exc: binding.unbind())
            return binding

        return _dsl.Source(build, True)


# --------------------------------------------------------------------------- the original's shapes


def _parse_ip(host: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"expected an IP address literal, got {host!r}") from None


class TcpOutgoing:
    """A client connection made at once (``Tcp.outgoing``): ``send(data)``
    from any thread, ``close()`` (the write side), ``source()`` (what the
    peer sends, a Source that runs once), ``remote_addr``."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        ip = _parse_ip(host)
        p = _dsl._check_count(port, "port", 1)
        try:
            self._sock = socket.create_connection((ip, p), timeout=10.0)
        except OSError as exc:
            raise RuntimeError(f"cannot connect to {ip}:{p}: {exc}") from exc
        self._sock.settimeout(None)
        self._lock = threading.Lock()
        self._closed = False
        self._source_taken = False
        self.remote_addr = f"{ip}:{p}"

    def send(self, data: bytes) -> bool:
        """Writes `data` (blocking until the socket takes it); False once
        closed or when the connection failed."""
        payload = _as_bytes(data)
        with self._lock:
            if self._closed:
                return False
            try:
                self._sock.sendall(payload)
                return True
            except OSError:
                return False

    def close(self) -> None:
        """Closes the write side (the peer sees the end of the stream)."""
        import socket

        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def source(self) -> "_dsl.Source[Any]":
        """The bytes the peer sends, as they come; completes when it closes.
        Runs once."""
        if self._source_taken:
            raise RuntimeError("the connection's source has already been taken")
        self._source_taken = True
        sock = self._sock

        async def gen() -> AsyncIterator[list[Any]]:
            loop = asyncio.get_running_loop()
            try:
                while True:
                    data = await loop.run_in_executor(None, sock.recv, READ_SIZE)
                    if not data:
                        return
                    yield [data]
            finally:
                sock.close()

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            consume(run, gen())
            return None

        return _dsl.Source(build, True)


def _incoming(bind_addr: str) -> "_dsl.Source[Any]":
    import socket

    if not isinstance(bind_addr, str) or ":" not in bind_addr:
        raise ValueError(f"the bind address is 'ip:port', got {bind_addr!r}")
    host, _, port_text = bind_addr.rpartition(":")
    ip = _parse_ip(host.strip("[]"))
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"the bind address's port is a number, got {port_text!r}") from None
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((ip, port))
        listener.listen(100)
    except OSError as exc:
        listener.close()
        raise RuntimeError(f"cannot bind {bind_addr}: {exc}") from exc
    listener.setblocking(False)
    used = threading.Lock()

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        if not used.acquire(blocking=False):
            raise RuntimeError("Tcp.incoming's Source runs once")
        loop = run.loop
        assert loop is not None
        from atomr.streams._channel import Channel

        chan = Channel(loop, 16)
        readers: set[asyncio.Task[Any]] = set()

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            addr = f"{peer[0]}:{peer[1]}" if peer else ""
            try:
                while not chan.cancelled:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        break
                    await chan.wait_room()
                    chan.put((addr, data))
            finally:
                writer.close()

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = loop.create_task(client(reader, writer))
            readers.add(task)
            task.add_done_callback(readers.discard)

        async def gen() -> AsyncIterator[list[Any]]:
            server = await asyncio.start_server(accepted, sock=listener, limit=READ_SIZE)
            try:
                async for batch in chan:
                    yield batch
            finally:
                server.close()
                for task in list(readers):
                    task.cancel()

        consume(run, gen())
        run.finishers.append(chan.cancel)
        return None

    return _dsl.Source(build, True)

