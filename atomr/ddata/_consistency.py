"""Read and write consistency levels, and the aggregators that count replies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import (
    Any,
)

from atomr._util import public_module

# ---------------------------------------------------------------------------
# Consistency levels and their aggregators


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    t = float(timeout)
    if not t > 0.0 or math.isinf(t):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    return t


def _check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the replica count must be an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"the replica count must be at least 1, got {n}")
    return n


def _check_min_cap(min_cap: Any) -> int:
    if isinstance(min_cap, bool) or not isinstance(min_cap, int):
        raise TypeError(f"min_cap must be an int, not {type(min_cap).__name__}")
    if min_cap < 0:
        raise ValueError(f"min_cap must not be negative, got {min_cap}")
    return min_cap


def _required(kind: str, n: int, cluster_size: int, min_cap: int = 0) -> int:
    if kind == "local":
        return 1
    if kind == "majority":
        # As Akka's: at least `min_cap` (for small clusters), at most all.
        return min(cluster_size, max(cluster_size // 2 + 1, min_cap))
    if kind == "all":
        return cluster_size
    return n


@public_module("atomr.ddata")
@dataclass(frozen=True)
class WriteConsistency:
    """How many replicas must hold a write before an update answers "ok".

    Build with :meth:`local`, :meth:`majority`, :meth:`all` or
    :meth:`write_to`. A level the cluster cannot satisfy within `timeout`
    answers "timeout" (the write is still applied locally).
    """

    kind: str
    n: int = 1
    timeout: float = 0.0
    min_cap: int = 0

    @staticmethod
    def local() -> "WriteConsistency":
        """Only this replica."""
        return WriteConsistency("local", 1, 0.0)

    @staticmethod
    def majority(timeout: float = 2.0, min_cap: int = 0) -> "WriteConsistency":
        """More than half of the replicas, and at least `min_cap` of them
        (all of them when the cluster has fewer), as Akka's
        ``WriteMajority(timeout, minCap)``.

        Raises:
            TypeError: `timeout` is not a number or `min_cap` not an int.
            ValueError: `timeout` is not positive and finite, or `min_cap`
                is negative.
        """
        return WriteConsistency("majority", 0, _check_timeout(timeout), _check_min_cap(min_cap))

    @staticmethod
    def all(timeout: float = 2.0) -> "WriteConsistency":
        """Every replica."""
        return WriteConsistency("all", 0, _check_timeout(timeout))

    @staticmethod
    def write_to(n: int, timeout: float = 2.0) -> "WriteConsistency":
        """At least `n` replicas (this one included)."""
        return WriteConsistency("to", _check_count(n), _check_timeout(timeout))

    def required(self, cluster_size: int) -> int:
        """How many acknowledgements this level needs in a cluster of
        `cluster_size` replicas."""
        return _required(self.kind, self.n, cluster_size, self.min_cap)


@public_module("atomr.ddata")
@dataclass(frozen=True)
class ReadConsistency:
    """How many replicas a read must hear from before it answers.

    Build with :meth:`local`, :meth:`majority`, :meth:`all` or
    :meth:`read_from`. A level the cluster cannot satisfy within `timeout`
    fails the read with :class:`~atomr.errors.ReplicationTimeoutError`.
    """

    kind: str
    n: int = 1
    timeout: float = 0.0
    min_cap: int = 0

    @staticmethod
    def local() -> "ReadConsistency":
        """Only this replica."""
        return ReadConsistency("local", 1, 0.0)

    @staticmethod
    def majority(timeout: float = 2.0, min_cap: int = 0) -> "ReadConsistency":
        """More than half of the replicas, and at least `min_cap` of them
        (all of them when the cluster has fewer), as Akka's
        ``ReadMajority(timeout, minCap)``.

        Raises:
            TypeError: `timeout` is not a number or `min_cap` not an int.
            ValueError: `timeout` is not positive and finite, or `min_cap`
                is negative.
        """
        return ReadConsistency("majority", 0, _check_timeout(timeout), _check_min_cap(min_cap))

    @staticmethod
    def all(timeout: float = 2.0) -> "ReadConsistency":
        """Every replica (`timeout` is checked as for :meth:`majority`)."""
        return ReadConsistency("all", 0, _check_timeout(timeout))

    @staticmethod
    def read_from(n: int, timeout: float = 2.0) -> "ReadConsistency":
        """At least `n` replicas (this one included)."""
        return ReadConsistency("from", _check_count(n), _check_timeout(timeout))

    def required(self, cluster_size: int) -> int:
        """How many replies this level needs in a cluster of `cluster_size`
        replicas."""
        return _required(self.kind, self.n, cluster_size, self.min_cap)


@public_module("atomr.ddata")
class WriteAggregator:
    """Counts the acknowledgements of one write.

    Args:
        target: How many acks satisfy the write.

    Attributes:
        target: How many acks satisfy the write.
        received: The acks counted so far.
        nacks: The refusals counted so far.

    Raises:
        TypeError: `target` is not an int.
        ValueError: `target` is below 1.
    """

    __slots__ = ("target", "received", "nacks")

    def __init__(self, target: int) -> None:
        self.target: int = _check_count(target)
        self.received: int = 0
        self.nacks: int = 0

    def ack(self) -> None:
        """Counts one replica that acknowledged the write."""
        self.received += 1

    def nack(self) -> None:
        """Counts one replica that refused the write."""
        self.nacks += 1

    def is_satisfied(self) -> bool:
        """Whether at least `target` replicas acknowledged the write."""
        return self.received >= self.target

    def is_failed(self, cluster_size: int) -> bool:
        """True once so many replicas refused that `target` is out of reach."""
        return self.nacks > cluster_size - self.target

    def __repr__(self) -> str:
        return f"WriteAggregator(target={self.target}, received={self.received}, nacks={self.nacks})"


@public_module("atomr.ddata")
class ReadAggregator:
    """Counts the replies to one read.

    Args:
        target: How many replies satisfy the read.

    Attributes:
        target: How many replies satisfy the read.
        received: The replies counted so far.

    Raises:
        TypeError: `target` is not an int.
        ValueError: `target` is below 1.
    """

    __slots__ = ("target", "received")

    def __init__(self, target: int) -> None:
        self.target: int = _check_count(target)
        self.received: int = 0

    def reply(self) -> None:
        """Counts one replica that replied to the read."""
        self.received += 1

    def is_satisfied(self) -> bool:
        """Whether at least `target` replicas replied."""
        return self.received >= self.target

    def __repr__(self) -> str:
        return f"ReadAggregator(target={self.target}, received={self.received})"
