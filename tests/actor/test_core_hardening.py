"""Nothing a user does ends the system's loop: bad budgets and sizes are
refused at the call site, and internal errors stay with the affected actor."""

from __future__ import annotations

import asyncio
import logging

import pytest

from atomr import Actor, ActorSystem, Config, SupervisorStrategy, props
from atomr.config import ConfigError
from atomr.core import DispatcherConfig

from _helpers import running_system, wait_until


class Echo(Actor):
    def handle(self, ctx, msg):
        if isinstance(msg, BaseException):
            raise msg
        return msg


# -- supervision budgets -------------------------------------------------------------


@pytest.mark.parametrize("budget", [2**31, 2**40, -1, -5])
def test_out_of_range_budgets_are_rejected_at_the_call_site(budget):
    with pytest.raises(ValueError):
        props(Echo).with_supervisor_budget(budget)
    with pytest.raises(ValueError):
        SupervisorStrategy.one_for_one(max_retries=budget)
    with pytest.raises(ValueError):
        SupervisorStrategy.all_for_one(max_retries=budget)


def test_the_largest_budget_is_accepted():
    assert SupervisorStrategy.one_for_one(max_retries=2**31 - 1).max_retries == 2**31 - 1
    assert SupervisorStrategy.one_for_one(max_retries=0).max_retries == 0


@pytest.mark.parametrize("tree", [
    {"actor": {"supervision": {"max-retries": 2**31}}},
    {"actor": {"supervision": {"max-retries": -2}}},
    {"actor": {"throughput": 2**40}},
    {"actor": {"throughput": 2**32}},
])
async def test_out_of_range_config_values_are_config_errors(tree):
    with pytest.raises(ConfigError):
        system = await ActorSystem.create("bad", Config.from_dict(tree))
        await system.terminate()


def test_a_dispatcher_throughput_beyond_32_bits_is_rejected():
    with pytest.raises(ValueError):
        DispatcherConfig(throughput=2**40)


class _RaisingHash(type):
    """A metaclass whose classes cannot be hashed: deciding a directive for
    one of its exceptions fails inside the supervisor's own code."""

    def __hash__(cls):
        raise RuntimeError("injected failure in the supervisor")


class Unhashable(Exception, metaclass=_RaisingHash):
    pass


async def test_an_internal_error_in_the_guardian_stops_only_the_failed_actor(caplog):
    async with running_system("guard") as system:
        with caplog.at_level(logging.CRITICAL, logger="atomr"):
            bad = system.actor_of(props(Echo), "bad")
            good = system.actor_of(props(Echo), "good")
            bad.tell(Unhashable("boom"))
            await wait_until(lambda: bad.is_terminated(), message="the failed actor stops")
        assert any("internal error" in r.getMessage() for r in caplog.records)
        assert await good.ask("still here", timeout=5.0) == "still here"
        again = system.actor_of(props(Echo), "again")
        assert await again.ask(1, timeout=5.0) == 1


async def test_an_internal_error_in_a_parent_stops_only_the_failed_child():
    class Parent(Actor):
        def pre_start(self, ctx):
            self.child = ctx.spawn(props(Echo), "child")
            self.sibling = ctx.spawn(props(Echo), "sibling")

        def handle(self, ctx, msg):
            if msg == "kids":
                return self.child, self.sibling
            return msg

    async with running_system("guard2") as system:
        parent = system.actor_of(props(Parent), "parent")
        child, sibling = await parent.ask("kids", timeout=5.0)
        child.tell(Unhashable("boom"))
        await wait_until(lambda: child.is_terminated(), message="the failed child stops")
        assert await parent.ask("alive", timeout=5.0) == "alive"
        assert await sibling.ask("alive", timeout=5.0) == "alive"


# -- KeyboardInterrupt and SystemExit in task mode -----------------------------------------


class TaskInterrupting(Actor):
    asyncio_task = True

    async def handle(self, ctx, msg):
        await asyncio.sleep(0)
        if msg == "ki":
            raise KeyboardInterrupt
        if msg == "exit":
            raise SystemExit(3)
        return msg


class TaskHookInterrupting(Actor):
    asyncio_task = True

    async def pre_start(self, ctx):
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    def handle(self, ctx, msg):
        return msg


@pytest.mark.parametrize("msg, exc", [("ki", KeyboardInterrupt), ("exit", SystemExit)])
def test_task_mode_keyboard_interrupt_and_system_exit_do_not_end_the_loop(msg, exc):
    system = ActorSystem.create_blocking("taskki")
    try:
        ref = system.actor_of(props(TaskInterrupting), "a")
        with pytest.raises(exc):
            ref.ask_blocking(msg, timeout=5.0)
        # The loop thread survives: the same actor and new ones still answer.
        assert ref.ask_blocking("ok", timeout=5.0) == "ok"
        other = system.actor_of(props(Echo), "b")
        assert other.ask_blocking(7, timeout=5.0) == 7
        hooked = system.actor_of(props(TaskHookInterrupting), "c")
        deadline_ref = system.actor_of(props(Echo), "d")
        assert deadline_ref.ask_blocking(8, timeout=5.0) == 8
        del hooked
    finally:
        system.terminate_blocking(10.0)


# -- pool sizes ----------------------------------------------------------------------------


def test_a_pool_beyond_the_configured_maximum_is_refused_at_actor_of():
    from atomr.core import ResizerConfig
    from atomr.routing import round_robin

    system = ActorSystem.create_blocking("pools", Config.from_dict(
        {"actor": {"router": {"max-pool-size": 8}}}))
    try:
        with pytest.raises(ValueError, match="max-pool-size"):
            system.actor_of(round_robin(props(Echo), 2**33), "huge")
        with pytest.raises(ValueError, match="max-pool-size"):
            system.actor_of(round_robin(props(Echo), 9), "nine")
        with pytest.raises(ValueError, match="max-pool-size"):
            system.actor_of(round_robin(props(Echo), 2, resizer=ResizerConfig(
                lower_bound=1, upper_bound=2**33)), "resized")
        ok = system.actor_of(round_robin(props(Echo), 8), "huge")
        assert ok.ask_blocking(1, timeout=5.0) == 1
    finally:
        system.terminate_blocking(10.0)


def test_the_default_pool_maximum_is_ten_thousand():
    from atomr.routing import round_robin

    system = ActorSystem.create_blocking("pools2")
    try:
        with pytest.raises(ValueError, match="10000"):
            system.actor_of(round_robin(props(Echo), 10_001))
    finally:
        system.terminate_blocking(10.0)


def test_adjust_pool_size_grows_no_further_than_the_maximum():
    from atomr.routing import AdjustPoolSize, round_robin

    system = ActorSystem.create_blocking("pools3", Config.from_dict(
        {"actor": {"router": {"max-pool-size": 4}}}))
    try:
        ref = system.actor_of(round_robin(props(Echo), 2))
        assert ref.ask_blocking(AdjustPoolSize(2**33), timeout=5.0) == 4
    finally:
        system.terminate_blocking(10.0)


def test_max_pool_size_config_is_checked():
    with pytest.raises(ConfigError):
        ActorSystem.create_blocking("pools4", Config.from_dict(
            {"actor": {"router": {"max-pool-size": 0}}}))


# -- ask timeouts ------------------------------------------------------------------------------


class Counting(Actor):
    def __init__(self):
        self.seen = 0

    def handle(self, ctx, msg):
        if msg == "count":
            return self.seen
        self.seen += 1
        return msg


@pytest.mark.parametrize("timeout", [1e12, 2**63, 1e300])
def test_ask_blocking_with_a_huge_timeout_waits_for_the_reply(timeout):
    system = ActorSystem.create_blocking("huge")
    try:
        ref = system.actor_of(props(Counting))
        assert ref.ask_blocking("x", timeout=timeout) == "x"
        assert ref.ask_blocking("count", timeout=5.0) == 1
    finally:
        system.terminate_blocking(10.0)


@pytest.mark.parametrize("timeout", [1e12, 2**63, 1e300])
async def test_ask_with_a_huge_timeout_waits_for_the_reply(timeout):
    async with running_system("huge2") as system:
        ref = system.actor_of(props(Counting))
        assert await ref.ask("x", timeout=timeout) == "x"
        assert await ref.ask("count", timeout=5.0) == 1


def test_a_timeout_too_large_for_a_float_is_rejected_before_sending():
    system = ActorSystem.create_blocking("huge3")
    try:
        ref = system.actor_of(props(Counting))
        with pytest.raises(ValueError):
            ref.ask_blocking("x", timeout=10**400)
        assert ref.ask_blocking("count", timeout=5.0) == 0
    finally:
        system.terminate_blocking(10.0)


# -- failures to start reach the asks they leave unanswered ---------------------------------------


class NotAnActor:
    def handle(self, ctx, msg):
        return msg


def test_props_rejects_a_class_that_is_not_an_actor():
    with pytest.raises(TypeError, match="NotAnActor"):
        props(NotAnActor)


def test_props_still_takes_factories_and_callables_returning_actors():
    props(NotAnActor, factory=Echo)
    props(lambda: Echo())
    props(Echo, factory=lambda: Echo())
    system = ActorSystem.create_blocking("factories")
    try:
        ref = system.actor_of(props(lambda: Echo()))
        assert ref.ask_blocking(3, timeout=5.0) == 3
    finally:
        system.terminate_blocking(10.0)


def _cause_chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__


def test_an_ask_to_an_actor_whose_factory_returns_42_names_the_cause():
    from atomr.errors import ActorTerminatedError

    system = ActorSystem.create_blocking("fortytwo")
    try:
        ref = system.actor_of(props(lambda: 42))
        with pytest.raises(ActorTerminatedError, match="failed to start") as info:
            ref.ask_blocking("hi", timeout=5.0)
        assert isinstance(info.value.__cause__, TypeError)
        assert "42" in str(info.value)
        # Later asks to the dead actor carry the same cause.
        with pytest.raises(ActorTerminatedError) as again:
            ref.ask_blocking("hi", timeout=5.0)
        assert isinstance(again.value.__cause__, TypeError)
    finally:
        system.terminate_blocking(10.0)


async def test_an_ask_to_an_actor_whose_factory_raises_names_the_cause():
    from atomr.errors import ActorTerminatedError

    def factory():
        raise LookupError("no such thing")

    async with running_system("factoryraises") as system:
        ref = system.actor_of(props(Echo, factory=factory), "broken")
        with pytest.raises(ActorTerminatedError, match="LookupError: no such thing") as info:
            await ref.ask("hi", timeout=5.0)
        assert isinstance(info.value.__cause__, LookupError)
        # A new actor at the same path does not inherit the old cause.
        await wait_until(lambda: ref.is_terminated())
        fresh = None
        for _ in range(100):
            try:
                fresh = system.actor_of(props(Echo), "broken")
                break
            except Exception:
                await asyncio.sleep(0.01)
        assert fresh is not None
        fresh.stop()
        await wait_until(lambda: fresh.is_terminated())
        with pytest.raises(ActorTerminatedError) as later:
            await fresh.ask("hi", timeout=5.0)
        assert later.value.__cause__ is None


def test_an_ask_to_a_persistent_actor_with_a_bad_id_names_the_cause():
    from atomr.errors import ActorTerminatedError
    from atomr.persistence import EventSourcedActor

    class BadId(EventSourcedActor):
        persistent_id = ""

        def initial_state(self):
            return 0

        def command_handler(self, state, ctx, cmd):
            return None

        def event_handler(self, state, event, recovery_mode=False):
            return state

    system = ActorSystem.create_blocking("badid")
    try:
        ref = system.actor_of(props(BadId))
        with pytest.raises(ActorTerminatedError, match="persistent_id") as info:
            ref.ask_blocking("hi", timeout=5.0)
        assert isinstance(info.value.__cause__, ValueError)
    finally:
        system.terminate_blocking(10.0)


def test_an_ask_to_a_persistent_actor_whose_journal_is_unusable_names_the_cause(tmp_path):
    from atomr.errors import ActorTerminatedError
    from atomr.persistence import EventSourcedActor

    class Journaled(EventSourcedActor):
        persistent_id = "journaled"

        def initial_state(self):
            return 0

        def command_handler(self, state, ctx, cmd):
            return None

        def event_handler(self, state, event, recovery_mode=False):
            return state

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = Config.from_dict({"persistence": {"journal": "lmdb",
                                               "lmdb": {"path": str(blocker / "db")}}})
    system = ActorSystem.create_blocking("badjournal", config)
    try:
        ref = system.actor_of(props(Journaled))
        with pytest.raises(ActorTerminatedError, match="failed to start") as info:
            ref.ask_blocking("hi", timeout=5.0)
        assert info.value.__cause__ is not None
        assert type(info.value.__cause__).__name__ in str(info.value)
    finally:
        system.terminate_blocking(10.0)


# -- an internal error after a handler resumes ------------------------------------------------------


class _RaisingLogHandler(logging.Handler):
    """Fails inside atomr's own failure reporting: an injected internal error."""

    def handle(self, record):
        if "failed while handling" in record.getMessage() or "failed" == record.getMessage()[-6:]:
            raise RuntimeError("injected failure while reporting a failure")
        return True


class SuspendingFailer(Actor):
    def __init__(self, task_mode=False):
        self.asyncio_task = task_mode

    async def handle(self, ctx, msg):
        await asyncio.sleep(0)
        if msg == "fail":
            raise ValueError("after an await")
        return msg


@pytest.mark.parametrize("task_mode", [False, True])
async def test_an_internal_error_after_a_handler_resumes_stops_that_actor_only(task_mode):
    from atomr.errors import ActorTerminatedError

    logger = logging.getLogger("atomr")
    handler = _RaisingLogHandler()
    async with running_system("resumed") as system:
        ref = system.actor_of(props(SuspendingFailer, factory=lambda: SuspendingFailer(task_mode)))
        other = system.actor_of(props(Echo))
        assert await ref.ask("warm", timeout=5.0) == "warm"
        logger.addHandler(handler)
        try:
            ref.tell("fail")
            await wait_until(lambda: ref.is_terminated(), message="the actor stops, not wedged")
        finally:
            logger.removeHandler(handler)
        with pytest.raises(ActorTerminatedError):
            await ref.ask("after", timeout=5.0)
        assert await other.ask("alive", timeout=5.0) == "alive"
