"""examples/dashboard_demo.py serves a dashboard that shows its workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import wait_until_blocking

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_demo_serves_its_workers() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "dashboard_demo.py"),
                             "--seconds", "60"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split(" ", 1)[1].strip()

        def overview() -> dict:
            with urllib.request.urlopen(url + "api/overview", timeout=10) as resp:
                return json.loads(resp.read())

        wait_until_blocking(lambda: overview()["actor_count"] >= 5, timeout=30.0)
        wait_until_blocking(lambda: overview()["dead_letter_count"] >= 1, timeout=60.0)
        with urllib.request.urlopen(url + "api/actors", timeout=10) as resp:
            paths = {a["path"] for a in json.loads(resp.read())}
        assert any(p.startswith("akka://dashboard-demo/user/worker-") for p in paths)
    finally:
        proc.terminate()
        proc.wait(30)
