"""The atomr package: subsystems load lazily (PEP 562) and the structure
has no wiring by import side effects."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import atomr

LAZY = ("core", "ddata", "ddata_lmdb", "fsm", "pattern", "persistence", "remote", "routing",
        "streams", "testkit")


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_atomr_does_not_load_the_subsystems():
    found = _run("""
        import json, sys
        import atomr
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("atomr."))))
    """)
    for name in LAZY:
        assert f"atomr.{name}" not in found
    assert "atomr.actor" in found and "atomr.config" in found


def test_a_subsystem_loads_on_first_attribute_access_and_by_from_import():
    found = _run("""
        import json, sys
        import atomr
        before = "atomr.persistence" in sys.modules
        journal = atomr.persistence.InMemoryJournal
        from atomr import ddata
        print(json.dumps([before, "atomr.persistence" in sys.modules,
                          atomr.ddata is ddata, "atomr.testkit" in sys.modules,
                          journal.__module__]))
    """)
    assert found == [False, True, True, False, "atomr.persistence"]


def test_router_props_work_without_importing_atomr_routing():
    found = _run("""
        import json, sys
        import atomr

        class Worker(atomr.Actor):
            def handle(self, ctx, msg):
                return msg

        system = atomr.ActorSystem.create_blocking("lazy")
        try:
            ref = system.actor_of(atomr.Props.round_robin(atomr.props(Worker), 2), "pool")
            reply = ref.ask_blocking("hi", 5.0)
        finally:
            system.terminate_blocking(10.0)
        print(json.dumps([reply, "atomr.routing" in sys.modules]))
    """)
    assert found == ["hi", False]


def test_all_and_dir_list_the_lazy_subsystems():
    for name in ("persistence", "routing", "testkit", "ddata", "ddata_lmdb", "core", "pattern"):
        assert name in atomr.__all__
    for name in LAZY:
        assert name in dir(atomr)
    for name in atomr.__all__:
        assert getattr(atomr, name) is not None


def test_unknown_attributes_still_raise_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        atomr.no_such_thing  # noqa: B018
    assert not hasattr(atomr, "_lazy_nothing")


def test_router_factories_are_props_attributes_from_the_actor_layer():
    from atomr import Props, routing

    for name in ("broadcast", "round_robin", "random", "consistent_hash", "smallest_mailbox",
                 "tail_chopping", "scatter_gather", "backoff"):
        assert getattr(Props, name) is getattr(routing, name)
        assert getattr(routing, name).__module__ == "atomr.routing"


def test_moved_classes_keep_their_public_names():
    from atomr import ActorSystem, Props, Terminated, core
    from atomr.event_stream import DeadLetter

    assert f"{ActorSystem.__module__}.{ActorSystem.__qualname__}" == "atomr.system.ActorSystem"
    assert Terminated.__module__ == "atomr.supervision"
    assert DeadLetter.__module__ == "atomr.event_stream"
    assert Props.__module__ == "atomr._props"
    assert core.ResizerConfig.__module__ == "atomr.core"
    assert atomr.Actor.__module__ == "atomr.actor"
