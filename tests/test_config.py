"""Config: a frozen tree from dicts or TOML, read with dotted keys; and the
settings an ActorSystem takes from it."""

from __future__ import annotations

import asyncio

import pytest

from atomr import Actor, ActorSystem, AtomrError, Config, props

TOML = """
name = "svc"
debug = true

[actor]
throughput = 32
ratio = 2.75

[cluster.sbr]
stable-after = "20s"
roles = ["a", "b"]
"""


def test_empty_config_has_no_keys():
    cfg = Config.empty()
    assert cfg.extract_root() == {}
    assert cfg.get_string("a") is None
    assert cfg.get_int("a.b") is None
    assert cfg.get_bool("x") is None


def test_from_toml_reads_nested_tables_and_dashed_keys():
    cfg = Config.from_toml(TOML)
    assert cfg.get_string("name") == "svc"
    assert cfg.get_bool("debug") is True
    assert cfg.get_int("actor.throughput") == 32
    assert cfg.get_string("cluster.sbr.stable-after") == "20s"
    assert cfg.extract("cluster.sbr.roles") == ["a", "b"]


def test_from_toml_parse_error_is_an_atomr_error():
    with pytest.raises(AtomrError):
        Config.from_toml("[actor\nthroughput = ")


def test_from_toml_rejects_non_text():
    with pytest.raises(TypeError):
        Config.from_toml(b"a = 1")


def test_from_dict_reads_nested_values():
    cfg = Config.from_dict({"a": {"b": {"c": "deep"}}, "n": 3, "f": 1.5, "t": False,
                            "l": [1, {"x": 2}]})
    assert cfg.get_string("a.b.c") == "deep"
    assert cfg.get_int("n") == 3
    assert cfg.get_bool("t") is False
    assert cfg.extract("l") == [1, {"x": 2}]
    assert cfg.extract("a") == {"b": {"c": "deep"}}


def test_getters_return_none_for_missing_keys_or_other_types():
    cfg = Config.from_dict({"s": "text", "i": 7, "b": True, "f": 2.9, "t": {"k": 1}})
    assert cfg.get_string("i") is None
    assert cfg.get_string("t") is None
    assert cfg.get_int("s") is None
    assert cfg.get_int("b") is None  # a bool is not an int here
    assert cfg.get_bool("i") is None
    assert cfg.get_bool("s") is None
    assert cfg.get_string("missing") is None
    assert cfg.get_int("t.missing") is None
    assert cfg.get_int("s.below.a.scalar") is None


def test_get_int_truncates_floats():
    cfg = Config.from_dict({"f": 2.9, "g": -1.5})
    assert cfg.get_int("f") == 2
    assert cfg.get_int("g") == -1


def test_extract_missing_key_is_an_atomr_error_naming_the_key():
    cfg = Config.from_dict({"a": 1})
    with pytest.raises(AtomrError, match="nope.deeper"):
        cfg.extract("nope.deeper")


def test_extract_returns_plain_values_that_do_not_alias_the_config():
    cfg = Config.from_dict({"a": {"list": [1, 2]}})
    sub = cfg.extract("a")
    sub["list"].append(3)
    sub["new"] = True
    root = cfg.extract_root()
    root["a"]["list"].clear()
    assert cfg.extract("a") == {"list": [1, 2]}


def test_config_does_not_alias_the_source_dict():
    source = {"a": {"b": 1}, "l": [1]}
    cfg = Config.from_dict(source)
    source["a"]["b"] = 2
    source["l"].append(2)
    assert cfg.get_int("a.b") == 1
    assert cfg.extract("l") == [1]


def test_extract_root_returns_the_whole_tree():
    tree = {"a": {"b": 1}, "c": "d"}
    assert Config.from_dict(tree).extract_root() == tree


def test_from_dict_rejects_none_values():
    with pytest.raises(ValueError):
        Config.from_dict({"a": {"b": None}})
    with pytest.raises(ValueError):
        Config.from_dict({"l": [1, None]})


@pytest.mark.parametrize("top", [[("a", 1)], "a=1", 3, None])
def test_from_dict_requires_a_mapping_at_the_top(top):
    with pytest.raises(ValueError):
        Config.from_dict(top)


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", 1j])
def test_from_dict_rejects_unsupported_value_types(value):
    with pytest.raises(TypeError):
        Config.from_dict({"a": {"b": value}})


def test_from_dict_rejects_non_string_keys():
    with pytest.raises(TypeError):
        Config.from_dict({"a": {1: "x"}})


def test_config_is_frozen():
    cfg = Config.from_dict({"a": 1})
    with pytest.raises(AttributeError):
        cfg.extra = 2  # type: ignore[attr-defined]


# -- system settings ---------------------------------------------------------------------


class Recorder(Actor):
    def __init__(self):
        self.seen = []

    def handle(self, ctx, msg):
        if msg == "log":
            return list(self.seen)
        self.seen.append(msg)


async def test_system_runs_with_a_configured_throughput():
    cfg = Config.from_dict({"actor": {"throughput": 5}})
    s = await ActorSystem.create("cfg", cfg)
    try:
        assert s.config.get_int("actor.throughput") == 5
        a = s.actor_of(props(Recorder), "a")
        b = s.actor_of(props(Recorder), "b")
        for i in range(100):
            a.tell(i)
            b.tell(i)
        assert await a.ask("log") == list(range(100))
        assert await b.ask("log") == list(range(100))
    finally:
        await asyncio.wait_for(s.terminate(), 10)


async def test_system_config_defaults_to_empty():
    s = await ActorSystem.create("cfg")
    try:
        assert s.config.extract_root() == {}
    finally:
        await asyncio.wait_for(s.terminate(), 10)


def test_system_throughput_from_toml(make_blocking_system):
    s = make_blocking_system("cfg", Config.from_toml("[actor]\nthroughput = 1\n"))
    ref = s.actor_of(props(Recorder), "r")
    for i in range(50):
        ref.tell(i)
    assert ref.ask_blocking("log", 5.0) == list(range(50))


@pytest.mark.parametrize("bad", [0, -3, "many", True, 2.5])
async def test_invalid_throughput_is_a_value_error(bad):
    cfg = Config.from_dict({"actor": {"throughput": bad}})
    with pytest.raises(ValueError, match="throughput"):
        await ActorSystem.create("cfg", cfg)
    with pytest.raises(ValueError, match="throughput"):
        ActorSystem.create_blocking("cfg", cfg)


async def test_config_argument_must_be_a_config():
    with pytest.raises(TypeError):
        await ActorSystem.create("cfg", {"actor": {"throughput": 5}})


async def test_throughput_bounds_how_many_messages_an_actor_handles_before_others_run():
    log = []

    class Logger(Actor):
        def __init__(self, tag):
            self.tag = tag

        def handle(self, ctx, msg):
            log.append(self.tag)

    s = await ActorSystem.create("fair", Config.from_dict({"actor": {"throughput": 5}}))
    try:
        busy = s.actor_of(props(Logger, factory=lambda: Logger("busy")), "busy")
        other = s.actor_of(props(Logger, factory=lambda: Logger("other")), "other")
        # Let both start before loading the busy one.
        await busy.ask("start")
        await other.ask("start")
        log.clear()
        for _ in range(1000):
            busy.tell("work")
        other.tell("work")
        await busy.ask("done")
        await other.ask("done")
        # `other` got its turn long before `busy` drained its 1000 messages.
        assert log.index("other") < 50, log.index("other")
    finally:
        await asyncio.wait_for(s.terminate(), 10)
