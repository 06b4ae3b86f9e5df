"""The worked examples in docs/ run as tests."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys


ROOT = pathlib.Path(__file__).resolve().parent.parent


def _first_python_block(path: pathlib.Path) -> str:
    match = re.search(r"```python\n(.*?)```", path.read_text(), re.S)
    assert match, f"no python block in {path}"
    return match.group(1)


def test_testkit_guide_example_passes_under_pytest(tmp_path):
    code = _first_python_block(ROOT / "docs" / "testkit.md")
    test_file = tmp_path / "test_guide_example.py"
    test_file.write_text(code)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    env = dict(os.environ)  # this checkout's atomr, not an installed copy
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b2 passed\b", result.stdout), result.stdout


def test_ddata_guide_example_runs():
    code = _first_python_block(ROOT / "docs" / "ddata.md")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")


_RUN_PAGE = r"""
import ast, asyncio, importlib.util, inspect, sys

from atomr.testkit import TestKit

spec = importlib.util.spec_from_file_location("typecheck_docs", sys.argv[1])
checker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checker)
import pathlib
code, kept, skipped = checker.extract(pathlib.Path(sys.argv[2]))
compiled = compile(code, sys.argv[2], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
ns = {"__name__": "doc_page"}
result = eval(compiled, ns)
if inspect.iscoroutine(result):
    asyncio.run(result)
ran = 0
for name, fn in list(ns.items()):
    if name.startswith("test_") and inspect.iscoroutinefunction(fn):
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "atomr_testkit"]
        kit = TestKit(name.replace("_", "-"),
                      virtual_time=any(m.kwargs.get("virtual_time") for m in marks))
        try:
            asyncio.run(fn(kit))
        finally:
            kit.shutdown(verify=True, own_actors_ok=True)  # as the fixture does
        ran += 1
print(f"{kept} blocks, {len(skipped)} left out, {ran} tests")
"""


def _run_page(page: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-W", "error::atomr.testkit.LeakWarning", "-c", _RUN_PAGE,
         str(ROOT / "scripts" / "typecheck_docs.py"), str(ROOT / "docs" / page)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_akka_page_runs_with_its_tests():
    assert re.search(r"\b\d+ blocks, 0 left out, 2 tests$", _run_page("akka-to-atomr.md"))


def test_the_pykka_page_runs_with_its_tests():
    assert re.search(r"\b\d+ blocks, 0 left out, 2 tests$", _run_page("pykka-to-atomr.md"))
