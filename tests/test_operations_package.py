"""The operations modules load lazily, like the other subsystems."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

OPERATIONS = ("coordination", "di", "discovery", "hosting", "telemetry", "profiler")


def _run(code: str) -> list:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_atomr_loads_none_of_them_and_an_attribute_loads_one():
    loaded = _run(f"""
        import json, sys
        import atomr
        before = [m for m in {OPERATIONS!r} if "atomr." + m in sys.modules]
        lease = atomr.coordination.InMemoryLease
        from atomr import hosting
        print(json.dumps([before, "atomr.coordination" in sys.modules,
                          "atomr.hosting" in sys.modules, "atomr.profiler" in sys.modules,
                          "dns" in sys.modules, lease.__module__]))
    """)
    assert loaded == [[], True, True, False, False, "atomr.coordination._stores"]


def test_the_lazy_ones_are_listed_and_the_profiler_is_not():
    import atomr

    for name in OPERATIONS[:-1]:
        assert name in atomr.__all__ and name in dir(atomr)
    assert "profiler" not in atomr.__all__


def test_python_m_atomr_without_a_command_shows_its_usage():
    result = subprocess.run([sys.executable, "-m", "atomr"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "usage: python -m atomr" in result.stderr and "run" in result.stderr
