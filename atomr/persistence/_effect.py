"""Effects: what a command handler asks a persistent actor to do.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from atomr._util import public_module


@public_module("atomr.persistence")
class Effect:
    """What a command handler asks for. Build effects with the static
    methods; the handler returns one effect or a list of them, applied in
    order after it returns.

    Attributes:
        kind: ``"persist"``, ``"snapshot"``, ``"reply"``, ``"stop"`` or ``"none"``.
        events: The events to persist (a list), or None.
        every: The snapshot cadence of a snapshot effect, or None.
        value: The reply of a reply effect.
        tags: Tags stored with persisted events.
    """

    __slots__ = ("_kind", "_events", "_every", "_value", "_tags")

    def __init__(self, kind: str, events: Optional[list] = None, every: Optional[int] = None,
                 value: Any = None, tags: tuple = ()) -> None:
        self._kind = kind
        self._events = events
        self._every = every
        self._value = value
        self._tags = tags

    kind = property(lambda self: self._kind, doc=(
        '``"persist"``, ``"snapshot"``, ``"reply"``, ``"stop"`` or ``"none"``.'))
    events = property(lambda self: None if self._events is None else list(self._events), doc=(
        "A copy of the events to persist (a list), or None for other kinds."))
    every = property(lambda self: self._every, doc=(
        "The cadence of a snapshot effect (None: one snapshot now, and for other kinds)."))
    value = property(lambda self: self._value, doc="The reply of a reply effect (else None).")
    tags = property(lambda self: self._tags, doc="The tags stored with persisted events (a tuple).")

    @staticmethod
    def persist(event: Any, tags: Iterable[str] = ()) -> "Effect":
        """Appends `event` to the journal, then applies it with ``event_handler``."""
        return Effect("persist", [event], tags=_tags(tags))

    @staticmethod
    def persist_all(events: Iterable[Any], tags: Iterable[str] = ()) -> "Effect":
        """Appends every event atomically (all or none), then applies them in order."""
        return Effect("persist", list(events), tags=_tags(tags))

    @staticmethod
    def snapshot(every: Optional[int] = None) -> "Effect":
        """``every=None`` saves a snapshot now; ``every=N`` snapshots after
        every N persisted events from now on; ``every=0`` stops that."""
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 0):
            raise ValueError(f"every must be None or a non-negative int, got {every!r}")
        return Effect("snapshot", every=every)

    @staticmethod
    def reply_message(value: Any) -> "Effect":
        """Answers the ask with `value` (the last reply effect wins)."""
        return Effect("reply", value=value)

    @staticmethod
    def stop() -> "Effect":
        """Stops the actor after every effect was applied."""
        return Effect("stop")

    @staticmethod
    def none() -> "Effect":
        """Does nothing."""
        return Effect("none")

    def __repr__(self) -> str:
        extra = {"persist": f" events={self._events!r}", "snapshot": f" every={self._every!r}",
                 "reply": f" value={self._value!r}"}.get(self._kind, "")
        return f"<Effect {self._kind}{extra}>"


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    out = tuple(tags)
    if not all(isinstance(t, str) for t in out):
        raise TypeError("tags must be strings")
    return out


def _effects_of(result: Any) -> list[Effect]:
    if result is None:
        return []
    if isinstance(result, Effect):
        return [result]
    if isinstance(result, (list, tuple)):
        for e in result:
            if not isinstance(e, Effect):
                raise TypeError(f"command_handler returned {type(e).__name__} in its effects; "
                                "expected Effect values")
        return list(result)
    raise TypeError(f"command_handler must return an Effect, a list of Effects or None, not "
                    f"{type(result).__name__}")
