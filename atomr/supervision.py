"""Supervision: strategies, directives, and the messages the runtime sends
to actors (``Terminated``, ``ReceiveTimeout``).

Defined in the actor layer (:mod:`atomr.actor`); this module keeps the names.
"""

from __future__ import annotations

from atomr.actor._supervision import (
    Directive,
    ReceiveTimeout,
    SupervisorStrategy,
    Terminated,
    all_for_one,
    class_path,
    escalating,
    one_for_one,
    stopping,
)

__all__ = ["Directive", "Terminated", "ReceiveTimeout", "SupervisorStrategy", "class_path",
           "one_for_one", "all_for_one", "stopping", "escalating"]
