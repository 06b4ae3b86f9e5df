"""Cluster sharding: entities spread over the nodes of a cluster, addressed
by id (Akka's Cluster Sharding).

:meth:`ShardRegion.start` starts the region of an entity type on a system;
messages told to it reach the entity they name, started on first use, on
whichever node hosts the entity's shard. A coordinator, a cluster
singleton on the oldest member (with the type's role, see
:class:`ShardingSettings`), allocates shards (least-shards or pinned),
rebalances them as nodes join and hands them off without losing or
repeating a message, also as a region shuts down or its node leaves; remembered
entities start again eagerly, idle ones are passivated. A region on a
system without a cluster (or not joined to one) hosts every shard itself.
See docs/sharding.md.
"""

from __future__ import annotations

from atomr.cluster_sharding._region import ShardRegion
from atomr.cluster_sharding._settings import ALLOCATION_STRATEGIES, ShardingSettings

__all__ = ["ShardRegion", "ShardingSettings", "ALLOCATION_STRATEGIES"]
