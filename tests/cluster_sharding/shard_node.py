"""A sharding node in an OS process of its own: tests/multinode's
cluster_node.py (same options, same JSON-line channel, driven by its
NodeProcess) plus sharding commands:

* ``start_region {type, remember, persistent}``: starts the region of
  `type` (entities record what they get; persistent ones are event-sourced
  counters in the system's journal);
* ``tell_range {type, tag, start, count, entities}``: tells
  ``{"e": "e<i>", "tag": tag, "n": n}`` for each n, to each entity i;
* ``region {type}``: the region's shard and entity ids;
* ``received``: entity -> the ``[tag, n]`` it got, in order;
* ``pstate``: persistent entity running here -> its recovered/current counter;
* ``coordinator {type}``: this node's membership and, when it runs the
  coordinator of `type`, the coordinator's state.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
import threading
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from multinode import cluster_node  # noqa: E402

from atomr import Actor, props  # noqa: E402
from atomr.cluster_sharding import ShardingSettings, ShardRegion  # noqa: E402
from atomr.persistence import Effect, EventSourcedActor, Persistence  # noqa: E402

_lock = threading.Lock()
_received: dict[str, list] = {}
_pstate: dict[str, int] = {}
_powner: dict[str, Any] = {}


class Recorder(Actor):
    def handle(self, ctx: Any, msg: Any) -> None:
        with _lock:
            _received.setdefault(msg["e"], []).append([msg["tag"], msg["n"]])


class Counter(EventSourcedActor):
    persistent_id = "unset"

    def __init__(self, journal: Any) -> None:
        super().__init__(journal=journal)

    async def pre_start(self, ctx: Any) -> None:
        name = ctx.path.rsplit("/", 1)[1].split("__", 1)[0]
        self.persistent_id = f"counter-{name}"
        self.entity = name.partition("-")[2]
        await super().pre_start(ctx)
        with _lock:
            _pstate[self.entity] = self.state
            _powner[self.entity] = self

    def post_stop(self, ctx: Any) -> Any:
        # A stopped entity (handed off to another node by a rebalance) is
        # no longer reported here; a later incarnation here replaced it.
        with _lock:
            if _powner.get(getattr(self, "entity", None)) is self:
                del _powner[self.entity]
                _pstate.pop(self.entity, None)
        return super().post_stop(ctx)

    def initial_state(self) -> int:
        return 0

    async def command_handler(self, state: int, ctx: Any, cmd: Any) -> Any:
        with _lock:
            _received.setdefault(cmd["e"], []).append([cmd["tag"], cmd["n"]])
        return Effect.persist({"type": "added", "n": 1})

    def event_handler(self, state: int, event: Any, recovery_mode: bool = False) -> int:
        new = state + event["n"]
        if not recovery_mode:
            with _lock:
                _pstate[self.entity] = new
        return new


def _extract(msg: dict) -> tuple[str, str, dict]:
    return msg["e"], str(int(msg["e"][1:]) % 12), msg


class ShardNode(cluster_node.Node):
    regions: dict[str, ShardRegion]

    async def start(self) -> None:
        await super().start()
        self.regions = {}

    async def _cluster_command(self, cmd: Any, req: dict) -> Any:
        system = self.system
        if cmd == "start_region":
            settings = ShardingSettings(remember_entities=req.get("remember", False))
            if req.get("persistent"):
                journal = Persistence.get(system).journal()
                entity = props(Counter, factory=lambda: Counter(journal))
            else:
                entity = props(Recorder)
            self.regions[req["type"]] = ShardRegion.start(
                system=system, type_name=req["type"], entity_props=entity,
                message_extractor=_extract, settings=settings)
            return None
        if cmd == "tell_range":
            region = self.regions[req["type"]]
            for n in range(req["start"], req["start"] + req["count"]):
                for e in range(req["entities"]):
                    region.tell({"e": f"e{e}", "tag": req["tag"], "n": n})
                if n % 10 == 9:
                    await asyncio.sleep(0)
            return None
        if cmd == "region":
            region = self.regions[req["type"]]
            return {"shards": region.shard_ids(), "entities": region.entity_ids()}
        if cmd == "coordinator":
            # This node's view of the sharding of `type` (for failure messages).
            from atomr.cluster_sharding._region import _Node
            node = _Node.of(system)
            with node.lock:
                coord = node.coordinators.get(req["type"])
                view: dict[str, Any] = {"membership": repr(node.membership)}
                if coord is not None:
                    view.update(active=coord.active,
                                regions={r: sorted(s) for r, s in coord.regions.items()},
                                pending=sorted(coord.pending),
                                remembered=sorted(coord.remembered),
                                rebalancing=dict(coord.rebalancing))
                return view
        if cmd == "received":
            with _lock:
                return {k: list(v) for k, v in _received.items()}
        if cmd == "pstate":
            with _lock:
                return dict(_pstate)
        return await super()._cluster_command(cmd, req)


async def main(args: Any) -> None:
    node = ShardNode(args)
    await node.start()
    await node.serve()


if __name__ == "__main__":
    asyncio.run(main(cluster_node.parse(sys.argv[1:])))
