"""The hand-off limits of a region (ShardingSettings / cluster.sharding.*):
validated, taken from the config when left None, and obeyed: a hand-off
whose entity does not stop is not cut short before its own
hand_off_timeout."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from atomr import Actor, ActorSystem, Config, props
from atomr.cluster import Cluster, ClusterRegistry
from atomr.cluster_sharding import ShardingSettings, ShardRegion
from atomr.cluster_sharding._region import _Node
from atomr.config import ConfigError

_LIMITS = ("hand_off_timeout", "graceful_shutdown_timeout", "leaving_region_timeout")


def test_hand_off_limits_are_validated():
    s = ShardingSettings(hand_off_timeout=2, graceful_shutdown_timeout=3.5,
                         leaving_region_timeout=0.25)
    assert (s.hand_off_timeout, s.graceful_shutdown_timeout, s.leaving_region_timeout) == (
        2.0, 3.5, 0.25)
    assert all(getattr(ShardingSettings(), f) is None for f in _LIMITS)
    for field in _LIMITS:
        for bad in (0, -1.0, float("inf"), float("nan"), True, "5", [1]):
            with pytest.raises(ValueError, match=field):
                ShardingSettings(**{field: bad})
    for key in ("hand-off-timeout", "graceful-shutdown-timeout", "leaving-region-timeout"):
        with pytest.raises(ConfigError, match=key):
            ActorSystem.create_blocking("bad", Config.from_dict(
                {"cluster": {"sharding": {key: 0}}})).terminate_blocking()


def test_limits_left_none_come_from_the_config():
    config = Config.from_dict({"cluster": {"sharding": {
        "hand-off-timeout": 3.0, "graceful-shutdown-timeout": "7s",
        "leaving-region-timeout": 4.0}}})
    system = ActorSystem.create_blocking("limits", config)
    try:
        extract = lambda m: (m, "0", m)  # noqa: E731
        a = ShardRegion.start(system=system, type_name="a", entity_props=props(Actor),
                              message_extractor=extract)
        assert (a.settings.hand_off_timeout, a.settings.graceful_shutdown_timeout,
                a.settings.leaving_region_timeout) == (3.0, 7.0, 4.0)
        b = ShardRegion.start(system=system, type_name="b", entity_props=props(Actor),
                              message_extractor=extract,
                              settings=ShardingSettings(hand_off_timeout=1.5))
        assert (b.settings.hand_off_timeout, b.settings.graceful_shutdown_timeout) == (1.5, 7.0)
    finally:
        system.terminate_blocking()


async def _until(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_a_stuck_entity_is_stopped_outright_only_after_the_hand_off_timeout():
    fast = Config.from_dict({"cluster": {"gossip-interval": 0.1, "heartbeat-interval": 0.1}})
    release = threading.Event()
    handled: list[tuple[str, str]] = []

    class Entity(Actor):
        async def handle(self, ctx, msg):
            entity, what = msg
            if what == "block":
                # does not return (nor see the hand-off's stop) until released
                while not release.is_set():
                    await asyncio.sleep(0.01)
            handled.append((entity, ctx.system.name))

    # A limit far above the default (10 s): a hand-off that has already
    # waited longer than the default for its entity must still wait.
    settings = ShardingSettings(hand_off_timeout=3600.0)
    extract = lambda m: (m[0], m[0][1:], m)  # noqa: E731
    registry = ClusterRegistry()
    systems = [ActorSystem.create_blocking(n, fast) for n in ("ha", "hb")]
    clusters = [Cluster.with_test_transport(s, registry) for s in systems]
    try:
        async def scenario():
            await clusters[0].join_seed_nodes([clusters[0].self_address])
            first = ShardRegion.start(system=systems[0], type_name="h", settings=settings,
                                      entity_props=props(Entity), message_extractor=extract)
            first.tell(("e0", "block"))
            first.tell(("e1", "go"))
            await _until(lambda: sorted(first.shard_ids()) == ["0", "1"] and
                         ("e1", "ha") in handled)
            # hb joins: shard 0 (the stuck entity's) is handed off to it
            await clusters[1].join_seed_nodes([clusters[0].self_address])
            second = ShardRegion.start(system=systems[1], type_name="h", settings=settings,
                                       entity_props=props(Entity), message_extractor=extract)
            node = _Node.of(systems[0])

            def stopping():
                with node.lock:
                    state = first._shards.get("0")
                    return state if state is not None and state.stopping else None

            await _until(stopping)
            with node.lock:
                state = stopping()
                refs = list(state.refs)
                # as if it had waited for its entity longer than the default
                state.since -= 20.0
                aged = time.monotonic()
            # the region ticks on for three more seconds (longer than an
            # outright stop takes: actor.stop-grace, 1 s) ...
            await _until(lambda: first._last_reap >= aged + 3.0)
            # ... and the entity is still running, not stopped outright
            assert stopping() is not None
            assert not any(r.is_terminated() for r in refs)
            release.set()
            await _until(lambda: second.shard_ids() == ["0"] and first.shard_ids() == ["1"])
            second.tell(("e0", "after"))
            await _until(lambda: ("e0", "hb") in handled)
            assert handled.count(("e0", "ha")) == 1

        asyncio.run(scenario())
    finally:
        release.set()
        for s in systems:
            s.terminate_blocking()
        registry.close()
