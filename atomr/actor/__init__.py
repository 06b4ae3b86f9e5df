"""The actor layer: actors, and the per-system extension registry."""

from __future__ import annotations

from atomr.actor._actor import Actor
from atomr.actor.extension import Extension, ExtensionId

__all__ = ["Actor", "Extension", "ExtensionId"]
