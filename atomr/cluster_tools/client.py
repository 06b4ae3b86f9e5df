"""Cluster client and receptionist: Akka's ``ClusterClient`` / ``ClusterClientReceptionist``.

A node of the cluster runs a receptionist (the system actor
``/system/receptionist``, :meth:`ClusterReceptionist.get`; started with the
cluster when ``cluster.client.receptionist.auto-start`` is on). Its services are actors registered with
:meth:`ClusterReceptionist.register_service` (they are put in the node's
:class:`~atomr.cluster_tools.DistributedPubSub`, so every receptionist of the
cluster reaches them) and topic subscribers registered with
:meth:`~ClusterReceptionist.register_subscriber`.

A :class:`ClusterClient` runs on an actor system outside the cluster (with a
TCP transport, not a member). It connects to one of its initial contacts'
receptionists (trying them in turn, at most ``max_attempts`` times, then
failing with :class:`ClusterClientError`), learns the other receptionists
from it, and sends through it: ``send`` (one service registered under the
path, preferring the receptionist's node with ``local_affinity``),
``send_to_all``, ``publish``, and ``ask`` (the service's answer comes back).
Once connected it sends its receptionist heartbeats; when the failure
detector takes the receptionist for lost (no answer for
``heartbeat_interval + acceptable_heartbeat_pause``), it moves to another
contact, buffering the messages sent meanwhile (``buffer_size``, oldest
dropped first).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable, Optional

from atomr._native._core import ActorRef
from atomr._util import public_module
from atomr.actor import Actor, props
from atomr.actor.extension import Extension, ExtensionId
from atomr.cluster_tools._nodes import _Peers
from atomr.cluster_tools.pubsub import DistributedPubSub, _element_path, _path_key
from atomr.errors import AtomrError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["ClusterReceptionist", "ClusterClient", "ClusterClientSettings",
           "ClusterClientError", "RECEPTIONIST_NAME", "ContactPointAdded", "ContactPointRemoved"]

_log = logging.getLogger("atomr.cluster_tools")

#: The name of every node's receptionist actor (a system actor, under ``/system``).
RECEPTIONIST_NAME = "receptionist"
_RECEPTIONIST_PATH = "/system/" + RECEPTIONIST_NAME
_OLD_RECEPTIONIST_PATH = "/user/" + RECEPTIONIST_NAME
_CLIENT_IDS = itertools.count(1)


@public_module("atomr.cluster_tools")
class ClusterClientError(AtomrError):
    """A cluster client could not reach a receptionist of the cluster."""


@public_module("atomr.cluster_tools")
class ClusterClientSettings:
    """Where a :class:`ClusterClient` starts, and how hard it tries.

    Args:
        initial_contacts: Receptionists to try first: their actor paths
            (``akka.tcp://<system>@<host>:<port>/system/receptionist``) or
            just the members' addresses (the receptionist's path is added).
        max_attempts: How many contact attempts :meth:`ClusterClient.connect`
            makes (over the contacts in turn) before it gives up.
        attempt_timeout: Seconds each attempt waits for an answer.
        heartbeat_interval: Seconds between the heartbeats the connected
            client sends its receptionist (Akka's ``heartbeat-interval``).
        acceptable_heartbeat_pause: Seconds without a heartbeat answer the
            failure detector accepts on top of `heartbeat_interval` before
            it takes the receptionist for lost and the client moves to
            another contact (Akka's ``acceptable-heartbeat-pause``).
        buffer_size: Messages (``send``, ``send_to_all``, ``publish``) kept
            while the client reconnects; when it is full the oldest is
            dropped (counted in :attr:`ClusterClient.drops`); 0: none kept.
        reconnect_timeout: Seconds a lost client keeps trying the contacts
            before it gives up for good (None: forever).
        refresh_contacts_interval: Seconds between the connected client's
            requests for the cluster's current receptionists.
    """

    __slots__ = ("_contacts", "_max_attempts", "_attempt_timeout", "_heartbeat_interval",
                 "_pause", "_buffer_size", "_reconnect_timeout", "_refresh")

    def __init__(self, initial_contacts: Iterable[str] = (), max_attempts: int = 5,
                 attempt_timeout: float = 2.0, *, heartbeat_interval: float = 2.0,
                 acceptable_heartbeat_pause: float = 13.0, buffer_size: int = 1000,
                 reconnect_timeout: Optional[float] = None,
                 refresh_contacts_interval: float = 60.0) -> None:
        if isinstance(initial_contacts, str):
            raise TypeError("initial_contacts must be a list of paths, not a str")
        contacts = list(initial_contacts)
        for c in contacts:
            if not isinstance(c, str) or not c:
                raise TypeError(f"an initial contact must be a non-empty str, got {c!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise TypeError(f"max_attempts must be an int, not {type(max_attempts).__name__}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
            raise TypeError(f"buffer_size must be an int, not {type(buffer_size).__name__}")
        if buffer_size < 0:
            raise ValueError(f"buffer_size must be >= 0, got {buffer_size}")
        self._contacts = tuple(contacts)
        self._max_attempts = max_attempts
        self._attempt_timeout = _seconds("attempt_timeout", attempt_timeout)
        self._heartbeat_interval = _seconds("heartbeat_interval", heartbeat_interval)
        self._pause = _seconds("acceptable_heartbeat_pause", acceptable_heartbeat_pause, zero=True)
        self._buffer_size = buffer_size
        self._reconnect_timeout = (None if reconnect_timeout is None
                                   else _seconds("reconnect_timeout", reconnect_timeout))
        self._refresh = _seconds("refresh_contacts_interval", refresh_contacts_interval)

    @property
    def initial_contacts(self) -> list[str]:
        """The initial contacts."""
        return list(self._contacts)

    @property
    def max_attempts(self) -> int:
        """Contact attempts before :meth:`ClusterClient.connect` gives up."""
        return self._max_attempts

    @property
    def attempt_timeout(self) -> float:
        """Seconds each attempt waits."""
        return self._attempt_timeout

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between heartbeats to the receptionist."""
        return self._heartbeat_interval

    @property
    def acceptable_heartbeat_pause(self) -> float:
        """Seconds of silence accepted on top of the heartbeat interval."""
        return self._pause

    @property
    def buffer_size(self) -> int:
        """Messages kept while the client reconnects."""
        return self._buffer_size

    @property
    def reconnect_timeout(self) -> Optional[float]:
        """Seconds a lost client keeps trying (None: forever)."""
        return self._reconnect_timeout

    @property
    def refresh_contacts_interval(self) -> float:
        """Seconds between requests for the current receptionists."""
        return self._refresh

    def _copy(self, **changes: Any) -> "ClusterClientSettings":
        values: dict[str, Any] = {
            "initial_contacts": self._contacts, "max_attempts": self._max_attempts,
            "attempt_timeout": self._attempt_timeout,
            "heartbeat_interval": self._heartbeat_interval,
            "acceptable_heartbeat_pause": self._pause, "buffer_size": self._buffer_size,
            "reconnect_timeout": self._reconnect_timeout,
            "refresh_contacts_interval": self._refresh}
        values.update(changes)
        return ClusterClientSettings(**values)

    def with_initial_contacts(self, contacts: Iterable[str]) -> "ClusterClientSettings":
        """A copy with `contacts`."""
        return self._copy(initial_contacts=contacts)

    def with_max_attempts(self, n: int) -> "ClusterClientSettings":
        """A copy with `n` attempts."""
        return self._copy(max_attempts=n)

    def with_attempt_timeout(self, seconds: float) -> "ClusterClientSettings":
        """A copy whose attempts wait `seconds`."""
        return self._copy(attempt_timeout=seconds)

    def with_heartbeat(self, interval: float,
                       acceptable_pause: float) -> "ClusterClientSettings":
        """A copy with heartbeats every `interval` seconds and a failure
        detector that accepts `acceptable_pause` seconds more of silence."""
        return self._copy(heartbeat_interval=interval, acceptable_heartbeat_pause=acceptable_pause)

    def with_buffer_size(self, n: int) -> "ClusterClientSettings":
        """A copy that keeps `n` messages while reconnecting."""
        return self._copy(buffer_size=n)

    def with_reconnect_timeout(self, seconds: Optional[float]) -> "ClusterClientSettings":
        """A copy that gives up after `seconds` of reconnecting (None: never)."""
        return self._copy(reconnect_timeout=seconds)

    def __repr__(self) -> str:
        return (f"ClusterClientSettings(initial_contacts={list(self._contacts)!r}, "
                f"max_attempts={self._max_attempts}, "
                f"heartbeat_interval={self._heartbeat_interval:g}, "
                f"acceptable_heartbeat_pause={self._pause:g})")


def _seconds(what: str, value: Any, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (0 <= value if zero else 0 < value) or value == float("inf") or value != value:
        raise ValueError(f"{what} must be a {'non-negative' if zero else 'positive'} "
                         f"number of seconds, got {value!r}")
    return float(value)


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class ContactPointAdded:
    """Published on the client system's event stream: a :class:`ClusterClient`
    learned the receptionist `contact_point`."""

    contact_point: str


@public_module("atomr.cluster_tools")
@dataclasses.dataclass(frozen=True)
class ContactPointRemoved:
    """Published on the client system's event stream: the receptionist
    `contact_point` is no longer among those the cluster reports (the client
    still tries it last when it reconnects)."""

    contact_point: str


def _contact_path(contact: str) -> str:
    if contact.endswith(_OLD_RECEPTIONIST_PATH):  # where receptionists used to live
        return contact[:-len(_OLD_RECEPTIONIST_PATH)] + _RECEPTIONIST_PATH
    if "/user/" in contact or "/system/" in contact:
        return contact
    return contact.rstrip("/") + _RECEPTIONIST_PATH


@public_module("atomr.cluster_tools")
class ClusterReceptionist(Extension):
    """The services of one cluster node that cluster clients may reach.

    ``ClusterReceptionist()`` is a registry of this process only (nothing
    is reachable through it); :meth:`get` is the node's receptionist, whose
    actor answers cluster clients.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[str, Any] = {}
        self._subscribers: list[tuple[str, Any]] = []
        self._pubsub: Optional[DistributedPubSub] = None
        self._peers: Optional[_Peers] = None
        self._ref: Optional[ActorRef] = None

    @staticmethod
    def get(system: "ActorSystem") -> "ClusterReceptionist":
        """The receptionist of `system`'s cluster node (created on first
        use, with the node's :class:`DistributedPubSub`)."""
        return _RECEPTIONIST.get(system)

    @classmethod
    def _create(cls, system: "ActorSystem") -> "ClusterReceptionist":
        self = cls()
        self._pubsub = DistributedPubSub.get(system)
        self._peers = _Peers(system)
        self._ref = system.system_actor_of(
            props(_ReceptionistActor, factory=lambda: _ReceptionistActor(self)), RECEPTIONIST_NAME)
        return self

    @property
    def ref(self) -> Optional[ActorRef]:
        """The receptionist actor (None for a process-local registry)."""
        return self._ref

    def register_service(self, ref: Any) -> str:
        """Makes the actor `ref` of this node reachable by clients under its
        path without the address (``/user/name``); returns that path.

        Raises:
            TypeError: `ref` is not an actor ref.
        """
        if not isinstance(ref, ActorRef):
            raise TypeError(f"register_service takes an actor ref, not {type(ref).__name__}")
        path = self._pubsub.put(ref) if self._pubsub is not None else _element_path(ref)
        with self._lock:
            self._services[path] = ref
        return path

    def unregister_service(self, ref: Any) -> None:
        """Ends :meth:`register_service` of `ref` (no-op if not registered)."""
        if not isinstance(ref, ActorRef):
            raise TypeError(f"unregister_service takes an actor ref, not {type(ref).__name__}")
        self.unregister(_element_path(ref))

    def register_subscriber(self, topic: str, ref: Any) -> None:
        """Subscribes `ref` to `topic` for clients' :meth:`ClusterClient.publish`."""
        if self._pubsub is not None:
            self._pubsub.subscribe(topic, ref)
        with self._lock:
            self._subscribers.append((topic, ref))

    def registered(self) -> list[str]:
        """The paths of this node's registered services, sorted."""
        with self._lock:
            if self._pubsub is not None:
                local = self._pubsub._local
                for path in [p for p in self._services if _path_key(p) not in local]:
                    del self._services[path]  # the service stopped
            return sorted(self._services)

    def has(self, name: str) -> bool:
        """Whether a service is registered here under `name` (its path, or
        its last element)."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        paths = self.registered()
        return name in paths or any(p.rpartition("/")[2] == name for p in paths)

    def unregister(self, name: str) -> None:
        """Removes the service registered under `name` (path or last
        element); no-op if there is none."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        with self._lock:
            paths = [p for p in self._services if p == name or p.rpartition("/")[2] == name]
            for p in paths:
                del self._services[p]
        if self._pubsub is not None:
            for p in paths:
                self._pubsub.remove(p)

    def contacts(self) -> list[str]:
        """The receptionists of the up members (their actor paths), sorted."""
        if self._peers is None:
            return []
        return sorted(m.address + _RECEPTIONIST_PATH for m in self._peers.members(("up",)))

    def __repr__(self) -> str:
        return f"<ClusterReceptionist services={self.registered()}>"


class _ReceptionistId(ExtensionId[ClusterReceptionist]):
    def create_extension(self, system: "ActorSystem") -> ClusterReceptionist:
        return ClusterReceptionist._create(system)


_RECEPTIONIST = _ReceptionistId()


class _ReceptionistActor(Actor):
    """Takes the clients' requests (tuples whose user message is encoded
    with the sender's codecs) and passes them to the node's pub-sub."""

    def __init__(self, receptionist: ClusterReceptionist) -> None:
        self._r = receptionist

    async def handle(self, ctx: Any, msg: Any) -> Any:
        r = self._r
        ps, peers = r._pubsub, r._peers
        assert ps is not None and peers is not None
        if not isinstance(msg, tuple) or not msg or not isinstance(msg[0], str):
            _log.warning("receptionist: unknown message %r dropped", type(msg).__name__)
            return None
        kind = msg[0]
        if kind == "heartbeat":
            return "heartbeat_rsp"
        if kind == "get_contacts":
            return r.contacts()
        try:
            if kind == "send":
                _, path, wrapped, local_affinity = msg
                ps.send(path, peers.unwrap(wrapped), bool(local_affinity))
            elif kind == "send_to_all":
                _, path, wrapped = msg
                ps.send_to_all(path, peers.unwrap(wrapped))
            elif kind == "publish":
                _, topic, wrapped = msg
                ps.publish(topic, peers.unwrap(wrapped))
            elif kind == "ask":
                _, path, wrapped, timeout = msg
                owners = ps._owners(_path_key(path))
                if not owners:
                    raise ClusterClientError(f"no service is registered under {path}")
                owner = peers.self_address if peers.self_address in owners else owners[0]
                target = peers.ref(owner, path)
                if target is None:
                    raise ClusterClientError(f"the service {path} on {owner} cannot be reached")
                return await target.ask(peers.unwrap(wrapped), timeout=float(timeout))
            else:
                _log.warning("receptionist: unknown request %r dropped", kind)
        except (TypeError, ValueError) as exc:
            _log.warning("receptionist: malformed %r request dropped: %s", kind, exc)
        return None


@public_module("atomr.cluster_tools")
class ClusterClient:
    """A client of a cluster from an actor system outside it.

    After :meth:`connect`, a system actor of the client
    (``/system/clusterClient-<n>``) sends the receptionist in use a
    heartbeat every ``heartbeat_interval``; when none is answered for
    ``heartbeat_interval + acceptable_heartbeat_pause`` (Akka's deadline
    failure detector) it takes the receptionist for lost and tries the
    known contacts in turn (the lost one last) until one answers. Meanwhile
    ``send``, ``send_to_all`` and ``publish`` are buffered (at most
    ``buffer_size``; the oldest is dropped first, counted in :attr:`drops`)
    and delivered in order through the new receptionist; ``ask`` waits for it
    within its timeout. The contacts learned from the cluster that appear
    or disappear are published on the system's event stream as
    :class:`ContactPointAdded` / :class:`ContactPointRemoved`.

    Args:
        system: An actor system with a TCP transport
            (:class:`atomr.remote.Remote`, started here if needed); it must
            not be a member of the cluster.
        settings: The initial contacts, attempts, heartbeats and buffer.

    Raises:
        TypeError: `settings` is not :class:`ClusterClientSettings`.
        ValueError: `settings` has no initial contacts.
    """

    def __init__(self, system: "ActorSystem", settings: ClusterClientSettings) -> None:
        if not isinstance(settings, ClusterClientSettings):
            raise TypeError(f"settings must be ClusterClientSettings, not {type(settings).__name__}")
        if not settings.initial_contacts:
            raise ValueError("a ClusterClient needs at least one initial contact")
        from atomr.remote import Remote  # noqa: PLC0415 - the client needs remoting only

        self._system = system
        self._remote = Remote.get(system)
        self._settings = settings
        self._lock = threading.Lock()
        self._contacts = [_contact_path(c) for c in settings.initial_contacts]
        # The receptionists the cluster reported last (at first: the initial contacts).
        self._points = list(self._contacts)
        self._receptionist: Any = None
        self._receptionist_path: Optional[str] = None
        self._buffer: "collections.deque[tuple]" = collections.deque()
        self._drops = 0
        self._actor: Optional[ActorRef] = None
        self._gave_up: Optional[str] = None
        #: Contact attempts made so far.
        self.attempts = 0
        #: How many times the client moved to another receptionist after
        #: losing one.
        self.reconnects = 0

    @property
    def settings(self) -> ClusterClientSettings:
        """The settings."""
        return self._settings

    @property
    def receptionist(self) -> Optional[str]:
        """The path of the receptionist in use, or None (before
        :meth:`connect`, and while reconnecting)."""
        with self._lock:
            return self._receptionist_path if self._receptionist is not None else None

    @property
    def contacts(self) -> list[str]:
        """The receptionists known (initial, then learned from the cluster)."""
        with self._lock:
            return list(self._contacts)

    @property
    def buffered(self) -> int:
        """Messages waiting for a receptionist."""
        with self._lock:
            return len(self._buffer)

    @property
    def drops(self) -> int:
        """Messages dropped because the buffer was full."""
        with self._lock:
            return self._drops

    async def connect(self) -> str:
        """Connects to a receptionist: tries the known contacts in turn, at
        most ``max_attempts`` times; returns its path and learns the others.
        From then on the client keeps itself connected (see the class).

        Raises:
            ClusterClientError: none answered within the attempts.
        """
        settings = self._settings
        errors: list[str] = []
        for attempt in range(settings.max_attempts):
            with self._lock:
                contacts = list(self._contacts)
            path = contacts[attempt % len(contacts)]
            found = await self._try(path, errors)
            if found is not None:
                self._established(found[0], path, found[1])
                return path
        raise ClusterClientError(
            f"cluster client gave up after {settings.max_attempts} attempts: no receptionist "
            f"answered ({'; '.join(errors[-3:])})")

    async def _try(self, path: str, errors: list[str]) -> Optional[tuple[Any, Any]]:
        """Asks the receptionist at `path` for the contacts: (its ref, the
        contacts), or None (the reason appended to `errors`)."""
        self.attempts += 1
        try:
            ref = self._system.actor_selection(path)
            learned = await ref.ask(("get_contacts",), timeout=self._settings.attempt_timeout)
        except (AtomrError, TimeoutError, asyncio.TimeoutError) as exc:
            errors.append(f"{path}: {exc}")
            return None
        return ref, learned

    def _established(self, ref: Any, path: str, learned: Any) -> None:
        """`ref` (at `path`) is the receptionist now: the buffer goes to it
        in order, and the heartbeats start (once)."""
        with self._lock:
            self._receptionist, self._receptionist_path = ref, path
            self._gave_up = None
            while self._buffer:
                ref.tell(self._buffer.popleft())
            start = self._actor is None and not self._system.is_terminated
            if start:
                self._actor = self._system.system_actor_of(
                    props(_ClientActor, factory=lambda: _ClientActor(self)),
                    f"clusterClient-{next(_CLIENT_IDS)}")
            elif self._actor is not None:
                self._actor.tell(_Connected(path))
        self._learn(path, learned)

    def _learn(self, path: str, learned: Any) -> None:
        """Merges the receptionists `path` reported; publishes the changes."""
        if not isinstance(learned, (list, tuple)):
            return
        known = [c for c in learned if isinstance(c, str)]
        with self._lock:
            before = list(self._contacts)
            # The ones learned first, the others kept to fall back on.
            self._contacts = [path] + [c for c in dict.fromkeys(known + before) if c != path]
            points, self._points = self._points, known
            removed = [c for c in points if c not in known]
            added = [c for c in known if c not in points]
        stream = self._system.event_stream
        for c in added:
            stream.publish(ContactPointAdded(c))
        for c in removed:
            stream.publish(ContactPointRemoved(c))

    def _lost(self) -> Optional[tuple[Any, str]]:
        """The failure detector gave up on the receptionist: messages are
        buffered from now on. Returns the lost one (ref, path), if any."""
        with self._lock:
            ref, path = self._receptionist, self._receptionist_path
            self._receptionist = None
        if ref is None or path is None:
            return None
        _log.info("cluster client: receptionist %s is unreachable; reconnecting", path)
        return ref, path

    def _out(self, request: tuple) -> None:
        """Sends `request` through the receptionist, or buffers it while
        the client reconnects."""
        with self._lock:
            target = self._receptionist
            if target is not None:
                target.tell(request)
                return
            if self._gave_up is not None:
                raise ClusterClientError(self._gave_up)
            if self._actor is None:
                raise ClusterClientError(
                    "the cluster client is not connected; await connect() first")
            if self._settings.buffer_size == 0:
                self._drops += 1
                return
            if len(self._buffer) >= self._settings.buffer_size:
                self._buffer.popleft()
                self._drops += 1
            self._buffer.append(request)

    def send(self, path: str, message: Any, local_affinity: bool = False) -> None:
        """Sends `message` to one service registered under `path`
        (buffered while the client reconnects).

        Raises:
            ClusterClientError: never connected, or reconnecting gave up.
        """
        self._out(("send", path, self._remote._encode(message), bool(local_affinity)))

    def send_to_all(self, path: str, message: Any) -> None:
        """Sends `message` to every service registered under `path`."""
        self._out(("send_to_all", path, self._remote._encode(message)))

    def publish(self, topic: str, message: Any) -> None:
        """Publishes `message` to `topic`'s subscribers in the cluster."""
        self._out(("publish", topic, self._remote._encode(message)))

    async def ask(self, path: str, message: Any, timeout: float = 5.0) -> Any:
        """Asks one service registered under `path`; returns its answer.
        Connects first when never connected; while the client reconnects
        it waits (within `timeout`) for the next receptionist.

        Raises:
            ClusterClientError: no receptionist answers, reconnecting gave
                up, or no such service.
            AskError: the service did not answer within `timeout`.
        """
        if self._actor is None and self._receptionist is None and self._gave_up is None:
            await self.connect()
        deadline = time.monotonic() + timeout
        request = ("ask", path, self._remote._encode(message), float(timeout))
        while True:
            with self._lock:
                target, gave_up = self._receptionist, self._gave_up
            if target is not None:
                break
            if gave_up is not None:
                raise ClusterClientError(gave_up)
            if time.monotonic() >= deadline:
                raise ClusterClientError(f"the cluster client found no receptionist "
                                         f"within {timeout:g}s")
            await asyncio.sleep(min(0.02, self._settings.heartbeat_interval))
        return await target.ask(request, timeout=max(0.001, deadline - time.monotonic()) + 1.0)

    def stop(self) -> None:
        """Stops the heartbeats; the client no longer sends (Akka's stop of
        the client actor)."""
        with self._lock:
            actor, self._actor = self._actor, None
            self._receptionist = None
            self._gave_up = "the cluster client was stopped"
            self._buffer.clear()
        if actor is not None:
            actor.tell(_Stop())

    def __repr__(self) -> str:
        return f"<ClusterClient receptionist={self.receptionist}>"


@dataclasses.dataclass(frozen=True)
class _Tick:
    pass


@dataclasses.dataclass(frozen=True)
class _Stop:
    pass


@dataclasses.dataclass(frozen=True)
class _Connected:
    path: str


@dataclasses.dataclass(frozen=True)
class _Beat:
    """A heartbeat (or contacts) answer from the receptionist at `path`."""

    path: str
    contacts: Any = None


@dataclasses.dataclass(frozen=True)
class _Reconnected:
    ref: Any
    path: str
    learned: Any


@dataclasses.dataclass(frozen=True)
class _ReconnectFailed:
    reason: str


class _ClientActor(Actor):
    """The client's heartbeats, failure detector and reconnection, on the
    client system's loop (the requests themselves go from the caller's
    thread straight to the receptionist)."""

    def __init__(self, client: ClusterClient) -> None:
        self._c = client
        s = client._settings
        self._interval = s.heartbeat_interval
        self._deadline = s.heartbeat_interval + s.acceptable_heartbeat_pause
        self._last_beat = time.monotonic()
        self._last_refresh = time.monotonic()
        self._beating = False
        self._reconnecting = False
        self._reconnect_started = 0.0
        self._tasks: set[Any] = set()

    def pre_start(self, ctx: Any) -> None:
        ctx.schedule_periodically(initial=self._interval, interval=self._interval, msg=_Tick())

    def post_stop(self, ctx: Any) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def handle(self, ctx: Any, msg: Any) -> Any:
        c = self._c
        if isinstance(msg, _Tick):
            self._tick(ctx)
        elif isinstance(msg, _Beat):
            self._beating = False
            if msg.path == c._receptionist_path and not self._reconnecting:
                self._last_beat = time.monotonic()
                if msg.contacts is not None:
                    c._learn(msg.path, msg.contacts)
        elif isinstance(msg, _Connected):
            self._last_beat = time.monotonic()
        elif isinstance(msg, _Reconnected):
            self._reconnecting = False
            self._beating = False
            self._last_beat = self._last_refresh = time.monotonic()
            c.reconnects += 1
            c._established(msg.ref, msg.path, msg.learned)
            _log.info("cluster client: reconnected to %s", msg.path)
        elif isinstance(msg, _ReconnectFailed):
            self._reconnecting = False
            with c._lock:
                c._gave_up = msg.reason
                c._buffer.clear()
                if c._actor == ctx.self_ref:
                    c._actor = None  # a later connect() starts anew
            _log.error("cluster client: %s", msg.reason)
            ctx.stop(ctx.self_ref)
        elif isinstance(msg, _Stop):
            ctx.stop(ctx.self_ref)
        return None

    def _tick(self, ctx: Any) -> None:
        c = self._c
        if self._reconnecting:
            return
        with c._lock:
            target, path = c._receptionist, c._receptionist_path
        now = time.monotonic()
        if target is None or now - self._last_beat > self._deadline:
            lost = c._lost()
            self._reconnecting = True
            self._reconnect_started = now
            self._spawn(self._reconnect(ctx.self_ref, None if lost is None else lost[1]))
            return
        if not self._beating and path is not None:
            self._beating = True
            refresh = now - self._last_refresh >= c._settings.refresh_contacts_interval
            if refresh:
                self._last_refresh = now
            self._spawn(self._beat(ctx.self_ref, target, path, refresh))

    async def _beat(self, me: Any, target: Any, path: str, refresh: bool) -> None:
        contacts = None
        try:
            await target.ask(("heartbeat",), timeout=self._deadline)
            if refresh:
                contacts = await target.ask(("get_contacts",), timeout=self._deadline)
        except (AtomrError, TimeoutError, asyncio.TimeoutError) as exc:
            _log.debug("cluster client: heartbeat to %s failed: %s", path, exc)
            me.tell(_Beat("", None))  # not a beat: the detector keeps counting
            return
        me.tell(_Beat(path, contacts))

    async def _reconnect(self, me: Any, lost: Optional[str]) -> None:
        """Tries the contacts in turn (the lost one last) until one answers
        or ``reconnect_timeout`` passes."""
        c = self._c
        limit = c._settings.reconnect_timeout
        errors: list[str] = []
        while True:
            with c._lock:
                contacts = list(c._contacts)
            if lost in contacts and len(contacts) > 1:
                contacts.remove(lost)
                contacts.append(lost)
            for path in contacts:
                found = await c._try(path, errors)
                if found is not None:
                    me.tell(_Reconnected(found[0], path, found[1]))
                    return
                if limit is not None and time.monotonic() - self._reconnect_started > limit:
                    me.tell(_ReconnectFailed(
                        f"cluster client gave up reconnecting after {limit:g}s: no receptionist "
                        f"answered ({'; '.join(errors[-3:])})"))
                    return
            await asyncio.sleep(self._interval)
