"""Resilience patterns: a circuit breaker, retry schedules, ``pipe_to`` and ``Failure``.

Everything here is pure Python and independent of the event loop an actor
system runs on: the coroutine helpers run on whatever loop awaits them.

Example:
    >>> breaker = CircuitBreaker(max_failures=5, call_timeout=1.0, reset_timeout=10.0)
    >>> # value = await breaker.call_async(fetch())
    >>> schedule = RetrySchedule.exponential(0.1, 5.0)
    >>> schedule.delay_for(3)
    0.8
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import threading
import time
from typing import Any, Awaitable, Callable, Optional, TypeVar, Union

from atomr._util.status import Failure
from atomr._util.validate import check_int as _check_int
from atomr._util.validate import check_non_negative as _check_non_negative
from atomr._util.validate import check_positive as _check_positive
from atomr.errors import CallTimeoutError, CircuitBreakerOpen

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerOpen",
    "CallTimeoutError",
    "RetrySchedule",
    "retry",
    "pipe_to",
    "Failure",
]

_log = logging.getLogger("atomr")

T = TypeVar("T")

#: What :meth:`CircuitBreaker.call_async` accepts: an awaitable (usually a
#: coroutine object) or a zero-argument callable producing one.
AwaitableOrFactory = Union[Awaitable[Any], Callable[[], Awaitable[Any]]]


# --------------------------------------------------------------------------- helpers


def _discard(awaitable: Any) -> None:
    """Closes a coroutine that will never be awaited (no "never awaited" warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


# --------------------------------------------------------------------------- circuit breaker

_CLOSED = "closed"
_OPEN = "open"
_HALF_OPEN = "half_open"


class CircuitBreaker:
    """A circuit breaker guarding calls to a fragile resource.

    States and transitions:

    * ``"closed"``: calls run. Each failure (an exception, or a call slower
      than `call_timeout`) increments a counter; a success resets it. After
      `max_failures` *consecutive* failures the breaker opens.
    * ``"open"``: calls are rejected at once with :class:`CircuitBreakerOpen`
      and never run. Once `reset_timeout` seconds have passed the breaker
      becomes half-open (observed lazily: on the next call or the next read
      of :attr:`state`).
    * ``"half_open"``: exactly one trial call runs; calls arriving while it is
      in flight are rejected with :class:`CircuitBreakerOpen`. The trial's
      success closes the breaker (counter reset); its failure opens it again
      and restarts the reset timer. A trial that is cancelled (or ends with a
      ``BaseException`` that is not an ``Exception``) counts as neither: the
      breaker stays half-open and the next call becomes the trial.

    Outcomes of calls that started in an earlier state (for example a slow
    call started while closed that ends after the breaker opened) are
    ignored, as are results of calls rejected for misuse (``TypeError``).

    The breaker is thread-safe: its state is guarded by a lock, and listeners
    run after the lock is released, in the thread that caused the transition.
    A listener that raises is logged on the ``atomr`` logger and ignored.

    Example:
        >>> breaker = CircuitBreaker(max_failures=3, call_timeout=0.5, reset_timeout=5.0)
        >>> breaker.on_open(lambda: print("opened")).state
        'closed'
    """

    def __init__(self, max_failures: int = 5, call_timeout: float = 1.0,
                 reset_timeout: float = 10.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Creates a closed breaker.

        Args:
            max_failures: Consecutive failures that open the breaker (int >= 1).
            call_timeout: Seconds a guarded call may take (> 0).
            reset_timeout: Seconds the breaker stays open before it lets a
                trial call through (> 0).
            clock: Monotonic clock in seconds, used for `reset_timeout` and
                to time synchronous :meth:`call` calls; inject a fake one in
                tests. (:meth:`call_async` enforces `call_timeout` with the
                event loop's own timer.)

        Raises:
            TypeError: An argument has the wrong type.
            ValueError: An argument is out of range.
        """
        self._max_failures = _check_int("max_failures", max_failures, 1)
        self._call_timeout = _check_positive("call_timeout", call_timeout)
        self._reset_timeout = _check_positive("reset_timeout", reset_timeout)
        if not callable(clock):
            raise TypeError("clock must be callable")
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        # Incremented on every transition; a call's outcome only counts if the
        # epoch it started in is still current.
        self._epoch = 0
        self._listeners: dict[str, list[Callable[[], Any]]] = {
            _OPEN: [], _CLOSED: [], _HALF_OPEN: []}

    # ------------------------------------------------------------------ properties

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``.

        Reading it after `reset_timeout` has elapsed in the open state moves
        the breaker to half-open (and runs the ``on_half_open`` listeners).
        """
        with self._lock:
            fired = self._maybe_half_open_locked()
            state = self._state
        self._notify(fired)
        return state

    @property
    def failure_count(self) -> int:
        """Consecutive failures counted in the current closed period."""
        with self._lock:
            return self._failures

    @property
    def max_failures(self) -> int:
        """Consecutive failures that open the breaker."""
        return self._max_failures

    @property
    def call_timeout(self) -> float:
        """Seconds a guarded call may take."""
        return self._call_timeout

    @property
    def reset_timeout(self) -> float:
        """Seconds the breaker stays open before a trial call."""
        return self._reset_timeout

    # ------------------------------------------------------------------ listeners

    def on_open(self, callback: Callable[[], Any]) -> "CircuitBreaker":
        """Registers `callback()` to run whenever the breaker opens.

        Args:
            callback: Zero-argument callable.

        Returns:
            This breaker, for chaining.

        Raises:
            TypeError: `callback` is not callable.
        """
        return self._add_listener(_OPEN, callback)

    def on_close(self, callback: Callable[[], Any]) -> "CircuitBreaker":
        """Registers `callback()` to run whenever the breaker closes again.

        Args:
            callback: Zero-argument callable.

        Returns:
            This breaker, for chaining.

        Raises:
            TypeError: `callback` is not callable.
        """
        return self._add_listener(_CLOSED, callback)

    def on_half_open(self, callback: Callable[[], Any]) -> "CircuitBreaker":
        """Registers `callback()` to run whenever the breaker becomes half-open.

        Args:
            callback: Zero-argument callable.

        Returns:
            This breaker, for chaining.

        Raises:
            TypeError: `callback` is not callable.
        """
        return self._add_listener(_HALF_OPEN, callback)

    def _add_listener(self, state: str, callback: Callable[[], Any]) -> "CircuitBreaker":
        if not callable(callback):
            raise TypeError(f"listener must be callable, not {type(callback).__name__}")
        with self._lock:
            self._listeners[state].append(callback)
        return self

    def _notify(self, fired: list[str]) -> None:
        """Runs the listeners of each state in `fired` (lock not held)."""
        for state in fired:
            with self._lock:
                callbacks = list(self._listeners[state])
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # a listener must not break the breaker
                    _log.exception("circuit breaker %s listener %r raised", state, callback)

    # ------------------------------------------------------------------ state machine
    # All *_locked methods require self._lock and return the list of states
    # entered, whose listeners the caller runs after releasing the lock.

    def _enter_locked(self, state: str) -> list[str]:
        self._state = state
        self._epoch += 1
        self._trial_in_flight = False
        if state == _OPEN:
            self._opened_at = self._clock()
        elif state == _CLOSED:
            self._failures = 0
        return [state]

    def _maybe_half_open_locked(self) -> list[str]:
        if self._state == _OPEN and self._clock() - self._opened_at >= self._reset_timeout:
            return self._enter_locked(_HALF_OPEN)
        return []

    def _acquire(self) -> int:
        """Admits a call or raises :class:`CircuitBreakerOpen`; returns its epoch."""
        with self._lock:
            fired = self._maybe_half_open_locked()
            error: Optional[CircuitBreakerOpen] = None
            if self._state == _OPEN:
                remaining = max(0.0, self._opened_at + self._reset_timeout - self._clock())
                error = CircuitBreakerOpen(remaining)
            elif self._state == _HALF_OPEN:
                if self._trial_in_flight:
                    error = CircuitBreakerOpen(
                        0.0, "circuit breaker is half-open and its trial call is in flight")
                else:
                    self._trial_in_flight = True
            epoch = self._epoch
        self._notify(fired)
        if error is not None:
            raise error
        return epoch

    def _succeeded(self, epoch: int) -> None:
        with self._lock:
            fired: list[str] = []
            if epoch == self._epoch:
                if self._state == _HALF_OPEN:
                    fired = self._enter_locked(_CLOSED)
                elif self._state == _CLOSED:
                    self._failures = 0
        self._notify(fired)

    def _failed(self, epoch: int) -> None:
        with self._lock:
            fired: list[str] = []
            if epoch == self._epoch:
                if self._state == _HALF_OPEN:
                    fired = self._enter_locked(_OPEN)
                elif self._state == _CLOSED:
                    self._failures += 1
                    if self._failures >= self._max_failures:
                        fired = self._enter_locked(_OPEN)
        self._notify(fired)

    def _abandoned(self, epoch: int) -> None:
        """A call ended without a verdict: free the half-open trial slot."""
        with self._lock:
            if epoch == self._epoch and self._state == _HALF_OPEN:
                self._trial_in_flight = False

    # ------------------------------------------------------------------ calls

    async def call_async(self, coro_or_factory: AwaitableOrFactory) -> Any:
        """Runs an awaitable under the breaker's protection.

        Args:
            coro_or_factory: A coroutine object (any awaitable works), or a
                zero-argument callable returning one; the callable is only
                invoked when the call is admitted.

        Returns:
            The awaitable's result.

        Raises:
            CircuitBreakerOpen: The breaker is open (or its half-open trial is
                in flight). The call does not run; a coroutine object passed
                in is closed.
            CallTimeoutError: The call took longer than ``call_timeout``; it
                is cancelled and counted as a failure.
            TypeError: The argument is neither awaitable nor callable, or the
                callable did not return an awaitable (not counted).
            Exception: Whatever the call raised, unchanged (counted as a
                failure).
        """
        is_factory = not inspect.isawaitable(coro_or_factory)
        if is_factory and not callable(coro_or_factory):
            raise TypeError("call_async expects a coroutine (awaitable) or a zero-argument "
                            f"callable returning one, not {type(coro_or_factory).__name__}")
        try:
            epoch = self._acquire()
        except CircuitBreakerOpen:
            if not is_factory:
                _discard(coro_or_factory)
            raise
        if is_factory:
            try:
                awaitable = coro_or_factory()  # type: ignore[operator]
            except Exception:
                self._failed(epoch)
                raise
            except BaseException:
                self._abandoned(epoch)
                raise
            if not inspect.isawaitable(awaitable):
                self._abandoned(epoch)
                raise TypeError("the callable passed to call_async must return an "
                                f"awaitable, not {type(awaitable).__name__}")
        else:
            awaitable = coro_or_factory
        deadline = asyncio.timeout(self._call_timeout)
        try:
            async with deadline:
                result = await awaitable
        except TimeoutError:
            self._failed(epoch)
            if deadline.expired():
                raise CallTimeoutError(
                    f"circuit breaker call timed out after {self._call_timeout}s") from None
            raise  # the call's own TimeoutError, unchanged
        except Exception:
            self._failed(epoch)
            raise
        except BaseException:
            self._abandoned(epoch)
            raise
        self._succeeded(epoch)
        return result

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs a plain (synchronous) callable under the breaker's protection.

        A synchronous call cannot be interrupted, so the timeout is checked
        after the fact: a call that returns but took longer than
        ``call_timeout`` counts as a failure, its result is discarded and
        :class:`CallTimeoutError` is raised.

        Args:
            fn: The callable; must not be a coroutine function (use
                :meth:`call_async`).
            *args: Positional arguments for `fn`.
            **kwargs: Keyword arguments for `fn`.

        Returns:
            What `fn` returned.

        Raises:
            CircuitBreakerOpen: The breaker is open (or its half-open trial is
                in flight); `fn` is not called.
            CallTimeoutError: `fn` returned after more than ``call_timeout``
                seconds.
            TypeError: `fn` is not callable, is a coroutine function, or
                returned a coroutine (not counted).
            Exception: Whatever `fn` raised, unchanged (counted as a failure).
        """
        if not callable(fn):
            raise TypeError(f"call expects a callable, not {type(fn).__name__}")
        if inspect.iscoroutinefunction(fn):
            raise TypeError("call() got a coroutine function; use call_async()")
        epoch = self._acquire()
        started = self._clock()
        try:
            result = fn(*args, **kwargs)
        except Exception:
            self._failed(epoch)
            raise
        except BaseException:
            self._abandoned(epoch)
            raise
        if inspect.iscoroutine(result):
            result.close()
            self._abandoned(epoch)
            raise TypeError("call() got a callable returning a coroutine; use call_async()")
        elapsed = self._clock() - started
        if elapsed > self._call_timeout:
            self._failed(epoch)
            raise CallTimeoutError(
                f"circuit breaker call took {elapsed:.3f}s, more than {self._call_timeout}s")
        self._succeeded(epoch)
        return result

    def __repr__(self) -> str:
        with self._lock:
            state = self._state
        return (f"CircuitBreaker(state={state!r}, max_failures={self._max_failures}, "
                f"call_timeout={self._call_timeout}, reset_timeout={self._reset_timeout})")


# --------------------------------------------------------------------------- retry

_FIXED = "fixed"
_EXPONENTIAL = "exponential"


class RetrySchedule:
    """How long :func:`retry` waits between attempts.

    Build one with :meth:`fixed` or :meth:`exponential`; instances are
    immutable, compare equal by value and are hashable.

    Example:
        >>> RetrySchedule.exponential(0.1, 1.0).delay_for(2)
        0.4
        >>> RetrySchedule.fixed(0.5) == RetrySchedule.fixed(0.5)
        True
    """

    __slots__ = ("_kind", "_min", "_max", "_factor", "_jitter")

    _kind: str
    _min: float
    _max: float
    _factor: float
    _jitter: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Not for direct use.

        Raises:
            TypeError: Always; use :meth:`fixed` or :meth:`exponential`.
        """
        raise TypeError("use RetrySchedule.fixed(...) or RetrySchedule.exponential(...)")

    @classmethod
    def _make(cls, kind: str, min_seconds: float, max_seconds: float,
              factor: float, jitter: float) -> "RetrySchedule":
        self = object.__new__(cls)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_min", min_seconds)
        object.__setattr__(self, "_max", max_seconds)
        object.__setattr__(self, "_factor", factor)
        object.__setattr__(self, "_jitter", jitter)
        return self

    @staticmethod
    def fixed(seconds: float) -> "RetrySchedule":
        """A schedule that always waits `seconds`.

        Args:
            seconds: The delay (finite, >= 0).

        Returns:
            The schedule.

        Raises:
            TypeError: `seconds` is not a number.
            ValueError: `seconds` is negative or not finite.
        """
        seconds = _check_non_negative("seconds", seconds)
        return RetrySchedule._make(_FIXED, seconds, seconds, 1.0, 0.0)

    @staticmethod
    def exponential(min_seconds: float, max_seconds: float, *, factor: float = 2.0,
                    jitter: float = 0.0) -> "RetrySchedule":
        """A schedule whose delay grows geometrically up to a cap.

        The delay for attempt ``i`` (0-based) is
        ``min(min_seconds * factor ** i, max_seconds)``. With `jitter` ``j > 0``
        that value is then multiplied by a random factor in ``[1 - j, 1 + j]``,
        so a jittered delay may exceed `max_seconds` by up to that fraction.

        Args:
            min_seconds: Delay before the second attempt (finite, >= 0).
            max_seconds: Cap on the delay (finite, >= `min_seconds`).
            factor: Growth factor per attempt (finite, >= 1).
            jitter: Random spread as a fraction of the delay, in ``[0, 1]``.

        Returns:
            The schedule.

        Raises:
            TypeError: An argument is not a number.
            ValueError: An argument is out of range.
        """
        min_seconds = _check_non_negative("min_seconds", min_seconds)
        max_seconds = _check_non_negative("max_seconds", max_seconds)
        if max_seconds < min_seconds:
            raise ValueError(f"max_seconds ({max_seconds}) must be >= min_seconds ({min_seconds})")
        factor = _check_non_negative("factor", factor)
        if factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {factor!r}")
        jitter = _check_non_negative("jitter", jitter)
        if jitter > 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {jitter!r}")
        return RetrySchedule._make(_EXPONENTIAL, min_seconds, max_seconds, factor, jitter)

    @property
    def kind(self) -> str:
        """``"fixed"`` or ``"exponential"``."""
        return self._kind

    @property
    def min_seconds(self) -> float:
        """Smallest (first) delay; the fixed delay for a fixed schedule."""
        return self._min

    @property
    def max_seconds(self) -> float:
        """Cap on the (un-jittered) delay; the fixed delay for a fixed schedule."""
        return self._max

    @property
    def factor(self) -> float:
        """Growth factor per attempt (``1.0`` for a fixed schedule)."""
        return self._factor

    @property
    def jitter(self) -> float:
        """Random spread as a fraction of the delay (``0.0`` for none)."""
        return self._jitter

    def delay_for(self, attempt: int) -> float:
        """Seconds to wait after the failed attempt number `attempt`.

        Args:
            attempt: 0-based index of the attempt that just failed.

        Returns:
            The delay in seconds (>= 0).

        Raises:
            TypeError: `attempt` is not an int.
            ValueError: `attempt` is negative.
        """
        attempt = _check_int("attempt", attempt, 0)
        if self._kind == _FIXED:
            return self._min
        try:
            delay = min(self._min * self._factor ** attempt, self._max)
        except OverflowError:
            delay = self._max
        if self._jitter:
            delay *= 1.0 + random.uniform(-self._jitter, self._jitter)
        return max(0.0, delay)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("RetrySchedule is immutable")

    def _key(self) -> tuple[str, float, float, float, float]:
        return (self._kind, self._min, self._max, self._factor, self._jitter)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RetrySchedule):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> Any:
        return (RetrySchedule._make, self._key())

    def __repr__(self) -> str:
        if self._kind == _FIXED:
            return f"RetrySchedule.fixed({self._min!r})"
        extra = ""
        if self._factor != 2.0:
            extra += f", factor={self._factor!r}"
        if self._jitter:
            extra += f", jitter={self._jitter!r}"
        return f"RetrySchedule.exponential({self._min!r}, {self._max!r}{extra})"


ExceptionTypes = Union[type[BaseException], tuple[type[BaseException], ...]]


async def retry(async_fn: Callable[[], Awaitable[T]], max_attempts: int,
                schedule: RetrySchedule, *, retry_on: ExceptionTypes = (Exception,),
                sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> T:
    """Calls `async_fn` until it succeeds or `max_attempts` are used up.

    Between two attempts it sleeps ``schedule.delay_for(i)`` seconds, ``i``
    being the 0-based index of the attempt that failed; it does not sleep
    after the last attempt.

    Args:
        async_fn: Zero-argument callable returning a *fresh* awaitable on each
            call (a coroutine function, a lambda around one, ...).
        max_attempts: Total number of attempts (int >= 1).
        schedule: Delays between attempts.
        retry_on: Exception class (or tuple of classes) that triggers another
            attempt; any other exception propagates at once.
        sleep: Awaitable sleep function; inject a fake one in tests.

    Returns:
        The value of the first successful attempt.

    Raises:
        TypeError: A wrong argument type, or `async_fn` returned something
            that is not awaitable (not retried).
        ValueError: `max_attempts` < 1.
        Exception: The last attempt's exception, unchanged, once every
            attempt failed; or the first exception not matching `retry_on`.
    """
    if not callable(async_fn):
        raise TypeError(f"async_fn must be callable, not {type(async_fn).__name__}")
    max_attempts = _check_int("max_attempts", max_attempts, 1)
    if not callable(getattr(schedule, "delay_for", None)):
        raise TypeError(f"schedule must be a RetrySchedule, not {type(schedule).__name__}")
    if isinstance(retry_on, type):
        retry_on = (retry_on,)
    if not (isinstance(retry_on, tuple) and retry_on
            and all(isinstance(t, type) and issubclass(t, BaseException) for t in retry_on)):
        raise TypeError("retry_on must be an exception class or a non-empty tuple of them")
    for attempt in range(max_attempts):
        try:
            awaitable = async_fn()
            if inspect.isawaitable(awaitable):
                return await awaitable
        except retry_on:
            if attempt + 1 >= max_attempts:
                raise
        else:
            # Only reached when async_fn() returned a non-awaitable: a usage
            # error, reported outside the retry_on handler so it is not retried.
            raise TypeError("async_fn must return an awaitable, "
                            f"not {type(awaitable).__name__}")
        await sleep(schedule.delay_for(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- pipe_to


def _retrieve(task: "asyncio.Task[None]") -> None:
    """Marks a pipe task's exception as seen: its target got it as a Failure."""
    if not task.cancelled():
        task.exception()


def pipe_to(awaitable: Awaitable[Any], target: Any, *,
            sender: Any = None) -> Awaitable[None]:
    """Pipes the outcome of `awaitable` to `target`, as Akka's ``pipeTo``.

    Its result is told to `target`; if it raises an exception, `target` is
    told ``Failure(exc)`` instead (:class:`Failure`, Akka's
    ``Status.Failure``). A :class:`~atomr.DeferredReply` (``ctx.reply_to``)
    is a valid target: a result answers the ask, a Failure fails it.

    Called where an event loop runs (a handler, a coroutine), it starts
    piping at once and returns the :class:`asyncio.Task` doing it: keep it,
    await it, or drop it. Awaiting it returns None once the message is sent,
    or raises the awaitable's exception after the Failure is sent; a task
    nobody awaits logs nothing ("exception was never retrieved" does not
    apply: the target got the exception). Called where no loop runs, it
    returns a coroutine that does the same once awaited (or ``asyncio.run``).

    A cancelled awaitable sends nothing; the task is cancelled.

    Args:
        awaitable: A coroutine, future or other awaitable.
        target: An :class:`~atomr.ActorRef` (anything with ``tell``; with
            `sender`, ``tell_with_sender`` as well).
        sender: When given, the outcome is sent with
            ``target.tell_with_sender(msg, sender)`` so the recipient sees
            it as ``ctx.sender``.

    Raises:
        TypeError: `awaitable` is not awaitable, or `target` lacks the needed
            method (checked at the call; a coroutine passed in is closed).
    """
    method = "tell" if sender is None else "tell_with_sender"
    if not inspect.isawaitable(awaitable):
        raise TypeError(f"pipe_to expects an awaitable, not {type(awaitable).__name__}")
    if not callable(getattr(target, method, None)):
        _discard(awaitable)
        raise TypeError(f"pipe_to target must have a {method}() method, "
                        f"got {type(target).__name__}")

    def send(msg: Any) -> None:
        if sender is None:
            target.tell(msg)
        else:
            target.tell_with_sender(msg, sender)

    async def pipe() -> None:
        try:
            result = await awaitable
        except Exception as exc:
            send(Failure(exc))
            raise
        send(result)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return pipe()
    task = loop.create_task(pipe())
    task.add_done_callback(_retrieve)
    return task
