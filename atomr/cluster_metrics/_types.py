"""The values of cluster metrics: one node's sample, the table of every
node's latest sample, smoothing, and the choices made from them."""

from __future__ import annotations

import math
import random as _random
from typing import Any, Iterable, Optional, Sequence

from atomr._util import public_module

__all__ = ["NodeMetrics", "ClusterMetrics", "Ewma", "MetricsSelector", "WeightedRoutees",
           "AdaptiveLoadBalancer", "apply_pdu", "SELECTORS"]

#: The names :class:`MetricsSelector` accepts.
SELECTORS = ("cpu", "heap", "mix")


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _check_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


@public_module("atomr.cluster_metrics")
class NodeMetrics:
    """One node's metrics sample (immutable).

    Args:
        address: The node's cluster address.
        timestamp: When the sample was taken (milliseconds since the epoch
            as the collector writes it; any int that grows with time).
        cpu_load: The CPU load, 0.0 (idle) to 1.0 (every core busy).
        memory_used: Bytes of memory in use.
        memory_max: Bytes of memory available in all (0: unknown).

    Raises:
        TypeError: a field has the wrong type.
        ValueError: `address` is empty, a number is negative or not finite.
    """

    __slots__ = ("_address", "_timestamp", "_cpu_load", "_memory_used", "_memory_max")

    def __init__(self, address: str, timestamp: int = 0, cpu_load: float = 0.0,
                 memory_used: int = 0, memory_max: int = 0) -> None:
        if not isinstance(address, str):
            raise TypeError(f"address must be a str, not {type(address).__name__}")
        if not address:
            raise ValueError("address must not be empty")
        self._address = address
        self._timestamp = _check_int("timestamp", timestamp)
        self._cpu_load = _check_float("cpu_load", cpu_load)
        if self._cpu_load < 0.0:
            raise ValueError(f"cpu_load must not be negative, got {cpu_load}")
        self._memory_used = _check_int("memory_used", memory_used)
        self._memory_max = _check_int("memory_max", memory_max)

    @property
    def address(self) -> str:
        """The node's cluster address."""
        return self._address

    @property
    def timestamp(self) -> int:
        """When the sample was taken."""
        return self._timestamp

    @property
    def cpu_load(self) -> float:
        """The CPU load (0.0 idle, 1.0 all cores busy)."""
        return self._cpu_load

    @property
    def memory_used(self) -> int:
        """Bytes of memory in use."""
        return self._memory_used

    @property
    def memory_max(self) -> int:
        """Bytes of memory in all (0 when unknown)."""
        return self._memory_max

    def memory_usage(self) -> float:
        """``memory_used / memory_max``; 0.0 when `memory_max` is 0."""
        if self._memory_max == 0:
            return 0.0
        return self._memory_used / self._memory_max

    def to_wire(self) -> list[Any]:
        """The sample as a plain list (what nodes send each other)."""
        return [self._address, self._timestamp, self._cpu_load, self._memory_used,
                self._memory_max]

    @staticmethod
    def from_wire(data: Any) -> "NodeMetrics":
        """The sample :meth:`to_wire` made.

        Raises:
            ValueError: `data` is not such a list (or its fields are invalid).
        """
        if not isinstance(data, (list, tuple)) or len(data) != 5:
            raise ValueError(f"not a NodeMetrics wire form: {data!r}")
        try:
            return NodeMetrics(*data)
        except TypeError as exc:
            raise ValueError(f"not a NodeMetrics wire form: {exc}") from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeMetrics):
            return NotImplemented
        return self.to_wire() == other.to_wire()

    def __hash__(self) -> int:
        return hash(tuple(self.to_wire()))

    def __repr__(self) -> str:
        return (f"NodeMetrics({self._address!r}, timestamp={self._timestamp}, "
                f"cpu_load={self._cpu_load:.3f}, memory_used={self._memory_used}, "
                f"memory_max={self._memory_max})")


@public_module("atomr.cluster_metrics")
class ClusterMetrics:
    """The latest :class:`NodeMetrics` of each node, by address."""

    __slots__ = ("_nodes",)

    def __init__(self) -> None:
        self._nodes: dict[str, NodeMetrics] = {}

    def publish(self, metrics: NodeMetrics) -> None:
        """Stores `metrics`, replacing the sample of its address.

        Raises:
            TypeError: `metrics` is not a :class:`NodeMetrics`.
        """
        if not isinstance(metrics, NodeMetrics):
            raise TypeError(f"expected NodeMetrics, not {type(metrics).__name__}")
        self._nodes[metrics.address] = metrics

    def get(self, address: str) -> Optional[NodeMetrics]:
        """The sample of `address`, or None."""
        return self._nodes.get(address)

    def remove(self, address: str) -> None:
        """Forgets the sample of `address` (a node that left)."""
        self._nodes.pop(address, None)

    def snapshot(self) -> list[NodeMetrics]:
        """Every node's sample, sorted by address."""
        return [self._nodes[a] for a in sorted(self._nodes)]

    def node_count(self) -> int:
        """How many nodes have a sample."""
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"<ClusterMetrics nodes={len(self._nodes)}>"


@public_module("atomr.cluster_metrics")
class Ewma:
    """An exponentially weighted moving average.

    Args:
        initial: The starting value.
        alpha: The weight of each new sample, in (0, 1].

    Raises:
        ValueError: `alpha` is outside (0, 1] or a value is not finite.
    """

    __slots__ = ("_value", "_alpha")

    def __init__(self, initial: float, alpha: float) -> None:
        self._value = _check_float("initial", initial)
        alpha = _check_float("alpha", alpha)
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self._alpha = alpha

    @staticmethod
    def from_half_life(initial: float, half_life_samples: float) -> "Ewma":
        """An average in which a sample's weight halves after
        `half_life_samples` later samples: α = 1 − 2^(−1/half_life).

        Raises:
            ValueError: `half_life_samples` is not positive.
        """
        half_life = _check_float("half_life_samples", half_life_samples)
        if half_life <= 0.0:
            raise ValueError(f"half_life_samples must be positive, got {half_life_samples}")
        return Ewma(initial, 1.0 - 2.0 ** (-1.0 / half_life))

    def update(self, x: float) -> float:
        """Takes the sample `x`: value = α·x + (1−α)·value; returns the new value."""
        x = _check_float("x", x)
        self._value = self._alpha * x + (1.0 - self._alpha) * self._value
        return self._value

    @property
    def value(self) -> float:
        """The current average."""
        return self._value

    @property
    def alpha(self) -> float:
        """The weight of a new sample."""
        return self._alpha

    def __repr__(self) -> str:
        return f"Ewma(value={self._value!r}, alpha={self._alpha!r})"


@public_module("atomr.cluster_metrics")
class MetricsSelector:
    """How much spare capacity a node's metrics show, as a weight in [0, 1].

    ``"cpu"``: 1 − cpu_load; ``"heap"``: 1 − memory_usage (each clamped
    to [0, 1]); ``"mix"``: the mean of the two.

    Raises:
        ValueError: `name` is not ``"cpu"``, ``"heap"`` or ``"mix"``.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        if name not in SELECTORS:
            raise ValueError(f"unknown metrics selector {name!r} (expected one of "
                             f"{', '.join(SELECTORS)})")
        self._name = name

    @property
    def name(self) -> str:
        """``"cpu"``, ``"heap"`` or ``"mix"``."""
        return self._name

    def weight(self, metrics: NodeMetrics) -> float:
        """The weight of `metrics` (higher: more spare capacity)."""
        cpu = _clamp01(1.0 - metrics.cpu_load)
        heap = _clamp01(1.0 - metrics.memory_usage())
        if self._name == "cpu":
            return cpu
        if self._name == "heap":
            return heap
        return (cpu + heap) / 2.0

    def __repr__(self) -> str:
        return f"MetricsSelector({self._name!r})"


@public_module("atomr.cluster_metrics")
class WeightedRoutees:
    """Picks among node addresses in proportion to their selector weights.

    Args:
        metrics: The table the weights are read from (read at each pick).
        selector: Turns a node's metrics into its weight.

    Raises:
        TypeError: an argument has the wrong type.
    """

    __slots__ = ("_metrics", "_selector")

    #: The weight of a node without metrics.
    UNKNOWN_WEIGHT = 0.5

    def __init__(self, metrics: ClusterMetrics, selector: MetricsSelector) -> None:
        if not isinstance(metrics, ClusterMetrics):
            raise TypeError(f"metrics must be ClusterMetrics, not {type(metrics).__name__}")
        if not isinstance(selector, MetricsSelector):
            raise TypeError(f"selector must be a MetricsSelector, not {type(selector).__name__}")
        self._metrics = metrics
        self._selector = selector

    def weights(self, candidates: Iterable[str]) -> list[float]:
        """The weight of each candidate (unknown address: 0.5)."""
        out = []
        for address in candidates:
            m = self._metrics.get(address)
            out.append(self.UNKNOWN_WEIGHT if m is None else self._selector.weight(m))
        return out

    def pick(self, candidates: Sequence[str], seed: float) -> Optional[str]:
        """The first candidate whose cumulative weight reaches
        ``seed × total`` (`seed` clamped to [0, 1]); None for no
        candidates; the first when every weight is 0."""
        candidates = list(candidates)
        if not candidates:
            return None
        weights = self.weights(candidates)
        total = sum(weights)
        if total <= 0.0:
            return candidates[0]
        target = _clamp01(_check_float("seed", seed)) * total
        cumulative = 0.0
        for address, w in zip(candidates, weights):
            cumulative += w
            if cumulative >= target:
                return address
        return candidates[-1]  # rounding: the target is the total

    def pick_random(self, candidates: Sequence[str],
                    rng: Optional[_random.Random] = None) -> Optional[str]:
        """:meth:`pick` with a uniform random seed."""
        return self.pick(candidates, (rng or _random).random())

    def __repr__(self) -> str:
        return f"WeightedRoutees({self._metrics!r}, {self._selector!r})"


@public_module("atomr.cluster_metrics")
class AdaptiveLoadBalancer:
    """Picks the candidate with the lowest CPU load (unknown: +∞; ties by
    address)."""

    __slots__ = ("_metrics",)

    def __init__(self, metrics: ClusterMetrics) -> None:
        if not isinstance(metrics, ClusterMetrics):
            raise TypeError(f"metrics must be ClusterMetrics, not {type(metrics).__name__}")
        self._metrics = metrics

    def pick(self, candidates: Sequence[str]) -> Optional[str]:
        """The least loaded of `candidates`, or None when there are none."""
        best: Optional[tuple[float, str]] = None
        for address in candidates:
            m = self._metrics.get(address)
            key = (math.inf if m is None else m.cpu_load, address)
            if best is None or key < best:
                best = key
        return None if best is None else best[1]


@public_module("atomr.cluster_metrics")
def apply_pdu(metrics: ClusterMetrics, kind: str, samples: Sequence[NodeMetrics]) -> None:
    """Applies a metrics message: ``"push"`` (exactly one sample) or
    ``"push_batch"`` (any number) publishes the samples into `metrics`.

    Raises:
        ValueError: `kind` is unknown, or a push has not exactly one sample.
        TypeError: `metrics` or a sample has the wrong type.
    """
    if not isinstance(metrics, ClusterMetrics):
        raise TypeError(f"metrics must be ClusterMetrics, not {type(metrics).__name__}")
    samples = list(samples)
    for s in samples:
        if not isinstance(s, NodeMetrics):
            raise TypeError(f"samples must be NodeMetrics, not {type(s).__name__}")
    if kind == "push":
        if len(samples) != 1:
            raise ValueError(f"a push carries exactly one sample, got {len(samples)}")
    elif kind != "push_batch":
        raise ValueError(f"unknown metrics pdu kind {kind!r} (expected 'push' or 'push_batch')")
    for s in samples:
        metrics.publish(s)
