"""The configuration schema an ActorSystem checks at creation: unknown keys
in a known section and ill-typed values fail with a ConfigError naming the
key, a section nobody registered gives an UnknownConfigSectionWarning;
durations accept float seconds, int milliseconds and unit strings."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

from atomr import ActorSystem, AtomrError, Config
from atomr.config import (
    ConfigError,
    Setting,
    UnknownConfigSectionWarning,
    parse_duration,
    register_section,
    section_names,
)

from _helpers import running_system


DEFAULTS = {
    "actor.throughput": 64,
    "actor.drain-deadline": 0.01,
    "actor.idle-strategy": "adaptive",
    "actor.idle-spin": 50e-6,
    "actor.terminate-timeout": 3.0,
    "actor.stop-grace": 1.0,
    "actor.supervision.max-retries": 10,
    "actor.supervision.within": 60.0,
    "actor.router.max-pool-size": 10_000,
    "actor.provider": "local",
    "scheduler.clock": "real",
    "dead-letters.log": 10,
    "coordinated-shutdown.run-by-actor-system-terminate": True,
    "persistence.journal": "inmemory",
    "persistence.snapshot-store": "auto",
    "persistence.snapshot-every": 0,
    "persistence.max-concurrent-recoveries": 50,
    "persistence.lmdb.path": "",
    "persistence.lmdb.map-size": 64 << 20,
    "persistence.lmdb.max-map-size": 16 << 30,
    "persistence.lmdb.sync": True,
    "persistence.postgres.dsn": "",
    "persistence.postgres.schema": "public",
    "persistence.postgres.pool-size": 8,
    "persistence.postgres.connect-timeout": 10.0,
    "persistence.query.refresh-interval": 1.0,
    "persistence.query.batch-size": 500,
    "distributed-data.durable.store-actor-class": "noop",
    "distributed-data.durable.path": "",
    "distributed-data.durable.keys": ["*"],
    "distributed-data.durable.lmdb.map-size": 64 * 1024 * 1024,
    "distributed-data.gossip-interval": 2.0,
    "distributed-data.delta-crdt.enabled": True,
    "distributed-data.max-pruning-dissemination": 300.0,
    "remote.enabled": False,
    "remote.hostname": "127.0.0.1",
    "remote.canonical-hostname": "",
    "remote.port": 0,
    "remote.cookie": "",
    "remote.max-frame-size": 4 << 20,
    "remote.outbound-queue-size": 100_000,
    "remote.inbound-queue-size": 100_000,
    "remote.heartbeat-interval": 1.0,
    "remote.idle-timeout": 10.0,
    "remote.allow-pickle": False,
    "remote.tls.certificate-chain": "",
    "remote.tls.private-key": "",
    "remote.tls.ca-file": "",
    "remote.tls.require-peer-certificate": True,
    "remote.watch-failure-detector.threshold": 10.0,
    "remote.watch-failure-detector.max-sample-size": 200,
    "remote.watch-failure-detector.min-std-deviation": 0.1,
    "remote.watch-failure-detector.acceptable-heartbeat-pause": 10.0,
    "remote.watch-failure-detector.heartbeat-interval": 0.0,
    "remote.watch-failure-detector.first-heartbeat-estimate": 1.0,
    "remote.watch-failure-detector.unreachable-nodes-reaper-interval": 1.0,
    "remote.peer-retention": 300.0,
    "cluster.seed-nodes": [],
    "cluster.roles": [],
    "cluster.gossip-interval": 1.0,
    "cluster.gossip-different-view-probability": 0.8,
    "cluster.seed-node-timeout": 5.0,
    "cluster.retry-unsuccessful-join-after": 10.0,
    "cluster.min-nr-of-members": 1,
    "cluster.allow-weakly-up-members": True,
    "cluster.heartbeat-interval": 1.0,
    "cluster.monitored-by-nr-of-members": 5,
    "cluster.failure-detector.threshold": 8.0,
    "cluster.failure-detector.max-sample-size": 1000,
    "cluster.failure-detector.min-std-deviation": 0.1,
    "cluster.failure-detector.acceptable-heartbeat-pause": 3.0,
    "cluster.failure-detector.first-heartbeat-estimate": 1.0,
    "cluster.sbr.strategy": "",
    "cluster.sbr.stable-after": 20.0,
    "cluster.sbr.quorum-size": 1,
    "cluster.sbr.down-if-alone": True,
    "cluster.sbr.lease-acquired": False,
    "cluster.sbr.lease-name": "",
    "cluster.metrics.collect-interval": 3.0,
    "cluster.metrics.moving-average-half-life": 12.0,
    "cluster.client.receptionist.auto-start": False,
    "cluster.sbr.acquire-lease-delay-for-minority": 2.0,
    "cluster.sharding.state-store-mode": "regions",
    "cluster.sharding.hand-off-timeout": 10.0,
    "cluster.sharding.graceful-shutdown-timeout": 20.0,
    "cluster.sharding.leaving-region-timeout": 10.0,
    "cluster.sbr.role": "",
    "coordination.lease.implementation": "in-memory",
    "coordination.lease.directory": "",
    "coordination.lease.dsn": "",
    "coordination.lease.schema": "public",
    "coordination.lease.table": "atomr_leases",
    "coordination.lease.heartbeat-interval": 12.0,
    "coordination.lease.heartbeat-timeout": 120.0,
    "coordination.lease.lease-operation-timeout": 5.0,
    "discovery.method": "config",
    "discovery.services": (),
    "discovery.dns.nameservers": (),
    "discovery.dns.timeout": 5.0,
    "discovery.aggregate.methods": ("config", "dns"),
}


# -- rejection at ActorSystem.create ----------------------------------------------------------


@pytest.mark.parametrize("tree, named", [
    ({"actor": {"thruput": 8}}, "actor.thruput"),
    ({"actor": {"supervision": {"max-retires": 3}}}, "actor.supervision.max-retires"),
    ({"scheduler": {"tick": 0.01}}, "scheduler.tick"),
])
async def test_unknown_keys_of_known_sections_are_rejected_naming_them(tree, named):
    with pytest.raises(ConfigError) as info:
        await ActorSystem.create("cfg", Config.from_dict(tree))
    assert named in str(info.value)


async def test_an_unknown_section_is_a_warning_naming_it_not_an_error():
    config = Config.from_dict({"akka": {"loglevel": "INFO"}, "actor": {"throughput": 8}})
    with pytest.warns(UnknownConfigSectionWarning, match="`akka`"):
        async with running_system("cfg", config) as system:
            assert system.settings["actor.throughput"] == 8
            assert not any(key.startswith("akka") for key in system.settings)


def test_an_unknown_section_warns_once_per_config_and_section():
    config = Config.from_dict({"app": {"port": 80}, "metrics": {"on": True}})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        config.resolve()
        config.resolve()
        Config.from_dict({"app": {"port": 81}}).resolve()
    named = sorted(str(w.message).split("`")[1] for w in seen
                   if issubclass(w.category, UnknownConfigSectionWarning))
    assert named == ["app", "app", "metrics"]


def test_unknown_section_warning_is_a_user_warning():
    assert issubclass(UnknownConfigSectionWarning, UserWarning)


def test_unknown_keys_stay_errors_beside_an_unknown_section():
    config = Config.from_dict({"app": {"port": 80}, "actor": {"thruput": 8}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownConfigSectionWarning)
        with pytest.raises(ConfigError, match="actor.thruput"):
            config.resolve()


@pytest.mark.parametrize("tree, key", [
    ({"actor": {"throughput": "fast"}}, "actor.throughput"),
    ({"actor": {"throughput": True}}, "actor.throughput"),
    ({"actor": {"throughput": 2.5}}, "actor.throughput"),
    ({"actor": {"throughput": 0}}, "actor.throughput"),
    ({"actor": {"supervision": {"max-retries": "ten"}}}, "actor.supervision.max-retries"),
    ({"actor": {"supervision": {"max-retries": -2}}}, "actor.supervision.max-retries"),
    ({"actor": {"supervision": {"within": "a while"}}}, "actor.supervision.within"),
    ({"actor": {"supervision": {"within": "-5s"}}}, "actor.supervision.within"),
    ({"actor": {"supervision": {"within": False}}}, "actor.supervision.within"),
    ({"scheduler": {"clock": "sundial"}}, "scheduler.clock"),
    ({"scheduler": {"clock": 1}}, "scheduler.clock"),
    ({"dead-letters": {"log": -1}}, "dead-letters.log"),
    ({"dead-letters": {"log": [1, 2]}}, "dead-letters.log"),
    ({"actor": {"idle-strategy": "busy-wait"}}, "actor.idle-strategy"),
    ({"actor": {"idle-strategy": 1}}, "actor.idle-strategy"),
    ({"actor": {"idle-spin": "-1us"}}, "actor.idle-spin"),
    ({"actor": {"idle-spin": "1s"}}, "actor.idle-spin"),
    ({"actor": {"idle-spin": True}}, "actor.idle-spin"),
])
async def test_ill_typed_values_are_rejected_naming_the_key(tree, key):
    with pytest.raises(ConfigError) as info:
        await ActorSystem.create("cfg", Config.from_dict(tree))
    assert key in str(info.value)


@pytest.mark.parametrize("tree, key", [
    ({"actor": 5}, "actor"),
    ({"actor": {"supervision": 3}}, "actor.supervision"),
])
async def test_a_scalar_where_a_table_belongs_is_rejected(tree, key):
    with pytest.raises(ConfigError) as info:
        await ActorSystem.create("cfg", Config.from_dict(tree))
    assert f"`{key}`" in str(info.value)


def test_create_blocking_warns_of_an_unknown_section_too():
    with pytest.warns(UnknownConfigSectionWarning, match="nope"):
        system = ActorSystem.create_blocking("cfg", Config.from_dict({"nope": {"x": 1}}))
    system.terminate_blocking()


async def test_config_error_is_both_a_value_error_and_an_atomr_error():
    with pytest.raises(ConfigError) as info:
        await ActorSystem.create("cfg", Config.from_dict({"actor": {"thruput": 1}}))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AtomrError)


async def test_a_non_config_object_is_a_type_error():
    with pytest.raises(TypeError):
        await ActorSystem.create("cfg", {"actor": {"throughput": 8}})


# -- accepted values -----------------------------------------------------------------------------


async def test_an_empty_config_resolves_to_the_defaults():
    assert Config.empty().resolve() == DEFAULTS
    async with running_system("cfg") as system:
        assert system.settings == DEFAULTS


async def test_valid_settings_are_what_the_system_runs_with():
    config = Config.from_toml("""
        [actor]
        throughput = 8

        [actor.supervision]
        max-retries = 3
        within = "2m"

        [scheduler]
        clock = "virtual"

        [dead-letters]
        log = 0
    """)
    async with running_system("cfg", config) as system:
        assert system.settings == {
            **DEFAULTS,
            "actor.throughput": 8,
            "actor.supervision.max-retries": 3,
            "actor.supervision.within": 120.0,
            "scheduler.clock": "virtual",
            "dead-letters.log": 0,
        }
        assert system.config is config
        system.advance_time(1.0)  # the virtual clock is really on
        assert system.scheduler.now() == pytest.approx(1.0)


@pytest.mark.parametrize("value, seconds", [
    (1.5, 1.5),
    (0.0, 0.0),
    (1500, 1.5),
    (0, 0.0),
    ("10ms", 0.01),
    ("5s", 5.0),
    ("2m", 120.0),
    ("1h", 3600.0),
    ("250 ms", 0.25),
    ("1.5s", 1.5),
])
async def test_durations_accept_float_seconds_int_milliseconds_and_unit_strings(value, seconds):
    config = Config.from_dict({"actor": {"supervision": {"within": value}}})
    assert config.resolve()["actor.supervision.within"] == pytest.approx(seconds)
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "5", "s", "-1s", "5 parsecs", "nans", True, None, [5]])
def test_bad_durations_raise_config_error(value):
    with pytest.raises(ConfigError):
        parse_duration(value, "some.key")


def test_duration_errors_name_the_key():
    with pytest.raises(ConfigError, match="actor.supervision.within"):
        Config.from_dict({"actor": {"supervision": {"within": "forever"}}}).resolve()


async def test_max_retries_minus_one_is_accepted_as_unlimited():
    config = Config.from_dict({"actor": {"supervision": {"max-retries": -1}}})
    async with running_system("cfg", config) as system:
        assert system.settings["actor.supervision.max-retries"] == -1


# -- Config itself -----------------------------------------------------------------------------


def test_from_toml_parse_errors_are_atomr_errors():
    with pytest.raises(AtomrError):
        Config.from_toml("[actor\nthroughput = ")
    with pytest.raises(TypeError):
        Config.from_toml(b"[actor]")


def test_from_dict_rejects_none_values_bad_types_and_non_mappings():
    with pytest.raises(ValueError):
        Config.from_dict({"actor": {"throughput": None}})
    with pytest.raises(TypeError):
        Config.from_dict({"actor": {"throughput": object()}})
    with pytest.raises(ValueError):
        Config.from_dict([("actor", {})])


def test_getters_read_dotted_keys_and_return_none_for_missing_or_other_types():
    config = Config.from_dict({"cluster": {"sbr": {"stable-after": 20, "name": "x",
                                                   "ratio": 2.9, "on": True}}})
    assert config.get_int("cluster.sbr.stable-after") == 20
    assert config.get_int("cluster.sbr.ratio") == 2  # truncated
    assert config.get_int("cluster.sbr.on") is None  # a bool is not an int
    assert config.get_string("cluster.sbr.name") == "x"
    assert config.get_string("cluster.sbr.stable-after") is None
    assert config.get_bool("cluster.sbr.on") is True
    assert config.get_bool("cluster.sbr.missing") is None


def test_extract_returns_a_copy_and_a_missing_key_is_an_atomr_error():
    config = Config.from_dict({"actor": {"supervision": {"max-retries": 2}}})
    sub = config.extract("actor")
    assert sub == {"supervision": {"max-retries": 2}}
    sub["supervision"]["max-retries"] = 99
    assert config.get_int("actor.supervision.max-retries") == 2
    with pytest.raises(AtomrError):
        config.extract("actor.nothing")
    assert config.extract_root() == {"actor": {"supervision": {"max-retries": 2}}}


def test_resolve_fills_defaults_around_given_keys():
    resolved = Config.from_dict({"actor": {"throughput": 5}}).resolve()
    assert resolved == {**DEFAULTS, "actor.throughput": 5}


def test_config_is_not_changed_by_mutating_the_source_dict():
    source = {"actor": {"throughput": 5}}
    config = Config.from_dict(source)
    source["actor"]["throughput"] = 6
    assert config.get_int("actor.throughput") == 5


# -- the schema of every built-in section lives in the config layer ----------------


def test_every_built_in_section_is_known_without_importing_its_subsystem():
    code = textwrap.dedent("""
        import sys
        import atomr.config as config
        settings = config.Config.from_dict({
            "persistence": {"snapshot-every": 5, "lmdb": {"sync": False}},
            "distributed-data": {"durable": {"store-actor-class": "lmdb"}},
        }).resolve()
        print(settings["persistence.snapshot-every"], settings["persistence.lmdb.sync"],
              settings["persistence.journal"], settings["persistence.lmdb.max-map-size"],
              settings["distributed-data.durable.store-actor-class"],
              settings["distributed-data.durable.keys"],
              settings["distributed-data.durable.lmdb.map-size"],
              settings["actor.throughput"], settings["scheduler.clock"],
              settings["dead-letters.log"])
        print(config.section_names())
        print(sorted(m for m in ("atomr.persistence", "atomr.ddata", "atomr.ddata_lmdb",
                                 "atomr.remote")
                     if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == f"5 False inmemory {16 << 30} lmdb ['*'] {64 << 20} 64 real 10"
    assert out[1] == str(["actor", "cluster", "coordinated-shutdown", "coordination",
                          "dead-letters", "discovery", "distributed-data", "persistence",
                          "remote", "scheduler"])


def test_built_in_sections_still_reject_bad_values():
    with pytest.raises(ConfigError, match="persistence.max-concurrent-recoveries"):
        Config.from_dict({"persistence": {"max-concurrent-recoveries": 0}}).resolve()
    with pytest.raises(ConfigError, match="must be one of noop, file, lmdb"):
        Config.from_dict({"distributed-data": {"durable": {"store-actor-class": "x"}}}).resolve()
    with pytest.raises(ConfigError, match="unknown config key `persistence.nope`"):
        Config.from_dict({"persistence": {"nope": 1}}).resolve()


def test_register_section_declares_a_third_party_section(monkeypatch):
    import atomr.config

    monkeypatch.setattr(atomr.config, "_SCHEMA", dict(atomr.config._SCHEMA))  # undone after
    register_section("test-ext-section", {"size": Setting("int", 3, minimum=1)})
    assert "test-ext-section" in section_names()
    assert Config.empty().resolve()["test-ext-section.size"] == 3
    assert Config.from_dict({"test-ext-section": {"size": 9}}).resolve()[
        "test-ext-section.size"] == 9
    # an identical declaration again is harmless
    register_section("test-ext-section", {"size": Setting("int", 3, minimum=1)})
    with pytest.raises(ValueError, match="already declared"):
        register_section("test-ext-section", {"size": Setting("int", 4, minimum=1)})
    with pytest.raises(ValueError, match="already declared"):
        register_section("persistence", {"journal": Setting("str", "lmdb")})
    register_section("persistence", {"journal": Setting("str", "inmemory")})
    with pytest.raises(TypeError):
        register_section("test-ext-section", {"other": 3})
    with pytest.raises(ValueError):
        register_section("a.b", {})


async def test_extension_settings_need_a_known_section(system):
    from atomr.actor import Extension, ExtensionId

    class UnknownId(ExtensionId[Extension]):
        config_section = "no-such-section"

        def create_extension(self, system):
            return Extension()

    class PersistenceLikeId(ExtensionId[Extension]):
        config_section = "persistence"

        def create_extension(self, system):
            return Extension()

    with pytest.raises(ConfigError, match="no-such-section"):
        UnknownId().settings(system)
    assert PersistenceLikeId().settings(system)["journal"] == "inmemory"
