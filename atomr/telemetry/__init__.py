"""Telemetry: the runtime's events by topic, for dashboards and tools.

A :class:`TelemetryBus` broadcasts events to its subscribers, one topic per
subscription (:func:`all_topics`). There is no Python publish API: events
come from the runtime of the actor systems the bus is attached to
(:meth:`TelemetryBus.attach`), through their event streams --

* ``actors``: ``actor_started``, ``actor_stopped``, ``actor_restarted``,
  ``actor_failed`` (``path``, and ``reason``/``error``/``directive``);
* ``dead_letters``: ``dead_letter`` (``recipient``, ``sender``,
  ``message_type``, ``message``: a repr cut to 200 characters);
* ``remote``, ``cluster``, ``sharding``, ``persistence``, ``streams``,
  ``ddata``: every event the subsystem of that name publishes on the event
  stream (the kind is its class name in snake_case, the fields its
  dataclass fields).

Each event is a dict with ``kind``, ``topic``, ``system`` (the system's
name), ``timestamp`` (``time.time()``) and its payload fields. A bus listens
to a system's event stream only while it has subscribers, so an idle bus
costs the runtime nothing. Each subscriber keeps at most `capacity`
events; one that falls behind loses the oldest and then reads one
``{"kind": "lagged", "missed": n}`` event before the rest.

Example:
    >>> bus = TelemetryBus(capacity=16)
    >>> bus.receiver_count()
    0
    >>> sub = bus.subscribe_topic("actors")
    >>> bus.receiver_count()
    1
    >>> sub.next(timeout_secs=0.01) is None
    True
"""

from __future__ import annotations

import collections
import dataclasses
import re
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Optional

from atomr._util.validate import check_int, check_non_negative
from atomr.telemetry._prometheus import PrometheusExporter, runtime_counters
from atomr.event_stream import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    DeadLetter,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["TOPICS", "all_topics", "TelemetryBus", "TopicSubscriber", "PrometheusExporter",
           "runtime_counters"]

#: The topics, in the original's order.
TOPICS = ("actors", "dead_letters", "cluster", "sharding", "persistence", "remote", "streams",
          "ddata")

# The topic of the events a subsystem publishes, by the top-level atomr
# module their class comes from.
_TOPIC_OF_MODULE = {
    "cluster": "cluster",
    "cluster_sharding": "sharding",
    "persistence": "persistence",
    "remote": "remote",
    "remote_serial": "remote",
    "streams": "streams",
    "ddata": "ddata",
    "ddata_lmdb": "ddata",
}

_MESSAGE_REPR = 200


def all_topics() -> list[str]:
    """The topic names: ``actors``, ``dead_letters``, ``cluster``,
    ``sharding``, ``persistence``, ``remote``, ``streams``, ``ddata``."""
    return list(TOPICS)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _plain(value: Any) -> Any:
    """A value as it goes into an event dict: scalars as they are, the
    rest as text (events are read by tools, often as JSON)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_plain(v) for v in value]
    path = getattr(value, "path", None)
    if isinstance(path, str):  # an actor ref
        return path
    return str(value)


def _event_dict(event: Any) -> Optional[tuple[str, dict[str, Any]]]:
    """(topic, fields) of an event-stream event, or None when no topic takes it."""
    if isinstance(event, ActorStarted):
        return "actors", {"kind": "actor_started", "path": event.path}
    if isinstance(event, ActorStopped):
        return "actors", {"kind": "actor_stopped", "path": event.path}
    if isinstance(event, ActorRestarted):
        return "actors", {"kind": "actor_restarted", "path": event.path,
                          "reason": _plain(event.reason)}
    if isinstance(event, ActorFailed):
        return "actors", {"kind": "actor_failed", "path": event.path,
                          "error": _plain(event.error), "directive": event.directive}
    if isinstance(event, DeadLetter):
        text = repr(event.message)
        if len(text) > _MESSAGE_REPR:
            text = text[:_MESSAGE_REPR - 3] + "..."
        return "dead_letters", {"kind": "dead_letter", "recipient": event.recipient,
                                "sender": _plain(event.sender),
                                "message_type": type(event.message).__qualname__,
                                "message": text}
    module = type(event).__module__
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "atomr":
        return None
    topic = _TOPIC_OF_MODULE.get(parts[1])
    if topic is None:
        return None
    fields: dict[str, Any] = {"kind": _snake(type(event).__name__)}
    if dataclasses.is_dataclass(event):
        for field in dataclasses.fields(event):
            fields[field.name] = _plain(getattr(event, field.name))
    return topic, fields


class TopicSubscriber:
    """One subscription to one topic of a :class:`TelemetryBus` (made by
    :meth:`TelemetryBus.subscribe_topic`). Read it with :meth:`next`;
    :meth:`close` (or dropping it) ends it."""

    def __init__(self, bus: "TelemetryBus", topic: str, capacity: int) -> None:
        self._bus = bus  # the bus outlives its subscriptions
        self._topic = topic
        self._events: collections.deque[dict[str, Any]] = collections.deque()
        self._capacity = capacity
        self._missed = 0
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._key = -1  # set by the bus

    @property
    def topic(self) -> str:
        """The topic."""
        return self._topic

    def _offer(self, event: dict[str, Any]) -> None:
        with self._ready:
            if len(self._events) >= self._capacity:
                self._events.popleft()
                self._missed += 1
            self._events.append(event)
            self._ready.notify()

    def next(self, timeout_secs: float = 0.5) -> Optional[dict[str, Any]]:
        """The next event of the topic, waiting at most `timeout_secs`
        seconds; None when none came (or the subscription is closed).

        Raises:
            TypeError, ValueError: `timeout_secs` is not a number >= 0.
        """
        timeout_secs = check_non_negative("timeout_secs", timeout_secs)
        deadline = time.monotonic() + timeout_secs
        with self._ready:
            while not self._events and not self._missed:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._ready.wait(remaining)
            if self._missed:
                missed, self._missed = self._missed, 0
                return {"kind": "lagged", "topic": self._topic, "missed": missed}
            return self._events.popleft()

    def pending(self) -> int:
        """How many events wait to be read."""
        with self._ready:
            return len(self._events)

    def close(self) -> None:
        """Ends the subscription (idempotent); a waiting :meth:`next` returns None."""
        with self._ready:
            if self._closed:
                return
            self._closed = True
            self._ready.notify_all()
        self._bus._drop(self._key)

    def __enter__(self) -> "TopicSubscriber":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TopicSubscriber {self._topic!r} pending={self.pending()}>"


class TelemetryBus:
    """Broadcasts the runtime's events of the attached systems to its
    subscribers, by topic.

    Args:
        capacity: Events each subscriber keeps unread at most (>= 1).

    Raises:
        TypeError, ValueError: `capacity` is not an int >= 1.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = check_int("capacity", capacity, 1)
        self._lock = threading.Lock()
        # key -> subscription; a subscription dropped unclosed is removed
        # by its finalizer.
        self._subscribers: dict[int, "weakref.ref[TopicSubscriber]"] = {}
        self._next_key = 0
        self._systems: list[tuple["weakref.ref[ActorSystem]", Any]] = []
        self._listening = False

    @property
    def capacity(self) -> int:
        """Events each subscriber keeps unread at most."""
        return self._capacity

    def receiver_count(self) -> int:
        """How many subscriptions are open (0 when nobody subscribed)."""
        with self._lock:
            return len(self._subscribers)

    def subscribe_topic(self, topic: str) -> TopicSubscriber:
        """A new subscription to `topic` (one of :func:`all_topics`),
        seeing the events published from now on.

        Raises:
            ValueError: an unknown topic.
            TypeError: `topic` is not a str.
        """
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str, not {type(topic).__name__}")
        if topic not in TOPICS:
            raise ValueError(f"unknown telemetry topic {topic!r}; expected one of "
                             f"{', '.join(TOPICS)}")
        subscriber = TopicSubscriber(self, topic, self._capacity)
        with self._lock:
            key = subscriber._key = self._next_key
            self._next_key += 1
            self._subscribers[key] = weakref.ref(subscriber)
        weakref.finalize(subscriber, self._drop, key)
        self._update_listening()
        return subscriber

    def attach(self, system: "ActorSystem") -> None:
        """Feeds the runtime events of `system` to this bus (until the
        system terminates or :meth:`detach`). Attaching twice does nothing."""
        from atomr.actor import ActorSystem

        if not isinstance(system, ActorSystem):
            raise TypeError(f"expected an ActorSystem, not {type(system).__name__}")
        name = system.name
        bus_ref = weakref.ref(self)

        def on_event(event: Any) -> None:
            bus = bus_ref()
            if bus is not None:
                bus._publish(name, event)

        with self._lock:
            if any(ref() is system for ref, _ in self._systems):
                return
            self._systems.append((weakref.ref(system), on_event))
            listening = self._listening
        if listening:
            system.event_stream.subscribe(on_event)
        system.register_on_termination(lambda: self.detach(system))

    def detach(self, system: "ActorSystem") -> None:
        """Stops feeding the events of `system`."""
        with self._lock:
            found = [(ref, cb) for ref, cb in self._systems if ref() is system]
            self._systems = [(ref, cb) for ref, cb in self._systems
                             if ref() is not system and ref() is not None]
        for _, callback in found:
            system.event_stream.unsubscribe(callback)

    def attached(self) -> list[str]:
        """The names of the attached systems."""
        with self._lock:
            return [s.name for s in (ref() for ref, _ in self._systems) if s is not None]

    def _drop(self, key: int) -> None:
        with self._lock:
            self._subscribers.pop(key, None)
        self._update_listening()

    def _update_listening(self) -> None:
        """Listens to the systems' event streams exactly while someone is subscribed."""
        with self._lock:
            want = len(self._subscribers) > 0
            if want == self._listening:
                return
            self._listening = want
            systems = [(ref(), cb) for ref, cb in self._systems]
        for system, callback in systems:
            if system is None:
                continue
            if want:
                system.event_stream.subscribe(callback)
            else:
                system.event_stream.unsubscribe(callback)

    def _publish(self, system_name: str, event: Any) -> None:
        described = _event_dict(event)
        if described is None:
            return
        topic, fields = described
        with self._lock:
            targets = [s for s in (ref() for ref in self._subscribers.values())
                       if s is not None and s.topic == topic]
        if not targets:
            return
        record = {"kind": fields.pop("kind"), "topic": topic, "system": system_name,
                  "timestamp": time.time(), **fields}
        for subscriber in targets:
            subscriber._offer(dict(record))

    def __repr__(self) -> str:
        return f"<TelemetryBus capacity={self._capacity} receivers={self.receiver_count()}>"
