"""Argument checks and small helpers shared by the controller and the nodes.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any, Callable, Union

from atomr._util import check_nonempty_str
from atomr.testkit.multinode._protocol import _MAX_ERROR_TEXT, _MAX_TIMEOUT

# -- small helpers ----------------------------------------------------------------------------


def _parse_addr(addr: Union[str, tuple[str, int]]) -> tuple[str, int]:
    if isinstance(addr, tuple) and len(addr) == 2:
        host, port = addr
    elif isinstance(addr, str):
        if addr.startswith("["):
            host, sep, rest = addr[1:].partition("]")
            port = rest[1:] if sep and rest.startswith(":") else ""
        else:
            host, _, port = addr.rpartition(":")
        try:
            port = int(port)
        except ValueError:
            raise ValueError(f"controller address must be 'host:port', got {addr!r}") from None
    else:
        raise TypeError(f"controller address must be a 'host:port' str, not {type(addr).__name__}")
    if not host or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"controller address must be 'host:port', got {addr!r}")
    return host, port


def _check_timeout(value: Any, what: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return min(float(value), _MAX_TIMEOUT)


def _check_label(value: Any, what: str) -> str:
    return check_nonempty_str(what, value)


def _function_ref(fn: Union[str, Callable[..., Any]]) -> str:
    """``"module:qualname"`` for a module-level function (or a checked string)."""
    if isinstance(fn, str):
        module, sep, attr = fn.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"expected a 'module:function' reference, got {fn!r}")
        return fn
    if not callable(fn):
        raise TypeError(f"expected a function or a 'module:function' str, not {type(fn).__name__}")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise ValueError(f"{fn!r} is not importable by name in another process; pass a "
                         "module-level function or a 'module:function' str")
    return f"{module}:{qualname}"


def _resolve_ref(ref: str) -> Callable[..., Any]:
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{ref} is not callable")
    return obj


def _clip(text: str, limit: int = _MAX_ERROR_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "\n[... truncated ...]\n" + text[-limit // 2:]


def _safe_str(obj: Any) -> str:
    try:
        return str(obj)
    except BaseException:
        return f"<unprintable {type(obj).__name__}>"


def _qualified_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _run_awaitable(awaitable: Any) -> Any:
    async def drive() -> Any:
        return await awaitable

    return asyncio.run(drive())
