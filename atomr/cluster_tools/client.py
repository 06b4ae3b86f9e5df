"""Cluster client and receptionist: Akka's ``ClusterClient`` / ``ClusterClientReceptionist``.

A node of the cluster runs a receptionist (the actor ``/user/receptionist``,
:meth:`ClusterReceptionist.get`). Its services are actors registered with
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
When its receptionist stops answering, the next ``connect``/``ask`` moves
to another one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any, Iterable, Optional

from atomr._native._core import ActorRef
from atomr._util import public_module
from atomr.actor import Actor, props
from atomr.actor.extension import Extension, ExtensionId
from atomr.cluster_tools._nodes import _Peers
from atomr.cluster_tools.pubsub import DistributedPubSub, _element_path, _path_key
from atomr.errors import AskError, AtomrError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["ClusterReceptionist", "ClusterClient", "ClusterClientSettings",
           "ClusterClientError", "RECEPTIONIST_NAME"]

_log = logging.getLogger("atomr.cluster_tools")

#: The name of every node's receptionist actor (under ``/user``).
RECEPTIONIST_NAME = "receptionist"
_RECEPTIONIST_PATH = "/user/" + RECEPTIONIST_NAME


@public_module("atomr.cluster_tools")
class ClusterClientError(AtomrError):
    """A cluster client could not reach a receptionist of the cluster."""


@public_module("atomr.cluster_tools")
class ClusterClientSettings:
    """Where a :class:`ClusterClient` starts, and how hard it tries.

    Args:
        initial_contacts: Receptionists to try first: their actor paths
            (``akka.tcp://<system>@<host>:<port>/user/receptionist``) or just
            the members' addresses (the receptionist's path is added).
        max_attempts: How many contact attempts :meth:`ClusterClient.connect`
            makes (over the contacts in turn) before it gives up.
        attempt_timeout: Seconds each attempt waits for an answer.
    """

    __slots__ = ("_contacts", "_max_attempts", "_attempt_timeout")

    def __init__(self, initial_contacts: Iterable[str] = (), max_attempts: int = 5,
                 attempt_timeout: float = 2.0) -> None:
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
        if isinstance(attempt_timeout, bool) or not isinstance(attempt_timeout, (int, float)) \
                or not 0 < attempt_timeout < float("inf"):
            raise ValueError(f"attempt_timeout must be a positive number, got {attempt_timeout!r}")
        self._contacts = tuple(contacts)
        self._max_attempts = max_attempts
        self._attempt_timeout = float(attempt_timeout)

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

    def with_initial_contacts(self, contacts: Iterable[str]) -> "ClusterClientSettings":
        """A copy with `contacts`."""
        return ClusterClientSettings(contacts, self._max_attempts, self._attempt_timeout)

    def with_max_attempts(self, n: int) -> "ClusterClientSettings":
        """A copy with `n` attempts."""
        return ClusterClientSettings(self._contacts, n, self._attempt_timeout)

    def with_attempt_timeout(self, seconds: float) -> "ClusterClientSettings":
        """A copy whose attempts wait `seconds`."""
        return ClusterClientSettings(self._contacts, self._max_attempts, seconds)

    def __repr__(self) -> str:
        return (f"ClusterClientSettings(initial_contacts={list(self._contacts)!r}, "
                f"max_attempts={self._max_attempts})")


def _contact_path(contact: str) -> str:
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
        self._ref = system.actor_of(props(_ReceptionistActor, factory=lambda: _ReceptionistActor(self)),
                                    RECEPTIONIST_NAME)
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

    Args:
        system: An actor system with a TCP transport
            (:class:`atomr.remote.Remote`, started here if needed); it must
            not be a member of the cluster.
        settings: The initial contacts and attempts.

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
        self._receptionist: Any = None
        self._receptionist_path: Optional[str] = None
        #: Contact attempts made so far.
        self.attempts = 0

    @property
    def settings(self) -> ClusterClientSettings:
        """The settings."""
        return self._settings

    @property
    def receptionist(self) -> Optional[str]:
        """The path of the receptionist in use, or None before :meth:`connect`."""
        return self._receptionist_path

    @property
    def contacts(self) -> list[str]:
        """The receptionists known (initial, then learned from the cluster)."""
        with self._lock:
            return list(self._contacts)

    async def connect(self) -> str:
        """Connects to a receptionist: tries the known contacts in turn, at
        most ``max_attempts`` times; returns its path and learns the others.

        Raises:
            ClusterClientError: none answered within the attempts.
        """
        settings = self._settings
        errors: list[str] = []
        for attempt in range(settings.max_attempts):
            with self._lock:
                contacts = list(self._contacts)
            path = contacts[attempt % len(contacts)]
            self.attempts += 1
            try:
                ref = self._system.actor_selection(path)
                learned = await ref.ask(("get_contacts",), timeout=settings.attempt_timeout)
            except (AtomrError, TimeoutError, asyncio.TimeoutError) as exc:
                errors.append(f"{path}: {exc}")
                continue
            with self._lock:
                self._receptionist, self._receptionist_path = ref, path
                if isinstance(learned, (list, tuple)):
                    known = [c for c in learned if isinstance(c, str)]
                    self._contacts = [path] + [c for c in dict.fromkeys(known + contacts)
                                               if c != path]
            return path
        raise ClusterClientError(
            f"cluster client gave up after {settings.max_attempts} attempts: no receptionist "
            f"answered ({'; '.join(errors[-3:])})")

    def _target(self) -> Any:
        with self._lock:
            target = self._receptionist
        if target is None:
            raise ClusterClientError("the cluster client is not connected; await connect() first")
        return target

    def send(self, path: str, message: Any, local_affinity: bool = False) -> None:
        """Sends `message` to one service registered under `path`.

        Raises:
            ClusterClientError: not connected.
        """
        self._target().tell(("send", path, self._remote._encode(message), bool(local_affinity)))

    def send_to_all(self, path: str, message: Any) -> None:
        """Sends `message` to every service registered under `path`."""
        self._target().tell(("send_to_all", path, self._remote._encode(message)))

    def publish(self, topic: str, message: Any) -> None:
        """Publishes `message` to `topic`'s subscribers in the cluster."""
        self._target().tell(("publish", topic, self._remote._encode(message)))

    async def ask(self, path: str, message: Any, timeout: float = 5.0) -> Any:
        """Asks one service registered under `path`; returns its answer.
        Connects (or moves to another receptionist) first when needed.

        Raises:
            ClusterClientError: no receptionist answers, or no such service.
            AskError: the service did not answer within `timeout`.
        """
        if self._receptionist is None:
            await self.connect()
        request = ("ask", path, self._remote._encode(message), float(timeout))
        try:
            return await self._target().ask(request, timeout=timeout + 1.0)
        except AskError:
            with self._lock:
                self._receptionist = None
            raise

    def __repr__(self) -> str:
        return f"<ClusterClient receptionist={self._receptionist_path}>"
