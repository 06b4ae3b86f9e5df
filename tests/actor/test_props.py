"""Props and props(): the recipe an actor is built from."""

from __future__ import annotations

import threading

import pytest

from atomr import Actor, Props, props
from atomr.supervision import SupervisorStrategy


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


class Stateful(Actor):
    def __init__(self, start=0):
        self.n = start

    def handle(self, ctx, msg):
        self.n += 1
        return self.n


def test_props_defaults():
    p = props(Echo)
    assert isinstance(p, Props)
    assert p.dispatcher == "python-pinned"
    assert p.interpreter_role == "default"
    assert p.supervisor_strategy is None
    assert p.kind_label == "python"


def test_props_keyword_arguments_are_stored():
    p = props(Echo, dispatcher="python-nogil", interpreter_role="workers", mailbox="bounded")
    assert p.dispatcher == "python-nogil"
    assert p.interpreter_role == "workers"
    assert p.kind_label == "python"


def test_props_options_are_keyword_only():
    with pytest.raises(TypeError):
        props(Echo, "python-pinned")  # type: ignore[misc]


def test_props_create_takes_positional_arguments_in_documented_order():
    p = Props.create(Echo, "python-subprocess", "role-x", None)
    assert p.dispatcher == "python-subprocess"
    assert p.interpreter_role == "role-x"
    assert p.kind_label == "python"


def test_with_methods_return_modified_copies_and_leave_the_original_untouched():
    base = props(Echo)
    d = base.with_dispatcher("python-subinterpreter-pool")
    r = base.with_interpreter_role("gpu")
    m = base.with_mailbox("unbounded")
    strategy = SupervisorStrategy.stopping()
    s = base.with_supervisor_strategy(strategy)
    for copy in (d, r, m, s):
        assert copy is not base
        assert isinstance(copy, Props)
    assert d.dispatcher == "python-subinterpreter-pool" and d.interpreter_role == "default"
    assert r.interpreter_role == "gpu" and r.dispatcher == "python-pinned"
    assert s.supervisor_strategy is strategy
    assert base.dispatcher == "python-pinned"
    assert base.interpreter_role == "default"
    assert base.supervisor_strategy is None
    # Chained copies keep earlier changes.
    both = d.with_interpreter_role("gpu")
    assert (both.dispatcher, both.interpreter_role) == ("python-subinterpreter-pool", "gpu")
    assert d.interpreter_role == "default"


def test_with_supervisor_budget_returns_a_copy_with_a_limited_restart_strategy():
    base = props(Echo)
    limited = base.with_supervisor_budget(3, within_seconds=5.0)
    assert limited is not base
    assert base.supervisor_strategy is None
    strategy = limited.supervisor_strategy
    assert strategy.max_retries == 3
    assert strategy.within_seconds == 5.0
    assert strategy.decide("builtins.ValueError") == "restart"
    assert base.with_supervisor_budget(2).supervisor_strategy.within_seconds == 60.0


@pytest.mark.parametrize("bad", [42, "Echo", None, Echo()])
def test_non_callable_factory_is_a_type_error(bad):
    with pytest.raises(TypeError):
        Props.create(bad)
    with pytest.raises(TypeError):
        props(bad)


def test_non_callable_factory_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        props(Echo, factory=42)


@pytest.mark.parametrize("bad", [1, None, b"python-pinned"])
def test_non_string_dispatcher_is_a_type_error(bad):
    with pytest.raises(TypeError):
        props(Echo, dispatcher=bad)


async def test_factory_keyword_builds_the_actor_instead_of_the_class(system):
    p = props(Stateful, factory=lambda: Stateful(start=100))
    ref = system.actor_of(p, "s")
    assert await ref.ask("x") == 101


async def test_factory_lambda_returning_a_prebuilt_instance_uses_that_instance(system):
    instance = Stateful(start=10)
    ref = system.actor_of(props(lambda: instance), "pre")
    assert await ref.ask("x") == 11
    assert await ref.ask("x") == 12
    assert instance.n == 12


async def test_any_zero_argument_callable_is_a_valid_actor_factory(system):
    def build():
        return Stateful(start=5)

    ref = system.actor_of(Props.create(build), "built")
    assert await ref.ask("x") == 6


async def test_factory_is_called_on_the_systems_loop_thread_not_the_callers(blocking_system):
    where = []

    def build():
        where.append(threading.current_thread())
        return Echo()

    ref = blocking_system.actor_of(props(build), "e")
    assert ref.ask_blocking("x", 5.0) == "x"
    assert where and where[0] is not threading.current_thread()


async def test_each_actor_of_calls_the_factory_again(system):
    calls = []

    def build():
        calls.append(1)
        return Stateful()

    p = props(build)
    a = system.actor_of(p, "a")
    b = system.actor_of(p, "b")
    assert await a.ask(0) == 1
    assert await b.ask(0) == 1
    assert len(calls) == 2


async def test_unknown_dispatcher_name_behaves_like_python_pinned(system):
    ref = system.actor_of(props(Echo, dispatcher="no-such-dispatcher"), "e")
    assert await ref.ask("works") == "works"


async def test_props_built_with_every_documented_dispatcher_run(system):
    for i, d in enumerate(["python-pinned", "python-subinterpreter-pool",
                           "python-nogil", "python-subprocess"]):
        ref = system.actor_of(props(Echo, dispatcher=d), f"d{i}")
        assert await ref.ask(d) == d
