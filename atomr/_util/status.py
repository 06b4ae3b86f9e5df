"""The failure message (Akka's ``Status.Failure``), shared by every layer."""

from __future__ import annotations

from atomr._util.exports import public_module

__all__ = ["Failure"]


@public_module("atomr.pattern")
class Failure:
    """A failure sent as a message: what Akka calls ``Status.Failure``.

    :func:`atomr.pattern.pipe_to` sends one when the piped awaitable raises,
    and answering an ask with one through ``ctx.reply_to`` fails that ask
    with its exception.

    Args:
        exception: The exception that happened (any ``BaseException``).

    Raises:
        TypeError: `exception` is not an exception instance.
    """

    __slots__ = ("_exception",)

    def __init__(self, exception: BaseException) -> None:
        if not isinstance(exception, BaseException):
            raise TypeError(f"Failure carries an exception, not {type(exception).__name__}")
        self._exception = exception

    @property
    def exception(self) -> BaseException:
        """The exception carried."""
        return self._exception

    @property
    def cause(self) -> BaseException:
        """Alias of :attr:`exception` (Akka's name)."""
        return self._exception

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Failure):
            return NotImplemented
        return self._exception is other._exception

    def __hash__(self) -> int:
        return hash((Failure, id(self._exception)))

    def __repr__(self) -> str:
        return f"Failure({self._exception!r})"
