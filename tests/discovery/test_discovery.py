"""Service discovery: static, config, DNS (A, AAAA and SRV against a DNS
server run on loopback) and aggregate providers, and the extension."""

from __future__ import annotations

import asyncio
import time

import pytest

from ._dns_server import LocalDnsServer
from atomr import ActorSystem, AtomrError, Config, DiscoveryError
from atomr.config import ConfigError
from atomr.discovery import (
    DISCOVERY,
    AggregateDiscovery,
    ConfigDiscovery,
    DnsDiscovery,
    Lookup,
    ServiceDiscovery,
    StaticDiscovery,
    discovery_from_config,
    parse_endpoint,
)

RECORDS = {
    ("backend.test", "A"): ["10.0.0.1", "10.0.0.2"],
    ("backend.test", "AAAA"): ["fd00::1"],
    ("only-v4.test", "A"): ["10.1.0.1"],
    ("_akka._tcp.backend.test", "SRV"): [
        "20 5 2552 slow.backend.test.",
        "10 1 2553 b.backend.test.",
        "10 9 2552 a.backend.test.",
    ],
    ("empty.test", "TXT"): ['"nothing else"'],
}


@pytest.fixture
def dns_server():
    with LocalDnsServer(RECORDS) as server:
        yield server


# -- static ------------------------------------------------------------------------------


def test_static_discovery_appends_and_answers_in_order():
    static = StaticDiscovery()
    assert static.lookup("backend") == []
    static.register("backend", "a", 1)
    static.register("backend", "b")
    static.register("frontend", "c", 80)
    assert static.lookup("backend") == [("a", 1), ("b", None)]
    assert static.lookup(Lookup("frontend")) == [("c", 80)]
    assert static.services() == ["backend", "frontend"]


def test_static_discovery_refuses_bad_input_at_the_call():
    static = StaticDiscovery()
    with pytest.raises(ValueError):
        static.register("", "a")
    with pytest.raises(ValueError):
        static.register("s", "a", 70000)
    with pytest.raises(TypeError):
        static.register("s", "a", "80")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        static.lookup(3)  # type: ignore[arg-type]


# -- aggregate -----------------------------------------------------------------------------


def test_the_first_non_empty_answer_wins():
    first, second, third = StaticDiscovery(), StaticDiscovery(), StaticDiscovery()
    second.register("svc", "from-second", 1)
    third.register("svc", "from-third", 2)
    first.register("other", "x", 3)
    aggregate = AggregateDiscovery([first, second, third])
    assert aggregate.provider_count() == 3
    assert aggregate.lookup("svc") == [("from-second", 1)]
    assert aggregate.lookup("other") == [("x", 3)]
    assert aggregate.lookup("unknown") == []


def test_a_failing_provider_is_skipped_and_reported_only_when_nothing_answers():
    with LocalDnsServer({}, silent=True) as silent:
        failing = DnsDiscovery([silent.address], timeout=0.3)
        static = StaticDiscovery()
        static.register("svc", "h", 1)
        aggregate = AggregateDiscovery([failing, static])
        assert aggregate.lookup("svc") == [("h", 1)]
        with pytest.raises(DiscoveryError):
            aggregate.lookup("unknown")
        assert AggregateDiscovery([static, failing]).lookup("svc") == [("h", 1)]


def test_aggregate_takes_any_provider_but_only_providers():
    assert AggregateDiscovery([]).lookup("x") == []
    with pytest.raises(TypeError):
        AggregateDiscovery(["not a provider"])  # type: ignore[list-item]
    assert isinstance(ConfigDiscovery({}), ServiceDiscovery)


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("host:80", ("host", 80)),
    ("host", ("host", None)),
    ("10.0.0.1:2552", ("10.0.0.1", 2552)),
    ("[fd00::1]:53", ("fd00::1", 53)),
    ("fd00::1", ("fd00::1", None)),
    (("h", 1), ("h", 1)),
    ({"host": "h", "port": 2}, ("h", 2)),
])
def test_endpoints_parse(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("bad", ["host:http", "[fd00::1", "h:99999", ":80", 5, ("h",),
                                 {"host": "h", "weight": 1}])
def test_malformed_endpoints_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        parse_endpoint(bad)


def test_config_discovery_reads_the_services_tables():
    config = Config.from_toml("""
[discovery]
method = "config"

[[discovery.services]]
name = "backend"
endpoints = ["10.0.0.1:2552", "10.0.0.2:2552"]

[[discovery.services]]
name = "cache"
endpoints = [{ host = "redis", port = 6379 }]
""")
    provider = discovery_from_config(config)
    assert isinstance(provider, ConfigDiscovery)
    assert provider.lookup("backend") == [("10.0.0.1", 2552), ("10.0.0.2", 2552)]
    assert provider.lookup("cache") == [("redis", 6379)]
    assert provider.lookup("nothing") == []


def test_malformed_service_config_names_the_service():
    with pytest.raises(ConfigError, match="'backend'"):
        ConfigDiscovery({"backend": ["h:notaport"]})
    with pytest.raises(ConfigError, match="name"):
        ConfigDiscovery(Config.from_dict({"discovery": {"services": [{"endpoints": []}]}}))
    with pytest.raises(ConfigError):
        ConfigDiscovery({"backend": "h:1"})
    with pytest.raises(ConfigError, match="method"):
        Config.from_dict({"discovery": {"method": "consul"}}).resolve()


# -- DNS ---------------------------------------------------------------------------------------


def test_a_plain_dns_lookup_answers_the_a_and_aaaa_addresses(dns_server):
    dns = DnsDiscovery([dns_server.address], timeout=5.0)
    assert sorted(dns.lookup("backend.test")) == [("10.0.0.1", None), ("10.0.0.2", None),
                                                  ("fd00::1", None)]
    assert dns.lookup("only-v4.test") == [("10.1.0.1", None)]
    assert ("backend.test", "A") in dns_server.queries
    assert ("backend.test", "AAAA") in dns_server.queries


def test_an_srv_lookup_answers_targets_and_ports_by_priority_then_weight(dns_server):
    dns = DnsDiscovery([dns_server.address])
    expected = [("a.backend.test", 2552), ("b.backend.test", 2553), ("slow.backend.test", 2552)]
    assert dns.lookup(Lookup("backend.test", port_name="akka", protocol="tcp")) == expected
    assert dns.lookup("_akka._tcp.backend.test") == expected
    assert ("_akka._tcp.backend.test", "SRV") in dns_server.queries


def test_unknown_names_and_missing_records_answer_empty(dns_server):
    dns = DnsDiscovery([dns_server.address])
    assert dns.lookup("nowhere.test") == []
    assert dns.lookup("empty.test") == []
    assert dns.lookup("_http._tcp.nowhere.test") == []


def test_a_server_that_does_not_answer_is_a_discovery_error_after_the_timeout():
    with LocalDnsServer({}, silent=True) as silent:
        dns = DnsDiscovery([silent.address], timeout=5.0)
        started = time.monotonic()
        with pytest.raises(DiscoveryError, match="timed out") as info:
            dns.lookup("backend.test", timeout=0.5)
        assert isinstance(info.value, AtomrError)
        assert time.monotonic() - started < 5.0
        assert silent.queries


async def test_lookup_async_does_not_block_the_loop(dns_server):
    dns = DnsDiscovery([dns_server.address])
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.ensure_future(tick())
    try:
        found = await dns.lookup_async("only-v4.test")
    finally:
        ticker.cancel()
    assert found == [("10.1.0.1", None)]
    assert ticks > 0


def test_bad_dns_settings_are_refused():
    with pytest.raises(ValueError, match="IP address"):
        DnsDiscovery(["dns.example:53"])
    with pytest.raises(TypeError):
        DnsDiscovery("127.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DnsDiscovery(timeout=0)
    with pytest.raises(ValueError):
        Lookup("svc", port_name="http")


# -- configured providers and the extension -------------------------------------------------------


def test_the_extension_builds_the_configured_aggregate(dns_server):
    config = Config.from_dict({"discovery": {
        "method": "aggregate",
        "services": [{"name": "backend.test", "endpoints": ["static-host:1"]}],
        "dns": {"nameservers": [dns_server.address], "timeout": "2s"},
        "aggregate": {"methods": ["config", "dns"]},
    }})
    system = ActorSystem.create_blocking("discovering", config)
    try:
        discovery = DISCOVERY.get(system)
        assert isinstance(discovery.provider, AggregateDiscovery)
        assert discovery.provider.provider_count() == 2
        assert discovery.lookup("backend.test") == [("static-host", 1)]  # config first
        assert discovery.lookup("only-v4.test") == [("10.1.0.1", None)]  # then DNS
        assert discovery.lookup("nowhere.test") == []
    finally:
        system.terminate_blocking(10.0)


def test_a_dns_method_reads_its_nameservers(dns_server):
    provider = discovery_from_config(Config.from_dict({"discovery": {
        "method": "dns", "dns": {"nameservers": [dns_server.address]}}}))
    assert isinstance(provider, DnsDiscovery)
    assert provider.lookup("only-v4.test") == [("10.1.0.1", None)]
    with pytest.raises(ConfigError, match="nameservers"):
        discovery_from_config(Config.from_dict({"discovery": {
            "method": "dns", "dns": {"nameservers": ["not-an-ip"]}}}))
    with pytest.raises(ConfigError, match="aggregate.methods"):
        discovery_from_config(Config.from_dict({"discovery": {
            "method": "aggregate", "aggregate": {"methods": ["aggregate"]}}}))
