"""Each node's metrics, collected and gossiped between the members, and
the adaptive routing logic of cluster-aware routers that reads them."""

from __future__ import annotations

import json
import logging
import random as _random
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from atomr._util import public_module
from atomr.actor import Actor, ActorRef, props
from atomr.actor.extension import Extension, ExtensionId
from atomr.cluster import Cluster, MemberRemoved
from atomr.cluster._nodes import ensure_messaging, node_ref
from atomr.cluster.routing import Routee, RoutingLogic
from atomr.cluster_metrics._collector import ProcCollector
from atomr.cluster_metrics._types import (
    ClusterMetrics,
    MetricsSelector,
    NodeMetrics,
    WeightedRoutees,
    apply_pdu,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["ClusterMetricsExtension", "MetricsPush", "AdaptiveLoadBalancingLogic",
           "METRICS_ACTOR"]

_log = logging.getLogger("atomr.cluster_metrics")

#: The name of each node's metrics actor (a system actor, ``/system/<name>``).
METRICS_ACTOR = "atomr-cluster-metrics"

_PUSH_TO = ("up", "weaklyup", "leaving", "joining")


@public_module("atomr.cluster_metrics")
class MetricsPush:
    """The message a node's metrics actor sends the others: its latest sample."""

    __slots__ = ("sample",)

    def __init__(self, sample: NodeMetrics) -> None:
        self.sample = sample

    def __repr__(self) -> str:
        return f"MetricsPush({self.sample!r})"


def _encode_push(msg: MetricsPush) -> bytes:
    return json.dumps(msg.sample.to_wire()).encode()


def _decode_push(blob: bytes) -> MetricsPush:
    return MetricsPush(NodeMetrics.from_wire(json.loads(blob)))


class _Tick:
    __slots__ = ()


class _MetricsNode(Actor):
    """Samples this node at the collect interval, keeps the sample and pushes
    it to every other member; takes the others' pushes; forgets removed
    members."""

    def __init__(self, ext: "ClusterMetricsExtension") -> None:
        self._ext = ext

    def pre_start(self, ctx: Any) -> None:
        ctx.system.event_stream.subscribe(ctx.self_ref, MemberRemoved)
        interval = self._ext.collect_interval
        ctx.schedule_periodically(initial=0.0, interval=interval, msg=_Tick())

    def post_stop(self, ctx: Any) -> None:
        ctx.system.event_stream.unsubscribe(ctx.self_ref)

    def handle(self, ctx: Any, msg: Any) -> Any:
        ext = self._ext
        if isinstance(msg, _Tick):
            sample = ext._collect()
            if sample is None:
                return None
            ext._accept(sample)
            cluster = ext.cluster
            me = cluster.self_address
            push = MetricsPush(sample)
            for m in cluster.membership_snapshot().members():
                if m.address == me or m.status not in _PUSH_TO:
                    continue
                ref = node_ref(cluster, m.address, METRICS_ACTOR, "system")
                if ref is not None:
                    try:
                        ref.tell(push)
                    except Exception as exc:  # noqa: BLE001 - the next tick retries
                        _log.debug("metrics push to %s failed: %s", m.address, exc)
            return None
        if isinstance(msg, MetricsPush):
            members = {m.address for m in ext.cluster.membership_snapshot().members()
                       if m.status not in ("down", "removed")}
            if msg.sample.address in members:
                ext._accept(msg.sample)
            return None
        if isinstance(msg, MemberRemoved):
            ext._forget(msg.member.address)
            return None
        return None


class _MetricsId(ExtensionId["ClusterMetricsExtension"]):
    def create_extension(self, system: "ActorSystem") -> "ClusterMetricsExtension":
        return ClusterMetricsExtension._create(system)


_METRICS = _MetricsId()


@public_module("atomr.cluster_metrics")
class ClusterMetricsExtension(Extension):
    """The cluster-wide metrics as seen by one node (Akka's
    ClusterMetricsExtension).

    Started with :meth:`get` on each member: a metrics actor
    (the system actor ``/system/atomr-cluster-metrics``) samples the node every
    ``cluster.metrics.collect-interval`` (CPU load and memory from /proc,
    smoothed by :class:`Ewma` averages of half-life
    ``cluster.metrics.moving-average-half-life``) and pushes the sample to
    the other members' metrics actors; samples of removed members are
    dropped. Read the table with :meth:`snapshot`, :meth:`metrics_of` and
    :meth:`metrics`.
    """

    _system: "ActorSystem"
    _cluster: Cluster
    _lock: threading.Lock
    _table: ClusterMetrics
    _collector: Callable[[], Optional[NodeMetrics]]
    _actor: ActorRef
    collect_interval: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use ClusterMetricsExtension.get(system)")

    @staticmethod
    def get(system: "ActorSystem") -> "ClusterMetricsExtension":
        """The metrics extension of `system`, started on first use (its
        cluster is :meth:`Cluster.get`'s)."""
        return _METRICS.get(system)

    @classmethod
    def _create(cls, system: "ActorSystem") -> "ClusterMetricsExtension":
        self = object.__new__(cls)
        self._system = system
        self._cluster = Cluster.get(system)
        ensure_messaging(self._cluster)
        settings = system.settings
        self.collect_interval = float(settings["cluster.metrics.collect-interval"])
        half_life = float(settings["cluster.metrics.moving-average-half-life"])
        proc = ProcCollector(self._cluster.self_address,
                             max(half_life / self.collect_interval, 1e-3))
        self._collector = proc.sample
        self._lock = threading.Lock()
        self._table = ClusterMetrics()
        system.register_codec("atomr-cluster-metrics", _encode_push, _decode_push,
                              [f"{__name__.rpartition('.')[0]}.MetricsPush"], force=True)
        self._actor = system.system_actor_of(
            props(_MetricsNode, factory=lambda: _MetricsNode(self)), METRICS_ACTOR)
        return self

    @property
    def cluster(self) -> Cluster:
        """The node's cluster."""
        return self._cluster

    def set_collector(self, collector: Callable[[], Optional[NodeMetrics]]) -> None:
        """Replaces how this node is sampled: `collector()` returns the
        node's :class:`NodeMetrics` (its address must be this node's cluster
        address) or None to skip a round. Called on the metrics actor's
        thread at each collect interval.

        Raises:
            TypeError: `collector` is not callable.
        """
        if not callable(collector):
            raise TypeError(f"collector must be callable, not {type(collector).__name__}")
        self._collector = collector

    def _collect(self) -> Optional[NodeMetrics]:
        try:
            sample = self._collector()
        except Exception:  # noqa: BLE001 - a broken collector skips a round
            _log.exception("the cluster metrics collector failed")
            return None
        if sample is not None and sample.address != self._cluster.self_address:
            _log.error("the cluster metrics collector returned a sample of %s, not of %s",
                       sample.address, self._cluster.self_address)
            return None
        return sample

    def _accept(self, sample: NodeMetrics) -> None:
        with self._lock:
            old = self._table.get(sample.address)
            if old is None or sample.timestamp >= old.timestamp:
                apply_pdu(self._table, "push", [sample])

    def _forget(self, address: str) -> None:
        with self._lock:
            self._table.remove(address)

    def metrics(self) -> ClusterMetrics:
        """A copy of the table: the latest sample of each member."""
        copy = ClusterMetrics()
        with self._lock:
            for m in self._table.snapshot():
                copy.publish(m)
        return copy

    def snapshot(self) -> list[NodeMetrics]:
        """The latest sample of each member, sorted by address."""
        with self._lock:
            return self._table.snapshot()

    def metrics_of(self, address: str) -> Optional[NodeMetrics]:
        """The latest sample of the member `address`, or None."""
        with self._lock:
            return self._table.get(address)

    def node_count(self) -> int:
        """How many members have a sample."""
        with self._lock:
            return self._table.node_count()

    def __repr__(self) -> str:
        return f"<ClusterMetricsExtension {self._cluster.self_address} nodes={self.node_count()}>"


@public_module("atomr.cluster_metrics")
class AdaptiveLoadBalancingLogic(RoutingLogic):
    """The ``"adaptive"`` logic of cluster-aware routers: each message goes
    to a routee picked at random in proportion to its member's weight
    (:class:`WeightedRoutees` over the cluster metrics with `selector`), so
    members with more spare capacity get more of the work. Starts the
    router node's :class:`ClusterMetricsExtension`; members without metrics
    weigh 0.5.

    Args:
        selector: ``"cpu"``, ``"heap"``, ``"mix"`` or a :class:`MetricsSelector`.

    Raises:
        ValueError: an unknown selector name.
    """

    def __init__(self, selector: Any = "mix") -> None:
        self._selector = selector if isinstance(selector, MetricsSelector) \
            else MetricsSelector(selector)
        self._ext: Optional[ClusterMetricsExtension] = None
        self._rng = _random.Random()

    @property
    def selector(self) -> MetricsSelector:
        """The selector the weights come from."""
        return self._selector

    def copy(self) -> RoutingLogic:
        return AdaptiveLoadBalancingLogic(self._selector)

    def start(self, system: "ActorSystem") -> None:
        self._ext = ClusterMetricsExtension.get(system)

    def select(self, message: Any, routees: Sequence[Routee]) -> Sequence[Routee]:
        metrics = self._ext.metrics() if self._ext is not None else ClusterMetrics()
        addresses = [r.address for r in routees]
        weights = WeightedRoutees(metrics, self._selector).weights(addresses)
        total = sum(weights)
        if total <= 0.0:
            return [routees[self._rng.randrange(len(routees))]]
        target = self._rng.random() * total
        cumulative = 0.0
        for r, w in zip(routees, weights):
            cumulative += w
            if cumulative >= target:
                return [r]
        return [routees[-1]]

    def __repr__(self) -> str:
        return f"AdaptiveLoadBalancingLogic({self._selector.name!r})"
