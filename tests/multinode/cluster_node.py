"""One actor-system node in an OS process of its own, driven by a test over
a line-based JSON channel (see _nodes.py for the driving side).

Usage: ``cluster_node.py --name NAME [--host IP] [--port N] [--config JSON]
[--cluster] [--advertised-host HOST] [--lifetime SECONDS]``

Starts system NAME with its TCP transport bound to IP:N (N = 0: the kernel
picks a port) and the config tree JSON (a dict; its ``remote`` section gets
``hostname``/``port`` from the options). With ``--cluster`` the transport is
made by ``Cluster.with_tcp_transport`` and the node reports cluster events.

Stdout carries one JSON object per line:

* first ``{"event": "ready", "address", "uid", "pid"}``;
* replies ``{"id", "ok": true, "result"}`` or ``{"id", "ok": false,
  "error": <exception class>, "message"}``, one per command;
* events as they happen: ``{"event": "remote", "type", "address", "uid",
  "detail"}`` (remoting lifecycle), ``{"event": "terminated", "path",
  "address_terminated", "existence_confirmed"}`` (a watched actor),
  ``{"event": "cluster", "type", "address", "status", ...}`` (cluster
  events, with ``--cluster``).

Commands (stdin, one JSON object per line with an ``id`` and a ``cmd``):
``ping``; ``ask {path, msg, timeout}`` (the reply comes when the ask ends,
other commands run meanwhile); ``tell {path, msg}``; ``tell_seq {path,
start, count}`` (tells ``{"seq": i}`` for each i); ``watch {path}``;
``recorded`` (the seq numbers the recorder got, in arrival order); ``stop``.
With ``--cluster``: ``join {seeds, timeout}``, ``leave {timeout}``, ``down
{address}``, ``state`` (members, leader, member_count, unreachable, self_status,
converged).

Every node runs ``/user/echo`` (answers an ask with the message),
``/user/sink`` (never answers) and ``/user/recorder`` (records the ``seq``
of ``{"seq": n}`` messages). Stdin closing (the test ended or died) or
`--lifetime` passing ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import traceback
from typing import Any, Optional

from atomr import Actor, ActorSystem, Config, Terminated, props
from atomr.remote import Remote, RemotingLifecycleEvent

_out_lock = threading.Lock()


def emit(obj: dict) -> None:
    line = json.dumps(obj, default=str)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


class Sink(Actor):
    def handle(self, ctx, msg):
        return asyncio.sleep(3600)  # never answers


class Recorder(Actor):
    def __init__(self) -> None:
        self.seen: list = []

    def handle(self, ctx, msg):
        if msg == "get":
            return list(self.seen)
        if isinstance(msg, dict) and "seq" in msg:
            self.seen.append(msg["seq"])
        return None


class Watcher(Actor):
    def handle(self, ctx, msg):
        if isinstance(msg, Terminated):
            emit({"event": "terminated", "path": msg.path,
                  "address_terminated": msg.address_terminated,
                  "existence_confirmed": msg.existence_confirmed, "t": time.time()})
            return None
        ctx.watch(msg)
        return "watching"


def _member_fields(event: Any) -> dict:
    out: dict[str, Any] = {}
    member = getattr(event, "member", None)
    if member is not None:
        out["address"] = member.address
        out["status"] = member.status
        out["up_number"] = member.up_number
    for name in ("previous_status", "from_address", "to_address", "converged"):
        if hasattr(event, name):
            out[name] = getattr(event, name)
    return out


class Node:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.system: Optional[ActorSystem] = None
        self.cluster: Any = None
        self.done = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        args = self.args
        tree = json.loads(args.config) if args.config else {}
        if not isinstance(tree, dict):
            raise SystemExit("--config must be a JSON object")
        remote = dict(tree.get("remote", {}))
        remote["hostname"] = args.host
        remote["port"] = args.port
        if args.advertised_host:
            remote["canonical-hostname"] = args.advertised_host
        tree["remote"] = remote
        self.system = system = await ActorSystem.create(args.name, Config.from_dict(tree))
        system.event_stream.subscribe(self._remote_event, RemotingLifecycleEvent)
        if args.cluster:
            from atomr.cluster import Cluster  # only cluster nodes need it

            self.cluster = Cluster.with_tcp_transport(system, f"{args.host}:{args.port}",
                                                      advertised_host=args.advertised_host)
            self._spawn(self._pump_cluster_events())
            address = self.cluster.self_address
        else:
            Remote.get(system)
            address = system.address
        system.actor_of(props(Echo), "echo")
        system.actor_of(props(Sink), "sink")
        system.actor_of(props(Recorder), "recorder")
        self.watcher = system.actor_of(props(Watcher), "watcher")
        uid = self.cluster.self_uid if self.cluster is not None else Remote.get(system).uid
        emit({"event": "ready", "address": address, "uid": uid,
              "pid": os.getpid()})

    def _remote_event(self, ev: Any) -> None:
        emit({"event": "remote", "type": type(ev).__name__, "address": ev.address,
              "uid": ev.uid, "detail": getattr(ev, "detail", getattr(ev, "reason", "")),
              "t": time.time()})

    async def _pump_cluster_events(self) -> None:
        async for ev in self.cluster.subscribe():
            emit(dict(event="cluster", type=type(ev).__name__, t=time.time(),
                      **_member_fields(ev)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _ref(self, path: str) -> Any:
        assert self.system is not None
        return self.system.actor_selection(path)

    async def command(self, line: str) -> None:
        try:
            req = json.loads(line)
            rid = req.get("id")
        except (ValueError, AttributeError) as exc:
            emit({"id": None, "ok": False, "error": type(exc).__name__, "message": str(exc)})
            return
        try:
            result = await self._run(req)
        except Exception as exc:  # the test asserts on the type and text
            emit({"id": rid, "ok": False, "error": type(exc).__name__, "message": str(exc),
                  "trace": traceback.format_exc(limit=3)})
        else:
            emit({"id": rid, "ok": True, "result": result})

    async def _run(self, req: dict) -> Any:
        cmd = req.get("cmd")
        system = self.system
        assert system is not None
        if cmd == "ping":
            return "pong"
        if cmd == "ask":
            started = time.monotonic()
            answer = await self._ref(req["path"]).ask(req["msg"], timeout=req.get("timeout", 5.0))
            return {"answer": answer, "elapsed": time.monotonic() - started}
        if cmd == "tell":
            self._ref(req["path"]).tell(req["msg"])
            return None
        if cmd == "tell_seq":
            ref = self._ref(req["path"])
            for i in range(req["start"], req["start"] + req["count"]):
                ref.tell({"seq": i})
            return None
        if cmd == "watch":
            return await self.watcher.ask(self._ref(req["path"]), timeout=30.0)
        if cmd == "recorded":
            return await system.actor_selection("/user/recorder").ask("get", timeout=30.0)
        if cmd == "stop":
            self.done.set()
            return None
        if self.cluster is None:
            raise ValueError(f"unknown command {cmd!r}")
        return await self._cluster_command(cmd, req)

    async def _cluster_command(self, cmd: Optional[str], req: dict) -> Any:
        cluster = self.cluster
        if cmd == "join":
            await cluster.join_seed_nodes(req["seeds"], timeout=req.get("timeout", 30.0))
            return None
        if cmd == "leave":
            await cluster.leave(timeout=req.get("timeout", 30.0))
            return None
        if cmd == "down":
            await cluster.down(req["address"])
            return None
        if cmd in ("ddata_load", "ddata_read"):
            return await self._ddata_command(cmd, req)
        if cmd == "state":
            members = [{"address": m.address, "status": m.status, "up_number": m.up_number}
                       for m in cluster.membership_snapshot().members()]
            return {"members": members, "leader": cluster.leader,
                    "member_count": cluster.member_count(),
                    "unreachable": cluster.unreachable_members(),
                    "self_status": cluster.self_status(), "converged": cluster.converged}
        raise ValueError(f"unknown command {cmd!r}")

    async def _ddata_command(self, cmd: str, req: dict) -> Any:
        """``ddata_load {seconds, timeout}``: majority increments of the
        GCounter ``ctr`` and adds of unique elements to the ORSet ``set``
        for `seconds`, an event ``{"event": "ddata_ack", "what", "element"}``
        per acknowledged write; ``ddata_read``: this node's counter entries
        and set elements."""
        from atomr.ddata import GCounter, ORSet, Replicator, WriteConsistency

        rep = Replicator.get(self.system)
        if cmd == "ddata_read":
            ctr = await rep.get_value("ctr", GCounter)
            elements = await rep.get_value("set", ORSet)
            return {"entries": {} if ctr is None else ctr.entries(),
                    "elements": [] if elements is None else sorted(elements.elements())}
        wc = WriteConsistency.majority(req.get("timeout", 1.0))
        end = time.monotonic() + req["seconds"]
        n = 0

        async def inc() -> None:
            if await rep.update("ctr", GCounter, lambda c: c.increment(rep.node, 1) or c,
                                wc) == "ok":
                emit({"event": "ddata_ack", "what": "inc", "element": None})

        async def add(element: str) -> None:
            if await rep.update("set", ORSet, lambda s: s.add(element) or s, wc) == "ok":
                emit({"event": "ddata_ack", "what": "add", "element": element})

        while time.monotonic() < end:
            n += 1
            await asyncio.gather(inc(), add(f"{self.args.name}-{n}"))
        return {"attempted": n}

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()

        def read_stdin() -> None:
            for line in sys.stdin:  # ends when the test closes the pipe or dies
                if line.strip():
                    loop.call_soon_threadsafe(lambda line=line: self._spawn(self.command(line)))
            loop.call_soon_threadsafe(self.done.set)

        threading.Thread(target=read_stdin, daemon=True).start()
        try:
            await asyncio.wait_for(self.done.wait(), self.args.lifetime)
        except asyncio.TimeoutError:
            pass
        finally:
            for task in list(self.tasks):
                task.cancel()
            assert self.system is not None
            await asyncio.wait_for(self.system.terminate(), 20.0)


async def main(args: argparse.Namespace) -> None:
    node = Node(args)
    await node.start()
    await node.serve()


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--config", default="")
    p.add_argument("--cluster", action="store_true")
    p.add_argument("--advertised-host", default=None)
    p.add_argument("--lifetime", type=float, default=600.0)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
