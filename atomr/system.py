"""The :class:`ActorSystem`: a tree of actors bound to one asyncio loop.

Defined in the actor layer (:mod:`atomr.actor`); this module keeps the names.
"""

from __future__ import annotations

from atomr.actor._system import ActorSystem
from atomr.codecs import BuiltinJsonCodec, PyCodecRegistry, manifest_of, validate_manifest

__all__ = ["ActorSystem", "PyCodecRegistry", "BuiltinJsonCodec", "manifest_of",
           "validate_manifest"]
