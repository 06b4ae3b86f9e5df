"""The single-node Replicator: updates, reads, deletes, subscriptions,
consistency levels on a one-node cluster, and durable keys surviving a
restart of the actor system."""

from __future__ import annotations

import asyncio
import os

import pytest

from _helpers import DEADLINE, running_system, wait_until
from atomr import ActorSystem, Config
from atomr.config import ConfigError
from atomr.ddata import (DurableStore, FileDurableStore, Flag, GCounter, GSet, LWWMap, ORMap,
                         ORSet, PNCounter, PruningState, ReadAggregator, ReadConsistency,
                         Replicator, ReplicatorSubscription, WriteAggregator, WriteConsistency,
                         pruning_phases)
from atomr.ddata_lmdb import LmdbDurableStore
from atomr.errors import (ActorSystemTerminatedError, DataDeletedError, DurableStoreError,
                          ReplicationTimeoutError, UpdateFailedError)


def inc(node: str = "A", by: int = 1):
    def modify(c):
        c.increment(node, by)
        return c
    return modify


def durable_config(kind: str, path: str, keys=None) -> Config:
    durable = {"store-actor-class": kind, "path": path}
    if keys is not None:
        durable["keys"] = keys
    return Config.from_dict({"distributed-data": {"durable": durable}})


# ---------------------------------------------------------------------------
# One replicator per system


async def test_one_replicator_per_system(system):
    rep = Replicator.get(system)
    assert Replicator.get(system) is rep
    assert rep.node == system.address
    assert isinstance(rep.durable, DurableStore) and not rep.durable.is_durable
    async with running_system("other") as other:
        assert Replicator.get(other) is not rep


def test_replicator_is_not_constructed_directly():
    with pytest.raises(TypeError):
        Replicator()


# ---------------------------------------------------------------------------
# update / get / get_value


async def test_update_then_get_value(system):
    rep = Replicator.get(system)
    assert await rep.update("counter", GCounter, inc("A", 2)) == "ok"
    assert await rep.update("counter", GCounter, inc("B", 3)) == "ok"
    value = await rep.get_value("counter", GCounter)
    assert isinstance(value, GCounter) and value.value() == 5
    assert await rep.get("counter", GCounter) == value
    assert rep.keys() == ["counter"]


async def test_get_value_returns_a_copy(system):
    rep = Replicator.get(system)
    await rep.update("s", ORSet, lambda s: s.add("x") or s)
    copy = await rep.get_value("s", ORSet)
    copy.add("y")
    assert (await rep.get_value("s", ORSet)).elements() == ["x"]


async def test_missing_keys_and_other_types(system):
    rep = Replicator.get(system)
    assert await rep.get_value("nothing", GCounter) is None
    assert await rep.get("nothing", GCounter) is None
    await rep.update("c", GCounter, inc())
    assert await rep.get_value("c", GSet) is None
    with pytest.raises(TypeError, match="holds a GCounter"):
        await rep.get("c", GSet)


async def test_modify_may_be_async_and_may_mutate_in_place(system):
    rep = Replicator.get(system)

    async def add(s):
        await asyncio.sleep(0)
        s.add("async")
        return s

    await rep.update("s", ORSet, add)
    await rep.update("s", ORSet, lambda s: s.add("in-place"))  # returns None
    assert set((await rep.get_value("s", ORSet)).elements()) == {"async", "in-place"}


async def test_modify_acts_as_this_node(system):
    rep = Replicator.get(system)
    seen = []
    await rep.update("s", ORSet, lambda s: seen.append(s.node) or s)
    assert seen == [system.address]


async def test_an_instance_names_the_type_and_is_the_initial_value(system):
    rep = Replicator.get(system)
    initial = ORMap.of_pn_counter()
    initial.update("seed", lambda c: c.increment("A", 10))

    def bump(m):
        m.update("alice", lambda c: c.increment("A", 1))
        return m

    await rep.update("m", initial, bump)
    m = await rep.get_value("m", ORMap.of_pn_counter())
    assert {k: v.value() for k, v in m.items()} == {"seed": 10, "alice": 1}
    # An ORMap of another value type is another type.
    assert await rep.get_value("m", ORMap.of_flag()) is None


def test_an_unsupported_type_is_a_value_error_at_call_time(system):
    rep = Replicator.get(system)
    with pytest.raises(ValueError, match="not a CRDT type"):
        rep.update("k", int, lambda x: x)
    with pytest.raises(ValueError):
        rep.get_value("k", dict)
    with pytest.raises(TypeError):
        rep.update("k", GCounter, "not callable")
    with pytest.raises(TypeError):
        rep.update(3, GCounter, inc())


async def test_a_raising_modify_fails_the_update_and_leaves_the_value_unchanged(system):
    rep = Replicator.get(system)
    await rep.update("c", GCounter, inc("A", 1))

    def boom(c):
        c.increment("A", 100)
        raise KeyError("nope")

    with pytest.raises(UpdateFailedError, match="raised KeyError") as info:
        await rep.update("c", GCounter, boom)
    assert isinstance(info.value.__cause__, KeyError)
    assert (await rep.get_value("c", GCounter)).value() == 1


async def test_modify_returning_another_type_fails_cleanly(system):
    rep = Replicator.get(system)
    await rep.update("c", GCounter, inc())
    with pytest.raises(UpdateFailedError, match="must return a GCounter"):
        await rep.update("c", GCounter, lambda c: GSet())
    with pytest.raises(UpdateFailedError, match="holds a GCounter, not a Flag"):
        await rep.update("c", Flag, lambda f: f.enable())
    assert (await rep.get_value("c", GCounter)).value() == 1


async def test_concurrent_updates_of_one_key_are_serialized(system):
    rep = Replicator.get(system)

    async def slow_add(i):
        async def modify(s):
            await asyncio.sleep(0)
            s.add(i)
            return s
        return await rep.update("s", ORSet, modify)

    results = await asyncio.gather(*(slow_add(i) for i in range(40)))
    assert results == ["ok"] * 40
    assert sorted((await rep.get_value("s", ORSet)).elements()) == list(range(40))


def test_a_blocking_system_serves_several_event_loops(blocking_system):
    rep = Replicator.get(blocking_system)
    for _ in range(3):
        assert asyncio.run(rep.update("c", PNCounter, inc())) == "ok"
    assert asyncio.run(rep.get_value("c", PNCounter)).value() == 3


# ---------------------------------------------------------------------------
# delete


async def test_a_deleted_key_cannot_be_reused(system):
    rep = Replicator.get(system)
    await rep.update("k", GSet, lambda s: s.add("x") or s)
    assert await rep.delete("k") == "ok"
    assert rep.keys() == [] and rep.deleted_keys() == ["k"]
    assert await rep.get_value("k", GSet) is None
    with pytest.raises(DataDeletedError) as info:
        await rep.get("k", GSet)
    assert info.value.key == "k"
    with pytest.raises(DataDeletedError):
        await rep.update("k", GSet, lambda s: s)
    with pytest.raises(DataDeletedError):
        await rep.delete("k")


async def test_deleting_a_key_that_never_existed_tombstones_it(system):
    rep = Replicator.get(system)
    assert await rep.delete("never") == "ok"
    with pytest.raises(DataDeletedError):
        await rep.update("never", GCounter, inc())


# ---------------------------------------------------------------------------
# subscribe


async def test_subscribers_see_each_change_and_the_delete(system):
    rep = Replicator.get(system)
    sub = rep.subscribe("k")
    assert isinstance(sub, ReplicatorSubscription)
    other = rep.subscribe("other-key")
    await rep.update("k", GCounter, inc())
    await rep.update("k", GCounter, inc())
    await rep.delete("k")
    got = [await asyncio.wait_for(sub.__anext__(), DEADLINE) for _ in range(3)]
    assert got == ["k", "k", "k"]
    assert other.pending() == 0
    sub.close()
    other.close()


async def test_an_update_that_changes_nothing_is_not_published(system):
    rep = Replicator.get(system)
    await rep.update("f", Flag, lambda f: f.enable() or f)
    sub = rep.subscribe("f")
    await rep.update("f", Flag, lambda f: f.enable() or f)   # already on
    await rep.update("g", Flag, lambda f: f.enable() or f)   # another key
    assert sub.pending() == 0
    sub.close()


async def test_async_for_over_a_subscription(system):
    rep = Replicator.get(system)
    received = []

    async def consume():
        async with rep.subscribe("k") as sub:
            async for key in sub:
                received.append(key)
                if len(received) == 3:
                    return

    task = asyncio.ensure_future(consume())
    await wait_until(lambda: "k" in rep._subs)
    for _ in range(3):
        await rep.update("k", GCounter, inc())
    await asyncio.wait_for(task, DEADLINE)
    assert received == ["k", "k", "k"]
    assert "k" not in rep._subs


async def test_the_subscription_buffer_drops_changes_beyond_its_size(system):
    rep = Replicator.get(system)
    sub = rep.subscribe("k")
    for _ in range(ReplicatorSubscription.BUFFER + 5):
        await rep.update("k", GCounter, inc())
    assert sub.pending() == ReplicatorSubscription.BUFFER
    assert sub.dropped == 5
    sub.close()
    with pytest.raises(StopAsyncIteration):
        # buffered items are still delivered after close? No: close ends it
        # once the buffer is drained.
        for _ in range(ReplicatorSubscription.BUFFER + 1):
            await sub.__anext__()


def test_a_subscription_delivers_to_another_loop_and_ends_with_the_system():
    """The system runs its own loop thread; the subscriber iterates on the
    main thread's loop. Closing the system ends the iteration."""
    system = ActorSystem.create_blocking("subs")
    try:
        rep = Replicator.get(system)
        sub = rep.subscribe("k")
        keys: list[str] = []

        async def consume():
            async for key in sub:
                keys.append(key)
                if len(keys) == 1:
                    await rep.update("k", GCounter, inc())

        async def main():
            consumer = asyncio.ensure_future(consume())
            await rep.update("k", GCounter, inc())
            await wait_until(lambda: len(keys) == 2)
            await system.terminate()
            await asyncio.wait_for(consumer, DEADLINE)  # ends: the subscription closed

        asyncio.run(main())
        assert keys == ["k", "k"]
        assert sub.closed
    finally:
        system.terminate_blocking(timeout=DEADLINE)


# ---------------------------------------------------------------------------
# Consistency on a one-node cluster


@pytest.mark.parametrize("level", [WriteConsistency.local(), WriteConsistency.majority(),
                                   WriteConsistency.all(), WriteConsistency.write_to(1)],
                         ids=["local", "majority", "all", "write_to-1"])
async def test_write_levels_one_node_can_meet_answer_ok_at_once(system, level):
    rep = Replicator.get(system)
    assert await asyncio.wait_for(rep.update("c", GCounter, inc(), level), 1.0) == "ok"
    assert await asyncio.wait_for(rep.delete("c", level), 1.0) == "ok"


@pytest.mark.parametrize("level", [ReadConsistency.local(), ReadConsistency.majority(),
                                   ReadConsistency.all(), ReadConsistency.read_from(1)],
                         ids=["local", "majority", "all", "read_from-1"])
async def test_read_levels_one_node_can_meet_answer_at_once(system, level):
    rep = Replicator.get(system)
    await rep.update("c", GCounter, inc())
    got = await asyncio.wait_for(rep.get_value("c", GCounter, level), 1.0)
    assert got.value() == 1


async def test_write_to_more_nodes_than_exist_times_out_but_applies_locally(system):
    rep = Replicator.get(system)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await rep.update("c", GCounter, inc(), WriteConsistency.write_to(3, timeout=0.2))
    assert result == "timeout"
    assert loop.time() - started >= 0.2
    assert (await rep.get_value("c", GCounter)).value() == 1


async def test_read_from_more_nodes_than_exist_fails_after_its_timeout(system):
    rep = Replicator.get(system)
    await rep.update("c", GCounter, inc())
    with pytest.raises(ReplicationTimeoutError, match="could not reach 2 replicas") as info:
        await rep.get("c", GCounter, ReadConsistency.read_from(2, timeout=0.1))
    assert isinstance(info.value, TimeoutError)


def test_consistency_levels_are_validated_and_frozen():
    assert WriteConsistency.majority(timeout=1.5).timeout == 1.5
    assert ReadConsistency.read_from(2).n == 2
    assert "WriteConsistency" in repr(WriteConsistency.local())
    assert "ReadConsistency" in repr(ReadConsistency.all())
    assert WriteConsistency.majority().required(5) == 3
    assert WriteConsistency.all().required(5) == 5
    with pytest.raises(ValueError):
        WriteConsistency.write_to(0)
    with pytest.raises(ValueError):
        ReadConsistency.majority(timeout=-1)
    with pytest.raises(TypeError):
        WriteConsistency.write_to(2.5)
    with pytest.raises(AttributeError):
        WriteConsistency.local().n = 3  # type: ignore[misc]


async def test_a_wrong_consistency_object_is_a_type_error(system):
    rep = Replicator.get(system)
    with pytest.raises(TypeError):
        rep.update("c", GCounter, inc(), ReadConsistency.local())
    with pytest.raises(TypeError):
        rep.get_value("c", GCounter, WriteConsistency.local())


def test_aggregators_count_acks_and_replies():
    w = WriteAggregator(2)
    w.ack()
    assert not w.is_satisfied() and w.received == 1
    w.nack()
    assert not w.is_failed(3)
    w.nack()
    assert w.is_failed(3)
    w.ack()
    assert w.is_satisfied()
    r = ReadAggregator(1)
    assert not r.is_satisfied()
    r.reply()
    assert r.is_satisfied() and r.target == 1


def test_pruning_state_phases_and_merge():
    assert pruning_phases() == ["initialized", "performed"]
    p = PruningState()
    p.initialize("gone", "owner-1")
    p.initialize("gone", "owner-2")
    assert p.owner("gone") == "owner-1" and p.phase("gone") == "initialized"
    assert p.mark_performed("gone", 5) is True
    assert p.mark_performed("gone", 6) is False
    assert p.is_pruned("gone")
    q = PruningState()
    q.initialize("gone", "owner-0")
    q.initialize("other", "x")
    merged = PruningState().merge(q).merge(p)
    assert merged.phase("gone") == "performed" and merged.phase("other") == "initialized"
    assert PruningState().merge(p).merge(q) == merged
    assert merged.gc(4) == 0
    assert merged.gc(5) == 1 and merged.phase("gone") is None


# ---------------------------------------------------------------------------
# Durable storage


@pytest.mark.parametrize("kind", ["lmdb", "file"])
async def test_durable_keys_survive_a_restart(tmp_path, kind):
    path = str(tmp_path / ("dd.mdb" if kind == "lmdb" else "dd"))
    config = durable_config(kind, path)
    async with running_system("durable", config) as first:
        rep = Replicator.get(first)
        assert rep.durable.kind == kind
        await rep.update("counter", GCounter, inc("A", 7))
        await rep.update("set", ORSet, lambda s: s.add("x") or s)
        await rep.update("map", ORMap.of_pn_counter(),
                         lambda m: m.update("alice", lambda c: c.increment("A", 2)) and m)
        await rep.update("gone", GSet, lambda s: s.add(1) or s)
        await rep.delete("gone")
    async with running_system("durable", config) as second:
        rep = Replicator.get(second)
        assert rep.keys() == ["counter", "map", "set"]
        assert (await rep.get_value("counter", GCounter)).value() == 7
        s = await rep.get_value("set", ORSet)
        assert s.elements() == ["x"]
        assert (await rep.get_value("map", ORMap.of_pn_counter())).get("alice").value() == 2
        with pytest.raises(DataDeletedError):
            await rep.update("gone", GSet, lambda s: s)
        # The restarted node continues its own dots: a re-add after the
        # restart does not collide with the stored ones.
        await rep.update("set", ORSet, lambda s: s.add("y") or s)
        assert set((await rep.get_value("set", ORSet)).elements()) == {"x", "y"}


async def test_a_durable_write_is_on_disk_when_the_update_answers(tmp_path):
    store = DurableStore.file(tmp_path / "dd")
    async with running_system("ack") as system:
        rep = Replicator.with_durable_store(system, store)
        await rep.update("k", GCounter, inc("A", 4))
        # Read straight from disk, bypassing the replicator.
        on_disk = FileDurableStore(tmp_path / "dd").load("k")
        assert GCounter.from_bytes(on_disk).value() == 4


async def test_with_durable_store_replaces_the_replicator_and_loads_the_store(tmp_path):
    seed = LmdbDurableStore(tmp_path / "seed.mdb")
    counter = GCounter()
    counter.increment("old-node", 9)
    seed.persist("preloaded", counter.to_bytes())
    async with running_system("swap") as system:
        before = Replicator.get(system)
        rep = Replicator.with_durable_store(system, seed)
        assert rep is not before and Replicator.get(system) is rep
        assert rep.durable is seed
        assert (await rep.get_value("preloaded", GCounter)).value() == 9
        with pytest.raises(ActorSystemTerminatedError):
            await before.update("x", GCounter, inc())
    assert not seed.is_open  # closed with its system


async def test_only_keys_matching_the_durable_globs_are_persisted(tmp_path):
    config = durable_config("file", str(tmp_path / "dd"), keys=["keep-*", "exact"])
    async with running_system("globs", config) as system:
        rep = Replicator.get(system)
        for key in ("keep-1", "exact", "scratch"):
            await rep.update(key, Flag, lambda f: f.enable() or f)
        assert rep.is_durable("keep-1") and not rep.is_durable("scratch")
        assert rep.durable.keys() == ["exact", "keep-1"]


def test_a_file_or_lmdb_store_needs_a_path():
    async def main():
        async with running_system("nopath", durable_config("lmdb", "")) as system:
            with pytest.raises(ConfigError, match="durable.path"):
                Replicator.get(system)
    asyncio.run(main())


async def test_an_unknown_store_class_is_a_config_error():
    with pytest.raises(ConfigError):
        await ActorSystem.create("bad", durable_config("redis", "/tmp/x"))


async def test_a_corrupt_durable_entry_is_reported(tmp_path):
    store = FileDurableStore(tmp_path / "dd")
    store.persist("broken", b"ACRD\x00\x01\x01\x01\x05")
    async with running_system("corrupt") as system:
        with pytest.raises(DurableStoreError, match="'broken' is malformed"):
            Replicator.with_durable_store(system, store)


async def test_operations_after_termination_fail_clearly():
    system = await ActorSystem.create("ended")
    rep = Replicator.get(system)
    sub = rep.subscribe("k")
    await system.terminate()
    with pytest.raises(ActorSystemTerminatedError):
        await rep.update("k", GCounter, inc())
    with pytest.raises(ActorSystemTerminatedError):
        Replicator.get(system)
    assert sub.closed
    with pytest.raises(StopAsyncIteration):
        await sub.__anext__()


def test_lww_map_values_in_the_replicator(blocking_system):
    rep = Replicator.get(blocking_system)

    def put(m):
        m.put("user:1", b"alice")
        return m

    assert asyncio.run(rep.update("users", LWWMap, put)) == "ok"
    assert asyncio.run(rep.get_value("users", LWWMap)).get("user:1") == b"alice"


def test_the_durable_path_may_be_a_directory(tmp_path):
    store = DurableStore.lmdb(tmp_path)
    try:
        assert store.path == os.path.join(str(tmp_path), "ddata.mdb")
    finally:
        store.close()
