"""The interpreter-pool API: quotas, in-process pools, detection, the
compatibility registry."""

from __future__ import annotations

import sys
import time
from typing import Iterator

import pytest

import atomr
import atomr.interpreter as interp
from atomr import (
    Actor,
    ActorSystem,
    InterpreterOverloaded,
    InterpreterQuota,
    compat_flags,
    compat_list,
    declare_compat,
    props,
)

from _helpers import DEADLINE


class Echo(Actor):
    def handle(self, ctx, msg):
        if msg == "stop":
            ctx.stop_self()
        return msg


class Slow(Actor):
    def handle(self, ctx, msg):
        end = time.perf_counter() + msg
        while time.perf_counter() < end:
            pass
        return msg


def wait_until(pred, timeout):
    """Polls `pred` until it is truthy; fails at the deadline."""
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def system() -> Iterator[ActorSystem]:
    s = ActorSystem.create_blocking("api")
    try:
        yield s
    finally:
        interp.shutdown_pools()
        s.terminate_blocking()


def test_the_names_are_exported_at_the_top_level():
    for name in ("InterpreterQuota", "subinterpreters_supported", "nogil_supported",
                 "declare_compat", "compat_flags", "compat_list"):
        assert name in atomr.__all__ and hasattr(atomr, name)


def test_quota_keywords_defaults_and_validation():
    q = InterpreterQuota()
    assert q.max_actors is None and q.module_denylist == [] and q.import_policy == "lazy"
    q = InterpreterQuota(max_actors=3, max_handler_ms=2.5, module_allowlist=["json"])
    assert (q.max_actors, q.max_handler_ms, q.module_allowlist) == (3, 2.5, ["json"])
    q.max_actors = 4
    assert q.max_actors == 4
    with pytest.raises(TypeError):
        InterpreterQuota(3)  # type: ignore[misc]
    with pytest.raises(ValueError, match="max_actors"):
        InterpreterQuota(max_actors=0)
    with pytest.raises(TypeError, match="max_actors"):
        InterpreterQuota(max_actors=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="import_policy"):
        InterpreterQuota(import_policy="sometimes")
    with pytest.raises(TypeError, match="module_denylist"):
        InterpreterQuota(module_denylist="json")  # type: ignore[arg-type]


def test_configure_interpreter_validates_and_the_first_configuration_wins(system):
    with pytest.raises(ValueError, match="dispatcher"):
        system.configure_interpreter("x", "python-gpu")
    with pytest.raises(ValueError, match="count"):
        system.configure_interpreter("x", count=0)
    with pytest.raises(TypeError, match="quota"):
        system.configure_interpreter("x", quota={"max_actors": 1})
    with pytest.raises(ValueError, match="label"):
        system.configure_interpreter("")
    system.configure_interpreter("io", "python-pinned", count=2,
                                 quota=InterpreterQuota(max_actors=5))
    system.configure_interpreter("io", "python-nogil", count=7)
    cfg = interp.pool_config("io")
    assert cfg is not None and (cfg["kind"], cfg["count"]) == ("python-pinned", 2)
    assert cfg["quota"].max_actors == 5


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="subinterpreter pools run on 3.12+")
def test_subinterpreter_pools_are_refused_truthfully(system):
    assert atomr.subinterpreters_supported() is False
    with pytest.raises(NotImplementedError, match="subinterpreter"):
        system.configure_interpreter("sub", "python-subinterpreter-pool", count=2)
    assert interp.pool_config("sub") is None


@pytest.mark.skipif(sys.version_info < (3, 12), reason="own-GIL subinterpreters need 3.12+")
def test_subinterpreters_are_supported_from_3_12():
    assert atomr.subinterpreters_supported() is True


def test_nogil_detection_follows_sys_is_gil_enabled(monkeypatch):
    expected = hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled()
    assert atomr.nogil_supported() is expected
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert atomr.nogil_supported() is True
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    assert atomr.nogil_supported() is False
    monkeypatch.delattr(sys, "_is_gil_enabled", raising=False)
    assert atomr.nogil_supported() is False


def test_max_actors_of_an_in_process_pool(system):
    system.configure_interpreter("small", quota=InterpreterQuota(max_actors=2))
    a = system.actor_of(props(Echo, interpreter_role="small"), "a")
    system.actor_of(props(Echo, interpreter_role="small"), "b")
    with pytest.raises(InterpreterOverloaded, match="small"):
        system.actor_of(props(Echo, interpreter_role="small"), "c")
    system.actor_of(props(Echo), "other-pool")  # other labels are not limited
    # pools are process-wide: another system shares the quota
    other = ActorSystem.create_blocking("api2")
    try:
        with pytest.raises(InterpreterOverloaded):
            other.actor_of(props(Echo, interpreter_role="small"), "c")
    finally:
        other.terminate_blocking()
    assert a.ask_blocking("stop", DEADLINE) == "stop"
    end = time.monotonic() + DEADLINE
    while True:
        try:
            c = system.actor_of(props(Echo, interpreter_role="small"), "c")
            break
        except InterpreterOverloaded:
            assert time.monotonic() < end
            time.sleep(0.01)
    assert c.ask_blocking(1, DEADLINE) == 1


def test_max_handler_ms_counts_long_handlers(system):
    system.configure_interpreter("timed", quota=InterpreterQuota(max_handler_ms=200))
    ref = system.actor_of(props(Slow, interpreter_role="timed"), "s")
    for _ in range(3):
        assert ref.ask_blocking(0.0, DEADLINE) == 0.0
    for _ in range(2):
        assert ref.ask_blocking(0.3, DEADLINE) == 0.3

    def long_handlers():
        return [m for m in interp.interpreter_metrics()
                if m["label"] == "timed" and m["system"] == "api"][0]["long_handlers"]

    wait_until(lambda: long_handlers() >= 2, DEADLINE)


def test_builtin_compat_table():
    assert compat_flags("json") == {"subinterpreter_safe": True, "nogil_safe": True,
                                    "notes": "stdlib"}
    assert compat_flags("numpy")["subinterpreter_safe"] is True
    assert compat_flags("numpy")["nogil_safe"] is False
    assert compat_flags("torch") == {"subinterpreter_safe": False, "nogil_safe": False,
                                     "notes": ""}
    assert compat_flags("no-such-module") is None
    names = [e["name"] for e in compat_list()]
    assert names == sorted(names)
    assert {"json", "dataclasses", "typing", "asyncio", "collections", "pickle", "msgpack",
            "orjson", "numpy", "pydantic", "pandas", "torch"} <= set(names)


def test_declare_compat_sets_and_overrides():
    try:
        declare_compat("mylib", subinterpreter_safe=True, notes="checked")
        assert compat_flags("mylib") == {"subinterpreter_safe": True, "nogil_safe": False,
                                         "notes": "checked"}
        declare_compat("mylib", nogil_safe=True)
        assert compat_flags("mylib")["nogil_safe"] is True
        entry = [e for e in compat_list() if e["name"] == "mylib"][0]
        assert entry == {"name": "mylib", "subinterpreter_safe": False, "nogil_safe": True,
                         "notes": ""}
        with pytest.raises(TypeError):
            declare_compat("mylib", subinterpreter_safe="yes")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            declare_compat("")
    finally:
        from atomr import compat

        compat._TABLE.pop("mylib", None)
