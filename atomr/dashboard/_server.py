"""The dashboard's HTTP server: an asyncio server on a thread of its own,
serving the page, the JSON routes, server-sent events and a websocket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import struct
import threading
import time
import urllib.parse
from importlib import resources
from typing import Any, Callable, Optional

from atomr.dashboard._discovery import Beacon, discover
from atomr.dashboard._state import SystemState

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/static/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}


# How long the cluster-wide view waits for one peer dashboard.
_PEER_TIMEOUT = 2.0


def _fetch_overview(peer: str) -> dict[str, Any]:
    """``/api/overview`` of the dashboard at `peer` (``host:port``), or
    the error that kept it."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{peer}/api/overview",
                                    timeout=_PEER_TIMEOUT) as resp:
            return {"address": peer, "overview": json.loads(resp.read())}
    except Exception as exc:  # noqa: BLE001 - reported per peer
        return {"address": peer, "error": f"{type(exc).__name__}: {exc}"}


def parse_bind(bind: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port).

    Raises:
        ValueError: not ``host:port`` with a port in 0..65535.
        TypeError: `bind` is not a str.
    """
    if not isinstance(bind, str):
        raise TypeError(f"bind must be a 'host:port' str, not {type(bind).__name__}")
    host, sep, port_text = bind.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"bad bind address {bind!r}: expected 'host:port'")
    return host, int(port_text)


class _Views:
    """The JSON documents, read from the system's live state."""

    def __init__(self, node: str, peers: list[str], state: Optional[SystemState]) -> None:
        self.node = node
        self.peers = peers
        self.state = state

    def overview(self) -> dict[str, Any]:
        s = self.state
        every = s.actors() if s else []
        actors = [a for a in every if not a["system"]]
        cluster = s.cluster() if s else {"members": [], "unreachable": []}
        remote = s.remote() if s else {"associations": {}}
        streams = s.streams() if s else {"running_graphs": []}
        return {
            "node": self.node,
            "system": s.name if s else None,
            "generated_at": time.time(),
            "actor_count": len(actors),
            "system_actor_count": len(every) - len(actors),
            "mailbox_depth_total": sum(a["mailbox_depth"] for a in actors),
            "dead_letter_count": s.dead_letters(0)["count"] if s else 0,
            "cluster_member_count": len(cluster["members"]),
            "cluster_unreachable_count": len(cluster["unreachable"]),
            "remote_association_count": len(remote["associations"]),
            "running_graphs": len(streams["running_graphs"]),
            "persistence_event_count": s.persistence()["event_count"] if s else 0,
            "ddata_key_count": len(s.ddata()["keys"]) if s else 0,
            "peers": list(self.peers),
        }

    def snapshot(self) -> dict[str, Any]:
        s = self.state
        return {
            "node": self.node,
            "system": s.name if s else None,
            "generated_at": time.time(),
            "overview": self.overview(),
            "actors": s.actor_tree() if s else [],
            "dead_letters": s.dead_letters(50) if s else {"count": 0, "recent": []},
            "cluster": s.cluster() if s else {"available": False, "leader": None,
                                              "members": [], "unreachable": []},
            "sharding": s.sharding() if s else {"available": False, "regions": []},
            "persistence": s.persistence() if s else {"event_count": 0},
            "remote": s.remote() if s else {"address": None, "associations": {}, "events": []},
            "streams": s.streams() if s else {"running_graphs": [], "events": []},
            "ddata": s.ddata() if s else {"available": False, "keys": []},
            "throughput": s.throughput() if s else [],
        }

    def route(self, path: str, query: dict[str, list[str]]) -> Optional[Any]:
        s = self.state
        if path == "/api/overview":
            return self.overview()
        if path == "/api/snapshot":
            return self.snapshot()
        if s is None:
            empty: dict[str, Any] = {"/api/actors/tree": [], "/api/actors": [],
                                     "/api/throughput": []}
            if path in empty:
                return empty[path]
            snap = self.snapshot()
            key = {"/api/dead-letters": "dead_letters", "/api/cluster/state": "cluster",
                   "/api/cluster/reachability": "cluster", "/api/sharding": "sharding",
                   "/api/persistence": "persistence", "/api/remote": "remote",
                   "/api/streams": "streams", "/api/ddata": "ddata"}.get(path)
            return None if key is None else snap[key]
        if path == "/api/actors/tree":
            return s.actor_tree()
        if path == "/api/actors":
            return s.actors()
        if path == "/api/dead-letters":
            raw = query.get("limit", ["50"])[0]
            if not raw.isdigit():
                raise ValueError("limit must be a non-negative integer")
            return s.dead_letters(int(raw))
        if path == "/api/cluster/state":
            return s.cluster()
        if path == "/api/cluster/reachability":
            c = s.cluster()
            return {"unreachable": c["unreachable"],
                    "members": {m["address"]: m["reachable"] for m in c["members"]}}
        if path == "/api/sharding":
            return s.sharding()
        if path == "/api/persistence":
            return s.persistence()
        if path == "/api/remote":
            return s.remote()
        if path == "/api/streams":
            return s.streams()
        if path == "/api/ddata":
            return s.ddata()
        if path == "/api/throughput":
            return s.throughput()
        return None


def _static(name: str) -> bytes:
    return resources.files("atomr.dashboard").joinpath("static", name).read_bytes()


class DashboardHandle:
    """A running dashboard (made by :func:`atomr.dashboard.serve`).

    Its :attr:`address` is the ``host:port`` it listens on; :meth:`shutdown`
    (or leaving a ``with`` block) stops it.
    """

    _views: _Views
    _interval: float
    _closed: bool
    _lock: threading.Lock
    _loop: asyncio.AbstractEventLoop
    _clients: "set[asyncio.Task[Any]]"
    _metrics: Optional[Callable[[], bytes]]
    _exporter: Any
    _server: asyncio.Server
    _sampler: "asyncio.Task[None]"
    _thread: threading.Thread
    _address: str
    _beacon: Optional[Beacon]

    def __init__(self) -> None:
        raise TypeError("use atomr.dashboard.serve(...)")

    @classmethod
    def _start(cls, host: str, port: int, node: str, peers: list[str],
               state: Optional[SystemState], interval: float,
               prometheus: Optional[tuple[str, Any]]) -> "DashboardHandle":
        self = object.__new__(cls)
        self._views = _Views(node, peers, state)
        self._interval = interval
        self._closed = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._clients = set()
        self._metrics = None
        self._exporter = None
        self._beacon = None
        if prometheus is not None:
            from atomr.telemetry import PrometheusExporter

            namespace, system = prometheus
            exporter = PrometheusExporter("127.0.0.1:0", namespace=namespace)
            if system is not None:
                exporter.attach(system)
            self._exporter = exporter
            from prometheus_client import generate_latest

            self._metrics = lambda: generate_latest(exporter.registry)
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(
                    asyncio.start_server(self._client, host, port,
                                         family=socket.AF_INET6 if ":" in host else
                                         socket.AF_INET))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                failure.append(exc)
                started.set()
                self._loop.close()
                return
            self._sampler = self._loop.create_task(self._sample())
            started.set()
            try:
                self._loop.run_forever()
            finally:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                self._loop.close()

        self._thread = threading.Thread(target=run, name=f"atomr-dashboard-{node}", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            if self._exporter is not None:
                self._exporter.shutdown()
            raise failure[0]
        sock = self._server.sockets[0].getsockname()
        self._address = f"{sock[0]}:{sock[1]}" if ":" not in sock[0] else f"[{sock[0]}]:{sock[1]}"
        return self

    def _announce(self, beacon: Beacon) -> None:
        """Names this dashboard in its system's ``/system/dashboard`` (for
        the other members' cluster-wide views) until :meth:`shutdown`."""
        try:
            beacon.add(self._views.node, self._address)
        except BaseException:
            self.shutdown()
            raise
        self._beacon = beacon

    @property
    def address(self) -> str:
        """``host:port`` the dashboard listens on."""
        return self._address

    @property
    def url(self) -> str:
        """``http://<address>/``: the page."""
        return f"http://{self._address}/"

    def shutdown(self) -> None:
        """Stops the server and closes its connections (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True

        async def close() -> None:
            self._server.close()
            self._sampler.cancel()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(self._sampler, *self._clients, return_exceptions=True)
            await self._server.wait_closed()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
        if self._beacon is not None:
            self._beacon.remove(self._address)
        if self._exporter is not None:
            self._exporter.shutdown()
        if self._views.state is not None:
            self._views.state.stop()  # kept with its system for later dashboards

    def __enter__(self) -> "DashboardHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<DashboardHandle {self._address} closed={self._closed}>"

    # --- serving -----------------------------------------------------------

    async def _sample(self) -> None:
        state = self._views.state
        while True:
            if state is not None:
                state.sample()
            await asyncio.sleep(max(self._interval, 0.25))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while await self._request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._clients.discard(task)
            writer.close()

    async def _request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            await self._send(writer, 400, b"bad request\n", "text/plain")
            return False
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        url = urllib.parse.urlsplit(target)
        if method not in ("GET", "HEAD"):
            await self._send(writer, 405, b"method not allowed\n", "text/plain")
            return True
        path = url.path
        if path == "/api/events":
            await self._events(writer)
            return False
        if path == "/ws":
            await self._websocket(headers, reader, writer)
            return False
        if path == "/healthz":
            await self._send(writer, 200, b"ok", "text/plain; charset=utf-8")
            return True
        if path == "/metrics" and self._metrics is not None:
            await self._send(writer, 200, self._metrics(), "text/plain; version=0.0.4")
            return True
        if path in _STATIC:
            name, ctype = _STATIC[path]
            await self._send(writer, 200, _static(name), ctype)
            return True
        if path == "/api/cluster-wide/overview":
            wide = await self._cluster_wide()
            await self._send(writer, 200, json.dumps(wide).encode(), "application/json")
            return True
        try:
            doc = self._views.route(path, urllib.parse.parse_qs(url.query))
        except ValueError as exc:
            await self._send(writer, 400, json.dumps({"error": str(exc)}).encode(),
                             "application/json")
            return True
        if doc is None:
            await self._send(writer, 404, b'{"error": "not found"}', "application/json")
            return True
        await self._send(writer, 200, json.dumps(doc).encode(), "application/json")
        return True

    async def _cluster_wide(self) -> dict[str, Any]:
        """This node's overview and each other dashboard's, fetched at once:
        those in ``peers`` and those the members of the system's cluster
        name (asked at ``/system/dashboard``, see _discovery). A dashboard
        that does not answer within `_PEER_TIMEOUT` seconds, and a member
        without one, are listed with the error."""
        loop = asyncio.get_running_loop()
        state = self._views.state
        found = await discover(state._live() if state is not None else None, _PEER_TIMEOUT)
        own: dict[str, Any] = {"address": self.address, "source": "self"}
        if found["self"] is not None:
            own["member"] = found["self"]
        own["overview"] = self._views.overview()
        targets: dict[str, dict[str, Any]] = {}
        for peer in self._views.peers:
            if peer != self.address and peer not in targets:
                targets[peer] = {"address": peer, "source": "peers"}
        missing: list[dict[str, Any]] = []
        for m in found["members"]:
            if "dashboards" not in m:
                missing.append({"address": None, "source": "cluster", "member": m["member"],
                                "error": m["error"]})
                continue
            address = m["dashboards"][0]
            entry = targets.setdefault(address, {"address": address, "source": "cluster"})
            entry["member"] = m["member"]
        fetched = await asyncio.gather(*(loop.run_in_executor(None, _fetch_overview, address)
                                         for address in targets))
        nodes = [own, *({**targets[f["address"]], **f} for f in fetched), *missing]
        return {"node": self._views.node, "generated_at": time.time(), "nodes": nodes}

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes,
                    ctype: str) -> None:
        writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n\r\n"
                     .encode("latin-1") + body)
        await writer.drain()

    async def _events(self, writer: asyncio.StreamWriter) -> None:
        """Server-sent events: a ``snapshot`` event every interval."""
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Cache-Control: no-store\r\nConnection: keep-alive\r\n\r\nretry: 1000\n\n")
        while True:
            data = json.dumps(self._views.snapshot())
            writer.write(f"event: snapshot\ndata: {data}\n\n".encode())
            await writer.drain()
            await asyncio.sleep(self._interval)

    async def _websocket(self, headers: dict[str, str], reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        """A websocket pushing one text frame (a snapshot) every interval."""
        key = headers.get("sec-websocket-key")
        if headers.get("upgrade", "").lower() != "websocket" or not key:
            await self._send(writer, 400, b"websocket upgrade expected\n", "text/plain")
            return
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        await writer.drain()
        closed = asyncio.Event()

        async def read_frames() -> None:
            # Client frames are read and dropped; a close frame (or EOF) ends it.
            try:
                while True:
                    b0, b1 = await reader.readexactly(2)
                    n = b1 & 0x7F
                    if n == 126:
                        n = struct.unpack("!H", await reader.readexactly(2))[0]
                    elif n == 127:
                        n = struct.unpack("!Q", await reader.readexactly(8))[0]
                    await reader.readexactly(n + (4 if b1 & 0x80 else 0))
                    if b0 & 0x0F == 0x8:
                        break
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            closed.set()

        reading = asyncio.get_running_loop().create_task(read_frames())
        try:
            while not closed.is_set():
                payload = json.dumps(self._views.snapshot()).encode()
                n = len(payload)
                if n < 126:
                    frame = bytes([0x81, n])
                elif n < 65536:
                    frame = bytes([0x81, 126]) + struct.pack("!H", n)
                else:
                    frame = bytes([0x81, 127]) + struct.pack("!Q", n)
                writer.write(frame + payload)
                await writer.drain()
                try:
                    await asyncio.wait_for(closed.wait(), self._interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
