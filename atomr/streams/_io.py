"""Bytes: Framing (delimiter and length-field framing), FileIO and Tcp.

Framing stages are native stages of the fused interpreter (C++ decoders
over one byte buffer, one frame per pull). FileIO and Tcp connections are
native stages too: the island reads and writes the file or the
non-blocking socket itself, a chunk per system call, as downstream demands;
a socket that has nothing to read or no room to write makes the island
wait, and the graph's loop watches it (``add_reader`` / ``add_writer``) to
run the next slice, so a slow peer back-pressures the stream and a slow
sink stops the reading.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from functools import partial
from typing import Any, AsyncIterator, Callable, Optional

from atomr.errors import StreamIOError
from atomr.streams import _dsl
from atomr.streams._channel import Channel, consume, feed, single_offer
from atomr.streams._run import Run, _retrieve

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
    """Files as sources and sinks of bytes (Akka's FileIO), read and written
    by the island itself (no Python call per chunk)."""

    @staticmethod
    def from_path(path: Any, chunk_size: int = 8192) -> "_dsl.Source[Any]":
        """The file's bytes in chunks of up to `chunk_size`, opened when the
        graph runs (every run reads it afresh) and closed at its end or when
        the stream is cancelled. An I/O error fails the stream with
        StreamIOError."""
        size = _dsl._check_count(chunk_size, "chunk_size", 1)
        target = os.fspath(path)

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            run.island.source_file(target, size)
            return None

        return _dsl.Source(build)

    @staticmethod
    def to_path(path: Any, append: bool = False) -> "_dsl.Sink[Any, Any]":
        """Writes bytes elements to the file (created or truncated, or
        appended to), opened when the graph runs; materializes the number
        of bytes written. A non-bytes element fails the stream with
        TypeError, an I/O error with StreamIOError."""
        target = os.fspath(path)
        add = bool(append)

        def build(run: Run, decider: Optional[_Decider]) -> Any:
            run.island.sink_file(target, add)
            return run.completion

        return _dsl.Sink(build)


# --------------------------------------------------------------------------- Tcp


class _SharedSocket:
    """A socket the islands of one connection share: closed when the last
    of them finished (each has stopped watching it by then)."""

    __slots__ = ("sock", "users")

    def __init__(self, sock: socket.socket, users: int) -> None:
        self.sock = sock
        self.users = users

    def release(self, exc: Optional[BaseException] = None) -> None:
        self.users -= 1
        if self.users == 0:
            self.sock.close()


def _fd_source(shared: _SharedSocket, name: str) -> "_dsl.Source[Any]":
    """What the peer sends, read by the island; completes when it closes."""

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        run.island.source_fd(shared.sock.fileno(), READ_SIZE, True, name)
        run.finishers.append(shared.release)
        return None

    return _dsl.Source(build, True)


def _fd_sink(shared: _SharedSocket, name: str) -> "_dsl.Sink[Any, Any]":
    """Writes bytes elements to the socket (back-pressured by it), then
    shuts its write side down."""

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        run.island.write_fd(shared.sock.fileno(), True, name)
        run.island.sink_ignore()
        run.finishers.append(shared.release)
        return run.completion

    return _dsl.Sink(build, True)


def _configure(sock: socket.socket) -> None:
    sock.setblocking(False)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _start_connect(host: str, port: int) -> socket.socket:
    """A non-blocking socket connecting to `host`:`port` (resolved now);
    OSError when that fails at once. The connection completes or fails
    while the island waits for the socket."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        _configure(sock)
        err = sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            raise OSError(err, os.strerror(err))
    except BaseException:
        sock.close()
        raise
    return sock


def _connection_flow(host: str, port: int) -> "_dsl.Flow[Any, Any]":
    name = f"{host}:{port}"

    def build(run: Run, decider: Optional[_Decider]) -> Any:
        isl = run.island
        try:
            sock = _start_connect(host, port)
        except OSError as exc:
            # upstream is cancelled at once, then the stream fails
            isl.take(0)
            isl.source_failed(StreamIOError(f"cannot connect to {name}: {exc}"))
            isl.concat()
            return None
        fd = sock.fileno()
        # the write side (emits nothing) merged with the read side: the flow
        # completes once upstream is written and the peer closed its side
        isl.write_fd(fd, True, name)
        isl.source_fd(fd, READ_SIZE, True, name)
        isl.merge(False)
        run.finishers.append(lambda exc: sock.close())
        return None

    return _dsl.Flow(build, True)


class IncomingConnection:
    """A connection accepted by ``Tcp.bind``: ``handle_with(flow)`` runs
    the received bytes through `flow` and writes what it emits back."""

    def __init__(self, sock: socket.socket, peer: Any) -> None:
        self._sock = sock
        self._handled = False
        self.remote_address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""

    def handle_with(self, flow: "_dsl.Flow[Any, Any]") -> Any:
        """Runs the connection through `flow` on the running loop; the
        awaitable completion of the run (the connection is closed then)."""
        if self._handled:
            raise RuntimeError("this connection is already handled")
        self._handled = True
        shared = _SharedSocket(self._sock, 2)
        name = self.remote_address
        return _fd_source(shared, name).via(flow).to(_fd_sink(shared, name)).run()


class ServerBinding:
    """What ``Tcp.bind`` materializes to: ``await local_port()`` once the
    server listens; ``unbind()`` stops accepting (the stream completes)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._bound: asyncio.Future[Any] = loop.create_future()
        self._unbound = threading.Event()
        self._wake: Optional[asyncio.Future[Any]] = None

    async def local_port(self) -> int:
        """The port the server listens on."""
        port: int = await asyncio.shield(self._bound)
        return port

    def unbind(self) -> None:
        """Stops listening; the connections source completes."""
        self._unbound.set()
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(backlog)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


class Tcp:
    """TCP connections as flows whose sockets the island reads and writes
    itself (Akka's Tcp), and the original's ``outgoing`` / ``incoming``
    shapes."""

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
        peer sends is emitted; completes when upstream is written and the
        peer closed its side. A failed connect or I/O error fails the
        stream with StreamIOError; cancelling the stream closes the socket."""
        if not isinstance(host, str):
            raise TypeError(f"host is a str, not {type(host).__name__}")
        p = _dsl._check_count(port, "port", 1)
        return _connection_flow(host, p)

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

            async def gen() -> AsyncIterator[list[Any]]:
                try:
                    listener = _listen(host, p, size)
                except OSError as exc:
                    err = StreamIOError(f"cannot bind {host}:{p}: {exc}")
                    binding._bound.set_exception(err)
                    binding._bound.exception()
                    raise err from exc
                fd = listener.fileno()
                binding._bound.set_result(listener.getsockname()[1])
                try:
                    while not binding._unbound.is_set():
                        batch: list[Any] = []
                        while len(batch) < 64:
                            try:
                                conn, peer = listener.accept()
                            except (BlockingIOError, InterruptedError):
                                break
                            except OSError as exc:
                                raise StreamIOError(f"cannot accept on {host}:{p}: {exc}") from exc
                            _configure(conn)
                            batch.append(IncomingConnection(conn, peer))
                        if batch:
                            yield batch
                            continue
                        wake = binding._wake = loop.create_future()
                        loop.add_reader(fd, _wake_up, wake)
                        try:
                            await wake
                        finally:
                            loop.remove_reader(fd)
                finally:
                    listener.close()

            consume(run, gen())
            run.finishers.append(lambda exc: binding.unbind())
            return binding

        return _dsl.Source(build, True)


def _wake_up(fut: "asyncio.Future[Any]") -> None:
    if not fut.done():
        fut.set_result(None)


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
        # read without blocking by the island (send() keeps the socket's
        # blocking mode); closed when the source's run finishes
        return _fd_source(_SharedSocket(self._sock, 1), self.remote_addr)


def _tagged(addr: str, data: bytes) -> tuple[str, bytes]:
    return (addr, data)


def _incoming(bind_addr: str) -> "_dsl.Source[Any]":
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
        chan = Channel(loop, 16)
        clients: set[Run] = set()

        def serve(conn: socket.socket, peer: Any) -> None:
            """Runs an island reading the client (the island reads the
            socket; each chunk is tagged and offered to the channel, which
            back-pressures it); the socket is closed when it finishes."""
            addr = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
            _configure(conn)
            reader = Run(loop)
            reader.island.source_fd(conn.fileno(), READ_SIZE, True, addr)
            reader.island.map(partial(_tagged, addr), None)
            feed(reader, single_offer(reader, chan), [])

            def done(exc: Optional[BaseException]) -> None:
                conn.close()
                clients.discard(reader)

            reader.finishers.append(done)
            reader.completion.add_done_callback(_retrieve)
            clients.add(reader)
            reader.start()

        def accept() -> None:
            while not chan.cancelled:
                try:
                    conn, peer = listener.accept()
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    chan.close(StreamIOError(f"cannot accept on {bind_addr}: {exc}"))
                    return
                serve(conn, peer)

        async def gen() -> AsyncIterator[list[Any]]:
            loop.add_reader(listener.fileno(), accept)
            try:
                async for batch in chan:
                    yield batch
            finally:
                loop.remove_reader(listener.fileno())
                listener.close()
                for reader in list(clients):
                    reader.completion.cancel()  # its island is torn down, its socket closed

        consume(run, gen())
        run.finishers.append(chan.cancel)
        return None

    return _dsl.Source(build, True)

