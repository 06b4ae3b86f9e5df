"""The worked examples of docs/persistence.md run as written."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "persistence.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def _run(code: str, tmp_path: pathlib.Path) -> str:
    script = tmp_path / "doc_example.py"
    script.write_text(code)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_counter_example_recovers_in_a_second_system(tmp_path):
    out = _run(_python_blocks()[0], tmp_path)
    assert out.splitlines() == ["run 1: count = 5", "run 2: count = 10"]


def test_the_plugin_journal_example_runs_and_recovers(tmp_path):
    out = _run(_python_blocks()[-1], tmp_path)
    assert out.strip() == "plugin journal recovered 2 events"


def test_the_bank_example_replies_after_the_events_and_recovers(tmp_path):
    code = next(b for b in _python_blocks() if "bank.Deposited" in b)
    lines = _run(code, tmp_path).splitlines()
    for expected in ("ask answered 10", "printer got 15", "balance 15",
                     "akka://bank/user/account recovered 2 events: balance 15",
                     "ask answered 25", "printer got 30", "balance 30"):
        assert expected in lines
