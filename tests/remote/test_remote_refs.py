"""system.actor_selection: local refs for this system's paths, and
RemoteActorRef (tell and ask) for actors of another system over TCP."""

from __future__ import annotations

import asyncio

import pytest

from atomr import (
    Actor,
    ActorSystem,
    ActorTerminatedError,
    AskTimeoutError,
    AtomrError,
    InvalidRemoteAddressError,
    RemoteError,
    props,
)
from atomr.remote import Remote, RemoteActorRef

from _helpers import DEADLINE, GET, Recorder, wait_until
from remote.test_tell_remote import Unregistered, remote_system


class Calc(Actor):
    def handle(self, ctx, msg):
        if msg == "boom":
            raise ValueError("bad input")
        if msg == "silent":
            return asyncio.sleep(3600)  # never answers in time
        if msg == "unencodable":
            return Unregistered(1)
        return msg * 2


async def test_ask_through_a_remote_ref_returns_the_handlers_answer():
    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(Calc), "calc")
        ref = a.actor_selection(b.address + "/user/calc")
        assert isinstance(ref, RemoteActorRef)
        assert ref.path == b.address + "/user/calc" and ref.name == "calc"
        assert ref == Remote.get(a).actor_selection(b.address + "/user/calc")
        assert await ref.ask(21) == 42
        assert await asyncio.gather(*(ref.ask(i) for i in range(200))) == \
            [i * 2 for i in range(200)]


async def test_tell_through_a_remote_ref():
    async with remote_system("a") as a, remote_system("b") as b:
        log: list = []
        inbox = b.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
        await wait_until(lambda: inbox.ask(GET) is not None)
        remote_ref = a.actor_selection(b.address + "/user/inbox")
        remote_ref.tell({"k": "v"})
        a.tell_remote(remote_ref, "via tell_remote")
        await wait_until(lambda: log == [{"k": "v"}, "via tell_remote"])


async def test_remote_ask_failures_reach_the_asker():
    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(Calc), "calc")
        ref = a.actor_selection(b.address + "/user/calc")
        with pytest.raises(RemoteError, match="ValueError: bad input"):
            await ref.ask("boom")
        with pytest.raises(RemoteError, match="no codec registered"):
            await ref.ask("unencodable")
        b.actor_of(props(Calc), "sleeper")
        with pytest.raises(AskTimeoutError, match="sleeper"):
            await a.actor_selection(b.address + "/user/sleeper").ask("silent", timeout=0.2)
        with pytest.raises(ActorTerminatedError, match="does not exist"):
            await a.actor_selection(b.address + "/user/nobody").ask(1)
        # The ref still works after each failure.
        assert await ref.ask(1) == 2


async def test_ask_checks_its_arguments_before_sending():
    async with remote_system("a") as a, remote_system("b") as b:
        ref = a.actor_selection(b.address + "/user/calc")
        with pytest.raises(AtomrError, match="no codec"):
            ref.ask(Unregistered(1))
        with pytest.raises(ValueError, match="timeout"):
            ref.ask(1, timeout=0)
        assert Remote.get(a).stats()["envelopes_queued"] == 0


async def test_pending_asks_fail_when_the_transport_stops():
    async with remote_system("b") as b:
        b.actor_of(props(Calc), "calc")
        a = await ActorSystem.create("a")
        Remote.get(a)
        ref = a.actor_selection(b.address + "/user/calc")
        pending = asyncio.ensure_future(ref.ask("silent", timeout=None))
        await wait_until(lambda: Remote.get(b).stats()["envelopes_received"] >= 1)
        await asyncio.wait_for(a.terminate(), DEADLINE)
        with pytest.raises(RemoteError, match="stopped"):
            await asyncio.wait_for(pending, DEADLINE)


async def test_actor_selection_of_own_paths_gives_local_refs_or_none():
    async with remote_system("a") as a:
        ref = a.actor_of(props(Calc), "calc")
        assert a.actor_selection(a.address + "/user/calc") == ref
        assert a.actor_selection("akka://a/user/calc") == ref
        assert a.actor_selection("/user/calc") == ref
        assert a.actor_selection("/user/calc/child") is None
        assert a.actor_selection(a.address + "/user/none") is None
        with pytest.raises(InvalidRemoteAddressError):
            a.actor_selection("akka://other/user/x")
        with pytest.raises(TypeError):
            a.actor_selection(3)


async def test_actor_selection_of_a_remote_path_needs_a_transport():
    system = await ActorSystem.create("plain")
    try:
        with pytest.raises(AtomrError, match="no remote transport"):
            system.actor_selection("akka.tcp://b@127.0.0.1:9/user/x")
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


class Ponger(Actor):
    def __init__(self, senders: list) -> None:
        self.senders = senders

    def handle(self, ctx, msg):
        self.senders.append(ctx.sender)
        ctx.sender.tell(f"pong to {msg}")


async def test_the_sender_of_a_remote_tell_is_a_ref_the_receiver_can_answer():
    async with remote_system("a") as a, remote_system("b") as b:
        senders: list = []
        b.actor_of(props(Ponger, factory=lambda: Ponger(senders)), "ponger")
        log: list = []
        inbox = a.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
        await wait_until(lambda: inbox.ask(GET) is not None)
        ponger = a.actor_selection(b.address + "/user/ponger")
        ponger.tell("ping", sender=inbox)
        await wait_until(lambda: log == ["pong to ping"])
        assert isinstance(senders[0], RemoteActorRef)
        assert senders[0].path == a.address + "/user/inbox"
        with pytest.raises(TypeError, match="sender"):
            ponger.tell("ping", sender="akka://a/user/inbox")


def test_ask_blocking_from_a_plain_thread(make_blocking_system):
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    b.actor_of(props(Calc), "calc")
    b.actor_of(props(Calc), "sleeper")
    ref = a.actor_selection(b.address + "/user/calc")
    assert ref.ask_blocking(4, timeout=DEADLINE) == 8
    with pytest.raises(RemoteError, match="bad input"):
        ref.ask_blocking("boom", timeout=DEADLINE)
    with pytest.raises(AskTimeoutError):
        a.actor_selection(b.address + "/user/sleeper").ask_blocking("silent", timeout=0.2)
    with pytest.raises(ValueError, match="timeout"):
        ref.ask_blocking(1, timeout=-1)


def test_ask_awaited_on_a_loop_other_than_the_systems(make_blocking_system):
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    b.actor_of(props(Calc), "calc")
    b.actor_of(props(Calc), "sleeper")
    ref = a.actor_selection(b.address + "/user/calc")

    async def on_own_loop():
        assert await ref.ask(5, timeout=DEADLINE) == 10
        assert await asyncio.gather(*(ref.ask(i, timeout=DEADLINE) for i in range(50))) == \
            [i * 2 for i in range(50)]
        with pytest.raises(AskTimeoutError, match="sleeper"):
            await a.actor_selection(b.address + "/user/sleeper").ask("silent", timeout=0.2)

    asyncio.run(on_own_loop())


async def test_ask_blocking_on_the_systems_own_loop_is_refused():
    async with remote_system("a") as a, remote_system("b") as b:
        with pytest.raises(RuntimeError, match="own loop"):
            a.actor_selection(b.address + "/user/calc").ask_blocking(1)
