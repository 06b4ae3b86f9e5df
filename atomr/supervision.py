"""Supervision vocabulary: directives and the ``Terminated`` notice."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Directive", "Terminated", "class_path"]


class Directive:
    """What a supervisor does with a failed child."""

    RESUME = "resume"
    RESTART = "restart"
    STOP = "stop"
    ESCALATE = "escalate"
    ALL = (RESUME, RESTART, STOP, ESCALATE)


@dataclass(frozen=True)
class Terminated:
    """Delivered to watchers of an actor once it has stopped."""

    path: str


def class_path(exc_cls: type) -> str:
    """``"<module>.<qualname>"`` of a class (``builtins.ValueError``).

    Raises:
        TypeError: `exc_cls` is not a class.
    """
    if not isinstance(exc_cls, type):
        raise TypeError(f"class_path expects a class, not {type(exc_cls).__name__}")
    return f"{exc_cls.__module__}.{exc_cls.__qualname__}"
