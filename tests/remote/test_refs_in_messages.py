"""Actor refs inside remote messages: encoded as their full TCP paths and
decoded on the receiver as its own local refs or as remote refs bound to
its transport (atomr.codecs._refs, atomr.remote)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Optional

import msgspec
import pydantic
import pytest

from atomr import Actor, ActorRef, ActorSystem, AtomrError, props
from atomr.remote import AnyRef, Remote, RemoteActorRef

from _helpers import DEADLINE, wait_until
from remote.test_tell_remote import recorder, remote_system


@dataclasses.dataclass
class Hello:
    text: str
    reply_to: AnyRef
    also: Optional[RemoteActorRef] = None
    many: list[ActorRef] = dataclasses.field(default_factory=list)


class HelloModel(pydantic.BaseModel):
    text: str
    reply_to: AnyRef
    others: list[AnyRef] = []


class HelloStruct(msgspec.Struct):
    text: str
    reply_to: AnyRef
    home: Optional[AnyRef] = None


class Answerer(Actor):
    """Records what it gets; answers ``reply_to`` refs found in it."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    async def handle(self, ctx, msg):
        self.seen.append(msg)
        if isinstance(msg, (Hello, HelloStruct, HelloModel)):
            msg.reply_to.tell(f"hello back to {msg.text}")
        elif isinstance(msg, dict) and "reply_to" in msg:
            for ref in msg.get("more", []):
                ref.tell("to one of many")
            msg["reply_to"].tell({"got": msg["n"], "me": ctx.self_ref})
        elif isinstance(msg, dict) and "calc" in msg:
            answer = await msg["calc"].ask(msg["x"], timeout=DEADLINE)
            msg["report"].tell({"answer": answer})
        return None


class Doubler(Actor):
    def handle(self, ctx, msg):
        return msg * 2


async def answerer(system: ActorSystem, name: str = "answerer") -> tuple[Any, list]:
    seen: list = []
    ref = system.actor_of(props(Answerer, factory=lambda: Answerer(seen)), name)
    return ref, seen


async def test_a_ref_in_a_dataclass_field_arrives_as_a_remote_ref_to_answer():
    async with remote_system("a") as a, remote_system("b") as b:
        for system in (a, b):
            system.codecs.register_dataclass(Hello)
        inbox, log = await recorder(a, "inbox")
        other, other_log = await recorder(a, "other")
        _, seen = await answerer(b)
        target = a.actor_selection(b.address + "/user/answerer")
        target.tell(Hello("hi", inbox, also=a.actor_selection(b.address + "/user/x"),
                          many=[other]))
        await wait_until(lambda: log == ["hello back to hi"])
        msg = seen[0]
        assert isinstance(msg.reply_to, RemoteActorRef)
        assert msg.reply_to.path == a.address + "/user/inbox"
        assert [r.path for r in msg.many] == [a.address + "/user/other"]
        # A path of the receiver with no actor there: a ref whose mail
        # becomes dead letters.
        assert isinstance(msg.also, RemoteActorRef)
        assert msg.also.path == b.address + "/user/x"
        assert other_log == []


async def test_refs_in_a_msgpack_dict_and_list_and_the_reply_names_the_receiver():
    async with remote_system("a") as a, remote_system("b") as b:
        inbox, log = await recorder(a, "inbox")
        more, more_log = await recorder(a, "more")
        answerer_ref, seen = await answerer(b)
        a.tell_remote(b.address + "/user/answerer", {"reply_to": inbox, "n": 7, "more": [more]})
        await wait_until(lambda: len(log) == 1 and more_log == ["to one of many"])
        assert isinstance(seen[0]["reply_to"], RemoteActorRef)
        # The answer held a ref to the answerer: on a it is a remote ref,
        # and its path is the answerer's TCP path.
        me = log[0]["me"]
        assert log[0]["got"] == 7
        assert isinstance(me, RemoteActorRef) and me.path == b.address + "/user/answerer"
        # Telling that ref reaches the answerer on b.
        me.tell({"reply_to": inbox, "n": 8})
        await wait_until(lambda: len(log) == 2 and log[1]["got"] == 8)
        assert seen[-1]["n"] == 8
        assert answerer_ref.path == "akka://b/user/answerer"


async def test_a_ref_to_the_receiver_itself_comes_back_as_its_local_ref():
    async with remote_system("a") as a, remote_system("b") as b:
        local_on_b, _ = await recorder(b, "target")
        _, seen = await answerer(b)
        via_a = a.actor_selection(b.address + "/user/target")
        a.tell_remote(b.address + "/user/answerer", {"target": via_a, "list": [via_a]})
        await wait_until(lambda: len(seen) == 1)
        assert type(seen[0]["target"]) is ActorRef
        assert seen[0]["target"] == local_on_b
        assert seen[0]["list"] == [local_on_b]


async def test_the_receiver_can_ask_a_ref_it_received():
    async with remote_system("a") as a, remote_system("b") as b:
        calc = a.actor_of(props(Doubler), "calc")
        report, log = await recorder(a, "report")
        _, _seen = await answerer(b)
        a.tell_remote(b.address + "/user/answerer", {"calc": calc, "x": 21, "report": report})
        await wait_until(lambda: log == [{"answer": 42}])


async def test_a_ref_in_an_ask_and_in_its_answer():
    async with remote_system("a") as a, remote_system("b") as b:

        class Echo(Actor):
            def handle(self, ctx, msg):
                return {"you_sent": msg["ref"], "me": ctx.self_ref}

        echo = b.actor_of(props(Echo), "echo")
        inbox, _ = await recorder(a, "inbox")
        answer = await a.actor_selection(b.address + "/user/echo").ask({"ref": inbox},
                                                                       timeout=DEADLINE)
        assert answer["you_sent"] == inbox  # back home: the local ref
        assert isinstance(answer["me"], RemoteActorRef)
        assert answer["me"].path == b.address + "/user/echo"
        assert echo.path == "akka://b/user/echo"


async def test_refs_with_the_json_codec_and_msgspec_structs():
    async with remote_system("a") as a, remote_system("b") as b:
        for system in (a, b):
            system.codecs.register_json(["builtins.dict"], force=True)
            system.codecs.register_msgspec(HelloStruct, format="msgpack")
        inbox, log = await recorder(a, "inbox")
        _, seen = await answerer(b)
        target = a.actor_selection(b.address + "/user/answerer")
        target.tell({"reply_to": inbox, "n": 1, "nested": [{"x": [inbox]}]})
        await wait_until(lambda: len(log) == 1)
        assert seen[0]["nested"][0]["x"][0].path == a.address + "/user/inbox"
        assert isinstance(log[0]["me"], RemoteActorRef)
        b_local, _ = await recorder(b, "local")
        target.tell(HelloStruct("struct", inbox, home=a.actor_selection(b.address + "/user/local")))
        await wait_until(lambda: log[1:] == ["hello back to struct"])
        assert isinstance(seen[1].reply_to, RemoteActorRef)
        assert seen[1].home == b_local and isinstance(seen[1].home, AnyRef)


async def test_refs_in_pydantic_models():
    async with remote_system("a") as a, remote_system("b") as b:
        for system in (a, b):
            system.codecs.register_pydantic(HelloModel)
        inbox, log = await recorder(a, "inbox")
        b_local, _ = await recorder(b, "local")
        _, seen = await answerer(b)
        a.actor_selection(b.address + "/user/answerer").tell(HelloModel(
            text="model", reply_to=inbox, others=[a.actor_selection(b.address + "/user/local")]))
        await wait_until(lambda: log == ["hello back to model"])
        assert isinstance(seen[0].reply_to, RemoteActorRef)
        assert seen[0].others == [b_local]
        with pytest.raises(AtomrError, match="remoting"):
            a.codec_roundtrip(HelloModel(text="x", reply_to=inbox))


async def test_mail_to_a_received_ref_of_a_gone_actor_is_a_dead_letter():
    async with remote_system("a") as a, remote_system("b") as b:
        _, seen = await answerer(b)
        gone = a.actor_selection(b.address + "/user/gone")
        a.tell_remote(b.address + "/user/answerer", {"gone": gone})
        await wait_until(lambda: len(seen) == 1)
        ref = seen[0]["gone"]
        assert isinstance(ref, RemoteActorRef) and ref.path == b.address + "/user/gone"
        before = b.dead_letter_count
        ref.tell("lost")
        await wait_until(lambda: b.dead_letter_count > before)


async def test_refs_outside_remoting_fail_clearly():
    a = await ActorSystem.create("plain")
    try:
        ref = a.actor_of(props(Doubler), "d")
        with pytest.raises(AtomrError, match="only be encoded in a message sent through remoting"):
            a.codec_roundtrip({"r": ref})
        a.codecs.register_dataclass(Hello)
        with pytest.raises(AtomrError, match="remoting"):
            a.codec_roundtrip(Hello("x", ref))
        import msgpack

        blob = msgpack.packb({"r": msgpack.ExtType(65, b"akka.tcp://b@127.0.0.1:9/user/x")})
        with pytest.raises(AtomrError, match="can only be decoded by remoting"):
            a.codecs.decode("builtins.dict", blob)
        # A plain unencodable value still gets msgpack's own error.
        with pytest.raises(AtomrError, match="can not serialize 'object'"):
            a.codec_roundtrip({"o": object()})
    finally:
        await asyncio.wait_for(a.terminate(), DEADLINE)


async def test_a_ref_of_another_system_of_the_process_is_refused_on_sending():
    async with remote_system("a") as a, remote_system("b") as b:
        foreign = b.actor_of(props(Doubler), "d")  # b's local ref, not a's
        with pytest.raises(AtomrError, match="another actor system"):
            a.tell_remote(b.address + "/user/d", {"r": foreign})
        assert Remote.get(a).stats()["envelopes_queued"] == 0


async def test_plain_messages_decode_alike_with_and_without_a_transport():
    async with remote_system("a") as a:
        for msg in ({"n": 1, "l": [1, "x", None]}, [1, 2], "text", b"raw", 3.5):
            assert a.codec_roundtrip(msg) == msg
            manifest, blob = Remote.get(a)._encode(msg)
            assert Remote.get(a)._decode(manifest, blob) == msg
