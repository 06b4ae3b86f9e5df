"""The C-extension compatibility registry: which modules are known to be
safe in a subinterpreter with its own GIL, and on a free-threaded
(no-GIL) build.

The registry is advisory: atomr does not refuse an actor because a module
it imports is listed as unsafe (see ``docs/pools.md``). Entries are
process-wide; :func:`declare_compat` adds or overrides one.
"""

from __future__ import annotations

import threading
from typing import Optional

__all__ = ["declare_compat", "compat_flags", "compat_list"]

_LOCK = threading.Lock()
_TABLE: dict[str, dict[str, object]] = {}


def _builtin() -> None:
    for name in ("json", "dataclasses", "typing", "asyncio", "collections", "pickle"):
        _TABLE[name] = {"subinterpreter_safe": True, "nogil_safe": True, "notes": "stdlib"}
    for name in ("msgpack", "orjson", "numpy", "pydantic"):
        _TABLE[name] = {"subinterpreter_safe": True, "nogil_safe": False, "notes": ""}
    for name in ("pandas", "torch"):
        _TABLE[name] = {"subinterpreter_safe": False, "nogil_safe": False, "notes": ""}


_builtin()


def declare_compat(name: str, subinterpreter_safe: bool = False, nogil_safe: bool = False,
                   notes: str = "") -> None:
    """Sets (or overrides) the entry of module `name`.

    Raises:
        TypeError: `name` or `notes` is not a str, or a flag is not a bool.
        ValueError: `name` is empty.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("name must not be empty")
    for what, flag in (("subinterpreter_safe", subinterpreter_safe), ("nogil_safe", nogil_safe)):
        if not isinstance(flag, bool):
            raise TypeError(f"{what} must be a bool, not {type(flag).__name__}")
    if not isinstance(notes, str):
        raise TypeError(f"notes must be a str, not {type(notes).__name__}")
    with _LOCK:
        _TABLE[name] = {"subinterpreter_safe": subinterpreter_safe, "nogil_safe": nogil_safe,
                        "notes": notes}


def compat_flags(name: str) -> Optional[dict[str, object]]:
    """The entry of module `name` (keys ``subinterpreter_safe``,
    ``nogil_safe``, ``notes``), or None when it has none."""
    with _LOCK:
        entry = _TABLE.get(name)
        return None if entry is None else dict(entry)


def compat_list() -> list[dict[str, object]]:
    """Every entry, sorted by name (the keys of :func:`compat_flags` plus
    ``name``)."""
    with _LOCK:
        return [dict(_TABLE[name], name=name) for name in sorted(_TABLE)]
