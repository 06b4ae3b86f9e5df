"""System actors: ``ActorSystem.system_actor_of`` spawns under the
``/system`` guardian, which stops after the user guardian."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from atomr import Actor, ActorSystem, Config, props
from atomr.errors import ActorNameTakenError, ActorTerminatedError, ActorSystemTerminatedError, InvalidActorNameError
from atomr.remote import Remote

from _helpers import DEADLINE, wait_until
from remote.test_tell_remote import remote_system


class Echo(Actor):
    def handle(self, ctx: Any, msg: Any) -> Any:
        return ("echo", msg, ctx.self_ref.path)


class Journal(Actor):
    """Records what it is told; its post_stop records its own stop."""

    def __init__(self, log: list) -> None:
        self.log = log

    def handle(self, ctx: Any, msg: Any) -> Any:
        self.log.append(msg)
        return "ok"

    def post_stop(self, ctx: Any) -> None:
        self.log.append("journal stopped")


class UsesJournal(Actor):
    """A user actor whose post_stop still talks to a system actor."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal

    def handle(self, ctx: Any, msg: Any) -> Any:
        return None

    async def post_stop(self, ctx: Any) -> None:
        self.journal.tell("user actor stopped")
        await self.journal.ask("sync", timeout=DEADLINE)


async def test_a_system_actor_lives_under_system_and_is_selected_by_its_path(system):
    ref = system.system_actor_of(props(Echo), "tool")
    assert ref.path == "akka://app/system/tool"
    assert await ref.ask("hi") == ("echo", "hi", "akka://app/system/tool")
    assert system.actor_selection("akka://app/system/tool") == ref
    assert system.actor_selection("/system/tool") == ref
    assert system.system_actor("tool") == ref
    # Not a user actor: /user does not hold it and the names do not clash.
    assert system.actor_selection("/user/tool") is None
    assert system.top_level("tool") is None
    assert ref not in system.top_level_refs()
    user = system.actor_of(props(Echo), "tool")
    assert user.path == "akka://app/user/tool"
    assert (await user.ask("hi"))[2] == "akka://app/user/tool"
    assert (await ref.ask("hi"))[2] == "akka://app/system/tool"


async def test_system_actor_of_checks_its_arguments(system):
    system.system_actor_of(props(Echo), "once")
    with pytest.raises(ActorNameTakenError):
        system.system_actor_of(props(Echo), "once")
    with pytest.raises(InvalidActorNameError):
        system.system_actor_of(props(Echo), "a/b")
    with pytest.raises(TypeError):
        system.system_actor_of(props(Echo), None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        system.system_actor_of(Echo, "x")  # type: ignore[arg-type]


async def test_system_actors_stop_after_every_user_actor():
    system = await ActorSystem.create("order")
    log: list = []
    journal = system.system_actor_of(props(Journal, factory=lambda: Journal(log)), "journal")
    for i in range(3):
        system.actor_of(props(UsesJournal, factory=lambda: UsesJournal(journal)), f"user{i}")
    assert await journal.ask("started") == "ok"
    await asyncio.wait_for(system.terminate(), DEADLINE)
    # Every user actor's post_stop reached the journal, which stopped last.
    assert log.count("user actor stopped") == 3
    assert log[-1] == "journal stopped"
    assert system.is_terminated
    with pytest.raises(ActorSystemTerminatedError):
        system.system_actor_of(props(Echo), "late")


async def test_a_remote_system_reaches_a_system_actor_by_its_exact_path():
    async with remote_system("sa") as a, remote_system("sb") as b:
        b.system_actor_of(props(Echo), "svc")
        path = Remote.get(b).address + "/system/svc"
        answer = await a.actor_selection(path).ask("over tcp", timeout=DEADLINE)
        assert answer == ("echo", "over tcp", "akka://sb/system/svc")
        # The exact path only: a deeper path is not redirected to it.
        with pytest.raises(ActorTerminatedError, match="does not exist"):
            await a.actor_selection(path + "/missing").ask("x", timeout=DEADLINE)
        await wait_until(lambda: b.dead_letter_count >= 1)


def test_a_forced_terminate_stops_the_system_actors_too(caplog):
    from actor.test_stop_rules import Stubborn

    system = ActorSystem.create_blocking("forced", Config.from_dict(
        {"actor": {"terminate-timeout": "200ms"}}))
    started = threading.Event()
    stubborn = system.actor_of(props(Stubborn, factory=lambda: Stubborn(started)), "stubborn")
    tool = system.system_actor_of(props(Echo), "tool")
    assert tool.ask_blocking("x", timeout=DEADLINE)[1] == "x"
    stubborn.tell("go")
    assert started.wait(DEADLINE)
    with caplog.at_level(logging.WARNING, logger="atomr"):
        system.terminate_blocking(timeout=DEADLINE)
    assert system.is_terminated and stubborn.is_terminated() and tool.is_terminated()
    forced = [r.getMessage() for r in caplog.records if "without waiting" in r.getMessage()]
    assert forced and "/user/stubborn" in forced[0]
