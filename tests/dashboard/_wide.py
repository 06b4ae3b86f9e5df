"""Reading a dashboard's cluster-wide view in the discovery tests."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Callable

#: Joins, asks and fetches on a loaded 2-core machine.
DEADLINE = 60.0


def get(address: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=30) as resp:
        return json.loads(resp.read())


def by_member(doc: dict) -> dict[str, dict]:
    """The entries of a cluster-wide view that name a cluster member."""
    return {n["member"]: n for n in doc["nodes"] if "member" in n}


def wide_view(address: str, pred: Callable[[dict[str, dict]], Any], what: str,
              timeout: float = DEADLINE) -> dict:
    """``/api/cluster-wide/overview`` of the dashboard at `address` once
    ``pred(by_member(view))`` holds: a member's answer or a dashboard's
    overview may miss its 2 s on a loaded machine, so the view is read
    again until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        doc = get(address, "/api/cluster-wide/overview")
        if pred(by_member(doc)):
            return doc  # type: ignore[no-any-return]
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s; the last view: {doc}")
        time.sleep(0.05)
