"""Cluster tools: distributed pub-sub, cluster singletons, cluster clients.

Built on :class:`atomr.cluster.Cluster` (a node's membership), over TCP
between processes or over a :class:`~atomr.cluster.ClusterRegistry` in one
process (docs/cluster-tools.md):

* :class:`DistributedPubSub`: a mediator per node; topics and groups,
  ``publish`` / ``send`` / ``send_to_all`` to subscribers anywhere in the
  cluster, the registry of subscriptions gossiped between the mediators.
  ``DistributedPubSub()`` alone is a bus of this process.
* :class:`ClusterSingletonManager` and :class:`ClusterSingletonProxy`: one
  instance cluster-wide, on the oldest node of a role, handed over when
  it leaves and taken over when it is downed.
* :class:`ClusterReceptionist` and :class:`ClusterClient`: services of the
  cluster reached from an actor system outside it; the client heartbeats
  its receptionist and moves to another when it is lost.

The tools' own actors (the mediator, the receptionist, the singleton
managers' proxies) are system actors, under ``/system``.
"""

from __future__ import annotations

from atomr.cluster_tools.client import (
    RECEPTIONIST_NAME,
    ClusterClient,
    ClusterClientError,
    ClusterClientSettings,
    ClusterReceptionist,
    ContactPointAdded,
    ContactPointRemoved,
)
from atomr.cluster_tools.pubsub import (
    MEDIATOR_NAME,
    CurrentTopics,
    DistributedPubSub,
    GetTopics,
    Publish,
    Put,
    Remove,
    Send,
    SendToAll,
    Subscribe,
    SubscribeAck,
    Unsubscribe,
    UnsubscribeAck,
)
from atomr.cluster_tools.singleton import (
    SINGLETON_STATES,
    ClusterSingletonManager,
    ClusterSingletonProxy,
)

__all__ = [
    "DistributedPubSub",
    "Subscribe",
    "Unsubscribe",
    "SubscribeAck",
    "UnsubscribeAck",
    "Publish",
    "Send",
    "SendToAll",
    "Put",
    "Remove",
    "GetTopics",
    "CurrentTopics",
    "MEDIATOR_NAME",
    "ClusterSingletonManager",
    "ClusterSingletonProxy",
    "SINGLETON_STATES",
    "ClusterReceptionist",
    "ClusterClient",
    "ClusterClientSettings",
    "ClusterClientError",
    "RECEPTIONIST_NAME",
    "ContactPointAdded",
    "ContactPointRemoved",
]
