"""ActorSystem: construction (async and blocking), spawning top-level actors,
termination, and many threads talking to one system."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from atomr import (
    Actor,
    ActorSystem,
    ActorSystemTerminatedError,
    ActorTerminatedError,
    props,
)


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


class WhereAmI(Actor):
    def handle(self, ctx, msg):
        return threading.current_thread(), asyncio.get_running_loop()


# -- construction -----------------------------------------------------------------


async def test_create_binds_the_system_to_the_running_loop(system):
    assert system.name == "app"
    assert system.loop is asyncio.get_running_loop()
    ref = system.actor_of(props(WhereAmI), "where")
    thread, loop = await ref.ask("?")
    assert thread is threading.current_thread()
    assert loop is asyncio.get_running_loop()


def test_create_blocking_runs_actors_on_a_dedicated_loop_thread(blocking_system):
    assert blocking_system.name == "app"
    ref = blocking_system.actor_of(props(WhereAmI), "where")
    thread, loop = ref.ask_blocking("?", 5.0)
    assert thread is not threading.current_thread()
    assert thread.is_alive()
    assert loop is blocking_system.loop


def test_create_blocking_accepts_a_config(make_blocking_system):
    from atomr import Config

    s = make_blocking_system("cfg", Config.from_dict({"actor": {"throughput": 3}}))
    assert s.config.get_int("actor.throughput") == 3
    assert s.actor_of(props(Echo), "e").ask_blocking("ok", 5.0) == "ok"


def test_system_cannot_be_constructed_directly():
    with pytest.raises(TypeError):
        ActorSystem("app")


def test_systems_with_equal_names_coexist(make_blocking_system):
    first = make_blocking_system("twin")
    second = make_blocking_system("twin")
    a = first.actor_of(props(Echo), "worker")
    b = second.actor_of(props(Echo), "worker")
    assert a.path == b.path == "akka://twin/user/worker"
    assert a != b
    assert a.ask_blocking("a", 5.0) == "a"
    assert b.ask_blocking("b", 5.0) == "b"
    first.terminate_blocking(timeout=10)
    assert b.ask_blocking("b still", 5.0) == "b still"


async def test_actor_of_returns_at_once_and_the_actor_starts_asynchronously(system):
    started = []

    class Starter(Actor):
        def pre_start(self, ctx):
            started.append(True)

        def handle(self, ctx, msg):
            return msg

    ref = system.actor_of(props(Starter), "starter")
    assert started == []  # start is asynchronous: nothing ran on the caller's stack
    assert await ref.ask("go") == "go"
    assert started == [True]


def test_actor_of_from_several_threads(blocking_system):
    refs = {}

    def spawn(n):
        refs[n] = blocking_system.actor_of(props(Echo), f"w{n}")

    threads = [threading.Thread(target=spawn, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.path for r in refs.values()) == sorted(
        f"akka://app/user/w{n}" for n in range(8))
    assert all(refs[n].ask_blocking(n, 5.0) == n for n in range(8))


async def test_top_level_looks_up_live_top_level_actors(system, wait_until):
    ref = system.actor_of(props(Echo), "worker")
    assert system.top_level("worker") == ref
    assert system.top_level("nobody") is None
    ref.stop()
    await wait_until(ref.is_terminated)
    assert system.top_level("worker") is None


# -- termination -------------------------------------------------------------------


async def test_terminate_stops_every_actor_and_marks_the_system_terminated(wait_until):
    s = await ActorSystem.create("term")
    try:
        refs = [s.actor_of(props(Echo), f"a{i}") for i in range(3)]
        assert [await r.ask(i) for i, r in enumerate(refs)] == [0, 1, 2]
        assert not s.is_terminated
        await asyncio.wait_for(s.terminate(), 10)
        assert s.is_terminated
        assert all(r.is_terminated() for r in refs)
    finally:
        await asyncio.wait_for(s.terminate(), 10)


async def test_when_terminated_resolves_only_after_terminate():
    s = await ActorSystem.create("wt")
    try:
        waiter = asyncio.ensure_future(s.when_terminated())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiter.done()
        await asyncio.wait_for(s.terminate(), 10)
        await asyncio.wait_for(waiter, 10)
        # Already terminated: resolves at once.
        await asyncio.wait_for(s.when_terminated(), 1)
    finally:
        await asyncio.wait_for(s.terminate(), 10)


def test_when_terminated_is_awaitable_from_a_different_loop():
    s = ActorSystem.create_blocking("wt")
    try:
        async def scenario():
            waiter = asyncio.ensure_future(s.when_terminated())
            for _ in range(20):
                await asyncio.sleep(0)
            assert not waiter.done()
            await asyncio.wait_for(s.terminate(), 10)
            await asyncio.wait_for(waiter, 10)

        asyncio.run(scenario())
        assert s.is_terminated
        # And from yet another loop, after the fact.
        asyncio.run(asyncio.wait_for(_await(s.when_terminated()), 5))
    finally:
        s.terminate_blocking(timeout=10)


async def _await(aw):
    return await aw


def test_when_terminated_resolves_when_another_thread_terminates():
    s = ActorSystem.create_blocking("wt")
    try:
        done = threading.Event()

        def watcher():
            asyncio.run(_await(s.when_terminated()))
            done.set()

        t = threading.Thread(target=watcher)
        t.start()
        assert not done.wait(0.05)  # nothing resolves it before terminate
        s.terminate_blocking(timeout=10)
        assert done.wait(10)
        t.join(10)
    finally:
        s.terminate_blocking(timeout=10)


def test_terminate_blocking_runs_post_stop_and_stops_the_loop_thread():
    stopped = []

    class Tracked(Actor):
        def handle(self, ctx, msg):
            return threading.current_thread()

        def post_stop(self, ctx):
            stopped.append(ctx.path)

    s = ActorSystem.create_blocking("tb")
    try:
        ref = s.actor_of(props(Tracked), "t")
        loop_thread = ref.ask_blocking("thread", 5.0)
        s.terminate_blocking(timeout=10)
        assert stopped == ["akka://tb/user/t"]
        assert s.is_terminated
        assert ref.is_terminated()
        assert not loop_thread.is_alive()
    finally:
        s.terminate_blocking(timeout=10)


def test_terminate_blocking_is_idempotent(make_blocking_system):
    s = make_blocking_system("idem")
    s.terminate_blocking(timeout=10)
    s.terminate_blocking(timeout=10)
    assert s.is_terminated


async def test_terminate_blocking_on_the_systems_own_loop_thread_raises(system):
    with pytest.raises(RuntimeError):
        system.terminate_blocking()
    assert not system.is_terminated
    assert await system.actor_of(props(Echo), "e").ask("alive") == "alive"


def test_terminate_from_a_foreign_loop(make_blocking_system):
    s = make_blocking_system("foreign")
    ref = s.actor_of(props(Echo), "e")
    assert ref.ask_blocking(1, 5.0) == 1
    asyncio.run(asyncio.wait_for(_await(s.terminate()), 10))
    assert s.is_terminated
    assert ref.is_terminated()


async def test_actor_of_on_a_terminated_system_raises():
    s = await ActorSystem.create("gone")
    await asyncio.wait_for(s.terminate(), 10)
    with pytest.raises(ActorSystemTerminatedError):
        s.actor_of(props(Echo), "late")
    with pytest.raises(ActorSystemTerminatedError):
        s.actor_of(props(Echo))


async def test_actor_of_while_the_system_is_terminating_raises():
    s = await ActorSystem.create("closing")
    s.actor_of(props(Echo), "e")
    pending = s.terminate()
    try:
        with pytest.raises(ActorSystemTerminatedError):
            s.actor_of(props(Echo), "late")
    finally:
        await asyncio.wait_for(pending, 10)


def test_actor_of_on_a_terminated_blocking_system_raises(make_blocking_system):
    s = make_blocking_system("gone")
    s.terminate_blocking(timeout=10)
    with pytest.raises(ActorSystemTerminatedError):
        s.actor_of(props(Echo), "late")


def test_asks_to_actors_of_a_terminated_system_fail_fast(make_blocking_system):
    s = make_blocking_system("gone")
    ref = s.actor_of(props(Echo), "e")
    assert ref.ask_blocking(1, 5.0) == 1
    s.terminate_blocking(timeout=10)
    start = time.monotonic()
    with pytest.raises(ActorTerminatedError):
        ref.ask_blocking("x", 10.0)

    async def foreign():
        with pytest.raises(ActorTerminatedError):
            await ref.ask("y", timeout=10)

    asyncio.run(foreign())
    assert time.monotonic() - start < 4.0
    before = s.dead_letter_count
    ref.tell("z")
    assert s.dead_letter_count == before + 1


# -- many threads --------------------------------------------------------------------------


def test_four_threads_telling_twenty_thousand_each_all_arrive_in_per_thread_order(
        blocking_system, wait_until_blocking):
    per_thread = 20_000
    n_threads = 4

    class Counter(Actor):
        def __init__(self):
            self.count = 0
            self.last = [-1] * n_threads
            self.out_of_order = 0

        def handle(self, ctx, msg):
            tid, seq = msg
            if seq != self.last[tid] + 1:
                self.out_of_order += 1
            self.last[tid] = seq
            self.count += 1

    counter = Counter()
    ref = blocking_system.actor_of(props(Counter, factory=lambda: counter), "counter")
    barrier = threading.Barrier(n_threads)

    def sender(tid):
        barrier.wait()
        for seq in range(per_thread):
            ref.tell((tid, seq))

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    wait_until_blocking(lambda: counter.count >= n_threads * per_thread, timeout=60,
                        message=f"only {counter.count} messages arrived")
    assert counter.count == n_threads * per_thread
    assert counter.out_of_order == 0
    assert counter.last == [per_thread - 1] * n_threads
    assert blocking_system.dead_letter_count == 0


async def test_actor_of_without_a_name_generates_a_unique_anonymous_name(system):
    a = system.actor_of(props(Echo))
    b = system.actor_of(props(Echo))
    assert a.path.startswith("akka://app/user/$")
    assert b.path.startswith("akka://app/user/$")
    assert a.path != b.path
    assert await a.ask("a") == "a"


def test_terminate_requested_from_inside_a_handler(make_blocking_system,
                                                   wait_until_blocking):
    stopped = []

    class Shutdown(Actor):
        def handle(self, ctx, msg):
            ctx.system.terminate()
            return "terminating"

        def post_stop(self, ctx):
            stopped.append(ctx.path)

    s = make_blocking_system("inner")
    ref = s.actor_of(props(Shutdown), "shutdown")
    assert ref.ask_blocking("now", 5.0) == "terminating"
    wait_until_blocking(lambda: s.is_terminated)
    assert stopped == ["akka://inner/user/shutdown"]


async def test_terminate_waits_for_async_post_stop_hooks():
    finished = []

    class SlowStop(Actor):
        def handle(self, ctx, msg):
            return msg

        async def post_stop(self, ctx):
            await asyncio.sleep(0.05)
            finished.append(ctx.path)

    s = await ActorSystem.create("slowstop")
    try:
        refs = [s.actor_of(props(SlowStop), f"s{i}") for i in range(3)]
        for r in refs:
            await r.ask("up")
        await asyncio.wait_for(s.terminate(), 10)
        assert sorted(finished) == sorted(r.path for r in refs)
    finally:
        await asyncio.wait_for(s.terminate(), 10)
