"""The system-wide event stream: lifecycle, failure, dead-letter and log events."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from atomr._util.exports import public_module

__all__ = [
    "EventStream",
    "ActorStarted",
    "ActorStopped",
    "ActorRestarted",
    "ActorFailed",
    "DeadLetter",
    "LogEvent",
]

_log = logging.getLogger("atomr")


@public_module("atomr.event_stream")
@dataclass(frozen=True)
class ActorStarted:
    """An actor finished starting (its ``pre_start`` returned)."""

    path: str


@public_module("atomr.event_stream")
@dataclass(frozen=True)
class ActorStopped:
    """An actor stopped for good."""

    path: str


@public_module("atomr.event_stream")
@dataclass(frozen=True)
class ActorRestarted:
    """An actor was replaced by a fresh instance after `reason`."""

    path: str
    reason: Optional[BaseException] = field(default=None, compare=False)


@public_module("atomr.event_stream")
@dataclass(frozen=True)
class ActorFailed:
    """An actor failed; its supervisor applied `directive` to it."""

    path: str
    error: BaseException = field(compare=False)
    directive: str = "stop"


@public_module("atomr.event_stream")
@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be delivered to `recipient`."""

    message: Any
    sender: Any
    recipient: str


@public_module("atomr.event_stream")
@dataclass(frozen=True)
class LogEvent:
    """A record logged under the ``atomr`` logger."""

    level: int
    logger: str
    message: str


Subscriber = Union[Callable[[Any], Any], Any]


@public_module("atomr.event_stream")
class EventStream:
    """Publish/subscribe by event class, for one actor system.

    A subscriber is an :class:`atomr.ActorRef` (events arrive as messages)
    or a callable (called on the publishing thread). Subscriptions match by
    ``isinstance``, so subscribing to ``object`` sees everything.
    """

    def __init__(self, on_change: Optional[Callable[[bool], None]] = None) -> None:
        self._lock = threading.Lock()
        self._subs: tuple[tuple[Subscriber, type], ...] = ()
        self._on_change = on_change

    def subscribe(self, subscriber: Subscriber, event_cls: type = object) -> None:
        """Sends every later event that is an instance of `event_cls` to `subscriber`."""
        if not isinstance(event_cls, type):
            raise TypeError(f"event_cls must be a class, not {type(event_cls).__name__}")
        if not (callable(subscriber) or hasattr(subscriber, "tell")):
            raise TypeError("subscriber must be an ActorRef or a callable")
        with self._lock:
            if (subscriber, event_cls) not in self._subs:
                self._subs = self._subs + ((subscriber, event_cls),)
        self._changed()

    def unsubscribe(self, subscriber: Subscriber, event_cls: Optional[type] = None) -> None:
        """Removes `subscriber` (from `event_cls` only, if given)."""
        with self._lock:
            self._subs = tuple(
                (s, c) for s, c in self._subs
                if not (s == subscriber and (event_cls is None or c is event_cls)))
        self._changed()

    @property
    def has_subscribers(self) -> bool:
        """Whether anything is subscribed (to any event class)."""
        return bool(self._subs)

    def has_subscribers_for(self, event_cls: type) -> bool:
        """Whether an event of class `event_cls` would reach any subscriber
        (some subscription is to `event_cls` or one of its bases).

        Raises:
            TypeError: `event_cls` is not a class.
        """
        if not isinstance(event_cls, type):
            raise TypeError(f"event_cls must be a class, not {type(event_cls).__name__}")
        return any(issubclass(event_cls, cls) for _, cls in self._subs)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(bool(self._subs))

    def publish(self, event: Any) -> None:
        """Delivers `event` to every matching subscriber.

        An actor subscriber that has stopped is unsubscribed (so its dead
        letters cannot feed back into the stream); a callable that raises is
        logged and skipped.
        """
        stopped = []
        for subscriber, cls in self._subs:
            if not isinstance(event, cls):
                continue
            try:
                tell = getattr(subscriber, "tell", None)
                if tell is not None:
                    if subscriber.is_terminated():
                        stopped.append(subscriber)
                        continue
                    tell(event)
                else:
                    subscriber(event)
            except Exception as exc:  # one bad subscriber never stops the others
                if not _publishing_log.active:
                    _publishing_log.active = True
                    try:
                        _log.error("event stream subscriber %r failed", subscriber, exc_info=exc)
                    finally:
                        _publishing_log.active = False
        for subscriber in stopped:
            self.unsubscribe(subscriber)

    # Called by the runtime (only when someone listens).

    def publish_lifecycle(self, kind: str, path: str, reason: Optional[BaseException]) -> None:
        """Publishes the lifecycle event `kind` of the actor at `path`.

        Called by the runtime, and only while someone is subscribed.

        Args:
            kind: ``"started"`` (publishes :class:`ActorStarted`),
                ``"stopped"`` (:class:`ActorStopped`) or ``"restarted"``
                (:class:`ActorRestarted`); any other kind is ignored.
            path: The actor's path.
            reason: The failure behind a restart (unused for other kinds).
        """
        if kind == "started":
            self.publish(ActorStarted(path))
        elif kind == "stopped":
            self.publish(ActorStopped(path))
        elif kind == "restarted":
            self.publish(ActorRestarted(path, reason))

    def publish_failure(self, path: str, error: BaseException, directive: str) -> None:
        """Publishes an :class:`ActorFailed` for the actor at `path`, which
        raised `error` and got `directive` from its supervisor.

        Called by the runtime, and only while someone is subscribed.
        """
        self.publish(ActorFailed(path, error, directive))


class _Flag(threading.local):
    active = False


# Set while a log record is being turned into an event (or while the stream
# logs a subscriber's failure), so that a failing LogEvent subscriber cannot
# make logging and publishing call each other forever.
_publishing_log = _Flag()


@public_module("atomr.event_stream")
class EventStreamLogHandler(logging.Handler):
    """Forwards ``atomr`` log records to one system's event stream as
    :class:`LogEvent`: records naming this system's actors, and records that
    name no system (a record naming another system's actor is left to it)."""

    def __init__(self, stream: EventStream, address: str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._stream = stream
        self._address = address

    def emit(self, record: logging.LogRecord) -> None:
        if _publishing_log.active:
            return
        _publishing_log.active = True
        try:
            message = record.getMessage()
            # Records about this system, and records about no system at all
            # (records naming another system's actors are that system's).
            if self._address + "/" in message or message.endswith(self._address) \
                    or "akka://" not in message:
                self._stream.publish(LogEvent(record.levelno, record.name, message))
        except Exception:
            self.handleError(record)
        finally:
            _publishing_log.active = False
