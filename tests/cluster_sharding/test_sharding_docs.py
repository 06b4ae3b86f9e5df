"""The worked example of docs/sharding.md runs."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_sharding_guide_example_runs():
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "sharding.md").read_text(),
                     re.S).group(1)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
