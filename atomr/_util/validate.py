"""Argument validators: each checks one value and returns it normalised.

They raise ``TypeError`` for a value of the wrong type and ``ValueError``
for one out of range, with a message naming the argument, so that bad
input fails at the call site. ``bool`` is never accepted as a number.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "check_bool",
    "check_bytes",
    "check_choice",
    "check_int",
    "check_non_negative",
    "check_nonempty_str",
    "check_number",
    "check_positive",
    "check_seconds",
]


def check_int(name: str, value: Any, minimum: int) -> int:
    """`value`, an int (not a bool) >= `minimum`.

    Raises:
        TypeError: not an int.
        ValueError: below `minimum`.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def check_number(name: str, value: Any, *, minimum: float = 0.0, strict: bool = False) -> float:
    """`value` as a finite float >= `minimum` (> when `strict`).

    Raises:
        TypeError: not an int or float.
        ValueError: not finite, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum}, got {value!r}")
    return value


def check_positive(name: str, value: Any) -> float:
    """`value` as a float, a finite number > 0.

    Raises:
        TypeError: not an int or float.
        ValueError: not finite, or not > 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def check_non_negative(name: str, value: Any) -> float:
    """`value` as a float, a finite number >= 0.

    Raises:
        TypeError: not an int or float.
        ValueError: not finite, or negative.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def check_seconds(name: str, value: Any, allow_zero: bool = True) -> float:
    """`value` as a float number of seconds: finite, >= 0 (> 0 unless `allow_zero`).

    Raises:
        TypeError: not an int or float.
        ValueError: not finite, negative, or zero when `allow_zero` is false.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds")
    value = float(value)
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero) or math.isinf(value):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number of seconds, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """`value`, a bool.

    Raises:
        TypeError: not a bool.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def check_choice(kind: str, value: Any, allowed: tuple[str, ...]) -> str:
    """`value`, one of the names `allowed` (`kind` names what it is).

    Raises:
        TypeError: not a str.
        ValueError: not one of `allowed`.
    """
    if not isinstance(value, str):
        raise TypeError(f"{kind} name must be a str, not {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}")
    return value


def check_nonempty_str(what: str, value: Any) -> str:
    """`value`, a non-empty str (`what` names it: ``"a node id"``).

    Raises:
        TypeError: not a str.
        ValueError: empty.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return value


def check_bytes(what: str, value: Any) -> bytes:
    """`value` as bytes (a bytearray or memoryview is copied).

    Raises:
        TypeError: not bytes-like.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
