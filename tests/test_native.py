"""atomr._native: the compiled module's Python-visible surface."""

from __future__ import annotations

import pytest

import atomr
import atomr._native
from atomr import InvalidActorNameError


def test_native_version_is_a_non_empty_string():
    assert isinstance(atomr._native.__version__, str)
    assert atomr._native.__version__.strip()


def test_package_version_is_a_non_empty_string():
    assert isinstance(atomr.__version__, str)
    assert atomr.__version__.strip()
    assert "__version__" in atomr.__all__


def test_native_classes_are_the_public_ones():
    from atomr._native import _core

    assert atomr.ActorRef is _core.ActorRef
    assert atomr.Context is _core.Context


@pytest.mark.parametrize("name, ok", [
    ("worker", True), ("a-b_c.d", True), ("%41", True),
    ("", False), ("$anon", False), ("a/b", False), ("a b", False), ("%zz", False),
])
def test_is_valid_actor_name(name, ok):
    assert atomr._native.is_valid_actor_name(name) is ok


def test_validate_name_raises_invalid_actor_name_error_naming_the_name():
    atomr._native.validate_name("fine")
    with pytest.raises(InvalidActorNameError, match="bad/name"):
        atomr._native.validate_name("bad/name")


def test_public_names_of_the_package_exist():
    for name in atomr.__all__:
        assert hasattr(atomr, name), name


def test_interpreter_metrics_counts_the_live_systems_work():
    import time

    import atomr._native as native
    from atomr import Actor, ActorSystem, props

    class Flaky(Actor):
        def handle(self, ctx, msg):
            if msg == "boom":
                raise ValueError("boom")
            return msg

    system = ActorSystem.create_blocking("metrics")
    try:
        ref = system.actor_of(props(Flaky), "flaky")
        for i in range(20):
            assert ref.ask_blocking(i, 5.0) == i
        ref.tell("boom")
        deadline = time.monotonic() + 5.0
        while True:
            mine = [m for m in native.interpreter_metrics()
                    if m["system"] == "metrics" and m["label"] == "default"]
            assert len(mine) == 1
            if mine[0]["handler_panics"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        m = mine[0]
        assert m["kind"] == "python-pinned"
        assert m["actors_hosted"] == 1
        assert m["messages_handled"] >= 21
        assert m["handler_panics"] == 1
        assert m["gil_hold_ns_total"] > 0
        assert m["mailbox_depth_total"] >= 0
        assert set(m) == {"label", "kind", "system", "actors_hosted", "messages_handled",
                          "gil_hold_ns_total", "mailbox_depth_total", "handler_panics",
                          "long_handlers"}
    finally:
        system.terminate_blocking()
    assert not [m for m in native.interpreter_metrics() if m["system"] == "metrics"]


def test_interpreter_metrics_has_one_entry_per_pool_label_of_each_system():
    import time

    import atomr._native as native
    from atomr import Actor, ActorSystem, props

    class Echo(Actor):
        def handle(self, ctx, msg):
            if msg == "boom":
                raise ValueError("boom")
            return msg

    system = ActorSystem.create_blocking("pools")
    try:
        plain = system.actor_of(props(Echo), "plain")
        gpu = system.actor_of(props(Echo, dispatcher="python-nogil", interpreter_role="gpu"), "g1")
        system.actor_of(props(Echo, dispatcher="python-subprocess", interpreter_role="gpu"), "g2")
        for i in range(5):
            assert plain.ask_blocking(i, 5.0) == i
        for i in range(3):
            assert gpu.ask_blocking(i, 5.0) == i
        gpu.tell("boom")
        deadline = time.monotonic() + 5.0
        while True:
            mine = {m["label"]: m for m in native.interpreter_metrics() if m["system"] == "pools"}
            if mine["gpu"]["handler_panics"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert set(mine) == {"default", "gpu"}
        default, pool = mine["default"], mine["gpu"]
        assert set(default) == {"label", "kind", "system", "actors_hosted", "messages_handled",
                                "gil_hold_ns_total", "mailbox_depth_total", "handler_panics",
                                "long_handlers"}
        assert default["kind"] == "python-pinned"
        assert pool["kind"] == "python-nogil"  # the first actor on the label fixes it
        assert default["actors_hosted"] == 1 and pool["actors_hosted"] == 2
        assert default["messages_handled"] >= 5 and pool["messages_handled"] >= 4
        assert default["handler_panics"] == 0 and pool["handler_panics"] == 1
        assert pool["gil_hold_ns_total"] > 0
    finally:
        system.terminate_blocking()
    assert not [m for m in native.interpreter_metrics() if m["system"] == "pools"]
