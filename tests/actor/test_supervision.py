"""Supervision: a failing `tell` handler is judged by the strategy on the
failed actor's own Props, else by its parent's Props strategy, else by the
system default (Akka semantics), applied by its parent."""

from __future__ import annotations

import asyncio
import logging

import pytest

import atomr
from atomr import Actor, ActorSystem, Config, Directive, SupervisorStrategy, props
from atomr.errors import AskError
from atomr.supervision import class_path, one_for_one

from _helpers import GET, running_system, virtual_config, wait_until


@pytest.fixture
async def system():
    async with running_system("sup") as s:
        yield s


class Boom(Exception):
    """A test failure with a module-qualified class path."""


class SubBoom(Boom):
    pass


class Counter(Actor):
    """Counts plain messages; raises any exception instance it is told.

    Every incarnation and hook call is recorded in the shared `events` list
    as ``(hook, incarnation number, ...)``.
    """

    def __init__(self, events: list, incarnation: int) -> None:
        self.events = events
        self.n = incarnation
        self.count = 0

    def handle(self, ctx, msg):
        if isinstance(msg, BaseException):
            raise msg
        if isinstance(msg, tuple) and msg[0] == "fail":
            raise msg[1]
        if msg == GET:
            return self.count
        if msg == "whoami":
            return self.n
        self.count += 1
        self.events.append(("handled", self.n, msg))
        return self.count


def counter_props(events: list, cls: type = Counter):
    """Props whose factory numbers its incarnations 1, 2, 3, ..."""
    made = []

    def factory():
        made.append(None)
        events.append(("created", len(made)))
        return cls(events, len(made))

    return props(cls, factory=factory)


def created(events: list) -> int:
    return sum(1 for e in events if e[0] == "created")


# -- directives ------------------------------------------------------------------


async def test_default_strategy_restarts_with_a_fresh_instance_and_keeps_queued_mail(system):
    events: list = []
    ref = system.actor_of(counter_props(events), "c")
    for i in range(3):
        ref.tell(i)
    ref.tell(ValueError("boom"))
    ref.tell("after-1")
    ref.tell("after-2")
    # The failing message is dropped; the two queued behind it reach the new instance.
    assert await wait_until(lambda: ref.ask(GET)) == 2
    assert await ref.ask("whoami") == 2
    assert created(events) == 2
    assert [e for e in events if e[0] == "handled" and e[1] == 2] == [
        ("handled", 2, "after-1"), ("handled", 2, "after-2")]
    assert not ref.is_terminated()


async def test_resume_keeps_the_state_and_drops_only_the_failing_message(system):
    events: list = []
    strategy = SupervisorStrategy.one_for_one([("builtins.ValueError", "resume")])
    ref = system.actor_of(counter_props(events).with_supervisor_strategy(strategy), "c")
    ref.tell("a")
    ref.tell(ValueError("ignored"))
    ref.tell("b")
    assert await wait_until(lambda: ref.ask(GET)) == 2
    assert await ref.ask("whoami") == 1
    assert created(events) == 1
    assert [e[2] for e in events if e[0] == "handled"] == ["a", "b"]


async def test_stop_directive_stops_the_actor_and_runs_post_stop_once(system):
    stops = []

    class Stoppable(Counter):
        def post_stop(self, ctx):
            stops.append(self.n)

    events: list = []
    strategy = SupervisorStrategy.one_for_one({RuntimeError: "stop"}, default="restart")
    ref = system.actor_of(counter_props(events, Stoppable).with_supervisor_strategy(strategy),
                          "c")
    ref.tell(RuntimeError("fatal"))
    await wait_until(ref.is_terminated)
    assert stops == [1]
    assert created(events) == 1
    with pytest.raises(AskError):
        await ref.ask(GET, timeout=2.0)


async def test_stopping_strategy_stops_on_any_exception(system):
    events: list = []
    ref = system.actor_of(
        counter_props(events).with_supervisor_strategy(SupervisorStrategy.stopping()), "c")
    ref.tell(KeyError("x"))
    await wait_until(ref.is_terminated)
    assert created(events) == 1


async def test_failure_after_an_await_in_an_async_handler_is_supervised_too(system):
    import asyncio

    events: list = []

    class AsyncCounter(Counter):
        async def handle(self, ctx, msg):
            await asyncio.sleep(0)
            return Counter.handle(self, ctx, msg)

    ref = system.actor_of(counter_props(events, AsyncCounter), "c")
    ref.tell("x")
    ref.tell(ValueError("late"))
    ref.tell("y")
    assert await wait_until(lambda: ref.ask(GET)) == 1
    assert await ref.ask("whoami") == 2


async def test_a_child_without_a_strategy_is_supervised_by_its_parents_props_strategy(system):
    """A parent whose Props say "stop" imposes that on a child whose own
    Props set no strategy (Akka's rule)."""
    events: list = []
    child_ref = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            child_ref.append(await ctx.spawn(counter_props(events), "kid"))

        def handle(self, ctx, msg):
            return None

    parent = system.actor_of(
        props(Parent).with_supervisor_strategy(SupervisorStrategy.stopping()), "parent")
    await wait_until(lambda: child_ref)
    kid = child_ref[0]
    kid.tell(ValueError("boom"))
    await wait_until(kid.is_terminated)
    assert created(events) == 1
    assert not parent.is_terminated()


async def test_child_props_strategy_is_honoured_when_spawned_from_a_context(system):
    events: list = []
    child_ref = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            child_ref.append(await ctx.spawn(
                counter_props(events).with_supervisor_strategy(one_for_one({Boom: "stop"})),
                "kid"))

        def handle(self, ctx, msg):
            return None

    parent = system.actor_of(props(Parent), "parent")
    await wait_until(lambda: child_ref)
    child_ref[0].tell(Boom())
    await wait_until(child_ref[0].is_terminated)
    assert created(events) == 1
    assert not parent.is_terminated()


# -- restart hooks ------------------------------------------------------------------


async def test_restart_calls_pre_restart_on_the_old_and_post_restart_on_the_new_instance(system):
    events: list = []

    class Hooked(Counter):
        def pre_start(self, ctx):
            self.events.append(("pre_start", self.n))

        def pre_restart(self, ctx, reason, message):
            self.events.append(("pre_restart", self.n, reason, message, ctx.path))

        def post_restart(self, ctx, reason):
            self.events.append(("post_restart", self.n, reason, ctx.path))

        def post_stop(self, ctx):
            self.events.append(("post_stop", self.n))

    ref = system.actor_of(counter_props(events, Hooked), "hooked")
    err = ValueError("boom")
    failing = ("fail", err)
    ref.tell(failing)
    assert await ref.ask("whoami") == 2
    hooks = [e for e in events if e[0] != "handled"]
    assert hooks == [
        ("created", 1),
        ("pre_start", 1),
        ("pre_restart", 1, err, failing, ref.path),
        ("created", 2),
        ("post_restart", 2, err, ref.path),
    ]


async def test_default_pre_restart_stops_children_and_calls_post_stop(system, caplog):
    events: list = []
    kids = []

    class Parent(Counter):
        async def pre_start(self, ctx):
            self.events.append(("pre_start", self.n))
            kids.append(await ctx.spawn(props(lambda: _Quiet()), "kid"))

        def post_stop(self, ctx):
            self.events.append(("post_stop", self.n))

    ref = system.actor_of(counter_props(events, Parent), "p")
    await wait_until(lambda: len(kids) == 1)
    first_kid = kids[0]
    ref.tell(ValueError("boom"))
    await wait_until(lambda: len(kids) == 2)
    # The old child was stopped; the default post_restart re-ran pre_start,
    # which spawned a fresh child under the same name.
    assert first_kid.is_terminated()
    assert not kids[1].is_terminated()
    assert kids[1].path == first_kid.path
    hooks = [e for e in events if e[0] != "handled"]
    assert hooks == [("created", 1), ("pre_start", 1), ("post_stop", 1), ("created", 2),
                     ("pre_start", 2)]


class _Quiet(Actor):
    def handle(self, ctx, msg):
        return msg


async def test_overriding_post_restart_replaces_the_default_call_to_pre_start(system):
    events: list = []

    class NoRestartStart(Counter):
        def pre_start(self, ctx):
            self.events.append(("pre_start", self.n))

        def post_restart(self, ctx, reason):
            self.events.append(("post_restart", self.n))

    ref = system.actor_of(counter_props(events, NoRestartStart), "c")
    ref.tell(ValueError("boom"))
    assert await wait_until(lambda: ref.ask("whoami")) == 2
    hooks = [e for e in events if e[0] in ("pre_start", "post_restart")]
    assert hooks == [("pre_start", 1), ("post_restart", 2)]


async def test_an_overridden_pre_restart_replaces_the_default_post_stop_call(system):
    events: list = []

    class Custom(Counter):
        def pre_restart(self, ctx, reason, message):
            self.events.append(("pre_restart", self.n))

        def post_stop(self, ctx):
            self.events.append(("post_stop", self.n))

    ref = system.actor_of(counter_props(events, Custom), "c")
    ref.tell(ValueError("boom"))
    assert await wait_until(lambda: ref.ask("whoami")) == 2
    assert [e for e in events if e[0] in ("pre_restart", "post_stop")] == [("pre_restart", 1)]


async def test_children_survive_a_restart_when_pre_restart_is_overridden(system):
    """Akka: only the default pre_restart stops the children; children the
    overridden hook leaves alone survive the parent's restart (same ref)."""
    kids = []

    class KeepsKids(Actor):
        async def pre_start(self, ctx):
            kids.append(await ctx.spawn(props(_Quiet), "kid"))

        def pre_restart(self, ctx, reason, message):
            pass  # keep the children

        def post_restart(self, ctx, reason):
            pass  # and do not spawn them again

        def handle(self, ctx, msg):
            if isinstance(msg, BaseException):
                raise msg
            return [c.path for c in ctx.children]

    parent = system.actor_of(props(KeepsKids), "p")
    await wait_until(lambda: kids)
    parent.tell(Boom("restart me"))
    assert await parent.ask("children") == [kids[0].path]
    assert not kids[0].is_terminated()
    assert await kids[0].ask("alive?") == "alive?"


# -- escalation ----------------------------------------------------------------------


async def test_escalate_fails_the_parent_whose_own_strategy_then_restarts_it(system):
    events: list = []
    parent_starts = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            parent_starts.append(self)
            self.kid = await ctx.spawn(
                counter_props(events).with_supervisor_strategy(SupervisorStrategy.escalating()),
                "kid")

        def handle(self, ctx, msg):
            return self.kid

    parent = system.actor_of(props(Parent), "parent")  # default: restart
    first_kid = await wait_until(lambda: parent.ask("kid"))
    first_kid.tell(Boom("from the child"))
    await wait_until(lambda: len(parent_starts) == 2, message="parent restarted")
    second_kid = await parent.ask("kid")
    assert first_kid.is_terminated()
    assert second_kid is not first_kid and not second_kid.is_terminated()
    # The new parent instance spawned a brand-new child (a new Props, a new actor).
    assert await second_kid.ask(GET) == 0
    assert created(events) == 2
    assert not parent.is_terminated()


async def test_escalation_is_decided_with_the_same_exception_by_the_grandparent(system):
    seen = []
    escalated = SupervisorStrategy.escalating()

    class Grand(Actor):
        async def pre_start(self, ctx):
            self.parent = await ctx.spawn(
                props(Middle).with_supervisor_strategy(
                    SupervisorStrategy.one_for_one({Boom: "stop"}, default="restart")),
                "middle")

        def handle(self, ctx, msg):
            return self.parent

    class Middle(Actor):
        async def pre_start(self, ctx):
            self.kid = await ctx.spawn(props(_Raiser).with_supervisor_strategy(escalated), "kid")

        def post_stop(self, ctx):
            seen.append("middle stopped")

        def handle(self, ctx, msg):
            return self.kid

    system.event_stream.subscribe(lambda e: seen.append(e), atomr.event_stream.ActorFailed)
    grand = system.actor_of(props(Grand), "grand")
    middle = await wait_until(lambda: grand.ask("middle"))
    kid = await wait_until(lambda: middle.ask("kid"))
    err = SubBoom("deep")
    kid.tell(err)
    await wait_until(middle.is_terminated)
    await wait_until(kid.is_terminated)
    failures = [(e.path, e.directive, e.error) for e in seen
                if isinstance(e, atomr.event_stream.ActorFailed)]
    assert failures == [(kid.path, "escalate", err), (middle.path, "stop", err)]
    assert "middle stopped" in seen
    assert not grand.is_terminated()


async def test_escalation_at_the_top_stops_the_failing_subtree_and_the_system_keeps_running(
        system, caplog):
    kids = []

    class Top(Actor):
        async def pre_start(self, ctx):
            kids.append(await ctx.spawn(props(_Quiet), "kid"))

        def handle(self, ctx, msg):
            raise Boom("top-level failure")

    top = system.actor_of(props(Top).with_supervisor_strategy(SupervisorStrategy.escalating()),
                          "top")
    other = system.actor_of(props(_Quiet), "other")
    await wait_until(lambda: kids)
    with caplog.at_level(logging.ERROR, logger="atomr"):
        top.tell("fail")
        await wait_until(top.is_terminated)
    assert kids[0].is_terminated()
    assert await other.ask("still here") == "still here"
    assert not system.is_terminated
    assert any(r.name == "atomr" and r.levelno >= logging.ERROR and top.path in r.getMessage()
               for r in caplog.records)
    # The system still spawns actors afterwards.
    again = system.actor_of(props(_Quiet), "top")
    assert await again.ask(1) == 1


class _Raiser(Actor):
    def handle(self, ctx, msg):
        if isinstance(msg, BaseException):
            raise msg
        return msg


async def test_resuming_an_escalated_failure_resumes_the_failed_child_too(system):
    """Akka: resuming an actor resumes all its subordinates, including the
    child whose escalated failure caused it."""
    events: list = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            self.kid = await ctx.spawn(
                counter_props(events).with_supervisor_strategy(SupervisorStrategy.escalating()),
                "kid")

        def handle(self, ctx, msg):
            return self.kid

    parent = system.actor_of(
        props(Parent).with_supervisor_strategy(one_for_one({Boom: "resume"})), "parent")
    kid = await wait_until(lambda: parent.ask("kid"))
    kid.tell("before")
    kid.tell(Boom("escalated, then resumed"))
    kid.tell("after")
    assert await parent.ask("kid") is kid  # the parent was resumed and answers
    assert await kid.ask(GET, timeout=3.0) == 2
    assert created(events) == 1


# -- retry budget ------------------------------------------------------------------------


async def test_exhausting_the_restart_budget_stops_the_actor(system):
    events: list = []
    ref = system.actor_of(
        counter_props(events).with_supervisor_budget(max_retries=2, within_seconds=60.0), "c")
    ref.tell(ValueError(1))
    ref.tell(ValueError(2))
    assert await wait_until(lambda: ref.ask("whoami")) == 3
    ref.tell(ValueError(3))
    await wait_until(ref.is_terminated)
    assert created(events) == 3


async def test_restart_budget_is_a_sliding_window_on_the_system_clock():
    async with running_system("budget", virtual_config()) as system:
        events: list = []
        ref = system.actor_of(
            counter_props(events).with_supervisor_budget(max_retries=1, within_seconds=10.0),
            "c")
        ref.tell(ValueError(1))
        assert await wait_until(lambda: ref.ask("whoami")) == 2
        system.advance_time(10.5)  # the first restart leaves the window
        ref.tell(ValueError(2))
        assert await wait_until(lambda: ref.ask("whoami")) == 3
        system.advance_time(5.0)  # the second restart is still inside it
        ref.tell(ValueError(3))
        await wait_until(ref.is_terminated)
        assert created(events) == 3


async def test_default_budget_is_ten_restarts_per_minute():
    async with running_system("budget", virtual_config()) as system:
        events: list = []
        ref = system.actor_of(counter_props(events), "c")
        for i in range(10):
            ref.tell(ValueError(i))
        assert await wait_until(lambda: ref.ask("whoami")) == 11
        ref.tell(ValueError("eleventh"))
        await wait_until(ref.is_terminated)
        assert created(events) == 11


async def test_default_budget_comes_from_the_actor_supervision_config():
    config = virtual_config(actor={"supervision": {"max-retries": 1, "within": "30s"}})
    async with running_system("budget", config) as system:
        events: list = []
        ref = system.actor_of(counter_props(events), "c")
        ref.tell(ValueError(1))
        assert await wait_until(lambda: ref.ask("whoami")) == 2
        system.advance_time(31.0)
        ref.tell(ValueError(2))  # the window slid: allowed again
        assert await wait_until(lambda: ref.ask("whoami")) == 3
        ref.tell(ValueError(3))
        await wait_until(ref.is_terminated)
        assert created(events) == 3


async def test_unlimited_default_budget_with_max_retries_minus_one():
    config = Config.from_dict({"actor": {"supervision": {"max-retries": -1}}})
    async with running_system("budget", config) as system:
        events: list = []
        ref = system.actor_of(counter_props(events), "c")
        for i in range(15):
            ref.tell(ValueError(i))
        assert await wait_until(lambda: ref.ask("whoami")) == 16


# -- all-for-one ------------------------------------------------------------------------------


def _family(system, strategy, n=3):
    """A parent with `n` Counter children sharing one `events` list each."""
    logs = [[] for _ in range(n)]
    kids = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            for i in range(n):
                kids.append(await ctx.spawn(
                    counter_props(logs[i]).with_supervisor_strategy(strategy), f"kid{i}"))

        def handle(self, ctx, msg):
            return None

    parent = system.actor_of(props(Parent), "parent")
    return parent, kids, logs


async def test_all_for_one_restart_restarts_every_sibling(system):
    parent, kids, logs = _family(system, SupervisorStrategy.all_for_one())
    await wait_until(lambda: len(kids) == 3)
    for k in kids:
        k.tell("state")
    assert [await k.ask(GET) for k in kids] == [1, 1, 1]
    kids[1].tell(ValueError("one sibling fails"))
    await wait_until(lambda: [created(log) for log in logs] == [2, 2, 2],
                     message="every sibling restarted")
    assert [await k.ask("whoami") for k in kids] == [2, 2, 2]
    assert [await k.ask(GET) for k in kids] == [0, 0, 0]


async def test_all_for_one_stop_stops_every_sibling(system):
    parent, kids, logs = _family(system, SupervisorStrategy.all_for_one(default="stop"))
    await wait_until(lambda: len(kids) == 3)
    kids[0].tell(ValueError("fatal"))
    for k in kids:
        await wait_until(k.is_terminated)
    assert not parent.is_terminated()


async def test_all_for_one_resume_only_resumes_the_failed_child(system):
    parent, kids, logs = _family(system, SupervisorStrategy.all_for_one(default="resume"))
    await wait_until(lambda: len(kids) == 3)
    for k in kids:
        k.tell("state")
    kids[2].tell(ValueError("minor"))
    kids[2].tell("more")
    assert await wait_until(lambda: kids[2].ask(GET)) == 2
    assert [await k.ask(GET) for k in kids] == [1, 1, 2]
    assert [created(log) for log in logs] == [1, 1, 1]


async def test_one_for_one_restart_leaves_the_siblings_alone(system):
    parent, kids, logs = _family(system, SupervisorStrategy.one_for_one())
    await wait_until(lambda: len(kids) == 3)
    for k in kids:
        k.tell("state")
    kids[0].tell(ValueError("only me"))
    assert await wait_until(lambda: kids[0].ask("whoami")) == 2
    assert [await k.ask(GET) for k in kids] == [0, 1, 1]
    assert [created(log) for log in logs] == [2, 1, 1]


# -- deciders -----------------------------------------------------------------------------------


async def test_rules_match_the_most_specific_class_along_the_mro(system):
    events: list = []
    strategy = one_for_one({Exception: "stop", Boom: "resume"}, default="escalate")
    ref = system.actor_of(counter_props(events).with_supervisor_strategy(strategy), "c")
    ref.tell("x")
    ref.tell(SubBoom("matched through its base class Boom"))
    ref.tell("y")
    assert await wait_until(lambda: ref.ask(GET)) == 2
    assert created(events) == 1
    ref.tell(KeyError("matched through Exception"))
    await wait_until(ref.is_terminated)


async def test_rules_fall_back_to_the_bare_class_name(system):
    events: list = []
    # No rule has the exact path `test_supervision.Boom`; "other.module.Boom" shares its name.
    strategy = SupervisorStrategy.one_for_one([("other.module.Boom", "resume")], default="stop")
    ref = system.actor_of(counter_props(events).with_supervisor_strategy(strategy), "c")
    ref.tell("x")
    ref.tell(Boom())
    ref.tell("y")
    assert await wait_until(lambda: ref.ask(GET)) == 2
    assert not ref.is_terminated()


async def test_unmatched_exceptions_get_the_default_directive(system):
    events: list = []
    strategy = SupervisorStrategy.one_for_one([("builtins.ValueError", "resume")],
                                              default="stop")
    ref = system.actor_of(counter_props(events).with_supervisor_strategy(strategy), "c")
    ref.tell(TypeError("no rule"))
    await wait_until(ref.is_terminated)


# -- failures to start, asks ---------------------------------------------------------------------


async def test_a_factory_that_raises_stops_the_actor_under_the_default_strategy(system):
    calls = []

    def factory():
        calls.append(1)
        raise Boom("cannot build")

    ref = system.actor_of(props(_Quiet, factory=factory), "broken")
    await wait_until(ref.is_terminated)
    assert calls == [1]
    with pytest.raises(AskError):
        await ref.ask("hello", timeout=2.0)


async def test_a_pre_start_that_raises_stops_the_actor_and_runs_post_stop(system, caplog):
    stops = []

    class BadStart(Actor):
        def pre_start(self, ctx):
            raise Boom("cannot start")

        def post_stop(self, ctx):
            stops.append(1)

        def handle(self, ctx, msg):
            return msg

    with caplog.at_level(logging.ERROR, logger="atomr"):
        ref = system.actor_of(props(BadStart), "bad")
        await wait_until(ref.is_terminated)
    assert stops == [1]
    assert any("akka://sup/user/bad" in r.getMessage() for r in caplog.records)


async def test_a_pre_start_failing_during_a_restart_stops_the_actor_by_default(system):
    events: list = []

    class StartsOnce(Counter):
        def pre_start(self, ctx):
            if self.n > 1:
                raise Boom("the second incarnation cannot start")

    ref = system.actor_of(counter_props(events, StartsOnce), "c")
    assert await ref.ask("whoami") == 1
    ref.tell(ValueError("restart me"))
    await wait_until(ref.is_terminated)
    assert created(events) == 2


async def test_an_explicit_restart_strategy_retries_a_failing_start(system):
    attempts = []

    def factory():
        attempts.append(1)
        if len(attempts) < 3:
            raise Boom(f"attempt {len(attempts)}")
        return _Quiet()

    ref = system.actor_of(
        props(_Quiet, factory=factory).with_supervisor_budget(5, 60.0), "flaky-start")
    assert await wait_until(lambda: ref.ask("up", timeout=2.0)) == "up"
    assert len(attempts) == 3


async def test_an_ask_that_raises_goes_to_the_asker_and_does_not_trigger_supervision(system):
    events: list = []
    ref = system.actor_of(
        counter_props(events).with_supervisor_strategy(SupervisorStrategy.stopping()), "c")
    ref.tell("a")
    with pytest.raises(Boom) as info:
        await ref.ask(Boom("to the asker"))
    assert str(info.value) == "to the asker"
    assert await ref.ask(GET) == 1
    assert created(events) == 1
    assert not ref.is_terminated()


async def test_handler_failures_are_logged_to_the_atomr_logger(system, caplog):
    events: list = []
    ref = system.actor_of(counter_props(events), "logged")
    with caplog.at_level(logging.ERROR, logger="atomr"):
        ref.tell(Boom("visible in the log"))
        await wait_until(lambda: created(events) == 2)
    records = [r for r in caplog.records if r.name == "atomr" and r.levelno == logging.ERROR]
    assert any(ref.path in r.getMessage() and r.exc_info and r.exc_info[0] is Boom
               for r in records)


# -- the SupervisorStrategy API ----------------------------------------------------------------


def test_one_for_one_defaults_to_restart_with_ten_retries_per_minute():
    s = SupervisorStrategy.one_for_one()
    assert (s.kind, s.default, s.max_retries, s.within_seconds) == (
        "one_for_one", "restart", 10, 60.0)
    assert s.decide("builtins.ValueError") == "restart"


def test_all_for_one_without_a_budget_has_none():
    s = SupervisorStrategy.all_for_one(default="stop")
    assert (s.kind, s.default, s.max_retries, s.within_seconds) == (
        "all_for_one", "stop", None, None)


def test_explicit_budget_is_reported():
    s = SupervisorStrategy.one_for_one(max_retries=3, within_seconds=5)
    assert (s.max_retries, s.within_seconds) == (3, 5.0)


def test_stopping_and_escalating_decide_the_same_for_everything():
    assert SupervisorStrategy.stopping().decide("builtins.ValueError") == "stop"
    assert SupervisorStrategy.escalating().decide("x.Anything") == "escalate"
    assert SupervisorStrategy.stopping().max_retries is None


def test_decide_accepts_class_path_strings_with_a_message_suffix():
    s = SupervisorStrategy.one_for_one([("builtins.ValueError", "resume")], default="stop")
    assert s.decide("builtins.ValueError") == "resume"
    assert s.decide("builtins.ValueError: bad value: really") == "resume"
    assert s.decide("builtins.KeyError") == "stop"
    assert s.decide("elsewhere.ValueError") == "resume"  # bare class name


def test_decide_on_an_exception_instance_walks_its_mro():
    s = one_for_one({LookupError: "resume", Exception: "stop"}, default="escalate")
    assert s.decide(KeyError("k")) == "resume"
    assert s.decide(ValueError("v")) == "stop"
    assert s.decide(KeyboardInterrupt()) == "escalate"


def test_decide_on_an_exception_class_walks_its_mro_like_an_instance():
    s = one_for_one({LookupError: "resume"}, default="stop")
    assert s.decide(KeyError("k")) == "resume"
    assert s.decide(KeyError) == "resume"


def test_exact_class_path_beats_a_bare_name_match():
    s = SupervisorStrategy.one_for_one(
        [("other.Boom", "stop"), (class_path(Boom), "resume")], default="escalate")
    assert s.decide(Boom()) == "resume"
    assert s.decide("other.Boom") == "stop"


def test_decider_accepts_a_mapping_of_classes_and_strings():
    s = SupervisorStrategy.one_for_one({ValueError: "resume", "builtins.KeyError": "stop"})
    assert s.decide(ValueError()) == "resume"
    assert s.decide(KeyError()) == "stop"
    assert s.decide(TypeError()) == "restart"


@pytest.mark.parametrize("directive", Directive.ALL)
def test_every_directive_name_is_accepted(directive):
    s = SupervisorStrategy.one_for_one([("builtins.ValueError", directive)], default=directive)
    assert s.decide("builtins.ValueError") == directive
    assert s.default == directive


def test_unknown_directive_raises_value_error():
    with pytest.raises(ValueError):
        SupervisorStrategy.one_for_one([("builtins.ValueError", "reboot")])
    with pytest.raises(ValueError):
        SupervisorStrategy.one_for_one(default="ignore")
    with pytest.raises(ValueError):
        one_for_one({ValueError: "RESTART"})


def test_decider_keys_must_be_classes_or_strings():
    with pytest.raises(TypeError):
        SupervisorStrategy.one_for_one([(42, "stop")])
    with pytest.raises(TypeError):
        one_for_one({3.5: "stop"})


def test_repr_shows_kind_and_budget():
    text = repr(SupervisorStrategy.one_for_one(max_retries=4, within_seconds=2.5))
    assert text.startswith("<SupervisorStrategy")
    assert "kind=one_for_one" in text and "max_retries=4" in text and "within=2.5" in text


def test_strategies_cannot_be_constructed_directly():
    with pytest.raises(TypeError):
        SupervisorStrategy()


def test_with_supervisor_budget_builds_a_one_for_one_restart_strategy():
    p = props(_Quiet).with_supervisor_budget(3, within_seconds=7.0)
    s = p.supervisor_strategy
    assert (s.kind, s.default, s.max_retries, s.within_seconds) == (
        "one_for_one", "restart", 3, 7.0)
    assert props(_Quiet).supervisor_strategy is None


def test_directive_constants():
    assert (Directive.RESUME, Directive.RESTART, Directive.STOP, Directive.ESCALATE) == (
        "resume", "restart", "stop", "escalate")
    assert Directive.ALL == ("resume", "restart", "stop", "escalate")


def test_class_path_of_builtin_and_nested_classes():
    class Inner(Exception):
        pass

    assert class_path(ValueError) == "builtins.ValueError"
    assert class_path(Boom) == f"{Boom.__module__}.Boom"
    assert class_path(Inner).endswith(
        "test_class_path_of_builtin_and_nested_classes.<locals>.Inner")
    with pytest.raises(TypeError):
        class_path(ValueError("not a class"))


def test_supervision_helpers_forward_to_the_native_strategy():
    s = atomr.supervision.one_for_one({ValueError: "resume"}, max_retries=2, within_seconds=1.0)
    assert isinstance(s, SupervisorStrategy)
    assert s.decide(ValueError()) == "resume" and s.max_retries == 2
    a = atomr.supervision.all_for_one([("builtins.KeyError", "stop")])
    assert a.kind == "all_for_one" and a.decide("builtins.KeyError") == "stop"
    assert atomr.supervision.stopping().default == "stop"
    assert atomr.supervision.escalating().default == "escalate"


def test_props_rejects_a_non_strategy():
    with pytest.raises(TypeError):
        props(_Quiet).with_supervisor_strategy("restart")


def test_unknown_directive_error_names_the_bad_directive():
    with pytest.raises(ValueError) as info:
        SupervisorStrategy.one_for_one(default="nope")
    assert "nope" in str(info.value)


class _BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr for you")


async def test_a_failing_message_whose_repr_raises_is_still_supervised():
    built = []

    class Fragile(Actor):
        def __init__(self):
            built.append(self)

        def handle(self, ctx, msg):
            if isinstance(msg, _BadRepr):
                raise ValueError("bad message")
            return "alive"

    system = await ActorSystem.create("badrepr")
    try:
        ref = system.actor_of(props(Fragile), "fragile")
        assert await ref.ask("ping") == "alive"
        ref.tell(_BadRepr())
        deadline = asyncio.get_running_loop().time() + 5.0
        while len(built) < 2:
            assert asyncio.get_running_loop().time() < deadline, "the actor was not restarted"
            await asyncio.sleep(0.005)
        assert await ref.ask("ping") == "alive"
        assert not ref.is_terminated()
    finally:
        await system.terminate()


# -- which strategy: own Props, else the parent's Props, else the default -------------------------


def _plain_family(system, parent_strategy, kid_strategy=None):
    """A parent with `parent_strategy` on its Props and three children (the
    second with `kid_strategy` on its own Props, when given)."""
    kids: list = []
    logs = [[], [], []]

    class Parent(Actor):
        def pre_start(self, ctx):
            for i in range(3):
                p = counter_props(logs[i])
                if i == 1 and kid_strategy is not None:
                    p = p.with_supervisor_strategy(kid_strategy)
                kids.append(ctx.spawn(p, f"kid{i}"))

        def handle(self, ctx, msg):
            return None

    parent = system.actor_of(props(Parent).with_supervisor_strategy(parent_strategy), "parent")
    return parent, kids, logs


async def test_all_for_one_on_the_parents_props_restarts_all_its_children(system):
    parent, kids, logs = _plain_family(system, SupervisorStrategy.all_for_one())
    await wait_until(lambda: len(kids) == 3)
    for k in kids:
        k.tell("state")
    assert [await k.ask(GET) for k in kids] == [1, 1, 1]
    kids[0].tell(ValueError("one child fails"))
    await wait_until(lambda: [created(log) for log in logs] == [2, 2, 2],
                     message="every child restarted")
    assert [await k.ask(GET) for k in kids] == [0, 0, 0]
    assert not parent.is_terminated()


async def test_a_childs_own_strategy_wins_over_its_parents(system):
    parent, kids, logs = _plain_family(system, SupervisorStrategy.stopping(),
                                       SupervisorStrategy.one_for_one())
    await wait_until(lambda: len(kids) == 3)
    kids[1].tell(ValueError("restarted by its own strategy"))
    assert await wait_until(lambda: kids[1].ask("whoami")) == 2
    kids[0].tell(ValueError("stopped by the parent's strategy"))
    await wait_until(kids[0].is_terminated)
    assert not kids[2].is_terminated() and not parent.is_terminated()


async def test_top_level_actors_without_a_strategy_use_the_system_default(system):
    events: list = []
    ref = system.actor_of(counter_props(events), "top")
    ref.tell(ValueError("boom"))
    assert await wait_until(lambda: ref.ask("whoami")) == 2
