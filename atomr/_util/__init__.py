"""Private helpers shared by every atomr package (standard library only).

Nothing here imports anything of atomr, so every layer may use it.
"""

from __future__ import annotations

from atomr._util.exports import public_module
from atomr._util.validate import (
    check_bool,
    check_bytes,
    check_choice,
    check_int,
    check_non_negative,
    check_nonempty_str,
    check_number,
    check_positive,
    check_seconds,
)

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
    "public_module",
]
