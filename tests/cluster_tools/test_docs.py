"""The example at the top of docs/cluster-tools.md runs."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def test_the_cluster_tools_example_runs():
    text = (ROOT / "docs" / "cluster-tools.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
