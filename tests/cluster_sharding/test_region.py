"""Shard regions on a standalone system: extractors, entities, passivation,
remembered entities, settings."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from atomr import Actor, ActorSystem, Config, props
from atomr.cluster_sharding import ShardingSettings, ShardRegion


def _wait(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class _Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, item):
        with self.lock:
            self.items.append(item)

    def snapshot(self):
        with self.lock:
            return list(self.items)


@pytest.fixture
def system():
    s = ActorSystem.create_blocking("shardsys")
    yield s
    s.terminate_blocking()


def _entity(log):
    class Entity(Actor):
        def __init__(self):
            self.seen = 0

        def handle(self, ctx, msg):
            self.seen += 1
            log.add((ctx.path, msg, self.seen))
            return (ctx.path, self.seen)

    return props(Entity)


def test_settings_defaults_and_validation():
    s = ShardingSettings()
    assert (s.allocation_strategy, s.rebalance_threshold, s.max_simultaneous_rebalance,
            s.passivation_idle_timeout, s.remember_entities, s.number_of_shards) == (
        "least-shards", 1, 3, None, False, None)
    assert ShardingSettings(allocation_strategy="pinned").allocation_strategy == "pinned"
    for bad in ({"allocation_strategy": "random"}, {"rebalance_threshold": 0},
                {"max_simultaneous_rebalance": 0}, {"passivation_idle_timeout": -1},
                {"remember_entities": 1}, {"number_of_shards": 0}, {"shards": 3}):
        with pytest.raises(ValueError):
            ShardingSettings(**bad)
    with pytest.raises(ValueError):
        ShardingSettings("pinned")


def test_one_callable_extractor_paths_and_counts(system):
    log = _Log()
    region = ShardRegion.start(system=system, type_name="cart", entity_props=_entity(log),
                               message_extractor=lambda m: (m["id"], m["shard"], m["body"]))
    assert region.region_id == f"cart@{system.address}"
    assert region.type_name == "cart"
    region.tell({"id": "a/b c", "shard": "1", "body": "x"})
    region.tell({"id": "z", "shard": "2", "body": "y"})
    # registered synchronously
    assert region.entity_count() == 2
    assert region.entity_ids() == ["a/b c", "z"]
    assert region.shard_ids() == ["1", "2"] and region.shard_count() == 2
    _wait(lambda: len(log.snapshot()) == 2)
    paths = {p: m for p, m, _ in log.snapshot()}
    assert paths == {"akka://shardsys/user/cart-a_b_c": "x", "akka://shardsys/user/cart-z": "y"}


def test_tolerated_extractor_shapes(system):
    log = _Log()
    region = ShardRegion.start(system=system, type_name="t", entity_props=_entity(log),
                               message_extractor=lambda m: m[0] if m[1] is None else (m[0], m[1]))
    region.tell((7, None))
    region.tell(("k", "payload"))
    _wait(lambda: len(log.snapshot()) == 2)
    got = {p.rsplit("/", 1)[1]: m for p, m, _ in log.snapshot()}
    assert got == {"t-7": (7, None), "t-k": "payload"}
    assert region.shard_ids() == sorted({str(hash("7") % 16), str(hash("k") % 16)})


def test_three_callable_form(system):
    log = _Log()
    region = ShardRegion.start(system=system, type_name="acc", entity_props=_entity(log),
                               message_extractor=lambda m: m["id"],
                               shard_id_extractor=lambda m: -m["n"],
                               unwrap_extractor=lambda m: m["body"],
                               settings=ShardingSettings(number_of_shards=5))
    region.tell({"id": 1, "n": 12, "body": "b"})
    assert region.shard_ids() == ["2"]
    assert region.entity_ids() == ["1"]
    _wait(lambda: log.snapshot() and log.snapshot()[0][1] == "b")


def test_entity_ref_and_request_passivation(system):
    log = _Log()
    region = ShardRegion.start(system=system, type_name="e", entity_props=_entity(log),
                               message_extractor=lambda m: (m, m))
    ref = region.entity_ref("x")
    assert ref.ask_blocking("hi") == ("akka://shardsys/user/e-x", 1)
    assert ref.ask_blocking("again")[1] == 2
    region.request_passivation("x")
    assert region.entity_ids() == []
    _wait(ref.is_terminated)
    region.tell("x")  # a fresh instance
    _wait(lambda: log.snapshot()[-1][2] == 1 and len(log.snapshot()) == 3)
    assert region.entity_ids() == ["x"]


def test_idle_passivation(system):
    log = _Log()
    region = ShardRegion.start(system=system, type_name="idle", entity_props=_entity(log),
                               message_extractor=lambda m: (m, m),
                               settings=ShardingSettings(passivation_idle_timeout=0.5))
    region.tell("a")
    region.tell("b")
    assert region.entity_count() == 2
    deadline = time.monotonic() + 20
    while "a" in region.entity_ids():
        region.tell("b")  # b stays busy
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert region.entity_ids() == ["b"]
    _wait(lambda: region.entity_count() == 0)


def test_remember_entities_restarted_by_a_new_region(system):
    log = _Log()
    settings = ShardingSettings(remember_entities=True)
    first = ShardRegion.start(system=system, type_name="rem", entity_props=_entity(log),
                              message_extractor=lambda m: (m, m), settings=settings)
    for e in ("a", "b", "c"):
        first.tell(e)
    first.request_passivation("c")  # forgotten
    first.shutdown()
    first.shutdown()  # idempotent
    assert first.entity_count() == 0
    with pytest.raises(RuntimeError):
        first.tell("a")
    second = ShardRegion.start(system=system, type_name="rem", entity_props=_entity(log),
                               message_extractor=lambda m: (m, m), settings=settings)
    _wait(lambda: second.entity_ids() == ["a", "b"])


class _GatedJournal:
    """A journal whose writes wait until `open` is set; notes what it
    committed."""

    def __init__(self, inner):
        self.inner = inner
        self.open = threading.Event()
        self.waiting = 0
        self.committed: set[str] = set()

    async def write_messages(self, batches):
        self.waiting += 1
        while not self.open.is_set():
            await asyncio.sleep(0.01)
        result = await self.inner.write_messages(batches)
        self.committed.update(r.persistence_id for b, e in zip(batches, result)
                              if e is None for r in b)
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_remembered_entity_handles_nothing_before_its_start_is_in_the_journal(tmp_path):
    # An entity that handled a message must already be remembered in the
    # shared journal: a node that dies right after would lose it otherwise.
    from atomr.cluster_sharding._remember import remember_store

    config = Config.from_dict({"persistence": {
        "journal": "lmdb", "lmdb": {"path": str(tmp_path / "journal"), "sync": False}}})
    system = ActorSystem.create_blocking("remsys", config)
    try:
        store = remember_store(system)
        gate = store.journal = _GatedJournal(store.journal)
        seen = []

        class Entity(Actor):
            def handle(self, ctx, msg):
                seen.append((msg, set(gate.committed)))

        region = ShardRegion.start(system=system, type_name="rem", entity_props=props(Entity),
                                   message_extractor=lambda m: (m, "s1", m),
                                   settings=ShardingSettings(remember_entities=True))
        region.tell("m1")
        region.tell("m2")
        _wait(lambda: gate.waiting >= 1)
        deadline = time.monotonic() + 1.0
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == []  # held while the write waits
        gate.open.set()
        _wait(lambda: len(seen) == 2)
        assert [m for m, _ in seen] == ["m1", "m2"]
        for _, committed in seen:
            assert {"sharding|rem|shards", "sharding|rem|s1"} <= committed
        # a message for an entity already remembered is not held
        region.tell("m1")
        _wait(lambda: len(seen) == 3)
    finally:
        system.terminate_blocking()


def test_second_live_region_of_a_type_works_on_its_own(system):
    log = _Log()
    first = ShardRegion.start(system=system, type_name="dup", entity_props=_entity(log),
                              message_extractor=lambda m: (m, m))
    second = ShardRegion.start(system=system, type_name="dup", entity_props=_entity(log),
                               message_extractor=lambda m: (m, m))
    first.tell("x")
    second.tell("x")
    assert first.entity_ids() == ["x"] and second.entity_ids() == ["x"]
    _wait(lambda: len(log.snapshot()) == 2)
    names = sorted(p.rsplit("/", 1)[1] for p, _, _ in log.snapshot())
    assert names[0] == "dup-x" and names[1].startswith("dup-x__r")


def test_proxy_routes_to_the_region_of_its_system(system):
    log = _Log()
    proxy = ShardRegion.start_proxy(system=system, type_name="px",
                                    message_extractor=lambda m: (m, m))
    assert proxy.is_proxy
    region = ShardRegion.start(system=system, type_name="px", entity_props=_entity(log),
                               message_extractor=lambda m: (m, m))
    with pytest.raises(RuntimeError):
        proxy.entity_ref("a")
    proxy.tell("a")
    _wait(lambda: region.entity_ids() == ["a"])
    assert proxy.entity_count() == 0


def test_bad_arguments(system):
    with pytest.raises(ValueError):
        ShardRegion.start(system=system, type_name="", entity_props=_entity(_Log()),
                          message_extractor=lambda m: m)
    with pytest.raises(TypeError):
        ShardRegion.start(system=system, type_name="x", entity_props=object(),
                          message_extractor=lambda m: m)
    with pytest.raises(TypeError):
        ShardRegion.start(system=system, type_name="x", entity_props=_entity(_Log()),
                          message_extractor=None)
    with pytest.raises(TypeError):
        ShardRegion.start(system=system, type_name="x", entity_props=_entity(_Log()),
                          message_extractor=lambda m: m, settings={"a": 1})
    with pytest.raises(TypeError):
        ShardRegion()


def test_a_failed_read_of_remembered_shards_is_logged(system, caplog):
    from atomr.cluster_sharding._remember import RememberStore

    class Broken:
        async def replay_messages(self, pid, *args):
            raise RuntimeError(f"cannot read {pid}")

    store = RememberStore(system, Broken())
    got = []
    with caplog.at_level("WARNING", logger="atomr.cluster_sharding"):
        store.load_shards("t", got.append)
        _wait(lambda: "cannot read sharding|t|shards" in caplog.text)
    assert got == []


def test_an_entity_that_became_another_behaviour_still_stops_on_passivation(system):
    log = _Log()

    class Switcher(Actor):
        def pre_start(self, ctx):
            if ctx.path.endswith("-early"):
                ctx.become(self.counting)

        def handle(self, ctx, msg):
            log.add(("handle", msg))
            ctx.become(self.counting)

        def counting(self, ctx, msg):
            log.add(("counting", msg))
            # a nested become still stops on the marker
            ctx.become(self.counting)

    region = ShardRegion.start(system=system, type_name="sw", entity_props=props(Switcher),
                               message_extractor=lambda m: (m[0], m[1]))
    for entity in ("late", "early"):
        region.tell((entity, 1))
        region.tell((entity, 2))
    refs = [region.entity_ref(e) for e in ("late", "early")]
    _wait(lambda: len(log.snapshot()) == 4)
    assert sorted(log.snapshot()) == sorted([("handle", 1), ("counting", 2),
                                             ("counting", 1), ("counting", 2)])
    for entity in ("late", "early"):
        region.request_passivation(entity)
    # stopped by the marker, well before any forced stop
    _wait(lambda: all(r.is_terminated() for r in refs), timeout=5.0)
    assert region.entity_ids() == []


def test_messages_through_entity_ref_wait_for_the_remembered_start_too(tmp_path):
    from atomr.cluster_sharding._remember import remember_store

    config = Config.from_dict({"persistence": {
        "journal": "lmdb", "lmdb": {"path": str(tmp_path / "journal"), "sync": False}}})
    system = ActorSystem.create_blocking("remref", config)
    try:
        store = remember_store(system)
        gate = store.journal = _GatedJournal(store.journal)
        seen = []

        class Entity(Actor):
            def handle(self, ctx, msg):
                seen.append((msg, set(gate.committed)))

        region = ShardRegion.start(system=system, type_name="rr", entity_props=props(Entity),
                                   message_extractor=lambda m: (m, "s1", m),
                                   settings=ShardingSettings(remember_entities=True))
        ref = region.entity_ref("e")
        ref.tell("a")
        region.tell("e")
        ref.tell("b")
        _wait(lambda: gate.waiting >= 1)
        deadline = time.monotonic() + 1.0
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == []  # held while the write waits, whichever way they came
        gate.open.set()
        _wait(lambda: len(seen) == 3)
        assert [m for m, _ in seen] == ["a", "e", "b"], seen
        for _, committed in seen:
            assert {"sharding|rr|shards", "sharding|rr|s1"} <= committed, seen
    finally:
        system.terminate_blocking()
