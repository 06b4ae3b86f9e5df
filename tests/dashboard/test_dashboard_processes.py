"""Dashboards of cluster members in three OS processes find each other
through membership (no ``peers``): the node processes of tests/multinode
with a dashboard command (dashboard_node.py)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Iterator

import pytest

from multinode._cluster import cluster_config, join_all, wait_agreed
from multinode._nodes import NodeGroup, NodeProcess, wait_until
from tests.dashboard import dashboard_node

#: Python processes start and join on a loaded 2-core machine.
FORM_DEADLINE = 60.0


@pytest.fixture
def nodes() -> Iterator[NodeGroup]:
    """The test's node processes, all killed at the end."""
    with NodeGroup() as group:
        yield group


def get(address: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=30) as resp:
        return json.loads(resp.read())


def _members(address: str) -> dict[str, dict]:
    doc = get(address, "/api/cluster-wide/overview")
    return {n["member"]: n for n in doc["nodes"] if "member" in n}


def test_cluster_wide_overview_lists_the_other_processes_dashboards(nodes):
    config = cluster_config()
    members = nodes.start_all(NodeProcess(f"dash{i}", config=config, cluster=True,
                                          wrap=dashboard_node.wrap) for i in range(3))
    join_all(members, [members[0].address], timeout=FORM_DEADLINE)
    wait_agreed(members, FORM_DEADLINE, "three nodes form one cluster")
    first = members[0].request("dashboard_serve", node="n0")
    second = members[1].request("dashboard_serve", node="n1")
    # The third process serves no dashboard.

    seen = _members(first)
    assert set(seen) == {m.address for m in members}
    assert seen[members[0].address]["source"] == "self"
    assert seen[members[0].address]["overview"]["node"] == "n0"
    peer = seen[members[1].address]
    assert peer["address"] == second and peer["source"] == "cluster"
    assert peer["overview"]["node"] == "n1" and peer["overview"]["system"] == "dash1"
    assert peer["overview"]["actor_count"] >= 4  # echo, sink, recorder, watcher
    bare = seen[members[2].address]
    assert "overview" not in bare and bare["error"].startswith("no dashboard"), bare
    # And the other way round.
    assert _members(second)[members[0].address]["address"] == first

    # The dashboard of the second process stops, and its system actor with it.
    members[1].request("dashboard_stop")
    wait_until(lambda: "error" in _members(first)[members[1].address], FORM_DEADLINE,
               "the stopped dashboard is no longer found")
    assert _members(first)[members[1].address]["error"].startswith("no dashboard")
