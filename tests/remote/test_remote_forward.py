"""Forwarding to and through remote refs: ``ctx.forward(remote_ref)``,
``RemoteActorRef.forward(msg, ctx)`` and ``ActorRef.forward(msg, ctx)``
keep the original sender (and an ask's reply) across systems."""

from __future__ import annotations

import pytest

from atomr import Actor, ActorSystem, AtomrError, RemoteError, props
from atomr.remote import Remote, RemoteActorRef

from _helpers import DEADLINE, wait_until
from remote.test_tell_remote import recorder, remote_system


class Forwarder(Actor):
    """Forwards every message to ``target`` (a remote or local ref) in the
    way `how` names."""

    def __init__(self, target, how: str = "ctx") -> None:
        self.target = target
        self.how = how

    def handle(self, ctx, msg):
        if msg == "twice":
            ctx.forward(self.target)
            with pytest.raises(RuntimeError, match="forwarded already"):
                ctx.forward(self.target)
            return None
        if self.how == "ref":
            self.target.forward(msg, ctx)
        elif self.how == "other":
            ctx.forward(self.target, {"wrapped": msg})
        else:
            ctx.forward(self.target)
        return None


class Replier(Actor):
    """Answers its sender (and an ask) and records who the sender was."""

    def __init__(self, senders: list, name: str) -> None:
        self.senders = senders
        self.name = name

    def handle(self, ctx, msg):
        if msg == "fail":
            raise ValueError("replier failed")
        self.senders.append(ctx.sender)
        if ctx.sender is not None:
            ctx.sender.tell(f"{self.name} got {msg}")
        return f"{self.name} answers {msg}"


def replier(system: ActorSystem, name: str, senders: list):
    return system.actor_of(props(Replier, factory=lambda: Replier(senders, name)), name)


async def test_forward_to_a_remote_ref_keeps_the_local_sender():
    async with remote_system("a") as a, remote_system("b") as b:
        senders: list = []
        replier(b, "c", senders)
        target = a.actor_selection(b.address + "/user/c")
        inbox, log = await recorder(a, "inbox")
        for how in ("ctx", "ref", "other"):
            fwd = a.actor_of(props(Forwarder, factory=lambda how=how: Forwarder(target, how)),
                             f"fwd-{how}")
            fwd.tell_with_sender(how, inbox)
        await wait_until(lambda: sorted(log) == sorted(
            ["c got ctx", "c got ref", "c got {'wrapped': 'other'}"]))
        assert all(isinstance(s, RemoteActorRef) and s.path == a.address + "/user/inbox"
                   for s in senders)


async def test_an_ask_forwarded_to_a_remote_ref_is_answered_by_it():
    async with remote_system("a") as a, remote_system("b") as b:
        senders: list = []
        replier(b, "c", senders)
        replier(b, "bad", senders)
        fwd = a.actor_of(props(Forwarder, factory=lambda: Forwarder(
            a.actor_selection(b.address + "/user/c"))), "fwd")
        assert await fwd.ask("q", timeout=DEADLINE) == "c answers q"
        assert senders == [None]  # an ask has no sender, here as locally
        bad = a.actor_of(props(Forwarder, factory=lambda: Forwarder(
            a.actor_selection(b.address + "/user/bad"))), "fwd-bad")
        with pytest.raises(RemoteError, match="replier failed"):
            await bad.ask("fail", timeout=DEADLINE)
        # Forwarding twice is refused, as locally.
        assert await fwd.ask("twice", timeout=DEADLINE) == "c answers twice"


async def test_a_remote_sender_is_kept_by_a_local_forward():
    async with remote_system("a") as a, remote_system("b") as b:
        senders: list = []
        local = replier(b, "c", senders)
        b.actor_of(props(Forwarder, factory=lambda: Forwarder(local, "ref")), "fwd")
        inbox, log = await recorder(a, "inbox")
        a.actor_selection(b.address + "/user/fwd").tell("hi", sender=inbox)
        await wait_until(lambda: log == ["c got hi"])
        assert isinstance(senders[0], RemoteActorRef)
        assert senders[0].path == a.address + "/user/inbox"


async def test_three_systems_a_to_b_forwarded_to_c_answers_a_directly():
    async with remote_system("a") as a, remote_system("b") as b, remote_system("c") as c:
        senders: list = []
        replier(c, "c", senders)
        b.actor_of(props(Forwarder, factory=lambda: Forwarder(
            b.actor_selection(c.address + "/user/c"))), "fwd")
        inbox, log = await recorder(a, "inbox")
        via_b = a.actor_selection(b.address + "/user/fwd")
        via_b.tell("over b", sender=inbox)
        await wait_until(lambda: log == ["c got over b"])
        assert senders[0].path == a.address + "/user/inbox"
        # The answer went from c to a: c has an association with a.
        await wait_until(lambda: any(addr in a.address for addr in Remote.get(c).associations()))
        # An ask of a, forwarded by b to c, is answered with c's answer.
        assert await via_b.ask("asked", timeout=DEADLINE) == "c answers asked"


async def test_a_forwarded_ask_that_cannot_be_sent_fails_the_asker_and_the_forwarder():
    async with remote_system("a") as a, remote_system("b") as b:
        errors: list = []

        class Unencodable:
            pass

        class Forward(Actor):
            def handle(self, ctx, msg):
                try:
                    ctx.forward(a.actor_selection(b.address + "/user/c"), Unencodable())
                except Exception as exc:
                    errors.append(exc)
                    raise

        class ForwardCurrent(Actor):
            def handle(self, ctx, msg):
                ctx.forward(a.actor_selection(b.address + "/user/c"))

        fwd = a.actor_of(props(ForwardCurrent), "fwd")
        with pytest.raises(AtomrError, match="no codec"):
            await fwd.ask(Unencodable(), timeout=DEADLINE)
        a.actor_of(props(Forward), "fwd2").tell(1)
        await wait_until(lambda: errors)
        assert "no codec" in str(errors[0])


async def test_forward_rejects_what_is_not_a_ref():
    async with remote_system("a") as a:
        errors: list = []

        class Bad(Actor):
            def handle(self, ctx, msg):
                try:
                    ctx.forward("akka://a/user/x")
                except TypeError as exc:
                    errors.append(str(exc))

        a.actor_of(props(Bad), "bad").tell(1)
        await wait_until(lambda: errors)
        assert "ActorRef or a RemoteActorRef" in errors[0]
