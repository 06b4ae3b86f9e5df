"""Dispatcher settings: the dispatcher names Props accept and :class:`DispatcherConfig`."""

from __future__ import annotations

from typing import Optional

from atomr._util.exports import public_module
from atomr._util.validate import check_int, check_number

# The largest throughput the native per-turn counter holds.
_MAX_THROUGHPUT = 2**31 - 1

__all__ = ["DISPATCHERS", "DispatcherConfig"]

#: Dispatcher names the API accepts. ``python-pinned`` runs actors on their
#: system's loop; ``python-process-pool`` in worker processes (see
#: :mod:`atomr.interpreter`); the others run as ``python-pinned``.
DISPATCHERS = (
    "python-pinned",
    "python-subinterpreter-pool",
    "python-nogil",
    "python-subprocess",
    "python-process",
    "python-process-pool",
)


@public_module("atomr.core")
class DispatcherConfig:
    """Fairness settings of a dispatcher.

    Example:
        >>> DispatcherConfig(throughput=5).throughput
        5
    """

    __slots__ = ("_throughput", "_deadline")

    def __init__(self, throughput: int = 10,
                 throughput_deadline_secs: Optional[float] = None) -> None:
        """Creates the configuration.

        Args:
            throughput: Messages an actor processes before it yields its
                thread to the next actor (1 to ``2**31 - 1``).
            throughput_deadline_secs: Optional time budget per turn in
                seconds (> 0); ``None`` for no budget.

        Raises:
            TypeError: An argument has the wrong type.
            ValueError: An argument is out of range.
        """
        self._throughput = check_int("throughput", throughput, 1)
        if throughput > _MAX_THROUGHPUT:
            raise ValueError(f"throughput must be <= {_MAX_THROUGHPUT}, got {throughput!r}")
        self._deadline = (None if throughput_deadline_secs is None else
                          check_number("throughput_deadline_secs", throughput_deadline_secs,
                                        strict=True))

    @property
    def throughput(self) -> int:
        """Messages processed per actor turn."""
        return self._throughput

    @property
    def throughput_deadline_secs(self) -> Optional[float]:
        """Time budget per actor turn in seconds, or ``None``."""
        return self._deadline

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DispatcherConfig):
            return NotImplemented
        return (self._throughput, self._deadline) == (other._throughput, other._deadline)

    def __hash__(self) -> int:
        return hash((self._throughput, self._deadline))

    def __repr__(self) -> str:
        return (f"DispatcherConfig(throughput={self._throughput}, "
                f"throughput_deadline_secs={self._deadline!r})")
