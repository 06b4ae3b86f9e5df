"""Building blocks of the actor runtime, usable on their own.

Configuration values (:class:`DispatcherConfig`, :class:`ResizerConfig`,
:class:`DeadLetterFilter`), the named policies (:class:`OverflowStrategy`,
:class:`StashOverflow`), two small containers (:class:`BoundedStash`,
:class:`ControlAwareQueue`) and a pure-Python finite-state machine
(:class:`FsmBuilder`, :class:`Fsm`, :class:`StateTimeout`).

Every class here is pure Python and does no I/O and no scheduling of its own.
This module gathers them; they are defined in the actor layer
(``atomr.actor``) and in :mod:`atomr.fsm`.
"""

from __future__ import annotations

from atomr.actor._dispatcher import DispatcherConfig
from atomr.actor._mailbox import (
    BoundedMailbox,
    BoundedStash,
    ControlAwareQueue,
    DeadLetterFilter,
    OverflowStrategy,
    StashOverflow,
)
from atomr.actor._resizer import ResizerConfig
from atomr.fsm import Fsm, FsmBuilder, StateTimeout

__all__ = [
    "BoundedMailbox",
    "DispatcherConfig",
    "OverflowStrategy",
    "StashOverflow",
    "BoundedStash",
    "ControlAwareQueue",
    "ResizerConfig",
    "DeadLetterFilter",
    "FsmBuilder",
    "Fsm",
    "StateTimeout",
]
