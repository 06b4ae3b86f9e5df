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
* ``client_connect {contacts, max_attempts, attempt_timeout}`` (on a node
  outside the cluster), ``client_ask {path, msg, timeout}``,
  ``client_publish {topic, msg}``, ``client_send_to_all {path, msg}``.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from multinode import cluster_node as base  # noqa: E402

from atomr import Actor, props  # noqa: E402
from atomr.cluster_tools import (  # noqa: E402
    ClusterClient,
    ClusterClientSettings,
    ClusterReceptionist,
    ClusterSingletonManager,
    DistributedPubSub,
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
    def __init__(self, node: str) -> None:
        self.node = node

    def pre_start(self, ctx: Any) -> None:
        base.emit({"event": "singleton", "type": "started", "node": self.node, "t": time.time()})

    def post_stop(self, ctx: Any) -> None:
        base.emit({"event": "singleton", "type": "stopped", "node": self.node, "t": time.time()})

    def handle(self, ctx: Any, msg: Any) -> Any:
        base.emit({"event": "singleton", "type": "msg", "node": self.node, "msg": msg})
        return self.node


class Service(Actor):
    def __init__(self, node: str) -> None:
        self.node = node

    def handle(self, ctx: Any, msg: Any) -> Any:
        return [self.node, msg]


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
            self.managers[name] = ClusterSingletonManager.start(
                system, props(Singleton, factory=lambda: Singleton(node)), name,
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
        if cmd == "client_connect":
            settings = ClusterClientSettings(req["contacts"], req.get("max_attempts", 5),
                                             req.get("attempt_timeout", 2.0))
            self.client = ClusterClient(system, settings)
            return await self.client.connect()
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
