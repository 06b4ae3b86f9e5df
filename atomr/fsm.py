"""A pure-Python finite-state machine: :class:`FsmBuilder`, :class:`Fsm` and
:class:`StateTimeout`.

It does no I/O and no scheduling of its own: state timeouts are measured
on the builder's clock (``time.monotonic`` unless one is injected).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from atomr._util.exports import public_module
from atomr._util.validate import check_number

__all__ = ["FsmBuilder", "Fsm", "StateTimeout"]


@public_module("atomr.core")
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


@public_module("atomr.core")
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
            timeout = check_number("timeout", timeout, strict=True)
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


@public_module("atomr.core")
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
