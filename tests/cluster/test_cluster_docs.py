"""The Cluster API examples of docs/cluster.md run."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def _api_blocks() -> list[str]:
    text = (ROOT / "docs" / "cluster.md").read_text()
    section = text[text.index("## The Cluster API"):text.index("## Members and their statuses")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_section_has_two_examples():
    assert len(_api_blocks()) == 2


@pytest.mark.parametrize("index", [0, 1])
def test_cluster_api_example_runs(index):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", _api_blocks()[index]], cwd=ROOT,
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")


def test_bootstrap_example_runs():
    text = (ROOT / "docs" / "cluster.md").read_text()
    section = text[text.index("## Bootstrap from service discovery"):
                   text.index("## Across processes and real network partitions")]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", block], cwd=ROOT,
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
