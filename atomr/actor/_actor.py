"""The :class:`Actor` base class."""

from __future__ import annotations

import abc
from typing import Any, Awaitable, Callable, Generic, TypeVar, Union

from atomr._util.exports import public_module
from atomr._util.typevars import Msg, Reply

_F = TypeVar("_F", bound=Callable[..., Any])


def _noop(fn: _F) -> _F:
    fn.__atomr_noop__ = True  # type: ignore[attr-defined]
    return fn


@public_module("atomr.actor")
class Actor(abc.ABC, Generic[Msg, Reply]):
    """Base class of user actors.

    Subclasses implement :meth:`handle`, as ``async def`` or plain ``def``.
    The runtime calls it once per message, strictly one message at a time,
    in arrival order per sender. Its return value is the reply to an
    ``ask`` (and is dropped for a ``tell``), unless the handler took the
    reply over with ``ctx.reply_to`` (it then answers through that handle).

    Example:
        >>> class Greeter(Actor):
        ...     async def handle(self, ctx, msg):
        ...         return f"hello, {msg}"

    Typed use: ``class Greeter(Actor[str, str])`` declares the message type
    `handle` takes and the reply type it returns (``Actor[Msg, Reply]``;
    both default to Any, so a bare ``Actor`` is untyped). Props and refs
    carry them: ``system.actor_of(props(Greeter))`` is an
    ``ActorRef[str, str]``, whose ``tell`` and ``ask`` take a ``str`` and
    whose ``await ref.ask(...)`` is a ``str`` for a type checker.

    Attributes:
        asyncio_task: False (the default) runs handler and hook coroutines
            inside a Task the dispatcher keeps ready, from their first
            statement (``asyncio.current_task()``, ``asyncio.timeout()`` and
            ``asyncio.wait_for()`` work there); one that completes without
            suspending costs no Task of its own, one that suspends keeps
            that Task. True gives every coroutine call a Task of its own
            (eagerly on Python 3.12+), at the cost of a Task per message.
    """

    asyncio_task: bool = False

    @abc.abstractmethod
    def handle(self, ctx: Any, message: Msg) -> Union[Reply, Awaitable[Reply]]:
        """Handles one message.

        Args:
            ctx: the actor's :class:`atomr.Context`, valid during this call.
            message: the message.

        Returns:
            The reply to an ``ask`` (ignored for a ``tell``, and once the
            handler read ``ctx.reply_to``). A returned coroutine is run to
            completion first.
        """

    @_noop
    def pre_start(self, ctx: Any) -> Any:
        """Runs once after construction, before the first message. May be async.

        An exception here fails the actor's start (the actor is stopped).
        """

    @_noop
    def post_stop(self, ctx: Any) -> Any:
        """Runs once when the actor stops, after its children stopped. May be async.

        Exceptions are logged and otherwise ignored.
        """

    @_noop
    def pre_restart(self, ctx: Any, reason: BaseException, message: Any) -> Any:
        """Runs on the failed instance before a supervisor restarts it."""

    @_noop
    def post_restart(self, ctx: Any, reason: BaseException) -> Any:
        """Runs on the fresh instance after a restart (instead of ``pre_start``)."""
