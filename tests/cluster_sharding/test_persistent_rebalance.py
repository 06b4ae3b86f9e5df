"""A rebalance moves event-sourced entities without losing their state:
a moved entity starts on its new node from the shared journal, with every
event it persisted on the old one."""

from __future__ import annotations

import asyncio
import threading
import time

from atomr import ActorSystem, Config, props
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardRegion
from atomr.persistence import Effect, EventSourcedActor, Persistence


async def _until(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_a_rebalance_moves_persistent_entities_with_their_state(tmp_path):
    config = Config.from_dict({
        "cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1},
        "persistence": {"journal": "lmdb",
                        "lmdb": {"path": str(tmp_path / "journal"), "sync": False}}})
    lock = threading.Lock()
    # entity -> (system, state) of its live incarnation; recovered: the
    # state each incarnation recovered, by system
    live: dict[str, tuple[str, int]] = {}
    recovered: list[tuple[str, str, int]] = []

    class Account(EventSourcedActor):
        persistent_id = "unset"

        async def pre_start(self, ctx):
            self.name = ctx.path.rsplit("/", 1)[1].split("__", 1)[0].partition("-")[2]
            self.persistent_id = f"acct-{self.name}"
            self.system_name = ctx.system.name
            await super().pre_start(ctx)
            with lock:
                live[self.name] = (self.system_name, self.state)
                recovered.append((self.name, self.system_name, self.state))

        def initial_state(self):
            return 0

        async def command_handler(self, state, ctx, cmd):
            return Effect.persist({"type": "deposited", "n": cmd})

        def event_handler(self, state, event, recovery_mode=False):
            new = state + event["n"]
            if not recovery_mode:
                with lock:
                    live[self.name] = (self.system_name, new)
            return new

    def start(system):
        journal = Persistence.get(system).journal()
        return ShardRegion.start(
            system=system, type_name="acct",
            entity_props=props(Account, factory=lambda: Account(journal=journal)),
            message_extractor=lambda m: (m[0], str(int(m[0][1:]) % 6), m[1]))

    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, config) for n in ("ra", "rb")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    try:
        async def scenario():
            await clusters[0].join_seed_nodes([clusters[0].self_address])
            first = start(systems[0])
            for e in range(12):
                for amount in (1, 2, 3):
                    first.tell((f"a{e}", amount))
            await _until(lambda: len(live) == 12 and all(v == 6 for _, v in live.values()))
            assert first.shard_count() == 6
            # rb joins with a region: three of the six shards move to it
            await clusters[1].join_seed_nodes([clusters[0].self_address])
            second = start(systems[1])
            await _until(lambda: [first.shard_count(), second.shard_count()] == [3, 3])
            for e in range(12):
                first.tell((f"a{e}", 10))
            await _until(lambda: len(live) == 12 and all(v == 16 for _, v in live.values()))
            moved = sorted(second.entity_ids())
            assert len(moved) == 6
            assert all(live[e][0] == "rb" for e in moved)
            # each moved entity recovered its six on rb before the deposit
            with lock:
                on_b = [(e, s) for e, system, s in recovered if system == "rb"]
            assert sorted(e for e, _ in on_b) == moved
            assert all(s == 6 for _, s in on_b)

        asyncio.run(scenario())
    finally:
        for s in systems:
            s.terminate_blocking()
        registry.close()
