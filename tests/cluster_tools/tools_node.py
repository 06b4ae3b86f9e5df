"""A node process of tests/multinode's cluster_node.py with the cluster
tools' commands (driven by the same JSON-line channel, _nodes.NodeProcess
with ``wrap=tools_node``).

Extra commands:

* ``ps_subscribe {topic}``: a recorder actor subscribes to `topic`;
  ``ps_publish {topic, msg}``; ``ps_received {topic}`` (what the recorder
  got); ``ps_nodes {topic}`` (the nodes with subscribers, as known here);
* ``singleton_start {name}``: the manager of singleton `name` (its
  instance emits ``{"event": "singleton", "type": "started"|"stopped"|"msg"}``);
  ``singleton_state {name}``; ``singleton_tell {name, msg}`` (through the
  manager's proxy); ``singleton_buffer {name}`` (buffered, drops);
* ``service {name}``: an actor ``/user/<name>`` answering ``[address, msg]``,
  registered with the node's receptionist; ``subscriber {topic}``: a
  recorder registered for `topic` with the receptionist;
* ``client_connect {contacts, max_attempts, attempt_timeout,
  heartbeat_interval, acceptable_heartbeat_pause}`` (on a node outside the
  cluster), ``client_ask {path, msg, timeout}``, ``client_publish {topic,
  msg}``, ``client_send_to_all {path, msg}``, ``client_state``
  (receptionist, reconnects, buffered, drops);
* ``ps_answerer {topic}``: an actor subscribed to `topic` that answers
  each message to its sender with ``[address, msg]``; ``ps_ask_publish
  {topic, msg}``: an actor of this node publishes `msg` through the
  mediator as its sender; ``ps_answers``: the answers it got;
* ``singleton_start`` takes ``marker``: a file each instance creates
  exclusively when it starts and removes when it stops (an instance that
  finds it emits ``{"event": "singleton", "type": "overlap"}``).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
import time
from typing import Any, Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from multinode import cluster_node as base  # noqa: E402

from atomr import Actor, props  # noqa: E402
from atomr.cluster_tools import (  # noqa: E402
    ClusterClient,
    ClusterClientSettings,
    ClusterReceptionist,
    ClusterSingletonManager,
    DistributedPubSub,
    Publish,
    Subscribe,
)

SCRIPT = pathlib.Path(__file__).resolve()


def wrap(argv: list[str]) -> list[str]:
    """NodeProcess's argv with this script in place of cluster_node.py."""
    return [argv[0], str(SCRIPT)] + argv[2:]


class Recorder(Actor):
    def __init__(self) -> None:
        self.seen: list = []

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "__get__":
            return list(self.seen)
        self.seen.append(msg)
        return None


class Singleton(Actor):
    def __init__(self, node: str, marker: Optional[str] = None) -> None:
        self.node = node
        self.marker = marker
        self.owns_marker = False

    def pre_start(self, ctx: Any) -> None:
        if self.marker is not None:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                self.owns_marker = True
            except FileExistsError:
                base.emit({"event": "singleton", "type": "overlap", "node": self.node})
        base.emit({"event": "singleton", "type": "started", "node": self.node, "t": time.time()})

    def post_stop(self, ctx: Any) -> None:
        base.emit({"event": "singleton", "type": "stopped", "node": self.node, "t": time.time()})
        if self.owns_marker:
            os.unlink(self.marker)  # type: ignore[arg-type]

    def handle(self, ctx: Any, msg: Any) -> Any:
        base.emit({"event": "singleton", "type": "msg", "node": self.node, "msg": msg})
        return self.node


class Service(Actor):
    def __init__(self, node: str) -> None:
        self.node = node

    def handle(self, ctx: Any, msg: Any) -> Any:
        return [self.node, msg]


class Answerer(Actor):
    def __init__(self, node: str) -> None:
        self.node = node

    def handle(self, ctx: Any, msg: Any) -> Any:
        if ctx.sender is not None:
            ctx.sender.tell([self.node, msg])
        return None


class Publisher(Actor):
    """Publishes through the mediator as the sender; keeps the answers."""

    def __init__(self, mediator: Any) -> None:
        self.mediator = mediator
        self.answers: list = []

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "__get__":
            return list(self.answers)
        if isinstance(msg, Publish):
            self.mediator.tell_with_sender(msg, ctx.self_ref)
        else:
            self.answers.append(msg)
        return None


class ToolsNode(base.Node):
    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.managers: dict[str, ClusterSingletonManager] = {}
        self.client: Any = None

    async def start(self) -> None:
        await super().start()
        if self.cluster is not None:  # every member runs a receptionist
            assert self.system is not None
            ClusterReceptionist.get(self.system)

    async def _run(self, req: dict) -> Any:
        cmd = req.get("cmd")
        system = self.system
        assert system is not None
        if cmd == "ps_subscribe":
            ref = system.actor_of(props(Recorder), f"ps-{req['topic']}")
            await DistributedPubSub.get(system).mediator.ask(Subscribe(req["topic"], ref))
            return None
        if cmd == "ps_publish":
            DistributedPubSub.get(system).publish(req["topic"], req["msg"])
            return None
        if cmd == "ps_received":
            return await system.actor_selection(f"/user/ps-{req['topic']}").ask("__get__")
        if cmd == "ps_nodes":
            return DistributedPubSub.get(system).nodes_with(req["topic"])
        if cmd == "singleton_start":
            name = req["name"]
            node = self.cluster.self_address
            marker = req.get("marker")
            self.managers[name] = ClusterSingletonManager.start(
                system, props(Singleton, factory=lambda: Singleton(node, marker)), name,
                hand_over_timeout=req.get("hand_over_timeout", 3.0))
            return None
        if cmd == "singleton_state":
            return self.managers[req["name"]].state
        if cmd == "singleton_tell":
            self.managers[req["name"]].tell(req["msg"])
            return None
        if cmd == "singleton_buffer":
            m = self.managers[req["name"]]
            return [m.buffered, m.drops]
        if cmd == "service":
            ref = system.actor_of(props(Service, factory=lambda: Service(
                self.cluster.self_address)), req["name"])
            return ClusterReceptionist.get(system).register_service(ref)
        if cmd == "subscriber":
            ref = system.actor_of(props(Recorder), f"ps-{req['topic']}")
            ClusterReceptionist.get(system).register_subscriber(req["topic"], ref)
            return None
        if cmd == "ps_answerer":
            ref = system.actor_of(props(Answerer, factory=lambda: Answerer(
                self.cluster.self_address)), f"answerer-{req['topic']}")
            await DistributedPubSub.get(system).mediator.ask(Subscribe(req["topic"], ref))
            return None
        if cmd == "ps_ask_publish":
            publisher = system.top_level("publisher") or system.actor_of(props(
                Publisher, factory=lambda: Publisher(DistributedPubSub.get(system).mediator)),
                "publisher")
            publisher.tell(Publish(req["topic"], req["msg"]))
            return None
        if cmd == "ps_answers":
            return await system.actor_selection("/user/publisher").ask("__get__")
        if cmd == "client_connect":
            settings = ClusterClientSettings(
                req["contacts"], req.get("max_attempts", 5), req.get("attempt_timeout", 2.0),
                heartbeat_interval=req.get("heartbeat_interval", 2.0),
                acceptable_heartbeat_pause=req.get("acceptable_heartbeat_pause", 13.0))
            self.client = ClusterClient(system, settings)
            return await self.client.connect()
        if cmd == "client_state":
            c = self.client
            return {"receptionist": c.receptionist, "reconnects": c.reconnects,
                    "buffered": c.buffered, "drops": c.drops}
        if cmd == "client_ask":
            return await self.client.ask(req["path"], req["msg"], timeout=req.get("timeout", 5.0))
        if cmd == "client_publish":
            self.client.publish(req["topic"], req["msg"])
            return None
        if cmd == "client_send_to_all":
            self.client.send_to_all(req["path"], req["msg"])
            return None
        return await super()._run(req)


async def main(args: Any) -> None:
    node = ToolsNode(args)
    await node.start()
    await node.serve()


if __name__ == "__main__":
    asyncio.run(main(base.parse(sys.argv[1:])))
