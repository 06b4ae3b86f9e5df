"""The split brain resolver (SBR): which side of a partition survives.

When members become unreachable, a network partition and a crash look
the same from inside; the resolver decides, with the same rules on every
node, which members are downed so that exactly one side (or none) keeps
running. The rules are Akka's; docs/sbr.md has the decision table. The
decider is native (C++); this module holds its settings, read from the
``cluster.sbr`` config section, and a Python face for it that takes the
current time as an argument, so decisions can be driven on virtual time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from atomr._native import _core
from atomr.config import Config, ConfigError, Setting, _BUILTIN_SECTIONS

__all__ = [
    "SBR_STRATEGIES",
    "SbrDecision",
    "SbrMember",
    "SbrSettings",
    "SplitBrainResolver",
    "decide",
    "indirectly_connected",
]

#: The strategies ``cluster.sbr.strategy`` names.
SBR_STRATEGIES = ("keep-majority", "static-quorum", "keep-oldest", "down-all", "lease-majority")

# Accepted as a strategy name: the resolver that downs every member.
_ALIASES = {"down-all-when-unstable": "down-all"}


def _seconds(value: Any, what: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        bound = "positive" if positive else "non-negative"
        raise ValueError(f"{what} must be a {bound}, finite number of seconds, got {value!r}")
    return seconds


@dataclass(frozen=True)
class SbrSettings:
    """The split brain resolver's settings.

    Attributes:
        strategy: One of :data:`SBR_STRATEGIES` (``down-all-when-unstable``
            is accepted and stored as ``down-all``).
        stable_after: Seconds membership and reachability must stay
            unchanged before a decision is taken.
        quorum_size: static-quorum: members (with `role`) a side needs.
        down_if_alone: keep-oldest: the oldest member, alone on its side,
            downs itself and the other side survives.
        lease_acquired: lease-majority: whether this node's attempt to
            acquire the lease succeeds.
        role: Only members with this role are counted (None: all).
        acquire_lease_delay_for_minority: lease-majority: seconds the side
            that would lose under keep-majority waits before trying the lease.
        down_all_when_unstable: Seconds of instability, on top of
            `stable_after`, after which every member is downed; None derives
            it as Akka does (3/4 of `stable_after`, at least 4 s), 0 turns it
            off.

    Raises:
        ValueError: an unknown strategy or a value out of its domain.
        TypeError: a value of the wrong type.
    """

    strategy: str
    stable_after: float = 20.0
    quorum_size: int = 1
    down_if_alone: bool = True
    lease_acquired: bool = False
    role: Optional[str] = None
    acquire_lease_delay_for_minority: float = 2.0
    down_all_when_unstable: Optional[float] = None

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, str):
            raise TypeError(f"strategy must be a str, not {type(self.strategy).__name__}")
        strategy = _ALIASES.get(self.strategy, self.strategy)
        if strategy not in SBR_STRATEGIES:
            raise ValueError(f"unknown split brain resolver strategy {self.strategy!r}; one of "
                             f"{', '.join(SBR_STRATEGIES)} (or down-all-when-unstable)")
        object.__setattr__(self, "strategy", strategy)
        object.__setattr__(self, "stable_after",
                           _seconds(self.stable_after, "stable_after", positive=True))
        if isinstance(self.quorum_size, bool) or not isinstance(self.quorum_size, int):
            raise TypeError(f"quorum_size must be an int, not {type(self.quorum_size).__name__}")
        if not 1 <= self.quorum_size <= 1_000_000:
            raise ValueError(f"quorum_size must be between 1 and 1000000, got {self.quorum_size}")
        for name in ("down_if_alone", "lease_acquired"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {type(getattr(self, name)).__name__}")
        if self.role is not None and not isinstance(self.role, str):
            raise TypeError(f"role must be a str or None, not {type(self.role).__name__}")
        if self.role == "":
            object.__setattr__(self, "role", None)
        object.__setattr__(self, "acquire_lease_delay_for_minority",
                           _seconds(self.acquire_lease_delay_for_minority,
                                    "acquire_lease_delay_for_minority", positive=False))
        if self.down_all_when_unstable is not None:
            object.__setattr__(self, "down_all_when_unstable",
                               _seconds(self.down_all_when_unstable, "down_all_when_unstable",
                                        positive=False))

    @classmethod
    def from_config(cls, config: Any) -> Optional["SbrSettings"]:
        """The settings of the ``cluster.sbr`` section of `config`.

        Keys: ``strategy``, ``stable-after`` (a duration: float seconds, int
        milliseconds or a string such as ``"20s"``; default 20 s),
        ``quorum-size`` (default 1), ``down-if-alone`` (default true),
        ``lease-acquired`` (default false), ``acquire-lease-delay-for-minority``
        (default 2 s) and ``role``.

        Args:
            config: An :class:`atomr.Config` or its dict tree.

        Returns:
            The settings, or None when no strategy is configured (no SBR).

        Raises:
            ValueError: an unknown strategy or key, or a value of the wrong
                type or out of range (a :class:`~atomr.errors.ConfigError`).
        """
        if isinstance(config, Mapping):
            config = Config.from_dict(config)
        if not isinstance(config, Config):
            raise TypeError(f"expected a Config, not {type(config).__name__}")
        section = config.get("cluster.sbr")
        if section is None:
            return None
        if not isinstance(section, Mapping):
            raise ConfigError("config key `cluster.sbr` must be a table")
        schema = {key[len("sbr."):]: setting for key, setting in
                  _BUILTIN_SECTIONS["cluster"].items() if key.startswith("sbr.")}
        values = {key: setting.default for key, setting in schema.items()}
        for key, value in section.items():
            setting: Optional[Setting] = schema.get(key)
            if setting is None:
                raise ConfigError(f"unknown config key `cluster.sbr.{key}`; known keys: "
                                  f"{', '.join(sorted(schema))}")
            values[key] = setting.parse(f"cluster.sbr.{key}", value)
        if not values["strategy"]:
            return None
        return cls(strategy=values["strategy"], stable_after=values["stable-after"],
                   quorum_size=values["quorum-size"], down_if_alone=values["down-if-alone"],
                   lease_acquired=values["lease-acquired"], role=values["role"] or None,
                   acquire_lease_delay_for_minority=values["acquire-lease-delay-for-minority"])

    def _native(self) -> tuple[str, str, int, bool, float, Optional[float], float]:
        return (self.strategy, self.role or "", self.quorum_size, self.down_if_alone,
                self.stable_after, self.down_all_when_unstable,
                self.acquire_lease_delay_for_minority)


@dataclass(frozen=True)
class SbrMember:
    """A member as the deciding node sees it.

    Attributes:
        address: Its address.
        status: ``joining``, ``weakly_up`` (or ``weaklyup``), ``up``,
            ``leaving``, ``exiting``, ``down`` or ``removed``.
        up_number: Age order (lower: older).
        roles: Its roles.
        reachable: Whether the deciding node reaches it.
        uid: The incarnation of the member's system.
    """

    address: str
    status: str = "up"
    up_number: int = 0
    roles: tuple[str, ...] = field(default_factory=tuple)
    reachable: bool = True
    uid: int = 0

    def _native(self) -> tuple[str, int, str, Iterable[str], int, bool]:
        if isinstance(self.roles, str):
            raise TypeError(f"roles of {self.address!r} must be a list of strings, not a str")
        return (self.address, self.uid, self.status, self.roles, self.up_number,
                self.reachable)


@dataclass(frozen=True)
class SbrDecision:
    """A decision of the resolver.

    Attributes:
        kind: ``down-unreachable`` (this side survives), ``down-reachable``
            (this side, self included, is downed), ``down-all`` or
            ``down-indirectly-connected`` (the indirectly connected and the
            unreachable members are downed; this side survives).
        down: The addresses to down, sorted.
        unstable: True when the view did not settle in time (``down-all``).
    """

    kind: str
    down: tuple[str, ...]
    unstable: bool = False


def _members(members: Iterable[SbrMember]) -> list[tuple[str, int, str, Iterable[str], int, bool]]:
    out = []
    for m in members:
        if not isinstance(m, SbrMember):
            raise TypeError(f"members must be SbrMember, not {type(m).__name__}")
        out.append(m._native())
    return out


def _records(records: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for r in records:
        if not isinstance(r, tuple) or len(r) != 2:
            raise TypeError(f"records must be (observer, subject) pairs, got {r!r}")
        out.append(r)
    return out


def _decision(raw: tuple[str, list[str], bool]) -> SbrDecision:
    kind, down, unstable = raw
    return SbrDecision(kind, tuple(down), unstable)


def decide(settings: SbrSettings, self_address: str, members: Iterable[SbrMember],
           records: Iterable[tuple[str, str]] = (),
           lease_acquired: Optional[bool] = None) -> SbrDecision:
    """The strategy's decision for one view, ignoring timing.

    Args:
        settings: The resolver's settings.
        self_address: The deciding node (one of `members`).
        members: Every member as the deciding node sees it.
        records: ``(observer, subject)`` unreachability observations; a
            member that is both an observer and a subject is indirectly
            connected.
        lease_acquired: lease-majority: whether this side holds the lease
            (None: ``settings.lease_acquired``).

    Raises:
        ValueError: `self_address` is not a member, or an unknown status.
    """
    if not isinstance(settings, SbrSettings):
        raise TypeError(f"settings must be SbrSettings, not {type(settings).__name__}")
    acquired = settings.lease_acquired if lease_acquired is None else bool(lease_acquired)
    return _decision(_core._sbr_decide(settings._native(), self_address, _members(members),
                                       _records(records), acquired))


def indirectly_connected(self_address: str, members: Iterable[SbrMember],
                         records: Iterable[tuple[str, str]]) -> list[str]:
    """The members the records show as indirectly connected (sorted)."""
    return _core._sbr_indirectly_connected(self_address, _members(members), _records(records))


class SplitBrainResolver:
    """The resolver with its timing, on a clock the caller passes in.

    Feed it every change of the view with :meth:`update` and call
    :meth:`tick` periodically: a decision comes out once membership and
    reachability have been unchanged for ``stable_after`` seconds, or
    ``down-all`` when they kept changing for ``stable_after`` plus the
    down-all-when-unstable time since the first reachability change.

    Args:
        settings: The resolver's settings.
        lease: lease-majority: a callable trying to acquire the lease,
            returning True (acquired), False (denied) or None (not known
            yet: tried again on the next tick). Default: a lease whose
            outcome is ``settings.lease_acquired``.
    """

    def __init__(self, settings: SbrSettings,
                 lease: Optional[Callable[[], Optional[bool]]] = None) -> None:
        if not isinstance(settings, SbrSettings):
            raise TypeError(f"settings must be SbrSettings, not {type(settings).__name__}")
        if lease is None and settings.strategy == "lease-majority":
            acquired = settings.lease_acquired

            def lease() -> Optional[bool]:
                return acquired

        self._settings = settings
        self._native = _core._SbrResolver(settings._native(), lease)

    @property
    def settings(self) -> SbrSettings:
        """The settings."""
        return self._settings

    def update(self, self_address: str, members: Iterable[SbrMember], now: float,
               records: Iterable[tuple[str, str]] = ()) -> None:
        """A new view at `now` (seconds on the caller's clock)."""
        self._native.update(self_address, _members(members), now, _records(records))

    def tick(self, now: float) -> Optional[SbrDecision]:
        """The decision due at `now`, or None.

        Raises:
            Exception: whatever the lease raised.
        """
        raw = self._native.tick(now)
        return None if raw is None else _decision(raw)

    @property
    def acquiring_lease(self) -> bool:
        """Whether the resolver waits for the lease (lease-majority)."""
        return self._native.acquiring_lease

    @property
    def stable_since(self) -> float:
        """When the view last changed."""
        return self._native.stable_since
