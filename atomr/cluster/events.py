"""Cluster membership events: what :meth:`Cluster.subscribe` yields.

Every event is a frozen dataclass. A member is described by
:class:`MemberInfo`; its status is one of ``joining``, ``weakly_up``,
``up``, ``leaving``, ``exiting``, ``down`` and ``removed`` (events spell
weakly up with an underscore; ``weaklyup``, the data types' spelling, is
accepted and normalised). :func:`event_from_dict` turns the raw dict form
the native control plane publishes into these classes, and
:class:`EventSubscription` is the bounded buffer a subscriber reads.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

__all__ = [
    "ClusterEvent",
    "ClusterShuttingDown",
    "Convergence",
    "EVENT_CLASSES",
    "EventSubscription",
    "LeaderChanged",
    "MEMBER_STATUSES",
    "MemberDowned",
    "MemberEvent",
    "MemberExited",
    "MemberInfo",
    "MemberJoined",
    "MemberLeft",
    "MemberRemoved",
    "MemberUp",
    "MemberWeaklyUp",
    "ReachableMember",
    "UnreachableMember",
    "event_from_dict",
]

MEMBER_STATUSES = ("joining", "weakly_up", "up", "leaving", "exiting", "down", "removed")


def _status(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a member status string, got {value!r}")
    status = "weakly_up" if value == "weaklyup" else value
    if status not in MEMBER_STATUSES:
        raise ValueError(f"{what} must be one of {', '.join(MEMBER_STATUSES)}; got {value!r}")
    return status


@dataclass(frozen=True)
class MemberInfo:
    """One member as an event describes it.

    Attributes:
        address: The member's address (``akka.tcp://<system>@<host>:<port>``
            or ``akka://<system>``).
        status: Its status (``weakly_up`` with an underscore).
        up_number: Its age order: lower became up earlier (0 before up).
        roles: Its roles.
    """

    address: str
    status: str
    up_number: int
    roles: list = field(default_factory=list)

    @staticmethod
    def from_dict(d: Any) -> "MemberInfo":
        """A member from its dict form ``{address, status, up_number, roles}``.

        Raises:
            ValueError: a field is missing or of the wrong type.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"a member must be a dict, got {d!r}")
        address = d.get("address")
        if not isinstance(address, str) or not address:
            raise ValueError(f"a member needs an address string, got {address!r}")
        up_number = d.get("up_number", 0)
        if isinstance(up_number, bool) or not isinstance(up_number, int):
            raise ValueError(f"a member's up_number must be an int, got {up_number!r}")
        roles = d.get("roles", [])
        if isinstance(roles, (str, bytes)) or not isinstance(roles, Iterable):
            raise ValueError(f"a member's roles must be a list of strings, got {roles!r}")
        roles = list(roles)
        if not all(isinstance(r, str) for r in roles):
            raise ValueError(f"a member's roles must be a list of strings, got {roles!r}")
        return MemberInfo(address, _status(d.get("status"), "a member's status"), up_number,
                          roles)


@dataclass(frozen=True)
class MemberEvent:
    """Base of the events about one member (field ``member``)."""

    member: MemberInfo


@dataclass(frozen=True)
class MemberJoined(MemberEvent):
    """A member joined (status ``joining``)."""


@dataclass(frozen=True)
class MemberWeaklyUp(MemberEvent):
    """A member became weakly up (joined while the cluster had no convergence)."""


@dataclass(frozen=True)
class MemberUp(MemberEvent):
    """A member became up."""


@dataclass(frozen=True)
class MemberLeft(MemberEvent):
    """A member is leaving."""


@dataclass(frozen=True)
class MemberExited(MemberEvent):
    """A member exited (after leaving)."""


@dataclass(frozen=True)
class MemberDowned(MemberEvent):
    """A member was marked down."""


@dataclass(frozen=True)
class UnreachableMember(MemberEvent):
    """A member became unreachable."""


@dataclass(frozen=True)
class ReachableMember(MemberEvent):
    """An unreachable member became reachable again."""


@dataclass(frozen=True)
class MemberRemoved(MemberEvent):
    """A member was removed; `previous_status` is the status it had before
    (``exiting`` or ``down``)."""

    previous_status: str


@dataclass(frozen=True)
class LeaderChanged:
    """The cluster leader changed (either side None: no leader)."""

    from_address: Optional[str]
    to_address: Optional[str]


@dataclass(frozen=True)
class ClusterShuttingDown:
    """This node's cluster extension is shutting down."""


@dataclass(frozen=True)
class Convergence:
    """Gossip convergence was reached (True) or lost (False)."""

    converged: bool


ClusterEvent = Union[MemberEvent, LeaderChanged, ClusterShuttingDown, Convergence]

_MEMBER_EVENTS: dict[str, type[MemberEvent]] = {
    cls.__name__: cls for cls in (MemberJoined, MemberWeaklyUp, MemberUp, MemberLeft,
                                  MemberExited, MemberDowned, UnreachableMember,
                                  ReachableMember)
}

#: Every event class by name (the names ``subscribe`` filters on).
EVENT_CLASSES: dict[str, type] = {
    **_MEMBER_EVENTS,
    "MemberRemoved": MemberRemoved,
    "LeaderChanged": LeaderChanged,
    "ClusterShuttingDown": ClusterShuttingDown,
    "Convergence": Convergence,
}


def _optional_address(d: Mapping, key: str) -> Optional[str]:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"`{key}` must be an address string or None, got {value!r}")
    return value


def event_from_dict(d: Any) -> Any:
    """The typed event for the raw dict form of a cluster event.

    The dict form is ``{"kind": <class name>, "member": {address, status,
    up_number, roles}}`` for member events, plus ``previous_status`` for
    ``MemberRemoved``, ``from_address``/``to_address`` for
    ``LeaderChanged`` and ``converged`` for ``Convergence``.

    Args:
        d: The raw event.

    Returns:
        The event dataclass; `d` itself when it is not a dict with a known
        ``kind`` (so newer event kinds pass through).

    Raises:
        ValueError: a known kind with missing or ill-typed fields.
    """
    if not isinstance(d, Mapping):
        return d
    kind = d.get("kind")
    if not isinstance(kind, str) or kind not in EVENT_CLASSES:
        return d
    if kind in _MEMBER_EVENTS:
        return _MEMBER_EVENTS[kind](MemberInfo.from_dict(d.get("member")))
    if kind == "MemberRemoved":
        return MemberRemoved(MemberInfo.from_dict(d.get("member")),
                             _status(d.get("previous_status"), "`previous_status`"))
    if kind == "LeaderChanged":
        return LeaderChanged(_optional_address(d, "from_address"),
                             _optional_address(d, "to_address"))
    if kind == "Convergence":
        converged = d.get("converged")
        if not isinstance(converged, bool):
            raise ValueError(f"`converged` must be a bool, got {converged!r}")
        return Convergence(converged)
    return ClusterShuttingDown()


class EventSubscription:
    """A bounded buffer of cluster events, read as an async iterator.

    The cluster publishes into it (:meth:`publish`, from any thread); one
    consumer iterates it with ``async for`` on any event loop. When the
    buffer is full a new event is dropped and :attr:`dropped_events` counts
    it. After :meth:`close` iteration ends (``StopAsyncIteration``), also
    for a consumer waiting at that moment, and buffered events are
    discarded.

    Args:
        event_types: Class names (or event classes) of the events to keep,
            or None for all.
        capacity: How many events may wait to be read (>= 1).

    Raises:
        TypeError: `event_types` is not an iterable of names or classes, or
            `capacity` is not an int.
        ValueError: an unknown event class name, or `capacity` < 1.
    """

    def __init__(self, event_types: Optional[Iterable[Union[str, type]]] = None,
                 capacity: int = 1024) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        names: Optional[list[str]] = None
        if event_types is not None:
            if isinstance(event_types, (str, bytes)) or not isinstance(event_types, Iterable):
                raise TypeError("event_types must be a list of event class names or None")
            names = []
            for t in event_types:
                name = t.__name__ if isinstance(t, type) else t
                if not isinstance(name, str):
                    raise TypeError(f"event_types must hold class names, got {t!r}")
                if name not in EVENT_CLASSES:
                    raise ValueError(f"unknown cluster event class {name!r}; known: "
                                     f"{', '.join(sorted(EVENT_CLASSES))}")
                names.append(name)
        self._filter = names
        self._capacity = capacity
        self._lock = threading.Lock()
        self._queue: collections.deque[Any] = collections.deque()
        self._closed = False
        self._dropped = 0
        self._waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = None

    @property
    def filter(self) -> Optional[list[str]]:
        """The class names kept, or None for all."""
        return None if self._filter is None else list(self._filter)

    @property
    def capacity(self) -> int:
        """How many events may wait to be read."""
        return self._capacity

    @property
    def dropped_events(self) -> int:
        """Events dropped because the buffer was full."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._queue)

    def accepts(self, event: Any) -> bool:
        """Whether `event` passes the filter."""
        return self._filter is None or type(event).__name__ in self._filter

    def publish(self, event: Any) -> bool:
        """Offers `event` to the subscriber (thread-safe).

        Returns:
            True when it was buffered; False when it was filtered out, the
            subscription is closed, or the buffer was full (then it counts
            in :attr:`dropped_events`).
        """
        if not self.accepts(event):
            return False
        with self._lock:
            if self._closed:
                return False
            if len(self._queue) >= self._capacity:
                self._dropped += 1
                return False
            self._queue.append(event)
            waiter, self._waiter = self._waiter, None
        _wake(waiter)
        return True

    def close(self) -> None:
        """Ends the iteration; later events are not buffered."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            waiter, self._waiter = self._waiter, None
        _wake(waiter)

    def __aiter__(self) -> "EventSubscription":
        return self

    async def __anext__(self) -> Any:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._closed:
                    raise StopAsyncIteration
                if self._queue:
                    return self._queue.popleft()
                if self._waiter is not None:
                    raise RuntimeError("this subscription is already being iterated elsewhere")
                future: asyncio.Future[None] = loop.create_future()
                self._waiter = (loop, future)
            try:
                await future
            finally:
                with self._lock:
                    if self._waiter is not None and self._waiter[1] is future:
                        self._waiter = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._queue)}/{self._capacity} buffered"
        return (f"EventSubscription({state}, dropped_events={self._dropped}, "
                f"filter={self._filter!r})")


def _wake(waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    if waiter is None:
        return
    loop, future = waiter

    def _set() -> None:
        if not future.done():
            future.set_result(None)

    try:
        loop.call_soon_threadsafe(_set)
    except RuntimeError:  # the consumer's loop is closed: nobody waits any more
        pass
