"""The settings of a shard region."""

from __future__ import annotations

import math
from typing import Any, Optional

from atomr._util import public_module

__all__ = ["ShardingSettings", "ALLOCATION_STRATEGIES"]

#: The allocation strategies a region accepts.
ALLOCATION_STRATEGIES = ("least-shards", "pinned")

_FIELDS = ("allocation_strategy", "rebalance_threshold", "max_simultaneous_rebalance",
           "passivation_idle_timeout", "remember_entities", "number_of_shards", "role",
           "hand_off_timeout", "graceful_shutdown_timeout", "leaving_region_timeout")

#: The hand-off limits: field -> the config key giving its value when the
#: field is None (under ``cluster.sharding``).
_LIMITS = {"hand_off_timeout": "hand-off-timeout",
           "graceful_shutdown_timeout": "graceful-shutdown-timeout",
           "leaving_region_timeout": "leaving-region-timeout"}


#: The defaults of the hand-off limits (those of the config keys).
_LIMIT_DEFAULTS = {"hand_off_timeout": 10.0, "graceful_shutdown_timeout": 20.0,
                   "leaving_region_timeout": 10.0}


def _seconds(name: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int of at least 1, got {value!r}")
    return value


@public_module("atomr.cluster_sharding")
class ShardingSettings:
    """How a shard region allocates, moves and keeps its entities.

    Args:
        allocation_strategy: ``"least-shards"`` (a new shard goes to the
            region with the fewest; shards are rebalanced as regions join)
            or ``"pinned"`` (a shard stays on the region that first asked
            for it; no rebalancing).
        rebalance_threshold: How many more shards the fullest region must
            have than the emptiest before shards move (at least 1; a
            difference of one shard never moves one, it would only swap
            the imbalance).
        max_simultaneous_rebalance: The most shards handed off at once.
        passivation_idle_timeout: Seconds after which an entity that got
            no message is stopped; None never.
        remember_entities: Whether started entities are started again
            eagerly: by a new region of the type on the same system, on
            the new owner of a moved shard, after a node died.
        number_of_shards: The modulus an int shard id is taken with
            (default 16).
        role: Only cluster members with this role (``cluster.roles``)
            host the type's shards and run its coordinator (the oldest up
            member with the role); a region started on a node without it
            is a proxy. None: every member.
        hand_off_timeout: Seconds a region handing a shard off waits for
            every other region to confirm it sends nothing more there,
            then for the shard's entities to stop; an entity still running
            after that is stopped outright (Akka's ``handoff-timeout``).
            None: ``cluster.sharding.hand-off-timeout`` (10 s).
        graceful_shutdown_timeout: The most seconds a region shutting down
            gracefully (its node leaving) spends handing its shards off;
            what is left then is stopped. None:
            ``cluster.sharding.graceful-shutdown-timeout`` (20 s).
        leaving_region_timeout: Seconds the coordinator still waits for a
            region shutting down gracefully once that region's node left
            the membership, before it takes the region's shards back. None:
            ``cluster.sharding.leaving-region-timeout`` (10 s).

    Raises:
        ValueError: an unknown strategy, a value out of its domain, a
            positional argument or an unknown keyword.
    """

    __slots__ = ("_allocation_strategy", "_rebalance_threshold", "_max_simultaneous_rebalance",
                 "_passivation_idle_timeout", "_remember_entities", "_number_of_shards", "_role",
                 "_hand_off_timeout", "_graceful_shutdown_timeout", "_leaving_region_timeout")

    def __init__(self, *args: Any, allocation_strategy: str = "least-shards",
                 rebalance_threshold: int = 1, max_simultaneous_rebalance: int = 3,
                 passivation_idle_timeout: Optional[float] = None,
                 remember_entities: bool = False, number_of_shards: Optional[int] = None,
                 role: Optional[str] = None, hand_off_timeout: Optional[float] = None,
                 graceful_shutdown_timeout: Optional[float] = None,
                 leaving_region_timeout: Optional[float] = None, **unknown: Any) -> None:
        if args:
            raise ValueError("ShardingSettings takes keyword arguments only "
                             f"({', '.join(_FIELDS)})")
        if unknown:
            raise ValueError(f"unknown ShardingSettings option(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(_FIELDS)}")
        if allocation_strategy not in ALLOCATION_STRATEGIES:
            raise ValueError(f"allocation_strategy must be one of "
                             f"{', '.join(ALLOCATION_STRATEGIES)}, got {allocation_strategy!r}")
        self._allocation_strategy = allocation_strategy
        self._rebalance_threshold = _positive_int("rebalance_threshold", rebalance_threshold)
        self._max_simultaneous_rebalance = _positive_int("max_simultaneous_rebalance",
                                                         max_simultaneous_rebalance)
        if passivation_idle_timeout is not None:
            if isinstance(passivation_idle_timeout, bool) or \
                    not isinstance(passivation_idle_timeout, (int, float)) or \
                    not 0 < passivation_idle_timeout < math.inf:
                raise ValueError("passivation_idle_timeout must be a positive number of seconds "
                                 f"or None, got {passivation_idle_timeout!r}")
            passivation_idle_timeout = float(passivation_idle_timeout)
        self._passivation_idle_timeout = passivation_idle_timeout
        if not isinstance(remember_entities, bool):
            raise ValueError(f"remember_entities must be a bool, got {remember_entities!r}")
        self._remember_entities = remember_entities
        if number_of_shards is not None:
            number_of_shards = _positive_int("number_of_shards", number_of_shards)
        self._number_of_shards = number_of_shards
        if role is not None and (not isinstance(role, str) or not role):
            raise ValueError(f"role must be None or a non-empty str, got {role!r}")
        self._role = role
        self._hand_off_timeout = _seconds("hand_off_timeout", hand_off_timeout)
        self._graceful_shutdown_timeout = _seconds("graceful_shutdown_timeout",
                                                   graceful_shutdown_timeout)
        self._leaving_region_timeout = _seconds("leaving_region_timeout", leaving_region_timeout)

    @property
    def allocation_strategy(self) -> str:
        """``"least-shards"`` or ``"pinned"``."""
        return self._allocation_strategy

    @property
    def rebalance_threshold(self) -> int:
        """The shard difference that starts a rebalance."""
        return self._rebalance_threshold

    @property
    def max_simultaneous_rebalance(self) -> int:
        """The most shards moving at once."""
        return self._max_simultaneous_rebalance

    @property
    def passivation_idle_timeout(self) -> Optional[float]:
        """Idle seconds before an entity is stopped, or None."""
        return self._passivation_idle_timeout

    @property
    def remember_entities(self) -> bool:
        """Whether started entities are started again eagerly."""
        return self._remember_entities

    @property
    def number_of_shards(self) -> Optional[int]:
        """The modulus of int shard ids, or None (16)."""
        return self._number_of_shards

    @property
    def role(self) -> Optional[str]:
        """The cluster role of the members hosting the shards, or None."""
        return self._role

    @property
    def hand_off_timeout(self) -> Optional[float]:
        """Seconds a hand-off waits for the other regions, then for the
        entities to stop; None: the config's."""
        return self._hand_off_timeout

    @property
    def graceful_shutdown_timeout(self) -> Optional[float]:
        """The most seconds a graceful shutdown hands shards off; None:
        the config's."""
        return self._graceful_shutdown_timeout

    @property
    def leaving_region_timeout(self) -> Optional[float]:
        """Seconds a leaving region is waited for once its node left;
        None: the config's."""
        return self._leaving_region_timeout

    def _resolved(self, system: Any) -> "ShardingSettings":
        """These settings with each hand-off limit left None taken from
        `system`'s config (``cluster.sharding.*``)."""
        missing = {f: k for f, k in _LIMITS.items() if getattr(self, f) is None}
        if not missing:
            return self
        values = self._wire()
        for field, key in missing.items():
            try:
                values[field] = float(system.settings[f"cluster.sharding.{key}"])
            except Exception:  # noqa: BLE001 - a terminating system: the default
                values[field] = _LIMIT_DEFAULTS[field]
        return ShardingSettings(**values)

    def _limit(self, field: str) -> float:
        """The hand-off limit `field` (its default when unresolved)."""
        value = getattr(self, field)
        return _LIMIT_DEFAULTS[field] if value is None else float(value)

    def _wire(self) -> dict[str, Any]:
        """The settings as plain values (they travel with a region's
        registration to the coordinator)."""
        return {f: getattr(self, f) for f in _FIELDS}

    @classmethod
    def _from_wire(cls, d: dict[str, Any]) -> "ShardingSettings":
        return cls(**{k: v for k, v in d.items() if k in _FIELDS})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShardingSettings) and self._wire() == other._wire()

    def __hash__(self) -> int:
        return hash(tuple(self._wire().values()))

    def __repr__(self) -> str:
        return "ShardingSettings(" + ", ".join(f"{k}={v!r}" for k, v in self._wire().items()) + ")"
