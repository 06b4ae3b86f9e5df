"""Keeping public names stable when their definition moves."""

from __future__ import annotations

from typing import Callable, TypeVar

__all__ = ["public_module"]

T = TypeVar("T")


def public_module(module: str) -> Callable[[T], T]:
    """Class or function decorator: sets ``__module__`` to `module`, the
    public module that exports the object.

    A class defined in a private module keeps the name users import it by
    (``atomr.system.ActorSystem``) in reprs, in pickles and in codec
    manifests (``module.qualname``), wherever its code lives. Apply it
    outermost (above ``@dataclass``), so that the class is complete first.

    Args:
        module: The dotted name of the public module; it must export the
            object under its ``__qualname__``.
    """
    def mark(obj: T) -> T:
        obj.__module__ = module
        return obj

    return mark
