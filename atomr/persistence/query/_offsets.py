"""Offsets and the envelope of an event read by a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atomr._util import public_module


@public_module("atomr.persistence.query")
class Offset:
    """Where a query starts: :data:`NoOffset` (the beginning) or a
    :class:`Sequence`. Offsets are exclusive: a query from an envelope's
    offset returns the events after it (Akka's rule)."""

    __slots__ = ()

    @property
    def value(self) -> int:
        """The offset as an int (0 for :data:`NoOffset`)."""
        raise NotImplementedError


class _NoOffset(Offset):
    """The beginning of the journal."""

    __slots__ = ()

    @property
    def value(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "NoOffset"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _NoOffset)

    def __hash__(self) -> int:
        return hash(_NoOffset)


#: The beginning of the journal (every event is after it).
NoOffset: Offset = _NoOffset()


@public_module("atomr.persistence.query")
class Sequence(Offset):
    """An offset in a journal's order: the ordering of a tagged event in
    ``events_by_tag``, the sequence number in ``events_by_persistence_id``.

    Args:
        value: A non-negative int.
    """

    __slots__ = ("_value",)

    def __init__(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a Sequence offset is an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"a Sequence offset must not be negative, got {value}")
        self._value = value

    @property
    def value(self) -> int:
        return self._value

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Sequence) and other._value == self._value

    def __lt__(self, other: "Sequence") -> bool:
        return self._value < other._value

    def __hash__(self) -> int:
        return hash((Sequence, self._value))

    def __repr__(self) -> str:
        return f"Sequence({self._value})"


def _offset_value(offset: Any) -> int:
    """The int of `offset` (an :class:`Offset`, an int or None)."""
    if offset is None:
        return 0
    if isinstance(offset, Offset):
        return offset.value
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an Offset or an int, not {type(offset).__name__}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    return offset


@public_module("atomr.persistence.query")
@dataclass(frozen=True)
class EventEnvelope:
    """One event as a query returns it (Akka's ``EventEnvelope``).

    Attributes:
        offset: Its place in the query's order: pass it back as the
            `offset` of the same query to continue after it.
        persistence_id: The entity that persisted it.
        sequence_nr: Its number within the entity.
        event: The decoded event.
        timestamp: When it was written (milliseconds since the epoch).
        tags: The tags it was persisted with.
    """

    offset: Offset
    persistence_id: str
    sequence_nr: int
    event: Any
    timestamp: int
    tags: tuple[str, ...] = ()
