"""Remoting's hot paths (atomr/_native/remote_fast.pyx): the second message
of a type takes the C path the first one (through the Python path) taught
it; these tests check that it behaves as the Python path does -- asks and
their deadlines, codec changes, refs inside messages, a refused mailbox,
sends while the loop is not running."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from atomr import Actor, ActorSystem, AskTimeoutError, Config, props
from atomr.remote import Remote, RemoteActorRef

from _helpers import DEADLINE, wait_until
from remote.test_tell_remote import recorder, remote_system


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


class Point:
    __atomr_manifest__ = "tests.fast.Point"

    def __init__(self, x: int, via: str = "") -> None:
        self.x = x
        self.via = via


def _register_point(system: ActorSystem, tag: str) -> None:
    """Point's codec, whose decoder records `tag` as ``via``."""
    system.codecs.register(
        f"point-{tag}", lambda p: str(p.x).encode(),
        lambda blob: Point(int(blob), tag), ["tests.fast.Point"], force=True)


async def test_a_loop_side_ask_returns_a_future_and_leaves_nothing_pending():
    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(Echo), "echo")
        ref = a.actor_selection(b.address + "/user/echo")
        first = ref.ask(0, timeout=DEADLINE)
        # A future, not a coroutine: asyncio.gather need not wrap it in a task.
        assert isinstance(first, asyncio.Future)
        assert await first == 0
        got = await asyncio.gather(*[ref.ask(i, timeout=DEADLINE) for i in range(300)])
        assert got == list(range(300))
        got = await asyncio.gather(*[ref.ask({"n": i}, timeout=None) for i in range(50)])
        assert got == [{"n": i} for i in range(50)]
        remote = Remote.get(a)
        assert remote._pending == {}


async def test_asks_time_out_by_their_own_deadlines_in_any_order():
    release = asyncio.Event()  # both systems share this loop

    class Hold(Actor):
        async def handle(self, ctx, msg):
            await release.wait()
            return msg

    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(Hold), "hold")
        ref = a.actor_selection(b.address + "/user/hold")
        long_ask = ref.ask("long", timeout=DEADLINE)
        short_ask = ref.ask("short", timeout=0.2)  # queued behind the long one
        with pytest.raises(AskTimeoutError, match="timed out after 0.2s"):
            await short_ask
        assert not long_ask.done()
        release.set()
        assert await long_ask == "long"
        assert Remote.get(a)._pending == {}


async def test_answered_asks_with_long_timeouts_keep_the_deadline_heap_bounded():
    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(Echo), "echo")
        ref = a.actor_selection(b.address + "/user/echo")
        for wave in range(30):
            got = await asyncio.gather(*[ref.ask(i, timeout=600.0) for i in range(100)])
            assert got == list(range(100)), wave
        remote = Remote.get(a)
        assert len(remote._deadlines) <= 1024 + 2 * 100
        assert remote._pending == {}


async def test_a_codec_changed_after_the_first_messages_serves_the_next_ones():
    async with remote_system("a") as a, remote_system("b") as b:
        for system in (a, b):
            _register_point(system, "first")
        _, log = await recorder(b, "inbox")
        inbox = a.actor_selection(b.address + "/user/inbox")
        echo = a.actor_selection(b.address + "/user/echo")
        b.actor_of(props(Echo), "echo")
        for x in (1, 2):
            inbox.tell(Point(x))
            assert (await echo.ask(Point(x), timeout=DEADLINE)).via == "first"
        await wait_until(lambda: len(log) == 2)
        for system in (a, b):
            _register_point(system, "second")
        inbox.tell(Point(3))
        assert (await echo.ask(Point(4), timeout=DEADLINE)).via == "second"
        await wait_until(lambda: len(log) == 3)
        assert [(p.x, p.via) for p in log] == [(1, "first"), (2, "first"), (3, "second")]


async def test_pickled_manifests_stay_refused_after_other_messages_took_the_fast_path():
    from atomr import AtomrError, RemoteError

    class Secret:
        pass

    async with remote_system("a") as a, remote_system("b") as b:
        for system in (a, b):
            with pytest.warns(UserWarning, match="pickle is unsafe"):
                system.codecs.register_pickle([f"{Secret.__module__}.{Secret.__qualname__}"])
        _, log = await recorder(b, "inbox")
        inbox = a.actor_selection(b.address + "/user/inbox")
        inbox.tell({"n": 1})
        inbox.tell({"n": 2})
        with pytest.raises((RemoteError, AtomrError), match="pickle"):
            inbox.tell(Secret())
        with pytest.raises((RemoteError, AtomrError), match="pickle"):
            inbox.tell(Secret())
        await wait_until(lambda: log == [{"n": 1}, {"n": 2}])


async def test_refs_inside_messages_of_a_known_type_arrive_as_usable_refs():
    async with remote_system("a") as a, remote_system("b") as b:
        _, b_log = await recorder(b, "inbox")
        a_inbox, a_log = await recorder(a, "inbox")
        to_b = a.actor_selection(b.address + "/user/inbox")
        to_b.tell({"n": 1})  # teaches the fast path builtins.dict
        to_b.tell({"n": 2, "reply_to": a_inbox})
        await wait_until(lambda: len(b_log) == 2)
        reply_to = b_log[1]["reply_to"]
        assert isinstance(reply_to, RemoteActorRef)
        assert reply_to.path == a.address + "/user/inbox"
        reply_to.tell("back")
        await wait_until(lambda: a_log == ["back"])


async def test_a_full_failing_mailbox_on_the_fast_path_costs_only_what_it_refuses():
    from atomr.core import BoundedMailbox

    release = asyncio.Event()

    class Stuck(Actor):
        async def handle(self, ctx, msg):
            await release.wait()

    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(Stuck).with_mailbox(BoundedMailbox(1, "fail")), "stuck")
        _, log = await recorder(b, "inbox")
        stuck = a.actor_selection(b.address + "/user/stuck")
        inbox = a.actor_selection(b.address + "/user/inbox")
        for i in range(20):
            stuck.tell(i)
        inbox.tell("after the overflow")
        await wait_until(lambda: log == ["after the overflow"])
        assert Remote.get(b).stats()["inbound_undelivered"] >= 1
        release.set()


def test_a_tell_from_the_loop_thread_while_the_loop_is_not_running_is_sent_at_once():
    got: list = []
    arrived = threading.Event()

    class Sink(Actor):
        def handle(self, ctx, msg):
            got.append(msg)
            arrived.set()

    remote = Config.from_dict({"remote": {"port": 0}})
    receiver = ActorSystem.create_blocking("rcv", remote)
    try:
        Remote.get(receiver)
        receiver.actor_of(props(Sink), "sink")
        with asyncio.Runner() as runner:
            sender = runner.run(ActorSystem.create("snd", remote))
            try:
                Remote.get(sender)
                sink = sender.actor_selection(receiver.address + "/user/sink")

                async def warm_up():
                    sink.tell("while running")  # teaches the fast path str
                    await asyncio.sleep(0)

                runner.run(warm_up())
                assert arrived.wait(DEADLINE)
                arrived.clear()
                # The sender's loop is idle now (not running): the send must
                # not wait for a turn of it.
                sink.tell("while stopped")
                assert arrived.wait(DEADLINE)
                assert got == ["while running", "while stopped"]
            finally:
                runner.run(sender.terminate())
    finally:
        receiver.terminate_blocking()


async def test_a_drain_answers_the_asks_it_delivered_in_the_same_turn():
    """Asks the C path delivered are handled inside the reader's callback
    (``Remote._on_readable``), and their answers leave from there, not in
    later callbacks of the loop."""
    import traceback

    seen: list = []

    class Where(Actor):
        def handle(self, ctx, msg):
            seen.append(any(f.name == "_on_readable" for f in traceback.extract_stack()))
            return msg

    # No time bound on a dispatcher drain: under load one could otherwise
    # leave the rest of a batch to a later turn.
    config = Config.from_dict({"actor": {"drain-deadline": 0}})
    async with remote_system("a") as a, contextlib.AsyncExitStack() as stack:
        b = await ActorSystem.create("b", config)
        stack.push_async_callback(lambda: asyncio.wait_for(b.terminate(), DEADLINE))
        Remote.get(b)
        b.actor_of(props(Where), "where")
        ref = a.actor_selection(b.address + "/user/where")
        assert await ref.ask(0, timeout=DEADLINE) == 0  # the Python path teaches the C path
        del seen[:]
        for i in range(5):
            assert await ref.ask(i, timeout=DEADLINE) == i
        got = await asyncio.gather(*[ref.ask(i, timeout=DEADLINE) for i in range(50)])
        assert got == list(range(50))
        assert len(seen) == 55 and all(seen), seen
