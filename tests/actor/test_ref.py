"""ActorRef: tell / tell_with_sender / ask / ask_blocking, stopping, identity,
timeouts and dead letters."""

from __future__ import annotations

import asyncio
import math
import pickle
import threading
import time

import pytest

from atomr import (
    Actor,
    ActorRef,
    ActorTerminatedError,
    AskError,
    AskTimeoutError,
    AtomrError,
    props,
)

# An ask's failure must arrive within its timeout plus this margin (loaded machine).
MARGIN = 1.0


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


class SenderProbe(Actor):
    """Replies with the sender it saw."""

    def handle(self, ctx, msg):
        return ctx.sender


class Collector(Actor):
    def __init__(self):
        self.got = []

    def handle(self, ctx, msg):
        if msg == "get":
            return list(self.got)
        self.got.append((msg, ctx.sender))
        return None


class ThreadProbe(Actor):
    def handle(self, ctx, msg):
        return threading.current_thread()


class Stalling(Actor):
    """Answers only after `release` is set (the handler really awaits)."""

    def __init__(self, release: asyncio.Event):
        self.release = release

    async def handle(self, ctx, msg):
        await self.release.wait()
        return msg


# -- tell / tell_with_sender -------------------------------------------------------


async def test_tell_delivers_without_sender(system):
    coll = system.actor_of(props(Collector), "coll")
    coll.tell("a")
    assert await coll.ask("get") == [("a", None)]


async def test_tell_with_sender_exposes_that_ref_as_ctx_sender(system):
    coll = system.actor_of(props(Collector), "coll")
    other = system.actor_of(props(Echo), "other")
    coll.tell_with_sender("a", other)
    got = await coll.ask("get")
    assert got == [("a", other)]
    assert got[0][1] is not None and got[0][1].path == "akka://app/user/other"


async def test_ask_has_no_sender(system):
    probe = system.actor_of(props(SenderProbe), "probe")
    assert await probe.ask("who") is None


async def test_sender_can_be_used_to_reply(system, wait_until):
    class Replier(Actor):
        def handle(self, ctx, msg):
            ctx.sender.tell(("re", msg))

    replier = system.actor_of(props(Replier), "replier")
    coll = system.actor_of(props(Collector), "coll")
    replier.tell_with_sender("hello", coll)
    got = await wait_until(lambda: coll.ask("get"))
    assert got == [(("re", "hello"), None)]


async def test_tell_with_sender_rejects_a_non_ref_sender(system):
    coll = system.actor_of(props(Collector), "coll")
    with pytest.raises(TypeError):
        coll.tell_with_sender("a", "not-a-ref")
    assert await coll.ask("get") == []


async def test_tell_with_sender_none_is_a_plain_tell(system):
    coll = system.actor_of(props(Collector), "coll")
    coll.tell_with_sender("a", None)
    assert await coll.ask("get") == [("a", None)]


async def test_tell_with_key_is_delivered_like_a_tell(system):
    coll = system.actor_of(props(Collector), "coll")
    coll.tell_with_key("k", key=42)
    coll.tell_with_key("big", 2**70)
    assert await coll.ask("get") == [("k", None), ("big", None)]


async def test_per_sender_order_is_kept_with_interleaved_senders(system):
    coll = system.actor_of(props(Collector), "coll")
    s1 = system.actor_of(props(Echo), "s1")
    s2 = system.actor_of(props(Echo), "s2")
    for i in range(500):
        coll.tell_with_sender(i, s1)
        coll.tell_with_sender(i, s2)
    got = await coll.ask("get")
    assert [m for m, s in got if s == s1] == list(range(500))
    assert [m for m, s in got if s == s2] == list(range(500))


async def test_tell_works_across_systems_in_one_process(system, blocking_system, wait_until):
    coll = blocking_system.actor_of(props(Collector), "coll")
    sender = system.actor_of(props(Echo), "sender")
    coll.tell_with_sender("cross", sender)
    got = await wait_until(lambda: coll.ask("get"))
    assert got == [("cross", sender)]


# -- ask --------------------------------------------------------------------------------


async def test_ask_on_the_systems_own_loop(system):
    ref = system.actor_of(props(Echo), "echo")
    assert await ref.ask(41) == 41


async def test_concurrent_asks_each_get_their_own_reply(system):
    ref = system.actor_of(props(Echo), "echo")
    replies = await asyncio.gather(*(ref.ask(i) for i in range(200)))
    assert replies == list(range(200))


def test_ask_from_several_successive_foreign_loops(blocking_system):
    ref = blocking_system.actor_of(props(Echo), "echo")

    async def one(i):
        return await ref.ask(i, timeout=10)

    for i in range(5):
        assert asyncio.run(one(i)) == i


def test_concurrent_asks_from_a_foreign_loop(blocking_system):
    ref = blocking_system.actor_of(props(Echo), "echo")

    async def many():
        return await asyncio.gather(*(ref.ask(i, timeout=10) for i in range(100)))

    assert asyncio.run(many()) == list(range(100))


def test_ask_created_without_a_running_loop_can_be_awaited_on_a_later_loop(blocking_system):
    ref = blocking_system.actor_of(props(Echo), "echo")
    pending = ref.ask("later", timeout=10)
    assert asyncio.run(_await(pending)) == "later"


async def _await(aw):
    return await aw


def test_ask_blocking_from_another_thread(blocking_system):
    ref = blocking_system.actor_of(props(Echo), "echo")
    assert ref.ask_blocking("x", 5.0) == "x"
    assert ref.ask_blocking("y", timeout=5.0) == "y"
    assert ref.ask_blocking("z") == "z"


def test_ask_blocking_from_many_threads(blocking_system):
    ref = blocking_system.actor_of(props(Echo), "echo")
    results = {}

    def worker(n):
        results[n] = [ref.ask_blocking((n, i), 10.0) for i in range(200)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(not t.is_alive() for t in threads)
    assert results == {n: [(n, i) for i in range(200)] for n in range(4)}


def test_ask_blocking_reraises_handler_exception_with_its_type(blocking_system):
    class Failing(Actor):
        def handle(self, ctx, msg):
            raise LookupError(msg)

    ref = blocking_system.actor_of(props(Failing), "failing")
    with pytest.raises(LookupError, match="nope"):
        ref.ask_blocking("nope", 5.0)


async def test_ask_blocking_on_the_systems_own_loop_thread_raises(system):
    ref = system.actor_of(props(Echo), "echo")
    with pytest.raises(RuntimeError):
        ref.ask_blocking("x", 1.0)
    # Nothing was sent, and the actor is unaffected.
    assert await ref.ask("still fine") == "still fine"


def test_ask_blocking_inside_a_handler_raises_instead_of_deadlocking(blocking_system):
    class Nested(Actor):
        def handle(self, ctx, msg):
            try:
                msg.ask_blocking("inner", 1.0)
            except RuntimeError as exc:
                return ("RuntimeError", str(exc))
            return "no error"

    echo = blocking_system.actor_of(props(Echo), "echo")
    nested = blocking_system.actor_of(props(Nested), "nested")
    kind, text = nested.ask_blocking(echo, 5.0)
    assert kind == "RuntimeError"
    assert "loop" in text


# -- ask timeouts ---------------------------------------------------------------------------


async def test_ask_timeout_raises_ask_timeout_error_on_time(system):
    release = asyncio.Event()
    ref = system.actor_of(props(Stalling, factory=lambda: Stalling(release)), "stall")
    try:
        start = time.monotonic()
        with pytest.raises(AskTimeoutError) as info:
            await ref.ask("x", timeout=0.2)
        elapsed = time.monotonic() - start
        assert 0.15 <= elapsed < 0.2 + MARGIN
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value, AskError)
    finally:
        release.set()


def test_ask_timeout_from_a_foreign_loop(blocking_system):
    gate = threading.Event()

    class Gated(Actor):
        async def handle(self, ctx, msg):
            while not gate.is_set():
                await asyncio.sleep(0.005)
            return msg

    ref = blocking_system.actor_of(props(Gated), "gated")
    try:
        async def go():
            start = time.monotonic()
            with pytest.raises(AskTimeoutError):
                await ref.ask("x", timeout=0.2)
            return time.monotonic() - start

        elapsed = asyncio.run(go())
        assert 0.15 <= elapsed < 0.2 + MARGIN
    finally:
        gate.set()


def test_ask_blocking_timeout_raises_ask_timeout_error_on_time(blocking_system):
    gate = threading.Event()

    class Gated(Actor):
        async def handle(self, ctx, msg):
            while not gate.is_set():
                await asyncio.sleep(0.005)
            return msg

    ref = blocking_system.actor_of(props(Gated), "gated")
    try:
        start = time.monotonic()
        with pytest.raises(AskTimeoutError):
            ref.ask_blocking("x", 0.2)
        elapsed = time.monotonic() - start
        assert 0.15 <= elapsed < 0.2 + MARGIN
    finally:
        gate.set()
    # The actor is still alive and answers once released.
    assert ref.ask_blocking("after", 5.0) == "after"


def test_deferred_ask_timeout_raises_ask_timeout_error(blocking_system):
    gate = threading.Event()

    class Gated(Actor):
        async def handle(self, ctx, msg):
            while not gate.is_set():
                await asyncio.sleep(0.005)
            return msg

    ref = blocking_system.actor_of(props(Gated), "gated")
    try:
        pending = ref.ask("x", timeout=0.2)  # no running loop here
        start = time.monotonic()
        with pytest.raises(AskTimeoutError):
            asyncio.run(_await(pending))
        assert time.monotonic() - start < 0.2 + MARGIN
    finally:
        gate.set()


async def test_late_reply_after_timeout_is_ignored(system):
    release = asyncio.Event()
    ref = system.actor_of(props(Stalling, factory=lambda: Stalling(release)), "stall")
    with pytest.raises(AskTimeoutError):
        await ref.ask("first", timeout=0.1)
    release.set()
    # The late reply to "first" must not be taken for the reply to "second".
    assert await ref.ask("second", timeout=5) == "second"


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, math.nan])
async def test_ask_rejects_non_positive_or_nan_timeout_without_sending(system, bad):
    coll = system.actor_of(props(Collector), "coll")
    with pytest.raises(ValueError):
        coll.ask("x", timeout=bad)
    assert await coll.ask("get") == []


@pytest.mark.parametrize("bad", ["1", b"1", [1], object()])
async def test_ask_rejects_non_number_timeout(system, bad):
    coll = system.actor_of(props(Collector), "coll")
    with pytest.raises(TypeError):
        coll.ask("x", timeout=bad)
    assert await coll.ask("get") == []


@pytest.mark.parametrize("bad", [0, -1, math.nan])
def test_ask_blocking_rejects_non_positive_or_nan_timeout(blocking_system, bad):
    ref = blocking_system.actor_of(props(Echo), "echo")
    with pytest.raises(ValueError):
        ref.ask_blocking("x", bad)


def test_ask_blocking_rejects_non_number_timeout(blocking_system):
    ref = blocking_system.actor_of(props(Echo), "echo")
    with pytest.raises(TypeError):
        ref.ask_blocking("x", "5")


# -- stop / is_terminated / dead letters ---------------------------------------------------------


async def test_stop_terminates_the_actor(system, wait_until):
    ref = system.actor_of(props(Echo), "echo")
    assert await ref.ask(1) == 1
    assert not ref.is_terminated()
    ref.stop()
    await wait_until(ref.is_terminated)


def test_stop_from_another_thread_terminates_the_actor(blocking_system, wait_until_blocking):
    ref = blocking_system.actor_of(props(Echo), "echo")
    assert ref.ask_blocking(1, 5.0) == 1
    ref.stop()
    wait_until_blocking(ref.is_terminated)


async def test_ask_to_stopped_actor_fails_fast(system, wait_until):
    ref = system.actor_of(props(Echo), "echo")
    ref.stop()
    await wait_until(ref.is_terminated)
    start = time.monotonic()
    with pytest.raises(ActorTerminatedError) as info:
        await ref.ask("x", timeout=10)
    assert time.monotonic() - start < 2.0
    assert isinstance(info.value, AskError)
    assert isinstance(info.value, AtomrError)


def test_ask_blocking_to_stopped_actor_fails_fast(blocking_system, wait_until_blocking):
    ref = blocking_system.actor_of(props(Echo), "echo")
    ref.stop()
    wait_until_blocking(ref.is_terminated)
    start = time.monotonic()
    with pytest.raises(ActorTerminatedError):
        ref.ask_blocking("x", 10.0)
    assert time.monotonic() - start < 2.0


def test_foreign_loop_ask_to_stopped_actor_fails_fast(blocking_system, wait_until_blocking):
    ref = blocking_system.actor_of(props(Echo), "echo")
    ref.stop()
    wait_until_blocking(ref.is_terminated)

    async def go():
        start = time.monotonic()
        with pytest.raises(ActorTerminatedError):
            await ref.ask("x", timeout=10)
        return time.monotonic() - start

    assert asyncio.run(go()) < 2.0


async def test_asks_queued_behind_a_stop_fail_fast_with_actor_terminated(system, wait_until):
    release = asyncio.Event()
    entered = asyncio.Event()

    class Busy(Actor):
        async def handle(self, ctx, msg):
            entered.set()
            await release.wait()
            return msg

    ref = system.actor_of(props(Busy), "busy")
    first = asyncio.ensure_future(ref.ask("first", timeout=10))
    await asyncio.wait_for(entered.wait(), 10)
    queued = asyncio.ensure_future(ref.ask("queued", timeout=10))
    ref.stop()
    release.set()
    start = time.monotonic()
    assert await first == "first"
    with pytest.raises(ActorTerminatedError):
        await queued
    assert time.monotonic() - start < 5.0
    await wait_until(ref.is_terminated)


async def test_tell_to_stopped_actor_goes_to_dead_letters(system, wait_until):
    seen = []
    system.subscribe_dead_letters(lambda msg, sender, path: seen.append((msg, sender, path)))
    ref = system.actor_of(props(Echo), "echo")
    other = system.actor_of(props(Echo), "other")
    ref.stop()
    await wait_until(ref.is_terminated)
    before = system.dead_letter_count
    ref.tell("lost")
    ref.tell_with_sender("lost-too", other)
    await wait_until(lambda: system.dead_letter_count >= before + 2)
    await wait_until(lambda: len(seen) >= 2)
    assert seen == [("lost", None, "akka://app/user/echo"),
                    ("lost-too", other, "akka://app/user/echo")]


async def test_ask_to_stopped_actor_is_a_dead_letter(system, wait_until):
    seen = []
    system.subscribe_dead_letters(lambda msg, sender, path: seen.append(msg))
    ref = system.actor_of(props(Echo), "echo")
    ref.stop()
    await wait_until(ref.is_terminated)
    before = system.dead_letter_count
    with pytest.raises(ActorTerminatedError):
        await ref.ask("asked", timeout=10)
    assert system.dead_letter_count == before + 1
    assert seen == ["asked"]


async def test_unsubscribed_dead_letter_listener_is_not_called(system, wait_until):
    seen = []

    def listener(msg, sender, path):
        seen.append(msg)

    system.subscribe_dead_letters(listener)
    system.unsubscribe_dead_letters(listener)
    ref = system.actor_of(props(Echo), "echo")
    ref.stop()
    await wait_until(ref.is_terminated)
    before = system.dead_letter_count
    ref.tell("lost")
    await wait_until(lambda: system.dead_letter_count == before + 1)
    assert seen == []


def test_dead_letter_listener_runs_on_the_system_loop_thread(blocking_system,
                                                            wait_until_blocking):
    # ActorSystem.subscribe_dead_letters documents that listeners are called
    # on the system's loop thread, even for mail sent from another thread.
    threads = []
    blocking_system.subscribe_dead_letters(
        lambda msg, sender, path: threads.append(threading.current_thread()))
    ref = blocking_system.actor_of(props(Echo), "echo")
    ref.stop()
    wait_until_blocking(ref.is_terminated)
    ref.tell("lost")  # from the main thread
    wait_until_blocking(lambda: threads)
    where = blocking_system.actor_of(props(ThreadProbe), "where")
    loop_thread = where.ask_blocking("thread?", 5.0)
    assert loop_thread is not threading.current_thread()
    assert threads[0] is loop_thread, (
        f"listener ran on {threads[0].name}, not on the loop thread {loop_thread.name}")


async def test_is_terminated_is_false_while_alive(system):
    ref = system.actor_of(props(Echo), "echo")
    assert ref.is_terminated() is False
    await ref.ask("x")
    assert ref.is_terminated() is False


# -- identity ----------------------------------------------------------------------------------------


async def test_ref_path_is_under_the_user_guardian(system):
    ref = system.actor_of(props(Echo), "worker")
    assert ref.path == "akka://app/user/worker"


async def test_nested_ref_path_format(system):
    class Parent(Actor):
        async def handle(self, ctx, msg):
            child = await ctx.spawn(props(Echo), "child")
            return child.path

    worker = system.actor_of(props(Parent), "worker")
    assert await worker.ask("spawn") == "akka://app/user/worker/child"


async def test_ref_repr_shows_the_path(system):
    ref = system.actor_of(props(Echo), "worker")
    assert repr(ref) == "<ActorRef path=akka://app/user/worker>"


async def test_self_ref_equals_the_ref_returned_by_actor_of(system):
    class Self(Actor):
        def handle(self, ctx, msg):
            return ctx.self_ref

    ref = system.actor_of(props(Self), "me")
    me = await ref.ask("who")
    assert me == ref
    assert hash(me) == hash(ref)
    assert {ref: "value"}[me] == "value"


async def test_refs_of_different_actors_differ(system):
    a = system.actor_of(props(Echo), "a")
    b = system.actor_of(props(Echo), "b")
    assert a != b
    assert len({a, b}) == 2
    assert a != "akka://app/user/a"


async def test_ref_of_a_new_incarnation_differs_from_the_old_one(system, wait_until):
    old = system.actor_of(props(Echo), "same")
    old.stop()
    await wait_until(old.is_terminated)
    new = system.actor_of(props(Echo), "same")
    assert new.path == old.path
    assert new != old
    assert await new.ask("hi") == "hi"


async def test_refs_are_usable_as_dict_keys(system):
    refs = [system.actor_of(props(Echo), f"a{i}") for i in range(5)]
    table = {r: i for i, r in enumerate(refs)}
    assert [table[r] for r in refs] == list(range(5))


def test_actor_ref_cannot_be_constructed_from_python():
    with pytest.raises(TypeError):
        ActorRef()


async def test_actor_ref_cannot_be_pickled(system):
    ref = system.actor_of(props(Echo), "echo")
    with pytest.raises(TypeError):
        pickle.dumps(ref)


async def test_ask_with_no_timeout_waits_for_the_reply(system):
    ref = system.actor_of(props(Echo), "echo")
    assert await ref.ask("forever", timeout=None) == "forever"


async def test_ask_blocking_from_a_worker_thread_into_a_loop_bound_system(system):
    ref = system.actor_of(props(Echo), "echo")
    replies = await asyncio.to_thread(lambda: [ref.ask_blocking(i, 10.0) for i in range(50)])
    assert replies == list(range(50))


async def test_tells_from_a_worker_thread_into_a_loop_bound_system_keep_order(system,
                                                                             wait_until):
    coll = system.actor_of(props(Collector), "coll")

    def send():
        for i in range(2000):
            coll.tell(i)

    await asyncio.to_thread(send)
    got = await wait_until(lambda: _when_len(coll.ask("get"), 2000))
    assert [m for m, _ in got] == list(range(2000))


async def _when_len(aw, n):
    value = await aw
    return value if len(value) >= n else None


def test_late_reply_to_an_asker_whose_loop_has_closed_is_dropped_quietly(blocking_system,
                                                                         caplog):
    gate = threading.Event()

    class Gated(Actor):
        async def handle(self, ctx, msg):
            while not gate.is_set():
                await asyncio.sleep(0.005)
            return msg

    ref = blocking_system.actor_of(props(Gated), "gated")

    async def ask_and_give_up():
        with pytest.raises(AskTimeoutError):
            await ref.ask("late", timeout=0.1)

    asyncio.run(ask_and_give_up())  # that loop is now closed
    with caplog.at_level("ERROR", logger="atomr"):
        gate.set()
        assert ref.ask_blocking("next", 5.0) == "next"
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not ref.is_terminated()


async def test_ask_from_a_foreign_loop_into_a_loop_bound_system(system):
    ref = system.actor_of(props(Echo), "echo")

    async def foreign():
        return [await ref.ask(i, timeout=10) for i in range(20)]

    assert await asyncio.to_thread(asyncio.run, foreign()) == list(range(20))


async def test_failing_dead_letter_listener_does_not_break_tell_or_other_listeners(
        system, wait_until):
    seen = []

    def broken(msg, sender, path):
        raise RuntimeError("listener bug")

    system.subscribe_dead_letters(broken)
    system.subscribe_dead_letters(lambda msg, sender, path: seen.append(msg))
    ref = system.actor_of(props(Echo), "echo")
    ref.stop()
    await wait_until(ref.is_terminated)
    ref.tell("lost")  # must not raise
    await wait_until(lambda: seen)
    assert seen == ["lost"]


# -- with_path ---------------------------------------------------------------------


REMOTE = "akka://app@10.0.0.7:2552/user/echo"


async def test_with_path_reports_the_path_and_shares_the_mailbox(system):
    ref = system.actor_of(props(Collector), "echo")
    remote = ref.with_path(REMOTE)
    assert isinstance(remote, ActorRef)
    assert remote.path == REMOTE and remote.name == "echo"
    assert ref.path == "akka://app/user/echo"
    remote.tell(1)
    ref.tell(2)
    assert await remote.ask("get") == [(1, None), (2, None)]


async def test_with_path_ref_is_seen_as_the_sender_with_its_path(system):
    collector = system.actor_of(props(Collector), "collector")
    me = system.actor_of(props(Echo), "me").with_path("akka://app@host:1/user/me")
    collector.tell_with_sender("x", me)
    [(msg, sender)] = await collector.ask("get")
    assert sender == me and sender.path == "akka://app@host:1/user/me"


async def test_with_path_equality_is_same_actor_and_same_path(system, wait_until):
    ref = system.actor_of(props(Echo), "echo")
    remote = ref.with_path(REMOTE)
    assert remote == ref.with_path(REMOTE) and hash(remote) == hash(ref.with_path(REMOTE))
    assert remote != ref
    assert ref.with_path(ref.path) == ref and hash(ref.with_path(ref.path)) == hash(ref)
    assert len({ref, remote, ref.with_path(REMOTE)}) == 2
    remote.stop()
    await wait_until(ref.is_terminated)
    assert remote.is_terminated()


async def test_with_path_rejects_a_non_path(system):
    ref = system.actor_of(props(Echo), "echo")
    with pytest.raises(TypeError):
        ref.with_path(42)
    for bad in ["", "echo", "akka://", "akka:///user/x", "akka://app/user/"]:
        with pytest.raises(ValueError):
            ref.with_path(bad)
