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
