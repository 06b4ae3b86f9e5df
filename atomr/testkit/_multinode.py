"""The former home of the out-of-process multi-node test kit; it is now
:mod:`atomr.testkit.multinode`, whose names this module re-exports."""

from __future__ import annotations

from typing import Any

from atomr.testkit import multinode as _package
from atomr.testkit.multinode import (MAX_FRAME_BYTES, BarrierTimeoutError, MultiNodeError,
                                     MultiNodeOopController, MultiNodeOopNode,
                                     MultiNodeTimeoutError, NodeHandle)
from atomr.testkit.multinode._controller import _LIVE_CONTROLLERS  # noqa: F401  (the atexit hook's set)
from atomr.testkit.multinode._main import _node_main  # noqa: F401  (a node process's entry point)

__all__ = [
    "MAX_FRAME_BYTES",
    "BarrierTimeoutError",
    "MultiNodeError",
    "MultiNodeOopController",
    "MultiNodeOopNode",
    "MultiNodeTimeoutError",
    "NodeHandle",
    "multinode",  # noqa: F822  (built on first access, see __getattr__)
]


def __getattr__(name: str) -> Any:
    # The `multinode` fixture is built lazily by the package (pytest is
    # imported only then).
    if name == "multinode":
        return _package.multinode
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
