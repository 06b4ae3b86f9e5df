"""Starting remoting from config (``remote.enabled``, ``actor.provider``)
and host names as listening, advertised and peer hosts."""

from __future__ import annotations

import asyncio
import socket

import msgpack
import pytest

from atomr import (
    Actor,
    ActorSystem,
    Config,
    InvalidRemoteAddressError,
    RemoteTransportError,
    props,
)
from atomr.config import ConfigError
from atomr.remote import Remote, RemoteActorRef, parse_tcp_address
from atomr.remote._extension import _REMOTE

from _helpers import DEADLINE, wait_until
from remote.test_tell_remote import recorder, remote_system

#: A name no resolver knows (RFC 2606 reserves .invalid).
UNRESOLVABLE = "no-such-host.invalid"


class Doubler(Actor):
    def handle(self, ctx, msg):
        return msg * 2


async def test_remote_enabled_starts_the_transport_with_the_system():
    system = await ActorSystem.create("on", Config.from_dict({"remote": {"enabled": True}}))
    try:
        assert system.address.startswith("akka.tcp://on@127.0.0.1:")
        assert Remote.get(system).address == system.address
        assert system.has_extension(_REMOTE)
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


def test_actor_provider_remote_starts_the_transport_of_a_blocking_system(make_blocking_system):
    a = make_blocking_system("a", Config.from_dict({"actor": {"provider": "remote"}}))
    b = make_blocking_system("b", Config.from_dict({"remote": {"enabled": True}}))
    assert a.address.startswith("akka.tcp://a@") and b.address.startswith("akka.tcp://b@")
    b.actor_of(props(Doubler), "d")
    assert a.actor_selection(b.address + "/user/d").ask_blocking(4, timeout=DEADLINE) == 8
    plain = make_blocking_system("plain")
    assert plain.address == "akka://plain"
    assert not plain.has_extension(_REMOTE)


@pytest.mark.parametrize("config", [
    {"remote": {"enabled": "yes"}},
    {"remote": {"enabled": 1}},
    {"actor": {"provider": "clusters"}},
    {"actor": {"provider": 3}},
])
async def test_bad_switch_values_are_value_errors(config):
    before = len(ActorSystem.live_systems())
    with pytest.raises(ValueError):
        await ActorSystem.create("bad", Config.from_dict(config))
    with pytest.raises(ConfigError):
        ActorSystem.create_blocking("bad", Config.from_dict(config))
    assert len(ActorSystem.live_systems()) == before


async def test_a_transport_that_cannot_start_leaves_no_system_behind():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = Config.from_dict({"remote": {"enabled": True, "port": port}})
        before = {s.name for s in ActorSystem.live_systems()}
        with pytest.raises(RemoteTransportError):
            await ActorSystem.create("clash", config)
        with pytest.raises(RemoteTransportError):
            ActorSystem.create_blocking("clash2", config)
        await wait_until(lambda: {s.name for s in ActorSystem.live_systems()} <= before)


# -- host names -------------------------------------------------------------------------


async def test_a_host_name_as_hostname_is_resolved_for_listening_and_advertised():
    async with remote_system("named", hostname="localhost") as named, \
            remote_system("peer") as peer:
        assert named.address.startswith("akka.tcp://named@localhost:")
        remote = Remote.get(named)
        assert remote.host == "localhost"
        inbox, log = await recorder(named, "inbox")
        peer.tell_remote(named.address + "/user/inbox", "by name")
        await wait_until(lambda: log == ["by name"])
        # Its own paths, by name or by IP, are its own.
        assert named.actor_selection(named.address + "/user/inbox") == inbox
        by_ip = f"akka.tcp://named@127.0.0.1:{remote.port}/user/inbox"
        named.tell_remote(by_ip, "to itself by IP")
        await wait_until(lambda: log == ["by name", "to itself by IP"])


async def test_peer_paths_may_name_hosts():
    async with remote_system("a") as a, remote_system("b") as b:
        inbox, log = await recorder(b, "inbox")
        port = parse_tcp_address(b.address)[1].rpartition(":")[2]
        by_name = f"akka.tcp://b@localhost:{port}/user/inbox"
        a.tell_remote(by_name, 1)
        ref = a.actor_selection(by_name)
        assert isinstance(ref, RemoteActorRef) and ref.path == by_name
        ref.tell(2, sender=None)
        await wait_until(lambda: log == [1, 2])


async def test_canonical_hostname_is_the_advertised_host():
    async with remote_system("a") as a:
        config = Config.from_dict({"remote": {"canonical-hostname": "localhost",
                                              "enabled": True}})
        b = await ActorSystem.create("b", config)
        try:
            assert b.address.startswith("akka.tcp://b@localhost:")
            inbox, log = await recorder(b, "inbox")
            a_inbox, a_log = await recorder(a, "inbox")
            a.actor_selection(b.address + "/user/inbox").tell("hi", sender=a_inbox)
            await wait_until(lambda: log == ["hi"])
            b.tell_remote(a.address + "/user/inbox", {"me": inbox})
            await wait_until(lambda: len(a_log) == 1)
            assert a_log[0]["me"].path == b.address + "/user/inbox"
        finally:
            await asyncio.wait_for(b.terminate(), DEADLINE)


async def test_unresolvable_hosts_fail_at_the_call_site():
    async with remote_system("a") as a:
        path = f"akka.tcp://b@{UNRESOLVABLE}:2552/user/x"
        with pytest.raises(InvalidRemoteAddressError, match=f"cannot resolve host `{UNRESOLVABLE}`"):
            a.actor_selection(path)
        with pytest.raises(InvalidRemoteAddressError, match="cannot resolve"):
            a.tell_remote(path, 1)
        with pytest.raises(InvalidRemoteAddressError, match="cannot resolve"):
            Remote.get(a).send(f"akka.tcp://b@{UNRESOLVABLE}:2552", "/user/x", "builtins.int",
                               b"\x01")
        assert Remote.get(a).stats()["envelopes_queued"] == 0
    with pytest.raises(InvalidRemoteAddressError, match="remote.hostname"):
        await ActorSystem.create("c", Config.from_dict(
            {"remote": {"enabled": True, "hostname": UNRESOLVABLE}}))


async def test_a_received_ref_with_an_unresolvable_host_fails_when_used():
    async with remote_system("a") as a, remote_system("b") as b:
        seen: list = []

        class Keep(Actor):
            def handle(self, ctx, msg):
                seen.append(msg)
                try:
                    msg["ref"].tell("x")
                except InvalidRemoteAddressError as exc:
                    seen.append(str(exc))

        b.actor_of(props(Keep), "keep")
        Remote.get(a).send(b.address, b.address + "/user/keep", "builtins.dict",
                           _packed_ref(f"akka.tcp://c@{UNRESOLVABLE}:1/user/y"))
        await wait_until(lambda: len(seen) == 2)
        assert isinstance(seen[0]["ref"], RemoteActorRef)
        assert "cannot resolve" in seen[1]


def _packed_ref(path: str) -> bytes:
    return msgpack.packb({"ref": msgpack.ExtType(65, path.encode())}, use_bin_type=True)
