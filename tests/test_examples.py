"""Every program in examples/ runs and prints what it promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_pingpong_example_runs_and_reports_its_throughput():
    env = dict(os.environ)  # this checkout's atomr, not an installed copy
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "pingpong.py"), "--messages", "2000"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    match = re.fullmatch(
        r"ping-pong: 2000 messages in (\d+\.\d{3})s = (\d+\.\d{2})M msg/s", lines[0])
    assert match, lines[0]
    assert float(match.group(2)) > 0  # a positive rate (M msg/s)
