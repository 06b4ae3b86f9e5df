"""Cluster metrics: each member's CPU load and memory, shared between the
members, and the adaptive routing that sends more work to members with
more spare capacity (Akka's cluster metrics module; docs/cluster-metrics.md).

The values (:class:`NodeMetrics`, :class:`ClusterMetrics`, :class:`Ewma`,
:class:`MetricsSelector`, :class:`WeightedRoutees`,
:class:`AdaptiveLoadBalancer`, :func:`apply_pdu`) are plain Python;
:class:`ClusterMetricsExtension` collects a node's metrics from /proc and
gossips them; :class:`AdaptiveLoadBalancingLogic` (the ``"adaptive"`` logic
of :mod:`atomr.cluster.routing`) routes by them.
"""

from __future__ import annotations

from atomr.cluster_metrics._collector import ProcCollector, read_cpu_times, read_memory
from atomr.cluster_metrics._extension import (
    METRICS_ACTOR,
    AdaptiveLoadBalancingLogic,
    ClusterMetricsExtension,
    MetricsPush,
)
from atomr.cluster_metrics._types import (
    SELECTORS,
    AdaptiveLoadBalancer,
    ClusterMetrics,
    Ewma,
    MetricsSelector,
    NodeMetrics,
    WeightedRoutees,
    apply_pdu,
)

__all__ = [
    "NodeMetrics",
    "ClusterMetrics",
    "Ewma",
    "MetricsSelector",
    "WeightedRoutees",
    "AdaptiveLoadBalancer",
    "apply_pdu",
    "SELECTORS",
    "ClusterMetricsExtension",
    "AdaptiveLoadBalancingLogic",
    "MetricsPush",
    "METRICS_ACTOR",
    "ProcCollector",
    "read_cpu_times",
    "read_memory",
]
