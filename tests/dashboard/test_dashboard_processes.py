"""Dashboards of cluster members in three OS processes find each other
through membership (no ``peers``): the node processes of tests/multinode
with a dashboard command (dashboard_node.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from multinode._cluster import cluster_config, join_all, wait_agreed
from multinode._nodes import NodeGroup, NodeProcess
from tests.dashboard import dashboard_node
from tests.dashboard._wide import by_member, wide_view

#: Python processes start and join on a loaded 2-core machine.
FORM_DEADLINE = 60.0


@pytest.fixture
def nodes() -> Iterator[NodeGroup]:
    """The test's node processes, all killed at the end."""
    with NodeGroup() as group:
        yield group


def test_cluster_wide_overview_lists_the_other_processes_dashboards(nodes):
    config = cluster_config()
    members = nodes.start_all(NodeProcess(f"dash{i}", config=config, cluster=True,
                                          wrap=dashboard_node.wrap) for i in range(3))
    join_all(members, [members[0].address], timeout=FORM_DEADLINE)
    wait_agreed(members, FORM_DEADLINE, "three nodes form one cluster")
    first = members[0].request("dashboard_serve", node="n0")
    second = members[1].request("dashboard_serve", node="n1")
    # The third process serves no dashboard.

    seen = by_member(wide_view(first, lambda m: "overview" in m.get(members[1].address, {})
                               and "error" in m.get(members[2].address, {}),
                               "n0 finds the other members' dashboards"))
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
    wide_view(second, lambda m: m.get(members[0].address, {}).get("address") == first
              and "overview" in m[members[0].address], "n1 finds n0's dashboard")

    # The dashboard of the second process stops, and its system actor with it.
    members[1].request("dashboard_stop")
    gone = by_member(wide_view(first, lambda m: "error" in m.get(members[1].address, {}),
                               "the stopped dashboard is no longer found"))
    assert gone[members[1].address]["error"].startswith("no dashboard")
    assert gone[members[1].address]["address"] is None
