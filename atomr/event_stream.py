"""The system-wide event stream: lifecycle, failure, dead-letter and log events.

Defined in the actor layer (:mod:`atomr.actor`); this module keeps the names.
"""

from __future__ import annotations

from atomr.actor._event_stream import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    DeadLetter,
    EventStream,
    EventStreamLogHandler,  # noqa: F401  (used by the runtime and tests)
    LogEvent,
)

__all__ = [
    "EventStream",
    "ActorStarted",
    "ActorStopped",
    "ActorRestarted",
    "ActorFailed",
    "DeadLetter",
    "LogEvent",
]
