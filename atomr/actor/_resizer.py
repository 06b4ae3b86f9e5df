"""The pool-router resizer: :class:`ResizerConfig`, its settings and sizing rule."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from atomr._util.exports import public_module
from atomr._util.validate import check_int, check_number

__all__ = ["ResizerConfig"]


def _exact(value: float) -> Fraction:
    """The decimal a float was written as (``0.1`` -> ``1/10``), exactly."""
    return Fraction(repr(value))


@public_module("atomr.core")
class ResizerConfig:
    """Settings of a pool router's resizer, and its sizing rule.

    Example:
        >>> resizer = ResizerConfig(lower_bound=2, upper_bound=20)
        >>> resizer.compute_delta(10, 10)  # fully busy: grow by 20%
        2
        >>> resizer.compute_delta(10, 1)   # mostly idle: shrink by 10%
        -1
    """

    __slots__ = ("_lower", "_upper", "_pressure", "_backoff_threshold", "_rampup",
                 "_backoff_rate", "_messages_per_resize", "_backoff_delay")

    def __init__(self, lower_bound: int = 1, upper_bound: int = 10,
                 pressure_threshold: float = 1.0, backoff_threshold: float = 0.3,
                 rampup_rate: float = 0.2, backoff_rate: float = 0.1,
                 messages_per_resize: int = 10, backoff_delay_secs: float = 10.0) -> None:
        """Creates the configuration.

        Args:
            lower_bound: Fewest routees (int >= 0).
            upper_bound: Most routees (int >= 1 and >= `lower_bound`).
            pressure_threshold: Load (busy / size) at or above which the pool
                grows (> 0).
            backoff_threshold: Load at or below which the pool shrinks
                (>= 0 and <= `pressure_threshold`).
            rampup_rate: Relative growth under pressure (>= 0).
            backoff_rate: Relative shrink when idle, in ``[0, 1]``.
            messages_per_resize: Messages between two resize checks (int >= 1).
            backoff_delay_secs: Minimum seconds between two shrinks (>= 0).

        Raises:
            TypeError: An argument has the wrong type.
            ValueError: An argument is out of range or the bounds are crossed.
        """
        self._lower = check_int("lower_bound", lower_bound, 0)
        self._upper = check_int("upper_bound", upper_bound, 1)
        if self._upper < self._lower:
            raise ValueError(f"upper_bound ({upper_bound}) must be >= lower_bound ({lower_bound})")
        self._pressure = check_number("pressure_threshold", pressure_threshold, strict=True)
        self._backoff_threshold = check_number("backoff_threshold", backoff_threshold)
        if self._backoff_threshold > self._pressure:
            raise ValueError(f"backoff_threshold ({backoff_threshold}) must be <= "
                             f"pressure_threshold ({pressure_threshold})")
        self._rampup = check_number("rampup_rate", rampup_rate)
        self._backoff_rate = check_number("backoff_rate", backoff_rate)
        if self._backoff_rate > 1.0:
            raise ValueError(f"backoff_rate must be in [0, 1], got {backoff_rate!r}")
        self._messages_per_resize = check_int("messages_per_resize", messages_per_resize, 1)
        self._backoff_delay = check_number("backoff_delay_secs", backoff_delay_secs)

    @property
    def lower_bound(self) -> int:
        """Fewest routees."""
        return self._lower

    @property
    def upper_bound(self) -> int:
        """Most routees."""
        return self._upper

    @property
    def pressure_threshold(self) -> float:
        """Load at or above which the pool grows."""
        return self._pressure

    @property
    def backoff_threshold(self) -> float:
        """Load at or below which the pool shrinks."""
        return self._backoff_threshold

    @property
    def rampup_rate(self) -> float:
        """Relative growth under pressure."""
        return self._rampup

    @property
    def backoff_rate(self) -> float:
        """Relative shrink when idle."""
        return self._backoff_rate

    @property
    def messages_per_resize(self) -> int:
        """Messages between two resize checks."""
        return self._messages_per_resize

    @property
    def backoff_delay_secs(self) -> float:
        """Minimum seconds between two shrinks."""
        return self._backoff_delay

    def compute_delta(self, current_size: int, busy: int) -> int:
        """How many routees to add (positive) or remove (negative).

        With ``size == 0`` the answer is `lower_bound`. Otherwise, with
        ``load = busy / size``: ``load >= pressure_threshold`` gives the target
        ``ceil(size * (1 + rampup_rate))``; ``load <= backoff_threshold`` gives
        ``floor(size * (1 - backoff_rate))``; anything else keeps ``size``.
        The target is clamped to ``[lower_bound, upper_bound]`` and the result
        is ``target - size``. Rates are applied as the decimals they were
        written as, so ``10 * (1 + 0.1)`` is exactly 11 (no float rounding
        artefacts).

        Args:
            current_size: Current number of routees (int >= 0).
            busy: Routees currently processing a message (int >= 0).

        Returns:
            The size change.

        Raises:
            TypeError: An argument is not an int.
            ValueError: An argument is negative.
        """
        size = check_int("current_size", current_size, 0)
        busy = check_int("busy", busy, 0)
        if size == 0:
            return self._lower
        load = Fraction(busy, size)
        if load >= _exact(self._pressure):
            target = math.ceil(size * (1 + _exact(self._rampup)))
        elif load <= _exact(self._backoff_threshold):
            target = math.floor(size * (1 - _exact(self._backoff_rate)))
        else:
            target = size
        target = max(self._lower, min(self._upper, target))
        return target - size

    def _key(self) -> tuple[Any, ...]:
        return (self._lower, self._upper, self._pressure, self._backoff_threshold,
                self._rampup, self._backoff_rate, self._messages_per_resize,
                self._backoff_delay)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResizerConfig):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return ("ResizerConfig(lower_bound={}, upper_bound={}, pressure_threshold={}, "
                "backoff_threshold={}, rampup_rate={}, backoff_rate={}, "
                "messages_per_resize={}, backoff_delay_secs={})".format(*self._key()))
