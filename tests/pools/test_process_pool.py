"""python-process-pool: actors in worker processes linked by the remote
transport. Every test ends its pools (and so their processes)."""

from __future__ import annotations

import os
import signal
import time
from typing import Iterator

import pytest

import atomr.interpreter as interp
from atomr import ActorSystem, InterpreterOverloaded, InterpreterQuota, props
from atomr.errors import ActorNameTakenError, RemoteError
from atomr.remote import RemoteActorRef

from pools._actors import Echo, Watcher

#: Generous: worker processes start on a loaded 2-core machine.
DEADLINE = 60.0


def wait_until(pred, timeout):
    """Polls `pred` until it is truthy; fails at the deadline."""
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def system() -> Iterator[ActorSystem]:
    s = ActorSystem.create_blocking("parent")
    try:
        yield s
    finally:
        interp.shutdown_pools()
        s.terminate_blocking()


def _ask_until(ref, msg, deadline=DEADLINE):
    """Asks until an answer comes (a restarted worker takes a while)."""
    end = time.monotonic() + deadline
    while True:
        try:
            return ref.ask_blocking(msg, 2.0)
        except Exception:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def test_actors_run_in_worker_processes_and_answer_like_local_ones(system):
    system.configure_interpreter("cpu", "python-process-pool", count=2)
    refs = [system.actor_of(props(Echo, interpreter_role="cpu"), f"e{i}") for i in range(4)]
    assert all(isinstance(r, RemoteActorRef) for r in refs)
    pids = {r.ask_blocking("pid", DEADLINE) for r in refs}
    assert len(pids) == 2 and os.getpid() not in pids
    refs[0].tell("x")
    refs[0].tell("y")
    assert refs[0].ask_blocking("count", DEADLINE) == 4  # pid, x, y, count: in order
    assert refs[1].ask_blocking({"k": [1, 2]}, DEADLINE) == {"k": [1, 2]}


async def test_async_ask_from_a_loop(system):
    system.configure_interpreter("cpu", "python-process-pool", count=1)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    assert await ref.ask("hi", DEADLINE) == "hi"


def test_a_failure_in_the_worker_restarts_the_actor_there(system):
    system.configure_interpreter("cpu", "python-process-pool", count=1)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    assert ref.ask_blocking("count", DEADLINE) == 1
    # an ask that raises answers the asker with the error, as locally
    with pytest.raises(RemoteError, match="boom"):
        ref.ask_blocking("boom", DEADLINE)
    assert ref.ask_blocking("count", DEADLINE) == 3
    # a failing tell: the worker's default strategy restarts the actor
    # before its next message (a fresh instance)
    ref.tell("boom")
    assert ref.ask_blocking("count", DEADLINE) == 1


def test_a_killed_worker_comes_back_with_its_actors(system):
    system.configure_interpreter("cpu", "python-process-pool", count=1)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    pid = ref.ask_blocking("pid", DEADLINE)
    os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + DEADLINE
    while True:
        try:
            new_pid = ref.ask_blocking("pid", 2.0)
            if new_pid != pid:
                break
        except Exception:
            pass
        assert time.monotonic() < end, "the worker did not come back"
        time.sleep(0.05)
    assert ref.ask_blocking("hello", DEADLINE) == "hello"
    m = [m for m in interp.interpreter_metrics() if m["label"] == "cpu"][0]
    assert m["worker_restarts"] == 1 and m["actors_hosted"] == 1


def test_a_local_actor_watches_a_pooled_one(system):
    system.configure_interpreter("cpu", "python-process-pool", count=1)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    assert ref.ask_blocking("ping", DEADLINE) == "ping"
    watcher = system.actor_of(props(Watcher), "w")
    assert watcher.ask_blocking(ref, DEADLINE) is True
    ref.tell("stop")
    wait_until(lambda: watcher.ask_blocking("seen", DEADLINE) == [ref.path], DEADLINE)


def test_max_actors_is_enforced_at_the_call_and_a_stopped_actor_frees_its_slot(system):
    system.configure_interpreter("cpu", "python-process-pool", count=2,
                                 quota=InterpreterQuota(max_actors=2))
    a = system.actor_of(props(Echo, interpreter_role="cpu"), "a")
    system.actor_of(props(Echo, interpreter_role="cpu"))
    with pytest.raises(InterpreterOverloaded, match="cpu"):
        system.actor_of(props(Echo, interpreter_role="cpu"), "c")
    with pytest.raises(ActorNameTakenError):
        system.actor_of(props(Echo, interpreter_role="cpu"), "a")
    assert a.ask_blocking("ping", DEADLINE) == "ping"
    a.tell("stop")
    end = time.monotonic() + DEADLINE
    while True:
        try:
            c = system.actor_of(props(Echo, interpreter_role="cpu"), "c")
            break
        except InterpreterOverloaded:
            assert time.monotonic() < end
            time.sleep(0.05)
    assert c.ask_blocking("ping", DEADLINE) == "ping"


def test_the_deny_list_refuses_imports_in_the_worker(system):
    system.configure_interpreter("cpu", "python-process-pool", count=1,
                                 quota=InterpreterQuota(module_denylist=["csv"]))
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    with pytest.raises(RemoteError, match="denied"):
        ref.ask_blocking("import-denied", DEADLINE)


def test_the_memory_soft_limit_fails_a_big_allocation(system):
    system.configure_interpreter("cpu", "python-process-pool", count=1,
                                 quota=InterpreterQuota(memory_soft_limit_bytes=3 << 29))
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    assert ref.ask_blocking("ping", DEADLINE) == "ping"
    with pytest.raises(RemoteError, match="MemoryError"):
        ref.ask_blocking("allocate", DEADLINE)  # 2 GiB, untouched: fine without the limit


def test_process_pool_metrics_sum_the_workers(system):
    system.configure_interpreter("cpu", "python-process-pool", count=2)
    refs = [system.actor_of(props(Echo, interpreter_role="cpu")) for _ in range(2)]
    for r in refs:
        for i in range(5):
            assert r.ask_blocking(i, DEADLINE) == i
    m = [m for m in interp.interpreter_metrics() if m["label"] == "cpu"][0]
    assert m["kind"] == "python-process-pool" and m["workers"] == 2
    assert m["actors_hosted"] == 2
    assert m["messages_handled"] >= 10


def test_classes_a_worker_cannot_import_are_refused_at_the_call(system):
    from atomr import Actor

    class Local(Actor):
        def handle(self, ctx, msg):
            return msg

    system.configure_interpreter("cpu", "python-process-pool", count=1)
    with pytest.raises(TypeError, match="top level"):
        system.actor_of(props(Local, interpreter_role="cpu"), "l")
    with pytest.raises(TypeError, match="actor class"):
        system.actor_of(props(lambda: Echo(), interpreter_role="cpu"), "l")


def test_an_unknown_label_with_the_process_pool_dispatcher_creates_a_one_worker_pool(system):
    ref = system.actor_of(props(Echo, dispatcher="python-process-pool",
                                interpreter_role="auto"), "e")
    assert ref.ask_blocking("pid", DEADLINE) != os.getpid()
    cfg = interp.pool_config("auto")
    assert cfg is not None and (cfg["kind"], cfg["count"]) == ("python-process-pool", 1)
