"""examples/persistence_counter.py recovers its count across two runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(journal_dir: Path) -> list[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "persistence_counter.py"), str(journal_dir)],
        capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def test_the_counter_example_recovers_its_count_in_a_second_run(tmp_path):
    journal_dir = tmp_path / "counter-journal"
    first = _run(journal_dir)
    assert re.fullmatch(r"recovered count = 0 from .*counter-journal", first[0]), first
    assert first[1] == "count is now 3 (3 events in the journal)"
    second = _run(journal_dir)
    assert re.fullmatch(r"recovered count = 3 from .*counter-journal", second[0]), second
    assert second[1] == "count is now 6 (6 events in the journal)"
