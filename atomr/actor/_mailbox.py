"""Mailbox, stash and dead-letter settings: the named overflow policies,
:class:`BoundedMailbox`, :class:`BoundedStash`, :class:`ControlAwareQueue`
and :class:`DeadLetterFilter`.

Pure Python values and containers; no I/O and no scheduling of their own.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, ClassVar, Union

from atomr._util.exports import public_module
from atomr._util.validate import check_bool, check_choice, check_int

__all__ = [
    "OverflowStrategy",
    "StashOverflow",
    "BoundedMailbox",
    "BoundedStash",
    "ControlAwareQueue",
    "DeadLetterFilter",
]


# --------------------------------------------------------------------------- named policies


class _NamedPolicy:
    """Base of the small immutable "one of these names" value classes."""

    __slots__ = ("_name",)

    NAMES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", check_choice(type(self).__name__, name, self.NAMES))

    @property
    def name(self) -> str:
        """The policy's name."""
        return self._name

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._name == other._name  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._name))

    def __reduce__(self) -> Any:
        return (type(self), (self._name,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"


@public_module("atomr.core")
class OverflowStrategy(_NamedPolicy):
    """What a bounded mailbox or buffer does when it is full.

    Names: ``"drop_new"`` (discard the incoming message), ``"drop_head"``
    (discard the oldest queued message), ``"drop_tail"`` (discard the newest
    queued message) and ``"fail"`` (report an error). The class attributes
    :attr:`DROP_NEW`, :attr:`DROP_HEAD`, :attr:`DROP_TAIL` and :attr:`FAIL`
    are ready-made instances.

    Example:
        >>> OverflowStrategy("drop_head") == OverflowStrategy.DROP_HEAD
        True
    """

    __slots__ = ()

    NAMES: ClassVar[tuple[str, ...]] = ("drop_new", "drop_head", "drop_tail", "fail")
    DROP_NEW: ClassVar["OverflowStrategy"]
    DROP_HEAD: ClassVar["OverflowStrategy"]
    DROP_TAIL: ClassVar["OverflowStrategy"]
    FAIL: ClassVar["OverflowStrategy"]

    def __init__(self, name: str) -> None:
        """Creates the strategy.

        Args:
            name: One of ``drop_new``, ``drop_head``, ``drop_tail``, ``fail``.

        Raises:
            TypeError: `name` is not a str.
            ValueError: `name` is not one of the names above.
        """
        super().__init__(name)


OverflowStrategy.DROP_NEW = OverflowStrategy("drop_new")
OverflowStrategy.DROP_HEAD = OverflowStrategy("drop_head")
OverflowStrategy.DROP_TAIL = OverflowStrategy("drop_tail")
OverflowStrategy.FAIL = OverflowStrategy("fail")


@public_module("atomr.core")
class StashOverflow(_NamedPolicy):
    """What a :class:`BoundedStash` does with a message when it is full.

    Names: ``"drop_oldest"`` (evict the oldest stashed message, keep the new
    one), ``"drop_newest"`` (discard the new message) and ``"reject"`` (refuse
    the new message and hand it back). The class attributes
    :attr:`DROP_OLDEST`, :attr:`DROP_NEWEST` and :attr:`REJECT` are
    ready-made instances.
    """

    __slots__ = ()

    NAMES: ClassVar[tuple[str, ...]] = ("drop_oldest", "drop_newest", "reject")
    DROP_OLDEST: ClassVar["StashOverflow"]
    DROP_NEWEST: ClassVar["StashOverflow"]
    REJECT: ClassVar["StashOverflow"]

    def __init__(self, name: str) -> None:
        """Creates the policy.

        Args:
            name: One of ``drop_oldest``, ``drop_newest``, ``reject``.

        Raises:
            TypeError: `name` is not a str.
            ValueError: `name` is not one of the names above.
        """
        super().__init__(name)


StashOverflow.DROP_OLDEST = StashOverflow("drop_oldest")
StashOverflow.DROP_NEWEST = StashOverflow("drop_newest")
StashOverflow.REJECT = StashOverflow("reject")


# --------------------------------------------------------------------------- containers


@public_module("atomr.core")
class BoundedMailbox:
    """A bounded user mailbox for ``Props.with_mailbox``.

    When `capacity` messages are queued, the next one is handled by
    `overflow`: ``drop_new`` refuses it, ``drop_head`` evicts the oldest
    queued message, ``drop_tail`` evicts the newest queued one, ``fail``
    refuses it and raises :class:`atomr.errors.MailboxOverflowError` at the
    ``tell``. Evicted and refused messages go to dead letters.

    Example:
        >>> p = props(Worker).with_mailbox(BoundedMailbox(100, "drop_head"))  # doctest: +SKIP
    """

    __slots__ = ("_capacity", "_overflow")

    def __init__(self, capacity: int, overflow: Union["OverflowStrategy", str] = "drop_new") -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._overflow = overflow if isinstance(overflow, OverflowStrategy) \
            else OverflowStrategy(overflow)

    @property
    def capacity(self) -> int:
        """How many messages the mailbox queues before `overflow` applies."""
        return self._capacity

    @property
    def overflow(self) -> "OverflowStrategy":
        """What happens to a message arriving at a full mailbox."""
        return self._overflow

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoundedMailbox) and \
            (self._capacity, self._overflow) == (other._capacity, other._overflow)

    def __hash__(self) -> int:
        return hash((self._capacity, self._overflow))

    def __repr__(self) -> str:
        return f"BoundedMailbox({self._capacity}, {self._overflow.name!r})"


@public_module("atomr.core")
class BoundedStash:
    """A FIFO stash with a fixed capacity and an overflow policy.

    Not thread-safe: a stash belongs to one actor and is only touched from
    its message handler.

    Example:
        >>> stash = BoundedStash(1, StashOverflow.DROP_OLDEST)
        >>> stash.stash("a")
        ('stashed', 1)
        >>> stash.stash("b")
        ('dropped_oldest', 'a')
        >>> stash.unstash_all()
        ['b']
    """

    __slots__ = ("_capacity", "_policy", "_items")

    def __init__(self, capacity: int, policy: Union[StashOverflow, str]) -> None:
        """Creates an empty stash.

        Args:
            capacity: Maximum number of stashed messages (int >= 1).
            policy: A :class:`StashOverflow` (or its name).

        Raises:
            TypeError: An argument has the wrong type.
            ValueError: `capacity` < 1 or an unknown policy name.
        """
        self._capacity = check_int("capacity", capacity, 1)
        if isinstance(policy, str):
            policy = StashOverflow(policy)
        if not isinstance(policy, StashOverflow):
            raise TypeError(f"policy must be a StashOverflow, not {type(policy).__name__}")
        self._policy = policy
        self._items: deque[Any] = deque()

    @property
    def capacity(self) -> int:
        """Maximum number of stashed messages."""
        return self._capacity

    @property
    def policy(self) -> StashOverflow:
        """The overflow policy."""
        return self._policy

    def stash(self, msg: Any) -> tuple[str, Any]:
        """Stashes `msg`, applying the overflow policy when full.

        Args:
            msg: Any message.

        Returns:
            ``("stashed", depth)`` with the depth after stashing when there
            was room; when full, depending on the policy:
            ``("dropped_oldest", evicted)`` (the oldest message was evicted
            and `msg` stashed), ``("dropped_newest", None)`` (`msg` was
            discarded) or ``("rejected", msg)`` (`msg` was refused).
        """
        if len(self._items) < self._capacity:
            self._items.append(msg)
            return ("stashed", len(self._items))
        policy = self._policy.name
        if policy == "drop_oldest":
            evicted = self._items.popleft()
            self._items.append(msg)
            return ("dropped_oldest", evicted)
        if policy == "drop_newest":
            return ("dropped_newest", None)
        return ("rejected", msg)

    def unstash_all(self) -> list[Any]:
        """Removes and returns every stashed message, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items

    def pop(self) -> Any:
        """Removes and returns the oldest stashed message, or ``None`` when empty."""
        return self._items.popleft() if self._items else None

    def len(self) -> int:
        """Number of stashed messages (same as ``len(stash)``)."""
        return len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def is_full(self) -> bool:
        """Whether the stash holds `capacity` messages."""
        return len(self._items) >= self._capacity

    def is_empty(self) -> bool:
        """Whether the stash holds no message."""
        return not self._items

    def __repr__(self) -> str:
        return (f"BoundedStash(capacity={self._capacity}, policy={self._policy!r}, "
                f"len={len(self._items)})")


@public_module("atomr.core")
class ControlAwareQueue:
    """A mailbox queue in which control messages overtake user messages.

    :meth:`pop` returns every queued control message (in FIFO order) before
    any user message (in FIFO order). Thread-safe: pushes and pops may come
    from any thread.

    Since :meth:`pop` returns ``None`` for an empty queue, a queued ``None``
    message cannot be told apart from emptiness; check :meth:`is_empty`
    first if ``None`` can be a message.

    Example:
        >>> q = ControlAwareQueue()
        >>> q.push_user("work")
        >>> q.push_control("stop")
        >>> q.pop(), q.pop(), q.pop()
        ('stop', 'work', None)
    """

    __slots__ = ("_control", "_user", "_lock")

    def __init__(self) -> None:
        """Creates an empty queue."""
        self._control: deque[Any] = deque()
        self._user: deque[Any] = deque()
        self._lock = threading.Lock()

    def push_control(self, msg: Any) -> None:
        """Appends a control (system-priority) message."""
        with self._lock:
            self._control.append(msg)

    def push_user(self, msg: Any) -> None:
        """Appends an ordinary user message."""
        with self._lock:
            self._user.append(msg)

    def pop(self) -> Any:
        """Removes and returns the next message, or ``None`` when empty."""
        with self._lock:
            if self._control:
                return self._control.popleft()
            if self._user:
                return self._user.popleft()
            return None

    def len(self) -> int:
        """Number of queued messages of both kinds (same as ``len(queue)``)."""
        with self._lock:
            return len(self._control) + len(self._user)

    def __len__(self) -> int:
        return self.len()

    def is_empty(self) -> bool:
        """Whether no message is queued."""
        return self.len() == 0

    def __repr__(self) -> str:
        with self._lock:
            return (f"ControlAwareQueue(control={len(self._control)}, "
                    f"user={len(self._user)})")


# --------------------------------------------------------------------------- dead letters

_DEAD_LETTER_REASONS = ("no_recipient", "dropped", "suppressed")


@public_module("atomr.core")
class DeadLetterFilter:
    """Which kinds of dead letters get reported.

    Example:
        >>> DeadLetterFilter().accepts("suppressed")
        False
    """

    __slots__ = ("_no_recipient", "_dropped", "_suppressed")

    def __init__(self, accept_no_recipient: bool = True, accept_dropped: bool = True,
                 accept_suppressed: bool = False) -> None:
        """Creates the filter.

        Args:
            accept_no_recipient: Report messages sent to stopped or unknown actors.
            accept_dropped: Report messages dropped by a full mailbox or buffer.
            accept_suppressed: Report messages marked as not worth reporting.

        Raises:
            TypeError: A flag is not a bool.
        """
        self._no_recipient = check_bool("accept_no_recipient", accept_no_recipient)
        self._dropped = check_bool("accept_dropped", accept_dropped)
        self._suppressed = check_bool("accept_suppressed", accept_suppressed)

    @property
    def accept_no_recipient(self) -> bool:
        """Whether ``"no_recipient"`` dead letters are reported."""
        return self._no_recipient

    @property
    def accept_dropped(self) -> bool:
        """Whether ``"dropped"`` dead letters are reported."""
        return self._dropped

    @property
    def accept_suppressed(self) -> bool:
        """Whether ``"suppressed"`` dead letters are reported."""
        return self._suppressed

    def accepts(self, reason: str) -> bool:
        """Whether a dead letter with this reason is reported.

        Args:
            reason: ``"no_recipient"``, ``"dropped"`` or ``"suppressed"``.

        Returns:
            The matching flag.

        Raises:
            TypeError: `reason` is not a str.
            ValueError: `reason` is not one of the names above.
        """
        reason = check_choice("dead-letter reason", reason, _DEAD_LETTER_REASONS)
        if reason == "no_recipient":
            return self._no_recipient
        if reason == "dropped":
            return self._dropped
        return self._suppressed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeadLetterFilter):
            return NotImplemented
        return ((self._no_recipient, self._dropped, self._suppressed)
                == (other._no_recipient, other._dropped, other._suppressed))

    def __hash__(self) -> int:
        return hash((self._no_recipient, self._dropped, self._suppressed))

    def __repr__(self) -> str:
        return (f"DeadLetterFilter(accept_no_recipient={self._no_recipient}, "
                f"accept_dropped={self._dropped}, accept_suppressed={self._suppressed})")
