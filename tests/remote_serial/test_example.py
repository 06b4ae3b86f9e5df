"""examples/serial_link.py runs over a duplex pair and over a pty pair."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("extra", [[], ["--pty"]])
def test_serial_link_example_answers_every_reading_in_order(extra):
    env = dict(os.environ)  # this checkout's atomr, not an installed copy
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "serial_link.py"), "--readings", "200", *extra],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"serial link: 200 readings answered in order \(\d+ open, \d+ closed\) "
                        r"over akka\.serial://sensor@\S+ <-> akka\.serial://controller@\S+\n",
                        result.stdout), result.stdout
    assert result.stderr == ""
