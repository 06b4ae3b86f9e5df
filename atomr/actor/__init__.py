"""The actor layer: systems, actors, Props, supervision and extensions.

It also holds the event stream and the mailbox and dispatcher settings.
Everything above this layer (routing, patterns, persistence, distributed
data, the test kit, ...) builds on these names; :mod:`atomr` re-exports the
common ones.
"""

from __future__ import annotations

from atomr._native._core import ActorRef, Cancelable, Context, DeferredReply
from atomr._util.status import Failure
from atomr.actor._actor import Actor
from atomr.actor._dispatcher import DISPATCHERS, DispatcherConfig
from atomr.actor._event_stream import EventStream
from atomr.actor._mailbox import (
    BoundedMailbox,
    BoundedStash,
    ControlAwareQueue,
    DeadLetterFilter,
    OverflowStrategy,
    StashOverflow,
)
from atomr.actor._props import Props, props
from atomr.actor._resizer import ResizerConfig
from atomr.actor._supervision import Directive, ReceiveTimeout, SupervisorStrategy, Terminated
from atomr.actor._system import ActorSystem
from atomr.actor.extension import Extension, ExtensionId

__all__ = [
    "Actor",
    "ActorRef",
    "ActorSystem",
    "BoundedMailbox",
    "BoundedStash",
    "Cancelable",
    "Context",
    "ControlAwareQueue",
    "DISPATCHERS",
    "DeadLetterFilter",
    "DeferredReply",
    "Directive",
    "DispatcherConfig",
    "EventStream",
    "Extension",
    "ExtensionId",
    "Failure",
    "OverflowStrategy",
    "Props",
    "ReceiveTimeout",
    "ResizerConfig",
    "StashOverflow",
    "SupervisorStrategy",
    "Terminated",
    "props",
]
