"""ActorSystem.tell_remote between two actor systems of this process, each
with its own TCP transport on loopback (atomr.remote.Remote)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from typing import Any, AsyncIterator

import pytest

from atomr import (
    ActorSystem,
    AtomrError,
    Config,
    InvalidRemoteAddressError,
    RemoteError,
    RemoteTransportError,
    props,
)
from atomr.remote import Remote, parse_tcp_address

from _helpers import DEADLINE, GET, Recorder, wait_until


@dataclasses.dataclass
class Unregistered:
    """A message class no registry has a codec for."""

    n: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


@contextlib.asynccontextmanager
async def remote_system(name: str, **remote: Any) -> AsyncIterator[ActorSystem]:
    """A system with a started transport, terminated on exit."""
    config = Config.from_dict({"remote": remote}) if remote else None
    system = await ActorSystem.create(name, config)
    try:
        Remote.get(system)
        yield system
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


async def recorder(system: ActorSystem, name: str) -> tuple[Any, list]:
    log: list = []
    ref = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), name)
    await wait_until(lambda: ref.ask(GET) is not None)
    return ref, log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_tell_remote_reaches_an_actor_of_another_system_both_ways():
    async with remote_system("a") as a, remote_system("b") as b:
        assert a.address.startswith("akka.tcp://a@127.0.0.1:")
        assert parse_tcp_address(b.address) == ("b", f"127.0.0.1:{Remote.get(b).port}")
        _, a_log = await recorder(a, "inbox")
        _, b_log = await recorder(b, "inbox")
        a.tell_remote(b.address + "/user/inbox", {"from": "a", "n": 1})
        b.tell_remote(a.address + "/user/inbox", ["from b", 2])
        await wait_until(lambda: b_log and a_log)
        assert b_log == [{"from": "a", "n": 1}]
        assert a_log == [["from b", 2]]
        assert set(Remote.get(a).associations()) == {f"127.0.0.1:{Remote.get(b).port}"}


async def test_messages_from_one_sender_arrive_in_order():
    async with remote_system("a") as a, remote_system("b") as b:
        _, log = await recorder(b, "inbox")
        for i in range(2000):
            a.tell_remote(b.address + "/user/inbox", i)
        await wait_until(lambda: len(log) == 2000, message=f"{len(log)} of 2000 arrived")
        assert log == list(range(2000))


async def test_a_remote_shaped_ref_is_a_target_too():
    async with remote_system("a") as a, remote_system("b") as b:
        ref, log = await recorder(b, "inbox")
        a_side = (await recorder(a, "stand-in"))[0].with_path(b.address + "/user/inbox")
        a.tell_remote(a_side, "via ref")
        await wait_until(lambda: log == ["via ref"])


async def test_the_receiver_falls_back_to_the_top_level_actor_under_user():
    async with remote_system("a") as a, remote_system("b") as b:
        _, log = await recorder(b, "inbox")
        a.tell_remote(b.address + "/user/inbox/not-a-child", "fallback")
        await wait_until(lambda: log == ["fallback"])


async def test_an_unknown_target_is_a_dead_letter_on_the_receiver():
    async with remote_system("a") as a, remote_system("b") as b:
        seen = []
        b.subscribe_dead_letters(lambda msg, sender, recipient: seen.append((msg, recipient)))
        before = b.dead_letter_count
        target = b.address + "/user/nobody"
        a.tell_remote(target, {"lost": True})
        await wait_until(lambda: seen)
        assert seen == [({"lost": True}, target)]
        assert b.dead_letter_count == before + 1
        assert a.dead_letter_count == 0


async def test_a_message_without_a_codec_fails_on_the_sender_before_anything_is_sent():
    async with remote_system("a") as a, remote_system("b") as b:
        with pytest.raises(AtomrError, match="no codec registered for manifest"):
            a.tell_remote(b.address + "/user/inbox", Unregistered(1))
        assert Remote.get(a).stats()["envelopes_queued"] == 0
        assert Remote.get(a).stats()["connections_dialed"] == 0


async def test_the_receiver_decodes_with_its_own_registry():
    async with remote_system("a") as a, remote_system("b") as b:
        a.codecs.register_dataclass([Point])
        _, log = await recorder(b, "inbox")
        a.tell_remote(b.address + "/user/inbox", Point(1, 2))
        # b has no codec for Point: the message is dropped on arrival, not
        # decoded with anything the sender chose.
        await wait_until(lambda: Remote.get(b).stats()["inbound_undelivered"] == 1)
        assert log == []
        b.codecs.register(
            "point-as-tuple", lambda p: b"", lambda blob: ("decoded by b", blob),
            [f"{Point.__module__}.{Point.__qualname__}"])
        a.tell_remote(b.address + "/user/inbox", Point(3, 4))
        await wait_until(lambda: log)
        assert log[0][0] == "decoded by b"
        assert log[0][1] == a.codecs.encode(f"{Point.__module__}.{Point.__qualname__}",
                                            Point(3, 4))


async def test_a_target_on_the_senders_own_address_is_delivered_locally():
    async with remote_system("a") as a:
        ref, log = await recorder(a, "inbox")
        a.tell_remote(a.address + "/user/inbox", "tcp form")
        a.tell_remote(ref, "local ref")
        a.tell_remote("akka://a/user/inbox", "local form")
        a.tell_remote("/user/inbox", "no address")
        await wait_until(lambda: len(log) == 4)
        assert sorted(log) == sorted(["tcp form", "local ref", "local form", "no address"])
        stats = Remote.get(a).stats()
        assert stats["envelopes_queued"] == 0 and stats["connections_dialed"] == 0


async def test_a_local_target_without_transport_still_goes_through_the_codecs():
    system = await ActorSystem.create("plain")
    try:
        system.codecs.register("tagging", lambda p: b"%d,%d" % (p.x, p.y),
                               lambda blob: ("decoded", blob),
                               [f"{Point.__module__}.{Point.__qualname__}"])
        ref, log = await recorder(system, "inbox")
        system.tell_remote(ref, Point(1, 2))
        await wait_until(lambda: log)
        assert log == [("decoded", b"1,2")]
        with pytest.raises(AtomrError, match="no codec"):
            system.tell_remote(ref, Unregistered(2))
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


async def test_a_remote_target_without_transport_is_an_error_naming_it():
    system = await ActorSystem.create("plain")
    try:
        assert system.address == "akka://plain"
        with pytest.raises(AtomrError, match="no remote transport is configured"):
            system.tell_remote("akka.tcp://b@127.0.0.1:9/user/x", "hi")
        with pytest.raises(TypeError, match="ActorRef or an actor path"):
            system.tell_remote(42, "hi")
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


async def test_a_message_sent_before_the_peer_is_up_arrives():
    port = free_port()
    async with remote_system("a") as a:
        target = f"akka.tcp://late@127.0.0.1:{port}/user/inbox"
        a.tell_remote(target, "sent first")
        a.tell_remote(target, "sent second")
        async with remote_system("late", port=port) as late:
            _, log = await recorder(late, "inbox")
            await wait_until(lambda: len(log) == 2, timeout=30.0)
            assert log == ["sent first", "sent second"]


async def test_the_address_is_local_again_once_the_system_terminated():
    system = await ActorSystem.create("gone")
    remote = Remote.get(system)
    assert system.address == remote.address != "akka://gone"
    await asyncio.wait_for(system.terminate(), DEADLINE)
    assert system.address == "akka://gone"
    assert remote.stats()["connections_accepted"] == 0


async def test_messages_queued_for_an_unreachable_peer_become_dead_letters_at_shutdown():
    port = free_port()
    system = await ActorSystem.create("a")
    Remote.get(system)
    seen = []
    system.subscribe_dead_letters(lambda msg, sender, recipient: seen.append((msg, recipient)))
    target = f"akka.tcp://nobody@127.0.0.1:{port}/user/x"
    system.tell_remote(target, "never delivered")
    await asyncio.wait_for(system.terminate(), DEADLINE)
    assert ("never delivered", target) in seen


async def test_pickled_manifests_are_refused_unless_allowed():
    manifest = f"{Point.__module__}.{Point.__qualname__}"
    async with remote_system("a") as a, remote_system("b") as b:
        with pytest.warns(UserWarning, match="pickle"):
            a.codecs.register_pickle([manifest])
        with pytest.raises(RemoteError, match="allow-pickle"):
            a.tell_remote(b.address + "/user/inbox", Point(1, 1))
        assert Remote.get(a).stats()["envelopes_queued"] == 0
    async with remote_system("a", **{"allow-pickle": True}) as a, \
            remote_system("b") as b:
        with pytest.warns(UserWarning, match="pickle"):
            a.codecs.register_pickle([manifest])
            b.codecs.register_pickle([manifest])
        _, log = await recorder(b, "inbox")
        a.tell_remote(b.address + "/user/inbox", Point(5, 6))
        # b does not allow pickle: refused on arrival, never unpickled.
        await wait_until(lambda: Remote.get(b).stats()["inbound_undelivered"] == 1)
        assert log == []


async def test_a_cookie_mismatch_keeps_the_systems_apart():
    async with remote_system("a", cookie="one") as a, remote_system("b", cookie="two") as b:
        _, log = await recorder(b, "inbox")
        a.tell_remote(b.address + "/user/inbox", "refused")
        await wait_until(lambda: Remote.get(b).stats()["connections_accepted"] >= 1)
        assert Remote.get(a).associations() == {}
        assert log == []
    async with remote_system("a", cookie="same") as a, remote_system("b", cookie="same") as b:
        _, log = await recorder(b, "inbox")
        a.tell_remote(b.address + "/user/inbox", "accepted")
        await wait_until(lambda: log == ["accepted"])


async def test_binding_a_port_in_use_is_a_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        system = await ActorSystem.create("a", Config.from_dict({"remote": {"port": port}}))
        try:
            with pytest.raises(RemoteTransportError):
                Remote.get(system)
            assert system.address == "akka://a"
        finally:
            await asyncio.wait_for(system.terminate(), DEADLINE)


@pytest.mark.parametrize("bad", [
    "akka://b/user/x",
    "akka.tcp://b/user/x",
    "akka.tcp://b@nohost/user/x",
    "akka.tcp://b@127.0.0.1:99999/user/x",
])
async def test_a_bad_remote_address_is_an_invalid_remote_address_error(bad):
    async with remote_system("a") as a:
        with pytest.raises(InvalidRemoteAddressError):
            a.tell_remote(bad, "x")


async def test_incomplete_tls_settings_are_refused():
    from atomr.config import ConfigError

    system = await ActorSystem.create(
        "a", Config.from_dict({"remote": {"tls": {"ca-file": "/nonexistent/ca.pem"}}}))
    try:
        with pytest.raises(ConfigError, match="remote.tls"):
            Remote.get(system)
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


def test_tell_remote_from_another_thread(make_blocking_system, wait_until_blocking):
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    log: list = []
    ref = b.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
    assert ref.ask_blocking(GET) == []
    a.tell_remote(b.address + "/user/inbox", "from a plain thread")
    b.tell_remote("/user/inbox", "local, from a plain thread")
    wait_until_blocking(lambda: len(log) == 2)
    assert sorted(log) == ["from a plain thread", "local, from a plain thread"]


async def test_a_full_failing_mailbox_costs_only_the_messages_it_refuses():
    from atomr import Actor
    from atomr.core import BoundedMailbox

    release = asyncio.Event()

    class StuckActor(Actor):
        async def handle(self, ctx, msg):
            await release.wait()

    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(StuckActor).with_mailbox(BoundedMailbox(1, "fail")), "stuck")
        _, log = await recorder(b, "inbox")
        for i in range(20):
            a.tell_remote(b.address + "/user/stuck", i)
        a.tell_remote(b.address + "/user/inbox", "after the overflow")
        await wait_until(lambda: log == ["after the overflow"])
        assert Remote.get(b).stats()["inbound_undelivered"] >= 1
        release.set()


def test_durations_of_the_remote_section_must_be_positive():
    from atomr.config import ConfigError

    with pytest.raises(ConfigError, match="remote.heartbeat-interval"):
        Config.from_dict({"remote": {"heartbeat-interval": 0}}).resolve()
