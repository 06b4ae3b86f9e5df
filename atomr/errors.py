"""Exceptions raised by atomr.

Every class derives from :class:`AtomrError` and, where one fits, from the
built-in exception it specialises, so ``except ValueError`` and
``except TimeoutError`` keep working in code that does not know atomr.
"""

from __future__ import annotations

__all__ = [
    "AtomrError",
    "ActorSystemError",
    "ActorSystemTerminatedError",
    "SpawnError",
    "InvalidActorNameError",
    "ActorNameTakenError",
    "AskError",
    "AskTimeoutError",
    "ActorTerminatedError",
    "InterpreterOverloaded",
    "InterpreterCompatError",
]


class AtomrError(Exception):
    """Base class of every runtime failure atomr reports."""


class ActorSystemError(AtomrError):
    """A failure of the actor system as a whole."""


class ActorSystemTerminatedError(ActorSystemError, RuntimeError):
    """An operation needed a live actor system, but it has been terminated."""


class SpawnError(AtomrError):
    """An actor could not be created."""


class InvalidActorNameError(SpawnError, ValueError):
    """An actor or system name does not follow the path grammar."""


class ActorNameTakenError(SpawnError, ValueError, RuntimeError):
    """A live sibling already has this name.

    It is a ``ValueError`` (bad argument) and, for code written against
    ``Context.spawn``'s original contract, a ``RuntimeError`` as well.
    """


class AskError(AtomrError):
    """An ask could not be answered."""


class AskTimeoutError(AskError, TimeoutError):
    """No reply arrived within the ask's timeout."""


class ActorTerminatedError(AskError):
    """The asked actor has stopped (or stopped before it could reply)."""


class InterpreterOverloaded(AtomrError):
    """An interpreter pool refused a new actor (its quota is full)."""


class InterpreterCompatError(AtomrError):
    """A module is not safe for the dispatcher it would run on."""
