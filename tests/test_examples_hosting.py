"""examples/hosted_service.py runs under the host and drains on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_hosted_service_example_drains_what_it_accepted_on_sigterm():
    env = dict(os.environ)  # this checkout's atomr, not an installed copy
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "hosted_service.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)
    assert proc.returncode == 0, err
    match = re.fullmatch(r"stopped accepting after (\d+) orders\nall (\d+) orders processed\n",
                         out)
    assert match, out
    assert match.group(1) == match.group(2)
