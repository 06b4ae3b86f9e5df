"""The actor runtime inside a python-subinterpreter-pool (Python 3.12+):
children, timers, stash and become, asks out of the pool, supervisor
strategies from props, watching and answering main-interpreter actors, and
the release of main refs sent into the pool. `make test` runs it under
pyenv's 3.12 (`make test-subinterpreters`)."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

import atomr
import atomr.interpreter as interp
from atomr import Actor, ActorSystem, props
from atomr.errors import ActorNameTakenError, AskTimeoutError
from atomr.supervision import one_for_one, stopping

from pools._subactors import Asker, Echo, Parent, Recorder, Stasher, Timed, Watcher
from pools.test_subinterpreter_pool import DEADLINE, POOL, Inbox, _got, wait_until

pytestmark = pytest.mark.skipif(not atomr.subinterpreters_supported(),
                                reason="needs own-GIL subinterpreters (Python 3.12+)")


@pytest.fixture
def system() -> Iterator[ActorSystem]:
    from atomr._native import _subinterp as chan

    channels = chan.channel_count()
    s = ActorSystem.create_blocking("main")
    try:
        s.configure_interpreter("rt", POOL, count=2)
        yield s
    finally:
        interp.shutdown_pools()
        s.terminate_blocking()
    assert chan.interp_count() == 0
    assert chan.channel_count() == channels


def pooled(system: ActorSystem, cls: type, name: str, **kw: Any) -> Any:
    return system.actor_of(props(cls, interpreter_role="rt", **kw), name)


class Answerer(Actor):
    """A main actor: answers ``("main", msg)``; ``"boom"`` raises; ``"silent"``
    never answers; ``"reply"`` tells ``("pong", sender path)`` to the sender."""

    def handle(self, ctx, msg):
        if msg == "boom":
            raise ValueError("main boom")
        if msg == "silent":
            ctx.reply_to  # taken over, never answered
            return None
        if msg == "reply":
            ctx.sender.tell(("pong", ctx.sender.path))
            return None
        return ("main", msg)


def test_children_live_in_their_parent_s_interpreter_and_stop_with_it(system):
    parent = pooled(system, Parent, "p")
    kid = parent.ask_blocking("spawn", DEADLINE)
    assert kid.path == parent.path + "/kid"
    assert kid.ask_blocking("where", DEADLINE) == parent.ask_blocking("where", DEADLINE)
    assert parent.ask_blocking("ask-kid", DEADLINE) == parent.ask_blocking("where", DEADLINE)
    assert kid.ask_blocking(7, DEADLINE) == 7  # the child's ref works from the main interpreter
    assert parent.ask_blocking("anonymous", DEADLINE) == "$b"
    assert parent.ask_blocking("children", DEADLINE) == ["$b", "kid"]
    with pytest.raises(ActorNameTakenError, match="kid"):
        parent.ask_blocking("duplicate", DEADLINE)
    inbox = system.actor_of(props(Inbox), "inbox")
    kid = parent.ask_blocking("spawn", DEADLINE)  # the restart stopped the children
    assert inbox.ask_blocking(("watch", kid), DEADLINE) is True
    parent.stop()
    assert _got(inbox, 1) == [kid.path]
    wait_until(kid.is_terminated)


def test_timers_deliver_repeat_and_cancel(system):
    timed = pooled(system, Timed, "t")
    inbox = system.actor_of(props(Inbox), "inbox")
    assert timed.ask_blocking(("start", inbox), DEADLINE) == ["fd", "k"]
    wait_until(lambda: "after-ticks" in timed.ask_blocking("got", DEADLINE))
    got = timed.ask_blocking("got", DEADLINE)
    assert got.count("tick") == 3  # cancelled at the third
    assert got.count("delayed") == 1 and "once" in got and "keyed" in got
    assert "keyed-old" not in got and "cancelled" not in got
    assert _got(inbox, 1) == ["to-main"]


def test_stash_unstash_become_and_unbecome(system):
    ref = pooled(system, Stasher, "s")

    async def scenario():
        first, second = ref.ask(1, DEADLINE), ref.ask(2, DEADLINE)
        ref.tell(3)
        assert await ref.ask("open", DEADLINE) == ("opened", 3)
        assert await first == ("handled", 1) and await second == ("handled", 2)
        assert await ref.ask(4, DEADLINE) == ("handled", 4)
        assert await ref.ask("close", DEADLINE) == "closed"
        with pytest.raises(AskTimeoutError):
            await ref.ask(5, 0.3)  # stashed again: no answer

    asyncio.run(scenario())


def test_pooled_actors_ask_main_actors_and_other_pooled_actors(system):
    asker = pooled(system, Asker, "asker")
    other = pooled(system, Echo, "other")  # in the other interpreter
    near = pooled(system, Echo, "near")  # in the asker's interpreter
    assert other.ask_blocking("where", DEADLINE) != asker.ask_blocking("where", DEADLINE)
    assert near.ask_blocking("where", DEADLINE) == asker.ask_blocking("where", DEADLINE)
    main = system.actor_of(props(Answerer), "answerer")
    assert asker.ask_blocking(("ask", main, 1), DEADLINE) == ("main", 1)
    assert asker.ask_blocking(("ctx-ask", other, [2]), DEADLINE) == [2]
    assert asker.ask_blocking(("ask", near, {"k": 3}), DEADLINE) == {"k": 3}
    assert asker.ask_blocking(("ask", other, ("tell", main, "x")), DEADLINE) is None
    with pytest.raises(ValueError, match="main boom"):  # crossed twice, same type
        asker.ask_blocking(("ask", main, "boom"), DEADLINE)
    with pytest.raises(ValueError, match="boom"):
        asker.ask_blocking(("ask", other, "boom"), DEADLINE)
    # a forwarded ask is answered by the target
    assert asker.ask_blocking(("forward", main, 9), DEADLINE) == ("main", ("forward", main, 9))
    assert asker.ask_blocking(("forward", other, 10), DEADLINE) == ("forward", other, 10)

    async def suspended():
        # while the asker waits, its neighbour in the same interpreter answers
        waiting = asyncio.ensure_future(asker.ask(("timeout", main, "silent", 1.0), DEADLINE))
        assert await near.ask("quick", DEADLINE) == "quick"
        assert not waiting.done()
        assert "timed out" in await waiting

    asyncio.run(suspended())


def test_supervisor_strategies_come_from_props(system):
    resuming = system.actor_of(props(Echo, interpreter_role="rt").with_supervisor_strategy(
        one_for_one({ValueError: "resume"})), "resuming")
    resuming.tell(1)
    resuming.tell("boom")
    assert resuming.ask_blocking("count", DEADLINE) == 3  # the instance was kept
    stopped = system.actor_of(props(Echo, interpreter_role="rt").with_supervisor_strategy(
        stopping()), "stopped")
    stopped.tell("boom")
    wait_until(stopped.is_terminated)
    budget = system.actor_of(props(Echo, interpreter_role="rt").with_supervisor_budget(1),
                             "budget")
    budget.tell("boom")
    assert budget.ask_blocking("count", DEADLINE) == 1  # restarted once
    budget.tell("boom")
    wait_until(budget.is_terminated)
    # strategies made inside the pool, for children
    Parent.terminated.clear()
    parent = pooled(system, Parent, "p")
    fragile = parent.ask_blocking("fragile", DEADLINE)
    fragile.tell("boom")
    wait_until(lambda: parent.ask_blocking("terminated", DEADLINE) == [fragile.path])
    assert parent.ask_blocking("spawn", DEADLINE).ask_blocking(1, DEADLINE) == 1
    esc = parent.ask_blocking("escalating", DEADLINE)
    kid = system.actor_of(props(Inbox), "inbox")
    assert kid.ask_blocking(("watch", esc), DEADLINE) is True
    esc.tell("boom")  # the child stops, the parent restarts (its children stop)
    assert _got(kid, 1) == [esc.path]
    assert parent.ask_blocking("children", DEADLINE) == []


def test_pooled_actors_watch_main_actors_and_main_actors_answer_them(system):
    rec = pooled(system, Recorder, "rec")
    answerer = system.actor_of(props(Answerer), "answerer")
    rec.tell(("tell", answerer, "reply"))  # the implicit sender: rec
    wait_until(lambda: rec.ask_blocking("got", DEADLINE) == [("pong", rec.path)])
    inbox = system.actor_of(props(Inbox), "inbox")
    watcher = pooled(system, Watcher, "w")
    assert watcher.ask_blocking(inbox, DEADLINE) is True
    assert rec.ask_blocking(("watch", answerer), DEADLINE) is True
    inbox.stop()
    wait_until(lambda: watcher.ask_blocking("seen", DEADLINE) == [inbox.path])
    answerer.stop()
    wait_until(lambda: answerer.path in rec.ask_blocking("got", DEADLINE))


def test_main_refs_sent_into_the_pool_are_released(system):
    from atomr.interpreter import _subpool

    rec = pooled(system, Recorder, "rec")
    inbox = system.actor_of(props(Inbox), "inbox")
    assert rec.ask_blocking(("hold", inbox), DEADLINE) == 1
    assert rec.ask_blocking(("hold", inbox), DEADLINE) == 2
    assert inbox in _subpool._MAIN_IDS
    assert rec.ask_blocking("drop", DEADLINE) == 0
    wait_until(lambda: inbox not in _subpool._MAIN_IDS)
    # sent in again afterwards: a new entry, usable
    rec.tell(("tell", inbox, "again"))
    assert _got(inbox, 1) == ["again"]


def test_messages_cross_with_the_registry_s_codec_when_it_has_one(system):
    from pools import _subactors as sa

    system.register_codec("point", sa.encode_point, sa.decode_point,
                          manifests=["pools._subactors.Point"])
    lambdas: list[str] = []
    system.register_codec("plain", lambda o: lambdas.append("e") or b"x",
                          lambda b: lambdas.append("d"), manifests=["pools._subactors.Plain"])
    ref = pooled(system, Echo, "e")
    sa.CODEC_CALLS.clear()
    assert ref.ask_blocking(sa.Point(1, 2), DEADLINE) == sa.Point(1, 2)
    assert sa.CODEC_CALLS == ["encode", "decode"]  # here: the ask, then the answer
    assert ref.ask_blocking("codec-calls", DEADLINE) == ["decode", "encode"]  # in the pool
    assert ref.ask_blocking("make-point", DEADLINE) == sa.Point(3, 4)
    assert sa.CODEC_CALLS == ["encode", "decode", "decode"]
    # a codec that cannot be sent in (a lambda): pickled instead; builtins: pickled
    assert ref.ask_blocking(sa.Plain(5), DEADLINE) == sa.Plain(5)
    assert lambdas == []
    assert ref.ask_blocking((sa.Point(0, 0), [1]), DEADLINE) == (sa.Point(0, 0), [1])
