"""examples/pool_inference.py runs its models on python-pinned and in a
pool (subinterpreters on 3.12+, worker processes before) and gets the same
answers from both."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import atomr

ROOT = Path(__file__).resolve().parents[2]


def test_the_inference_example_answers_alike_on_both_dispatchers():
    env = dict(os.environ)  # this checkout's atomr, not an installed copy
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "pool_inference.py"), "--batches", "40"],
        capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    kind = ("python-subinterpreter-pool" if atomr.subinterpreters_supported()
            else "python-process-pool")
    assert re.fullmatch(
        rf"pool_inference: 40 batches: python-pinned \d+\.\d{{3}}s, {kind} x2 "
        rf"\d+\.\d{{3}}s \(\d+\.\d{{2}}x\)", result.stdout.strip()), result.stdout
