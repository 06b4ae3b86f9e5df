"""Props: the recipe an actor is built from.

Defined in the actor layer (:mod:`atomr.actor`); this module keeps the names.
"""

from __future__ import annotations

from atomr.actor._props import DISPATCHERS, Props, props

__all__ = ["Props", "props", "DISPATCHERS"]
