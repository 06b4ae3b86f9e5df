"""Effects: what a command handler asks a persistent actor to do.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from atomr._util import public_module


@public_module("atomr.persistence")
class Effect:
    """What a command handler asks for. Build effects with the static
    methods; the handler returns one effect or a list of them, applied in
    order after it returns.

    Effects are values: :meth:`then_reply` and :meth:`then_run` return a
    new effect that also runs a callback once this one is done -- for a
    persist, after its events are durable and applied -- with the state
    as it is then (Akka's ``thenReply`` / ``thenRun``).

    Example:
        >>> async def command_handler(self, state, ctx, cmd):  # doctest: +SKIP
        ...     if isinstance(cmd, Deposit):
        ...         return Effect.persist(Deposited(cmd.amount)).then_reply(
        ...             lambda state: state.balance)              # the ask's answer
        ...     if isinstance(cmd, Withdraw):                     # a ref in the command
        ...         return Effect.persist(Withdrawn(cmd.amount)).then_reply(
        ...             lambda state: Balance(state.balance), reply_to=cmd.reply_to)

    Attributes:
        kind: ``"persist"``, ``"snapshot"``, ``"reply"``, ``"stop"`` or ``"none"``.
        events: The events to persist (a list), or None.
        every: The snapshot cadence of a snapshot effect, or None.
        value: The reply of a reply effect.
        reply_to: Where a reply effect sends its value (None: the ask).
        tags: Tags stored with persisted events.
    """

    __slots__ = ("_kind", "_events", "_every", "_value", "_tags", "_reply_to", "_then")

    def __init__(self, kind: str, events: Optional[list] = None, every: Optional[int] = None,
                 value: Any = None, tags: tuple = (), reply_to: Any = None,
                 then: tuple = ()) -> None:
        self._kind = kind
        self._events = events
        self._every = every
        self._value = value
        self._tags = tags
        self._reply_to = reply_to
        self._then = then

    kind = property(lambda self: self._kind, doc=(
        '``"persist"``, ``"snapshot"``, ``"reply"``, ``"stop"`` or ``"none"``.'))
    events = property(lambda self: None if self._events is None else list(self._events), doc=(
        "A copy of the events to persist (a list), or None for other kinds."))
    every = property(lambda self: self._every, doc=(
        "The cadence of a snapshot effect (None: one snapshot now, and for other kinds)."))
    value = property(lambda self: self._value, doc="The reply of a reply effect (else None).")
    reply_to = property(lambda self: self._reply_to, doc=(
        "The ref a reply effect sends its value to (None: it answers the ask)."))
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
    def reply_message(value: Any, reply_to: Any = None) -> "Effect":
        """Replies `value`: without `reply_to` it answers the ask (the last
        answer wins); with it, ``reply_to.tell(value)`` -- for a ref carried
        in the command, Akka's ``replyTo``. Either way the reply goes out
        once every effect of the command was applied, and not at all when
        one of them failed. `value` is fixed now, from the state the
        command saw; :meth:`then_reply` computes it from the new state.

        Raises:
            TypeError: `reply_to` has no ``tell`` method.
        """
        return Effect("reply", value=value, reply_to=_check_reply_to(reply_to))

    @staticmethod
    def stop() -> "Effect":
        """Stops the actor after every effect was applied."""
        return Effect("stop")

    @staticmethod
    def none() -> "Effect":
        """Does nothing."""
        return Effect("none")

    def then_reply(self, reply: Callable[[Any], Any], reply_to: Any = None) -> "Effect":
        """This effect, then a reply computed from the state after it.

        ``reply(state)`` (sync or async) runs once this effect is done --
        for a persist, after its events are durable and applied -- and its
        result answers the ask (the last answer wins, as with
        :meth:`reply_message`) or, with `reply_to`, is sent with
        ``reply_to.tell(result)``. It does not run when the effect failed.

        Args:
            reply: ``reply(state) -> value``.
            reply_to: An :class:`ActorRef` (anything with ``tell``), or None
                for the ask.

        Returns:
            A new effect; this one is unchanged.

        Raises:
            TypeError: `reply` is not callable, or `reply_to` has no ``tell``.
        """
        if not callable(reply):
            raise TypeError(f"then_reply() needs a callable reply(state), not "
                            f"{type(reply).__name__}")
        return self._chain(("reply", reply, _check_reply_to(reply_to)))

    def then_run(self, callback: Callable[[Any], Any]) -> "Effect":
        """This effect, then ``callback(state)`` (sync or async) with the
        state after it -- for a persist, once its events are durable and
        applied. It does not run when the effect failed; an exception it
        raises fails the command like one from the handler (the events stay
        written).

        Returns:
            A new effect; this one is unchanged.

        Raises:
            TypeError: `callback` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"then_run() needs a callable callback(state), not "
                            f"{type(callback).__name__}")
        return self._chain(("run", callback, None))

    def _chain(self, step: tuple) -> "Effect":
        return Effect(self._kind, self._events, self._every, self._value, self._tags,
                      self._reply_to, self._then + (step,))

    def __repr__(self) -> str:
        extra = {"persist": f" events={self._events!r}", "snapshot": f" every={self._every!r}",
                 "reply": f" value={self._value!r}"}.get(self._kind, "")
        if self._reply_to is not None:
            extra += f" reply_to={self._reply_to!r}"
        if self._then:
            extra += " then=" + ",".join(step[0] for step in self._then)
        return f"<Effect {self._kind}{extra}>"


def _check_reply_to(reply_to: Any) -> Any:
    if reply_to is not None and not callable(getattr(reply_to, "tell", None)):
        raise TypeError(f"reply_to must be an ActorRef (something with tell()) or None, not "
                        f"{type(reply_to).__name__}")
    return reply_to


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
