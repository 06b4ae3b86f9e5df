"""The dashboard's cluster-wide view (peer dashboards' overviews gathered
by one node) and its shards panel data (regions, shards, entities)."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

import pytest

from atomr import Actor, ActorSystem, props
from atomr import dashboard
from atomr.cluster_sharding import ShardRegion


def get(handle: dashboard.DashboardHandle, path: str) -> Any:
    with urllib.request.urlopen(f"http://{handle.address}{path}", timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def systems():
    made = [ActorSystem.create_blocking(f"dash-{i}") for i in range(2)]
    yield made
    for s in made:
        s.terminate_blocking(10.0)


class Entity(Actor):
    def handle(self, ctx, msg):
        return msg


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # nobody listens once closed


def test_cluster_wide_overview_gathers_each_peer_dashboard(systems):
    a, b = systems
    b.actor_of(props(Entity), "only-on-b")
    dead = _closed_port()
    with dashboard.serve("127.0.0.1:0", node="b", system=b) as hb:
        with dashboard.serve("127.0.0.1:0", node="a", system=a,
                             peers=[hb.address, dead]) as ha:
            doc = get(ha, "/api/cluster-wide/overview")
            assert doc["node"] == "a"
            nodes = {n["address"]: n for n in doc["nodes"]}
            assert set(nodes) == {ha.address, hb.address, dead}
            assert nodes[ha.address]["overview"]["system"] == "dash-0"
            peer = nodes[hb.address]["overview"]
            assert peer["node"] == "b" and peer["system"] == "dash-1"
            assert peer["actor_count"] == 1
            assert "error" in nodes[dead] and "overview" not in nodes[dead]
            assert get(ha, "/api/overview")["peers"] == [hb.address, dead]
            # A node without peers lists itself only.
            alone = get(hb, "/api/cluster-wide/overview")
            assert [n["address"] for n in alone["nodes"]] == [hb.address]


def test_sharding_view_lists_regions_shards_and_entities(systems):
    system = systems[0]
    region = ShardRegion.start(system=system, type_name="cart", entity_props=props(Entity),
                               message_extractor=lambda m: (m["id"], m["shard"], m["body"]))
    for entity, shard in (("x", "1"), ("y", "1"), ("z", "2")):
        region.tell({"id": entity, "shard": shard, "body": "hi"})
    with dashboard.serve("127.0.0.1:0", system=system) as handle:
        view = get(handle, "/api/sharding")
        assert view["available"] is True and view["regions"] == [region.region_id]
        (detail,) = view["details"]
        assert detail["region"] == region.region_id and detail["type_name"] == "cart"
        assert detail["proxy"] is False
        assert detail["shard_count"] == 2 and detail["entity_count"] == 3
        assert detail["shards"] == [
            {"id": "1", "entity_count": 2, "entity_ids": ["x", "y"]},
            {"id": "2", "entity_count": 1, "entity_ids": ["z"]},
        ]
        assert get(handle, "/api/snapshot")["sharding"]["details"] == view["details"]


def test_sharding_view_without_regions(systems):
    with dashboard.serve("127.0.0.1:0", system=systems[1]) as handle:
        view = get(handle, "/api/sharding")
        assert view["available"] is False and view["details"] == []
