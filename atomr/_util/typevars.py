"""The type variables of atomr's generic API (``ActorRef[Msg, Reply]``,
``Actor[Msg, Reply]``, ``Props[Msg, Reply]``).

Both default to ``Any`` (PEP 696), so a bare ``ActorRef`` or ``Actor`` means
``ActorRef[Any, Any]``: untyped code, even under ``mypy --strict``, reads as
before. Type checkers see the defaults through ``typing_extensions``; at run
time (where no default is needed) plain ``typing.TypeVar`` is used, so atomr
needs no extra package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    #: The message type an actor handles (``tell``/``ask`` argument).
    Msg = TypeVar("Msg", default=Any)
    #: The reply type of an ``ask`` (what ``handle`` returns).
    Reply = TypeVar("Reply", default=Any)
else:
    from typing import TypeVar

    Msg = TypeVar("Msg")
    Reply = TypeVar("Reply")

__all__ = ["Msg", "Reply"]
