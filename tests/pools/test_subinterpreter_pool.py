"""python-subinterpreter-pool: actors in own-GIL subinterpreters (Python
3.12+). Skipped where subinterpreters_supported() is False; `make test`
runs this module under pyenv's 3.12 (`make test-subinterpreters`).

Every test ends its pools, and the fixture checks that no interpreter or
channel outlives them."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterator

import pytest

import atomr
import atomr.interpreter as interp
from atomr import Actor, ActorSystem, InterpreterOverloaded, InterpreterQuota, Terminated, props
from atomr.errors import ActorNameTakenError, ActorTerminatedError, AtomrError

from pools._subactors import Echo, Restarts, Watcher

pytestmark = pytest.mark.skipif(not atomr.subinterpreters_supported(),
                                reason="needs own-GIL subinterpreters (Python 3.12+)")

#: Generous: interpreters start on a loaded 2-core machine.
DEADLINE = 30.0
POOL = "python-subinterpreter-pool"


def wait_until(pred, timeout=DEADLINE):
    """Polls `pred` until it is truthy; fails at the deadline."""
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


def _native():
    from atomr._native import _subinterp

    return _subinterp


@pytest.fixture
def system() -> Iterator[ActorSystem]:
    chan = _native()
    channels = chan.channel_count()
    s = ActorSystem.create_blocking("main")
    try:
        yield s
    finally:
        interp.shutdown_pools()
        s.terminate_blocking()
    assert chan.interp_count() == 0
    assert chan.channel_count() == channels


class Inbox(Actor):
    """A main-interpreter actor: records what it gets (``"got"`` answers)."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    def handle(self, ctx, msg):
        if msg == "got":
            return list(self.got)
        if isinstance(msg, tuple) and msg and msg[0] == "watch":
            ctx.watch(msg[1])
            return True
        self.got.append(msg.path if isinstance(msg, Terminated) else msg)
        return None


def _got(ref, n):
    wait_until(lambda: len(ref.ask_blocking("got", DEADLINE)) >= n)
    return ref.ask_blocking("got", DEADLINE)


def test_actors_run_in_their_own_interpreters_and_answer_like_local_ones(system):
    system.configure_interpreter("cpu", POOL, count=2)
    refs = [system.actor_of(props(Echo, interpreter_role="cpu"), f"e{i}") for i in range(4)]
    where = [r.ask_blocking("where", DEADLINE) for r in refs]
    assert 0 not in where and len(set(where)) == 2
    assert where[0] == where[2] and where[1] == where[3]  # the fewest actors first
    for i in range(100):
        refs[0].tell(i)
    assert refs[0].ask_blocking("count", DEADLINE) == 102  # every tell, in order, first
    assert refs[1].ask_blocking({"a": [1, 2.5, "x"]}, DEADLINE) == {"a": [1, 2.5, "x"]}
    assert refs[0].path == "akka://main@cpu.0/user/e0" and refs[0].name == "e0"

    async def asks():
        return await asyncio.gather(*(r.ask(n, DEADLINE) for n, r in enumerate(refs)))

    assert asyncio.run(asks()) == [0, 1, 2, 3]


def test_a_failing_actor_restarts_in_its_interpreter(system):
    system.configure_interpreter("cpu", POOL, count=1)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    where = ref.ask_blocking("where", DEADLINE)
    assert ref.ask_blocking("count", DEADLINE) == 2
    with pytest.raises(ValueError, match="boom"):
        ref.ask_blocking("boom", DEADLINE)
    assert ref.ask_blocking("count", DEADLINE) == 1  # a fresh instance
    assert ref.ask_blocking("where", DEADLINE) == where
    hooks = system.actor_of(props(Restarts, interpreter_role="cpu"), "hooks")
    with pytest.raises(RuntimeError, match="first"):
        hooks.ask_blocking("first", DEADLINE)
    assert hooks.ask_blocking("hooks", DEADLINE) == ["pre_start", "post_restart:first"]
    m = [m for m in interp.interpreter_metrics() if m["label"] == "cpu"][0]
    assert m["kind"] == POOL and m["handler_panics"] == 2 and m["actor_restarts"] == 2
    assert m["actors_hosted"] == 2 and m["messages_handled"] >= 7


def test_main_actors_watch_pooled_actors(system):
    system.configure_interpreter("cpu", POOL, count=1)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    inbox = system.actor_of(props(Inbox), "inbox")
    assert inbox.ask_blocking(("watch", ref), DEADLINE) is True
    assert ref.ask_blocking("stop", DEADLINE) == "stopping"
    assert _got(inbox, 1) == [ref.path]
    assert ref.is_terminated()
    with pytest.raises(ActorTerminatedError):
        ref.ask_blocking(1, DEADLINE)
    # watching a stopped actor: Terminated at once
    assert inbox.ask_blocking(("watch", ref), DEADLINE) is True
    assert _got(inbox, 2) == [ref.path, ref.path]
    # ref.stop() from the main interpreter
    other = system.actor_of(props(Echo, interpreter_role="cpu"), "other")
    assert inbox.ask_blocking(("watch", other), DEADLINE) is True
    other.stop()
    assert _got(inbox, 3)[-1] == other.path


def test_pooled_actors_watch_each_other_in_their_interpreter(system):
    system.configure_interpreter("cpu", POOL, count=1)
    watcher = system.actor_of(props(Watcher, interpreter_role="cpu"), "w")
    target = system.actor_of(props(Echo, interpreter_role="cpu"), "t")
    assert watcher.ask_blocking(target, DEADLINE) is True
    target.stop()
    wait_until(lambda: watcher.ask_blocking("seen", DEADLINE) == [target.path])


def test_pooled_actors_watch_actors_of_another_interpreter(system):
    system.configure_interpreter("cpu", POOL, count=2)
    watcher = system.actor_of(props(Watcher, interpreter_role="cpu"), "w")
    target = system.actor_of(props(Echo, interpreter_role="cpu"), "t")
    assert watcher._worker != target._worker  # one in each interpreter
    assert watcher.ask_blocking(target, DEADLINE) is True
    # the watch is relayed by the main interpreter: wait until it is registered
    wait_until(lambda: len(target._watchers) == 1)
    assert target.ask_blocking("stop", DEADLINE) == "stopping"
    wait_until(lambda: watcher.ask_blocking("seen", DEADLINE) == [target.path])


def test_refs_cross_in_messages_both_ways(system):
    system.configure_interpreter("cpu", POOL, count=2)
    a = system.actor_of(props(Echo, interpreter_role="cpu"), "a")
    b = system.actor_of(props(Echo, interpreter_role="cpu"), "b")
    assert a.ask_blocking("where", DEADLINE) != b.ask_blocking("where", DEADLINE)
    inbox = system.actor_of(props(Inbox), "inbox")
    a.tell(("tell", inbox, "from a"))                  # a main ref inside a message
    a.tell(("reply", "to the sender"), sender=inbox)   # ctx.sender in the pool
    assert _got(inbox, 2) == ["from a", "to the sender"]
    # a pooled actor tells one in the other interpreter (through the main one)
    a.tell(("tell", b, ("tell", inbox, "via b")))
    assert _got(inbox, 3)[-1] == "via b"
    # ... and one in its own interpreter
    c = system.actor_of(props(Echo, interpreter_role="cpu"), "c")
    assert c.ask_blocking("where", DEADLINE) == a.ask_blocking("where", DEADLINE)
    a.tell(("tell", c, ("tell", inbox, "via c")))
    assert _got(inbox, 4)[-1] == "via c"


def test_max_actors_is_enforced_and_a_stopped_actor_frees_its_slot(system):
    system.configure_interpreter("small", POOL, count=2, quota=InterpreterQuota(max_actors=2))
    a = system.actor_of(props(Echo, interpreter_role="small"), "a")
    system.actor_of(props(Echo, interpreter_role="small"))
    with pytest.raises(InterpreterOverloaded, match="small"):
        system.actor_of(props(Echo, interpreter_role="small"), "c")
    with pytest.raises(ActorNameTakenError):
        system.actor_of(props(Echo, interpreter_role="small"), "a")
    a.tell("stop")
    wait_until(a.is_terminated)
    c = system.actor_of(props(Echo, interpreter_role="small"), "c")
    assert c.ask_blocking(1, DEADLINE) == 1


def test_max_handler_ms_counts_long_handlers(system):
    system.configure_interpreter("timed", POOL, quota=InterpreterQuota(max_handler_ms=20))
    ref = system.actor_of(props(Echo, interpreter_role="timed"), "e")
    assert ref.ask_blocking(1, DEADLINE) == 1
    assert ref.ask_blocking("spin", DEADLINE) == "spun"
    assert ref.ask_blocking("spin", DEADLINE) == "spun"
    m = [m for m in interp.interpreter_metrics() if m["label"] == "timed"][0]
    assert m["long_handlers"] >= 2 and m["gil_hold_ns_total"] >= 100_000_000


def test_the_import_deny_and_allow_lists_hold_inside_the_interpreter(system):
    system.configure_interpreter("deny", POOL, quota=InterpreterQuota(module_denylist=["csv"]))
    ref = system.actor_of(props(Echo, interpreter_role="deny"), "e")
    with pytest.raises(ImportError, match="csv"):
        ref.ask_blocking("import-denied", DEADLINE)
    import csv  # noqa: F401  (the main interpreter is not limited)

    # an allow list without the actor's own package: its class cannot be imported
    system.configure_interpreter("allow", POOL, quota=InterpreterQuota(module_allowlist=["json"]))
    refused = system.actor_of(props(Echo, interpreter_role="allow"), "e2")
    wait_until(refused.is_terminated)
    with pytest.raises(ActorTerminatedError):
        refused.ask_blocking(1, DEADLINE)


def test_bad_input_is_refused_at_the_call(system):
    system.configure_interpreter("cpu", POOL)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    with pytest.raises(TypeError, match="cannot cross"):
        ref.tell(lambda: None)
    with pytest.raises(TypeError, match="cannot cross"):
        ref.ask_blocking(threading_lock(), DEADLINE)
    with pytest.raises(ValueError, match="timeout"):
        ref.ask_blocking(1, -1)
    with pytest.raises(TypeError, match="sender"):
        ref.tell(1, sender="me")
    with pytest.raises(TypeError, match="reply"):
        ref.ask_blocking("unpicklable", DEADLINE)  # the answer cannot cross back
    with pytest.raises(TypeError, match="actor class"):
        system.actor_of(props(Echo, interpreter_role="cpu", factory=lambda: Echo()), "f")
    class Local(Actor):
        def handle(self, ctx, msg):
            return msg

    with pytest.raises(TypeError, match="top level"):
        system.actor_of(props(Local, interpreter_role="cpu"), "g")
    with pytest.raises(TypeError, match="pickled"):
        import pickle

        pickle.dumps(ref)
    with pytest.raises(ValueError, match="count"):
        system.configure_interpreter("x", POOL, count=0)
    assert ref.ask_blocking("still", DEADLINE) == "still"


def threading_lock():
    import threading

    return threading.Lock()


def test_an_interpreter_that_cannot_start_fails_the_configuration(system):
    quota = InterpreterQuota(module_allowlist=["no_such_module_anywhere"], import_policy="eager")
    with pytest.raises(AtomrError, match="no_such_module_anywhere"):
        system.configure_interpreter("broken", POOL, count=2, quota=quota)
    assert interp.pool_config("broken") is None


def test_interpreters_are_finalized_when_the_system_terminates():
    chan = _native()
    channels = chan.channel_count()
    s = ActorSystem.create_blocking("short")
    try:
        s.configure_interpreter("cpu", POOL, count=2)
        ref = s.actor_of(props(Echo, interpreter_role="cpu"), "e")
        inbox = s.actor_of(props(Inbox), "inbox")
        assert ref.ask_blocking(1, DEADLINE) == 1
        assert chan.interp_count() == 2
        s.terminate_blocking()
        assert chan.interp_count() == 0 and chan.channel_count() == channels
        assert ref.is_terminated() and inbox.is_terminated()
        # the pool stays configured: a new system's spawn starts it again
        s2 = ActorSystem.create_blocking("again")
        try:
            again = s2.actor_of(props(Echo, interpreter_role="cpu"), "e")
            assert again.ask_blocking(2, DEADLINE) == 2 and chan.interp_count() == 2
        finally:
            s2.terminate_blocking()
        assert chan.interp_count() == 0
    finally:
        interp.shutdown_pools()
        s.terminate_blocking()
    assert chan.channel_count() == channels


def test_props_naming_the_pool_kind_without_a_configured_pool_run_in_process(system):
    ref = system.actor_of(props(Echo, interpreter_role="auto", dispatcher=POOL), "e")
    assert ref.ask_blocking("where", DEADLINE) == 0  # the main interpreter
    assert interp.pool_config("auto") is None


class Forwarder(Actor):
    """A main-interpreter actor forwarding every message to a pooled one."""

    def __init__(self, target) -> None:
        self.target = target

    def handle(self, ctx, msg):
        ctx.forward(self.target)


def test_a_main_actor_forwards_an_ask_into_the_pool(system):
    system.configure_interpreter("cpu", POOL)
    ref = system.actor_of(props(Echo, interpreter_role="cpu"), "e")
    fwd = system.actor_of(props(Forwarder, factory=lambda: Forwarder(ref)), "fwd")
    assert fwd.ask_blocking("where", DEADLINE) == ref.ask_blocking("where", DEADLINE)
    with pytest.raises(ValueError, match="boom"):
        fwd.ask_blocking("boom", DEADLINE)
