"""Building blocks of the actor runtime, usable on their own.

Configuration values (:class:`DispatcherConfig`, :class:`ResizerConfig`,
:class:`DeadLetterFilter`), the named policies (:class:`OverflowStrategy`,
:class:`StashOverflow`), two small containers (:class:`BoundedStash`,
:class:`ControlAwareQueue`) and a pure-Python finite-state machine
(:class:`FsmBuilder`, :class:`Fsm`, :class:`StateTimeout`).

Every class here is pure Python and does no I/O and no scheduling of its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from fractions import Fraction
from typing import Any, Callable, ClassVar, Optional, Union

__all__ = [
    "BoundedMailbox",
    "DispatcherConfig",
    "OverflowStrategy",
    "StashOverflow",
    "BoundedStash",
    "ControlAwareQueue",
    "ResizerConfig",
    "DeadLetterFilter",
    "FsmBuilder",
    "Fsm",
    "StateTimeout",
]


# --------------------------------------------------------------------------- validation helpers


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _check_number(name: str, value: Any, *, minimum: float = 0.0,
                  strict: bool = False) -> float:
    """Returns `value` as a finite float >= `minimum` (> when `strict`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum}, got {value!r}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _check_name(kind: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{kind} name must be a str, not {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}")
    return value


# --------------------------------------------------------------------------- dispatcher


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
                thread to the next actor (int >= 1).
            throughput_deadline_secs: Optional time budget per turn in
                seconds (> 0); ``None`` for no budget.

        Raises:
            TypeError: An argument has the wrong type.
            ValueError: An argument is out of range.
        """
        self._throughput = _check_int("throughput", throughput, 1)
        self._deadline = (None if throughput_deadline_secs is None else
                          _check_number("throughput_deadline_secs", throughput_deadline_secs,
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


# --------------------------------------------------------------------------- named policies


class _NamedPolicy:
    """Base of the small immutable "one of these names" value classes."""

    __slots__ = ("_name",)

    NAMES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", _check_name(type(self).__name__, name, self.NAMES))

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
        self._capacity = _check_int("capacity", capacity, 1)
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


# --------------------------------------------------------------------------- resizer


def _exact(value: float) -> Fraction:
    """The decimal a float was written as (``0.1`` -> ``1/10``), exactly."""
    return Fraction(repr(value))


class ResizerConfig:
    """Settings of a pool router's resizer, and its sizing rule.

    Example:
        >>> resizer = ResizerConfig(lower_bound=2, upper_bound=20)
        >>> resizer.compute_delta(10, 10)  # fully busy: grow by 20%
        2
        >>> resizer.compute_delta(10, 1)   # mostly idle: shrink by 10%
        -1
    """

    __slots__ = ("_lower", "_upper", "_pressure", "_backoff_threshold", "_rampup",
                 "_backoff_rate", "_messages_per_resize", "_backoff_delay")

    def __init__(self, lower_bound: int = 1, upper_bound: int = 10,
                 pressure_threshold: float = 1.0, backoff_threshold: float = 0.3,
                 rampup_rate: float = 0.2, backoff_rate: float = 0.1,
                 messages_per_resize: int = 10, backoff_delay_secs: float = 10.0) -> None:
        """Creates the configuration.

        Args:
            lower_bound: Fewest routees (int >= 0).
            upper_bound: Most routees (int >= 1 and >= `lower_bound`).
            pressure_threshold: Load (busy / size) at or above which the pool
                grows (> 0).
            backoff_threshold: Load at or below which the pool shrinks
                (>= 0 and <= `pressure_threshold`).
            rampup_rate: Relative growth under pressure (>= 0).
            backoff_rate: Relative shrink when idle, in ``[0, 1]``.
            messages_per_resize: Messages between two resize checks (int >= 1).
            backoff_delay_secs: Minimum seconds between two shrinks (>= 0).

        Raises:
            TypeError: An argument has the wrong type.
            ValueError: An argument is out of range or the bounds are crossed.
        """
        self._lower = _check_int("lower_bound", lower_bound, 0)
        self._upper = _check_int("upper_bound", upper_bound, 1)
        if self._upper < self._lower:
            raise ValueError(f"upper_bound ({upper_bound}) must be >= lower_bound ({lower_bound})")
        self._pressure = _check_number("pressure_threshold", pressure_threshold, strict=True)
        self._backoff_threshold = _check_number("backoff_threshold", backoff_threshold)
        if self._backoff_threshold > self._pressure:
            raise ValueError(f"backoff_threshold ({backoff_threshold}) must be <= "
                             f"pressure_threshold ({pressure_threshold})")
        self._rampup = _check_number("rampup_rate", rampup_rate)
        self._backoff_rate = _check_number("backoff_rate", backoff_rate)
        if self._backoff_rate > 1.0:
            raise ValueError(f"backoff_rate must be in [0, 1], got {backoff_rate!r}")
        self._messages_per_resize = _check_int("messages_per_resize", messages_per_resize, 1)
        self._backoff_delay = _check_number("backoff_delay_secs", backoff_delay_secs)

    @property
    def lower_bound(self) -> int:
        """Fewest routees."""
        return self._lower

    @property
    def upper_bound(self) -> int:
        """Most routees."""
        return self._upper

    @property
    def pressure_threshold(self) -> float:
        """Load at or above which the pool grows."""
        return self._pressure

    @property
    def backoff_threshold(self) -> float:
        """Load at or below which the pool shrinks."""
        return self._backoff_threshold

    @property
    def rampup_rate(self) -> float:
        """Relative growth under pressure."""
        return self._rampup

    @property
    def backoff_rate(self) -> float:
        """Relative shrink when idle."""
        return self._backoff_rate

    @property
    def messages_per_resize(self) -> int:
        """Messages between two resize checks."""
        return self._messages_per_resize

    @property
    def backoff_delay_secs(self) -> float:
        """Minimum seconds between two shrinks."""
        return self._backoff_delay

    def compute_delta(self, current_size: int, busy: int) -> int:
        """How many routees to add (positive) or remove (negative).

        With ``size == 0`` the answer is `lower_bound`. Otherwise, with
        ``load = busy / size``: ``load >= pressure_threshold`` gives the target
        ``ceil(size * (1 + rampup_rate))``; ``load <= backoff_threshold`` gives
        ``floor(size * (1 - backoff_rate))``; anything else keeps ``size``.
        The target is clamped to ``[lower_bound, upper_bound]`` and the result
        is ``target - size``. Rates are applied as the decimals they were
        written as, so ``10 * (1 + 0.1)`` is exactly 11 (no float rounding
        artefacts).

        Args:
            current_size: Current number of routees (int >= 0).
            busy: Routees currently processing a message (int >= 0).

        Returns:
            The size change.

        Raises:
            TypeError: An argument is not an int.
            ValueError: An argument is negative.
        """
        size = _check_int("current_size", current_size, 0)
        busy = _check_int("busy", busy, 0)
        if size == 0:
            return self._lower
        load = Fraction(busy, size)
        if load >= _exact(self._pressure):
            target = math.ceil(size * (1 + _exact(self._rampup)))
        elif load <= _exact(self._backoff_threshold):
            target = math.floor(size * (1 - _exact(self._backoff_rate)))
        else:
            target = size
        target = max(self._lower, min(self._upper, target))
        return target - size

    def _key(self) -> tuple[Any, ...]:
        return (self._lower, self._upper, self._pressure, self._backoff_threshold,
                self._rampup, self._backoff_rate, self._messages_per_resize,
                self._backoff_delay)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResizerConfig):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return ("ResizerConfig(lower_bound={}, upper_bound={}, pressure_threshold={}, "
                "backoff_threshold={}, rampup_rate={}, backoff_rate={}, "
                "messages_per_resize={}, backoff_delay_secs={})".format(*self._key()))


# --------------------------------------------------------------------------- dead letters

_DEAD_LETTER_REASONS = ("no_recipient", "dropped", "suppressed")


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
        self._no_recipient = _check_bool("accept_no_recipient", accept_no_recipient)
        self._dropped = _check_bool("accept_dropped", accept_dropped)
        self._suppressed = _check_bool("accept_suppressed", accept_suppressed)

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
        reason = _check_name("dead-letter reason", reason, _DEAD_LETTER_REASONS)
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


# --------------------------------------------------------------------------- FSM


class StateTimeout:
    """The message an :class:`Fsm` handler receives when its state timed out.

    All instances are equal; test with ``isinstance(msg, StateTimeout)`` or
    ``msg == StateTimeout()``.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StateTimeout)

    def __hash__(self) -> int:
        return hash(StateTimeout)

    def __repr__(self) -> str:
        return "StateTimeout"


_STATE_TIMEOUT = StateTimeout()

#: ``handler(state, data, msg) -> (new_state, new_data) | None``.
Handler = Callable[[str, Any, Any], Optional[tuple[str, Any]]]


def _check_state(state: Any) -> str:
    if not isinstance(state, str):
        raise TypeError(f"FSM state names are str, not {type(state).__name__}")
    return state


def _check_callable(name: str, value: Any) -> Any:
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")
    return value


class FsmBuilder:
    """Chainable builder of an :class:`Fsm`.

    Example:
        >>> def idle(state, data, msg):
        ...     return ("busy", data + [msg]) if msg == "go" else None
        >>> fsm = FsmBuilder().start_with("idle", []).when_state("idle", idle).build()
        >>> fsm.handle("go")
        >>> fsm.state, fsm.data
        ('busy', ['go'])
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Creates an empty builder.

        Args:
            clock: Monotonic clock in seconds used for state timeouts; inject
                a fake one in tests.

        Raises:
            TypeError: `clock` is not callable.
        """
        self._clock = _check_callable("clock", clock)
        self._start: Optional[tuple[str, Any]] = None
        self._handlers: dict[str, tuple[Handler, Optional[float]]] = {}
        self._fallback: Optional[Handler] = None
        self._on_transition: list[Callable[[str, str], Any]] = []
        self._on_termination: list[Callable[[str, Any], Any]] = []

    def start_with(self, state: str, data: Any) -> "FsmBuilder":
        """Sets the initial state name and data.

        Args:
            state: Initial state name.
            data: Initial state data (any object).

        Returns:
            This builder.

        Raises:
            TypeError: `state` is not a str.
        """
        self._start = (_check_state(state), data)
        return self

    def when_state(self, state: str, handler: Handler,
                   timeout: Optional[float] = None) -> "FsmBuilder":
        """Sets the message handler of one state (a later call replaces it).

        Args:
            state: State name.
            handler: ``handler(state, data, msg)`` returning
                ``(new_state, new_data)`` to transition (or to stay with new
                data), or ``None`` to stay unchanged.
            timeout: Seconds without :meth:`Fsm.handle` calls after which the
                handler receives a :class:`StateTimeout` message, or ``None``.

        Returns:
            This builder.

        Raises:
            TypeError: A wrong argument type.
            ValueError: `timeout` is not > 0.
        """
        _check_state(state)
        _check_callable("handler", handler)
        if timeout is not None:
            timeout = _check_number("timeout", timeout, strict=True)
        self._handlers[state] = (handler, timeout)
        return self

    def whenever(self, handler: Handler) -> "FsmBuilder":
        """Sets the fallback handler for states without their own handler.

        Args:
            handler: Same contract as in :meth:`when_state`.

        Returns:
            This builder.

        Raises:
            TypeError: `handler` is not callable.
        """
        self._fallback = _check_callable("handler", handler)
        return self

    def on_transition(self, hook: Callable[[str, str], Any]) -> "FsmBuilder":
        """Adds a hook called as ``hook(old_state, new_state)`` on state changes.

        Hooks run in registration order, after the new state and data are
        in place, and only when the state name actually changes.

        Args:
            hook: The hook.

        Returns:
            This builder.

        Raises:
            TypeError: `hook` is not callable.
        """
        self._on_transition.append(_check_callable("hook", hook))
        return self

    def on_termination(self, hook: Callable[[str, Any], Any]) -> "FsmBuilder":
        """Adds a hook called as ``hook(state, data)`` by :meth:`Fsm.stop`.

        Args:
            hook: The hook.

        Returns:
            This builder.

        Raises:
            TypeError: `hook` is not callable.
        """
        self._on_termination.append(_check_callable("hook", hook))
        return self

    def build(self) -> "Fsm":
        """Creates a machine in the start state; the builder stays reusable.

        Returns:
            A new :class:`Fsm`.

        Raises:
            ValueError: :meth:`start_with` was never called.
        """
        if self._start is None:
            raise ValueError("FsmBuilder.build() needs start_with(state, data) first")
        return Fsm._create(self._start[0], self._start[1], dict(self._handlers),
                           self._fallback, list(self._on_transition),
                           list(self._on_termination), self._clock)


class Fsm:
    """A finite-state machine over string state names, built by :class:`FsmBuilder`.

    :meth:`handle` passes a message to the current state's handler (or the
    ``whenever`` fallback) as ``handler(state, data, msg)``. A returned
    ``(new_state, new_data)`` tuple becomes the new state and data, and the
    ``on_transition`` hooks run if the state name changed; ``None`` leaves
    both unchanged. A message for a state with no handler and no fallback is
    ignored. Exceptions from handlers and hooks propagate to the caller.

    State timeouts: a state registered with ``timeout=t`` times out once
    :meth:`handle` has not been called for ``t`` seconds (measured on the
    builder's clock since the last :meth:`handle` call or since the machine
    was built). The machine has no timer of its own: whoever drives it calls
    :meth:`check_timeout` (for instance from a scheduled tick, at
    :attr:`timeout_deadline`), which then delivers a :class:`StateTimeout`
    message through :meth:`handle` — re-arming the timeout like any other
    message.
    """

    __slots__ = ("_state", "_data", "_handlers", "_fallback", "_on_transition",
                 "_on_termination", "_clock", "_last_activity", "_stopped")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Not for direct use.

        Raises:
            TypeError: Always; use :meth:`FsmBuilder.build`.
        """
        raise TypeError("create an Fsm with FsmBuilder().start_with(...)...build()")

    @classmethod
    def _create(cls, state: str, data: Any,
                handlers: dict[str, tuple[Handler, Optional[float]]],
                fallback: Optional[Handler], on_transition: list[Callable[[str, str], Any]],
                on_termination: list[Callable[[str, Any], Any]],
                clock: Callable[[], float]) -> "Fsm":
        self = object.__new__(cls)
        self._state = state
        self._data = data
        self._handlers = handlers
        self._fallback = fallback
        self._on_transition = on_transition
        self._on_termination = on_termination
        self._clock = clock
        self._last_activity = clock()
        self._stopped = False
        return self

    @property
    def state(self) -> str:
        """Current state name."""
        return self._state

    @property
    def data(self) -> Any:
        """Current state data."""
        return self._data

    @property
    def is_stopped(self) -> bool:
        """Whether :meth:`stop` has been called."""
        return self._stopped

    @property
    def timeout_deadline(self) -> Optional[float]:
        """Clock time at which the current state times out, or ``None``."""
        timeout = self._current_timeout()
        if timeout is None or self._stopped:
            return None
        return self._last_activity + timeout

    def _current_timeout(self) -> Optional[float]:
        entry = self._handlers.get(self._state)
        return None if entry is None else entry[1]

    def handle(self, msg: Any) -> None:
        """Passes `msg` to the current state's handler and applies its result.

        Args:
            msg: Any message (a :class:`StateTimeout` when called by
                :meth:`check_timeout`).

        Raises:
            RuntimeError: The machine has been stopped.
            TypeError: The handler returned something other than ``None`` or
                a ``(str, data)`` pair (state and data stay unchanged).
            Exception: Whatever the handler or a transition hook raised.
        """
        self._handle(msg, self._clock())

    def _handle(self, msg: Any, now: float) -> None:
        if self._stopped:
            raise RuntimeError("this Fsm has been stopped")
        self._last_activity = now
        entry = self._handlers.get(self._state)
        handler = entry[0] if entry is not None else self._fallback
        if handler is None:
            return
        result = handler(self._state, self._data, msg)
        if result is None:
            return
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], str)):
            raise TypeError("an Fsm handler must return None or a (new_state: str, new_data) "
                            f"tuple, not {result!r}")
        old_state = self._state
        self._state, self._data = result
        if self._state != old_state:
            new_state = self._state
            for hook in self._on_transition:
                hook(old_state, new_state)

    def check_timeout(self, now: Optional[float] = None) -> bool:
        """Delivers a :class:`StateTimeout` if the current state has timed out.

        Args:
            now: The current clock time; the builder's clock when omitted.

        Returns:
            Whether a timeout was delivered (always False once stopped).

        Raises:
            Exception: Whatever the handler raised for the timeout message.
        """
        deadline = self.timeout_deadline
        if deadline is None:
            return False
        if now is None:
            now = self._clock()
        if now < deadline:
            return False
        self._handle(_STATE_TIMEOUT, now)
        return True

    def stop(self) -> None:
        """Stops the machine and runs the ``on_termination`` hooks once.

        Later calls do nothing; :meth:`handle` raises ``RuntimeError`` afterwards.
        """
        if self._stopped:
            return
        self._stopped = True
        for hook in self._on_termination:
            hook(self._state, self._data)

    def __repr__(self) -> str:
        status = ", stopped" if self._stopped else ""
        return f"Fsm(state={self._state!r}, data={self._data!r}{status})"
