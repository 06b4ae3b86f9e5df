"""Cluster bootstrap from service discovery: systems that boot together
form one cluster, a later one joins it, and nothing is joined before the
discovered set is large enough and stable."""

from __future__ import annotations

import asyncio
import threading
from typing import Optional, Union

import pytest

from atomr.cluster import BootstrapSettings, Cluster, ClusterBootstrap
from atomr.discovery import Lookup, ServiceDiscovery, StaticDiscovery, Target
from atomr.errors import AtomrError
from tests.cluster._cluster_util import systems


def _port(c: Cluster) -> int:
    return int(c.self_address.rpartition(":")[2])


def _up(c: Cluster) -> set[str]:
    return {m.address for m in c.membership_snapshot().members() if m.status == "up"}


def _fast(service: str = "svc", **kw) -> BootstrapSettings:
    kw.setdefault("stable_margin", 0.3)
    kw.setdefault("discovery_interval", 0.05)
    return BootstrapSettings(service, **kw)


def test_systems_booting_together_form_exactly_one_cluster():
    with systems("boot", "boot", "boot") as made:
        clusters = [Cluster.with_tcp_transport(s, "127.0.0.1:0") for s in made]
        discovery = StaticDiscovery()
        for c in clusters:
            discovery.register("svc", "localhost", _port(c))  # a name, resolved by bootstrap

        async def boot_all() -> list[list[str]]:
            return await asyncio.gather(*(
                ClusterBootstrap(c, discovery, _fast(required_contact_points=3)).run(30.0)
                for c in clusters))

        seeds = asyncio.run(boot_all())
        everyone = {c.self_address for c in clusters}
        # Every node used the same seeds, in the same order, all IP literals.
        assert seeds[0] == seeds[1] == seeds[2]
        assert set(seeds[0]) == everyone
        assert all("@127.0.0.1:" in s for s in seeds[0])
        assert [int(s.rpartition(":")[2]) for s in seeds[0]] == \
            sorted(int(s.rpartition(":")[2]) for s in seeds[0])

        async def converged() -> None:
            while not all(_up(c) == everyone for c in clusters):
                await asyncio.sleep(0.01)

        asyncio.run(asyncio.wait_for(converged(), 20.0))
        assert len({c.leader for c in clusters}) == 1


def test_a_node_started_later_joins_the_existing_cluster():
    with systems("late", "late", "late") as (a, b, c):
        ca, cb = (Cluster.with_tcp_transport(s, "127.0.0.1:0") for s in (a, b))
        discovery = StaticDiscovery()
        for x in (ca, cb):
            discovery.register("svc", "127.0.0.1", _port(x))

        async def first_two() -> None:
            await asyncio.gather(*(ClusterBootstrap(x, discovery,
                                                    _fast(required_contact_points=2)).run(30.0)
                                   for x in (ca, cb)))

        asyncio.run(first_two())
        assert ca.leader is not None
        cc = Cluster.with_tcp_transport(c, "127.0.0.1:0")
        discovery.register("svc", "127.0.0.1", _port(cc))
        # The newcomer's own address may sort first: it still joins the
        # cluster the others formed rather than forming its own.
        seeds = asyncio.run(ClusterBootstrap(cc, discovery, _fast(required_contact_points=1))
                            .run(30.0))
        assert cc.self_address in seeds

        async def three() -> None:
            while not all(len(_up(x)) == 3 for x in (ca, cb, cc)):
                await asyncio.sleep(0.01)

        asyncio.run(asyncio.wait_for(three(), 20.0))
        # It joined the cluster a and b had formed: they stayed members and
        # it is the youngest.
        ups = {m.address: m.up_number for m in cc.membership_snapshot().members()}
        assert ups[cc.self_address] > max(ups[ca.self_address], ups[cb.self_address])


class _Growing(ServiceDiscovery):
    """Answers with more instances on each of its first lookups."""

    def __init__(self, answers: list[list[Target]]) -> None:
        self._answers = answers
        self._calls = 0
        self._lock = threading.Lock()

    def lookup(self, service: Union[str, Lookup],
               timeout: Optional[float] = None) -> list[Target]:
        with self._lock:
            i = min(self._calls, len(self._answers) - 1)
            self._calls += 1
        return list(self._answers[i])


def test_a_set_that_keeps_changing_is_not_joined_until_it_is_stable():
    with systems("grow", "grow", "grow") as made:
        clusters = [Cluster.with_tcp_transport(s, "127.0.0.1:0") for s in made]
        ports = [_port(c) for c in clusters]
        answers = [[("127.0.0.1", ports[0])],
                   [("127.0.0.1", ports[0]), ("127.0.0.1", ports[1])],
                   [("127.0.0.1", p) for p in ports]]

        async def boot_all() -> list[list[str]]:
            # Two points already satisfy required_contact_points, but the
            # third appears one interval later, well within the margin.
            return await asyncio.gather(*(
                ClusterBootstrap(c, _Growing(answers),
                                 _fast(required_contact_points=2, stable_margin=0.5)).run(30.0)
                for c in clusters))

        seeds = asyncio.run(boot_all())
        assert all(set(s) == {c.self_address for c in clusters} for s in seeds)


def test_too_few_contact_points_time_out_without_joining():
    with systems("few", "few") as (a, b):
        ca, cb = (Cluster.with_tcp_transport(s, "127.0.0.1:0") for s in (a, b))
        discovery = StaticDiscovery()
        for x in (ca, cb):
            discovery.register("svc", "127.0.0.1", _port(x))
        with pytest.raises(AtomrError, match="no stable set of 3"):
            asyncio.run(ClusterBootstrap(ca, discovery, _fast(required_contact_points=3)).run(1.0))
        # Each stays the one-node cluster of itself it was made as.
        assert [m.address for m in ca.membership_snapshot().members()] == [ca.self_address]
        assert [m.address for m in cb.membership_snapshot().members()] == [cb.self_address]


def test_contact_points_without_a_port_take_the_settings_port_or_our_own():
    with systems("noport") as (s,):
        c = Cluster.with_tcp_transport(s, "127.0.0.1:0")
        discovery = StaticDiscovery()
        discovery.register("svc", "127.0.0.1")
        own = asyncio.run(ClusterBootstrap(c, discovery, _fast()).discover())
        assert own == [c.self_address]
        given = asyncio.run(ClusterBootstrap(c, discovery, _fast(port=2552)).discover())
        assert given == ["akka.tcp://noport@127.0.0.1:2552"]
        named = asyncio.run(ClusterBootstrap(c, discovery,
                                             _fast(port=2552, system_name="other")).discover())
        assert named == ["akka.tcp://other@127.0.0.1:2552"]


@pytest.mark.parametrize("kw", [
    {"required_contact_points": 0}, {"required_contact_points": True},
    {"stable_margin": -1.0}, {"stable_margin": float("inf")}, {"discovery_interval": 0.0},
    {"lookup_timeout": 0}, {"port": 0}, {"port": 70000}, {"system_name": ""},
])
def test_bad_settings_are_value_errors(kw):
    with pytest.raises(ValueError):
        BootstrapSettings("svc", **kw)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError):
        BootstrapSettings("")
    with pytest.raises(TypeError):
        BootstrapSettings(42)  # type: ignore[arg-type]
    with systems("badarg") as (s,):
        alone = Cluster.get(s)  # no TCP transport
        with pytest.raises(ValueError, match="TCP transport"):
            ClusterBootstrap(alone, StaticDiscovery(), _fast())
    with systems("badarg2") as (s,):
        c = Cluster.with_tcp_transport(s, "127.0.0.1:0")
        with pytest.raises(TypeError):
            ClusterBootstrap(c, object(), _fast())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ClusterBootstrap(c, StaticDiscovery(), {"service": "svc"})  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            asyncio.run(ClusterBootstrap(c, StaticDiscovery(), _fast()).run(0))
