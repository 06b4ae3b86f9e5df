"""The coordinator of a type as a cluster singleton.

Every sharding node of a cluster runs a
:class:`~atomr.cluster_tools.ClusterSingletonManager` per entity type it
serves or coordinates (the actor ``/user/atomr-sharding-<type>-coordinator``,
restricted to the type's role). Its singleton, a :class:`CoordinatorActor`,
runs on the oldest up member with the role; while it runs, that node's
:class:`atomr.cluster_sharding._region._Node` keeps the type's
:class:`~atomr.cluster_sharding._coordinator.Coordinator` (its state lives
under the node's lock, fed by the sharding transport, not in the actor).
The manager's hand-over makes the previous instance stop before the next
oldest starts its own, which then reads the stored allocations (see
:mod:`atomr.cluster_sharding._state_store`) and reconciles them with the
regions' registrations.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Optional

from atomr.actor import Actor, props
from atomr.cluster_tools import ClusterSingletonManager

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.cluster_sharding._region import _Node

__all__ = ["CoordinatorActor", "start_manager"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class CoordinatorActor(Actor):
    """The singleton: marks the type's coordinator as running on its node."""

    def __init__(self, node: "_Node", type_name: str) -> None:
        self._node = node
        self._type_name = type_name

    def pre_start(self, ctx: Any) -> None:
        self._node.locked(self._node.singleton_started, self._type_name)

    def post_stop(self, ctx: Any) -> None:
        with self._node.lock:
            self._node.singleton_stopped(self._type_name)

    def handle(self, ctx: Any, message: Any) -> None:
        return None


def manager_name(type_name: str) -> str:
    return f"atomr-sharding-{_UNSAFE.sub('_', type_name)}-coordinator"


def start_manager(node: "_Node", type_name: str,
                  role: Optional[str]) -> ClusterSingletonManager:
    """Starts the singleton manager of `type_name`'s coordinator on `node`."""
    return ClusterSingletonManager.start(
        node.system,
        props(CoordinatorActor, factory=lambda: CoordinatorActor(node, type_name)),
        manager_name(type_name), role=role, hand_over_timeout=1.0)
