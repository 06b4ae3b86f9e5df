"""atomr.testkit: test actors the way Akka's TestKit does.

Importing this package never imports pytest; the fixtures live in
``atomr.testkit._plugin``, which pytest loads through the package's
``pytest11`` entry point.
"""

from __future__ import annotations

from atomr.event_stream import EventStream
from atomr.testkit._kit import (
    EventFilter,
    LeakWarning,
    ScheduledToken,
    TestKit,
    TestScheduler,
    within,
)
from atomr.testkit._probe import ProbeTimeoutError, TestProbe, fish_for_message
from atomr.testkit.multinode import (
    BarrierTimeoutError,
    MultiNodeError,
    MultiNodeOopController,
    MultiNodeOopNode,
    MultiNodeTimeoutError,
    NodeHandle,
)

__all__ = [
    "TestKit",
    "TestProbe",
    "TestScheduler",
    "ScheduledToken",
    "EventFilter",
    "EventStream",
    "LeakWarning",
    "ProbeTimeoutError",
    "MultiNodeOopController",
    "MultiNodeOopNode",
    "MultiNodeError",
    "MultiNodeTimeoutError",
    "BarrierTimeoutError",
    "NodeHandle",
    "fish_for_message",
    "within",
    "testkit",
]


def __getattr__(name: str):
    # `from atomr.testkit import testkit` gives the pytest fixture (loading pytest then).
    if name == "testkit":
        from atomr.testkit._plugin import testkit

        return testkit
    raise AttributeError(f"module 'atomr.testkit' has no attribute {name!r}")
