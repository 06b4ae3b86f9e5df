"""Supervision: strategies, directives, and the messages the runtime sends
to actors (``Terminated``, ``ReceiveTimeout``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from atomr._native._core import SupervisorStrategy
from atomr._util.exports import public_module

__all__ = ["Directive", "Terminated", "ReceiveTimeout", "SupervisorStrategy", "class_path",
           "one_for_one", "all_for_one", "stopping", "escalating"]


@public_module("atomr.supervision")
class Directive:
    """What a supervisor does with a failed child."""

    RESUME = "resume"
    RESTART = "restart"
    STOP = "stop"
    ESCALATE = "escalate"
    ALL = (RESUME, RESTART, STOP, ESCALATE)


@public_module("atomr.supervision")
@dataclass(frozen=True)
class Terminated:
    """Delivered to watchers of an actor once it has stopped.

    For a watched remote actor (:class:`atomr.remote.RemoteActorRef`),
    `existence_confirmed` is False when the remote system had no actor at
    the path, and `address_terminated` is True when the whole remote system
    was declared gone (unreachable, quarantined or shut down) rather than
    the actor reported stopped. Neither takes part in equality.
    """

    path: str
    existence_confirmed: bool = field(default=True, compare=False)
    address_terminated: bool = field(default=False, compare=False)


@public_module("atomr.supervision")
class ReceiveTimeout:
    """Delivered to an actor after the silence set with
    ``ctx.set_receive_timeout``. All instances are equal."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReceiveTimeout)

    def __hash__(self) -> int:
        return hash(ReceiveTimeout)

    def __repr__(self) -> str:
        return "ReceiveTimeout"


@public_module("atomr.supervision")
def class_path(exc_cls: type) -> str:
    """``"<module>.<qualname>"`` of a class (``builtins.ValueError``).

    Raises:
        TypeError: `exc_cls` is not a class.
    """
    if not isinstance(exc_cls, type):
        raise TypeError(f"class_path expects a class, not {type(exc_cls).__name__}")
    return f"{exc_cls.__module__}.{exc_cls.__qualname__}"


@public_module("atomr.supervision")
def one_for_one(decider: Any = None, *, default: Optional[str] = None,
                max_retries: Optional[int] = None,
                within_seconds: Optional[float] = None) -> SupervisorStrategy:
    """A one-for-one strategy; `decider` maps exception classes or class
    paths to directives (a mapping or an iterable of pairs)."""
    return SupervisorStrategy.one_for_one(decider, default, max_retries, within_seconds)


@public_module("atomr.supervision")
def all_for_one(decider: Any = None, *, default: Optional[str] = None,
                max_retries: Optional[int] = None,
                within_seconds: Optional[float] = None) -> SupervisorStrategy:
    """An all-for-one strategy: the directive applies to every sibling."""
    return SupervisorStrategy.all_for_one(decider, default, max_retries, within_seconds)


@public_module("atomr.supervision")
def stopping() -> SupervisorStrategy:
    """Always stop the failed child."""
    return SupervisorStrategy.stopping()


@public_module("atomr.supervision")
def escalating() -> SupervisorStrategy:
    """Always escalate to the supervisor's own supervisor."""
    return SupervisorStrategy.escalating()
