"""The cluster extension: one actor system's cluster daemon.

The daemon (C++, ``atomr::cluster::cluster_daemon``, hosted by
``atomr._native._core._ClusterDaemon``) keeps this node's view of the
membership and runs Akka's cluster protocol -- seed-node join, push-pull
gossip, ring heartbeats with phi-accrual detectors, the leader's actions,
leave, down and the split brain resolver -- with the daemons of the other
nodes, entirely off the Python threads:

* over the system's TCP transport (:class:`atomr.remote.Remote`): the
  transport's io thread hands the envelopes addressed to the daemon straight
  to it (a tap on its inbound path); the actors' traffic flows as before;
* over a :class:`ClusterRegistry` (a simulated network shared by several
  systems of one process, in real or virtual time);
* over nothing: a one-node cluster of itself.

A thread (or the registry's virtual clock) ticks it every
``cluster.gossip-interval``. Its events are queued in C++ and signalled on
an eventfd that the system's loop watches; :meth:`Cluster._on_events`
converts them to the dataclasses of :mod:`atomr.cluster.events` there and
hands them to the subscriptions and publishes them on the system's event
stream (``system.event_stream``), as Akka's cluster events are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import math
import threading
import time
import weakref
from asyncio.events import _get_running_loop
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Optional, TypeVar, Union

from atomr._native._core import (
    MembershipState,
    _ClusterBus,
    _ClusterDaemon,
    _ClusterLease,
    _RemoteTransport,
)
from atomr._util import public_module
from atomr.actor.coordinated_shutdown import COORDINATED_SHUTDOWN
from atomr.actor.extension import Extension, ExtensionId
from atomr.cluster.events import (
    EventSubscription,
    LeaderChanged,
    MemberDowned,
    MemberExited,
    MemberInfo,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MemberUp,
    MemberWeaklyUp,
    ReachableMember,
    UnreachableMember,
    event_from_dict,
)
from atomr.cluster.sbr import SbrSettings
from atomr.errors import AtomrError, InvalidRemoteAddressError, RemoteTransportError
from atomr.remote import Remote
from atomr.remote._extension import TCP_SCHEME, parse_tcp_address
from atomr.remote.testing import SimNetwork

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["Cluster", "ClusterRegistry"]

_log = logging.getLogger("atomr.cluster")

T = TypeVar("T")

# How often join/leave check the daemon's view while they wait.
_POLL = 0.01
# The event announcing each status when the current state is replayed.
_STATUS_EVENTS: dict[str, Callable[[MemberInfo], Any]] = {
    "joining": MemberJoined,
    "weakly_up": MemberWeaklyUp,
    "up": MemberUp,
    "leaving": MemberLeft,
    "exiting": MemberExited,
    "down": MemberDowned,
}
# Transport choices handed to Cluster.with_*_transport, taken by the
# system's first Cluster.get.
_GIVEN: "weakref.WeakKeyDictionary[ActorSystem, tuple[Any, ...]]" = weakref.WeakKeyDictionary()
_GIVEN_LOCK = threading.Lock()
# The cluster of each system that has one.
_CLUSTERS: "weakref.WeakKeyDictionary[ActorSystem, Cluster]" = weakref.WeakKeyDictionary()


def _local_address(address: str) -> str:
    """A cluster address: a bare name becomes ``akka://<name>``."""
    if not isinstance(address, str):
        raise TypeError(f"a cluster address must be a str, not {type(address).__name__}")
    if not address:
        raise ValueError("a cluster address must not be empty")
    return address if "://" in address else f"akka://{address}"


def _parse_bind(bind_addr: Any, default_host: str) -> tuple[str, int]:
    """``(host, port)`` of ``"ip:port"`` / ``"host:port"`` / ``":port"``.

    Raises:
        ValueError: anything else.
    """
    if not isinstance(bind_addr, str):
        raise ValueError(f"bind address must be a str 'host:port', not {type(bind_addr).__name__}")
    host, sep, port = bind_addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bind address {bind_addr!r} is not 'host:port' with a port in 0..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        host = default_host
    if any(c.isspace() or c in "/@" for c in host):
        raise ValueError(f"bind address {bind_addr!r} has a malformed host")
    return host, int(port)


class _ClusterId(ExtensionId["Cluster"]):
    """Builds the :class:`Cluster` extension of a system."""

    config_section = "cluster"

    def create_extension(self, system: "ActorSystem") -> "Cluster":
        """The cluster of `system` over the transport chosen first."""
        with _GIVEN_LOCK:
            given = _GIVEN.pop(system, None)
        settings = self.settings(system)
        cluster = Cluster._create(system, settings, given)
        if settings["client.receptionist.auto-start"]:
            try:
                system.loop.call_soon_threadsafe(_start_receptionist, system)
            except RuntimeError:  # the loop is closed: the system is ending
                pass
        return cluster


def _start_receptionist(system: "ActorSystem") -> None:
    """Starts the node's cluster-client receptionist (atomr.cluster_tools,
    loaded by name: it sits above this layer), as Akka's configured
    ``akka.extensions`` do; ``cluster.client.receptionist.auto-start``."""
    if system.is_terminated or system._core.terminating:
        return
    try:
        importlib.import_module("atomr.cluster_tools").ClusterReceptionist.get(system)
    except Exception:  # noqa: BLE001 - the cluster runs on without it
        _log.exception("could not start the cluster client receptionist of %s", system.name)


_CLUSTER = _ClusterId()


@public_module("atomr.cluster")
class ClusterRegistry(SimNetwork):
    """An in-process bus several actor systems' clusters share
    (:meth:`Cluster.with_test_transport`): a simulated network
    (:class:`atomr.remote.testing.SimNetwork`, with its faults, partitions
    and counters) whose transports are the cluster daemons'.

    In real time (the default) a thread moves the network's virtual clock
    with the wall clock, so gossip rounds, heartbeats and failure detection
    happen as over TCP. With ``virtual_time=True`` nothing moves until the
    test calls :meth:`advance` (or :meth:`pump` / :meth:`drive` from async
    code): deterministic runs of join, leave, partitions and the split
    brain resolver in virtual seconds.

    Addresses are the cluster addresses (``akka://<name>``); wherever one is
    expected an :class:`~atomr.ActorSystem` with a cluster on this registry
    or its :class:`Cluster` works as well.

    Args:
        seed: The seed of every random choice of the network.
        virtual_time: Whether only :meth:`advance` moves time.

    Example:
        >>> registry = ClusterRegistry()                   # doctest: +SKIP
        >>> a = Cluster.with_test_transport(sys_a, registry)  # doctest: +SKIP
        >>> b = Cluster.with_test_transport(sys_b, registry)  # doctest: +SKIP
        >>> await b.join_seed_nodes([a.self_address])     # doctest: +SKIP
    """

    __slots__ = ("_bus", "_virtual", "_companions")

    def __init__(self, seed: int = 0, *, virtual_time: bool = False) -> None:
        super().__init__(seed)
        self._bus = _ClusterBus(self._net)
        self._virtual = bool(virtual_time)
        # cluster transport address -> the addresses of the endpoints other
        # parts of that node attached (their links share the node's faults)
        self._companions: dict[str, list[str]] = {}
        if not self._virtual:
            self._bus.start_driver()

    @property
    def virtual_time(self) -> bool:
        """Whether only :meth:`advance` moves time."""
        return self._virtual

    def close(self) -> None:
        """Stops the real-time thread (idempotent); the clusters on the
        registry stop hearing each other."""
        self._bus.stop_driver()

    def advance(self, seconds: float, scheduler: Any = None) -> int:
        """Moves virtual time by `seconds`: frames and the daemons' gossip
        ticks due by then, in time order. Returns the envelopes delivered.

        Raises:
            RuntimeError: the registry runs in real time.
            ValueError: `seconds` is negative or not finite.
        """
        if not self._virtual:
            raise RuntimeError("this registry runs in real time; create it with "
                               "virtual_time=True to move time by hand")
        if scheduler is not None:
            raise TypeError("a ClusterRegistry moves its own clock; scheduler is not supported")
        return self._bus.advance(seconds)

    async def pump(self, until: Callable[[], Any], *, step: Optional[float] = None,
                   timeout: float = 10.0) -> None:
        """Until ``until()`` is true: moves virtual time by `step` (default
        0.1 s; in real time it only waits) and lets the running loop react.

        Raises:
            TimeoutError: ``until()`` stayed false for `timeout` seconds of
                real time.
        """
        deadline = time.monotonic() + timeout
        step = 0.1 if step is None else step
        while True:
            if self._virtual:
                self._bus.advance(step)
            await asyncio.sleep(0.001)
            if until():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the condition did not hold within {timeout}s "
                                   f"(virtual time {self.now():.3f}s)")

    async def drive(self, awaitable: Awaitable[T], *, step: Optional[float] = None,
                    timeout: float = 10.0) -> T:
        """Awaits `awaitable` while :meth:`pump` moves time; returns its result.

        Raises:
            TimeoutError: it did not finish within `timeout` seconds of real
                time (it is cancelled then).
        """
        task = asyncio.ensure_future(awaitable)
        try:
            await self.pump(task.done, step=step, timeout=timeout)
        except TimeoutError:
            task.cancel()
            raise
        return task.result()

    def _addr(self, x: Any) -> str:
        """Also accepts a :class:`Cluster` or a system with one: its
        daemon's transport address."""
        if isinstance(x, Cluster):
            return x._transport_address
        cluster = _CLUSTERS.get(x) if hasattr(x, "_core") else None
        if cluster is not None:
            return cluster._transport_address
        return super()._addr(x)

    def _companion(self, cluster: "Cluster", name: str) -> Any:
        """A bare transport (not started) at ``<node address>#<name>`` for
        a part of `cluster`'s node that talks to its peers on its own
        (the replicator): partitions and link faults between two nodes
        apply to their companions as well."""
        base = cluster._transport_address
        address = f"{base}#{name}"
        transport = self._net.attach(address)
        peers = self._companions.setdefault(base, [])
        if address not in peers:
            peers.append(address)
        return transport

    def _pairs(self, a: Any, b: Any) -> list[tuple[str, str]]:
        ka, kb = self._addr(a), self._addr(b)
        xs = [ka] + self._companions.get(ka, [])
        ys = [kb] + self._companions.get(kb, [])
        return [(ka, kb)] + [(x, y) for x in xs for y in ys if (x, y) != (ka, kb)]

    def set_link(self, a: Any, b: Any, *, drop: float = 0.0, duplicate: float = 0.0,
                 delay: float = 0.0, jitter: float = 0.0, reorder: float = 0.0,
                 both_ways: bool = False) -> None:
        """The faults of the link `a` -> `b` (see :class:`SimNetwork`), and
        of the links between the two nodes' companions."""
        for x, y in self._pairs(a, b):
            super().set_link(x, y, drop=drop, duplicate=duplicate, delay=delay,
                             jitter=jitter, reorder=reorder, both_ways=both_ways)

    def clear_link(self, a: Any, b: Any) -> None:
        """Makes `a` -> `b` (and their companions' links) use the default
        faults again."""
        for x, y in self._pairs(a, b):
            super().clear_link(x, y)

    def partition(self, a: Any, b: Any) -> None:
        """Blocks both directions between `a` and `b` (and between their
        companions) until healed."""
        for x, y in self._pairs(a, b):
            super().partition(x, y)

    def partition_groups(self, a: Iterable[Any], b: Iterable[Any]) -> None:
        """Blocks every pair of a member of `a` and a member of `b`."""
        xs, ys = [self._addr(x) for x in a], [self._addr(y) for y in b]
        super().partition_groups(xs, ys)
        for x in xs:
            for y in ys:
                for p, q in self._pairs(x, y)[1:]:
                    super().partition(p, q)

    def heal(self, a: Any = None, b: Any = None) -> None:
        """Lifts every partition, or with both `a` and `b` the one between
        them (and their companions')."""
        if a is None or b is None:
            super().heal(a, b)
            return
        for x, y in self._pairs(a, b):
            super().heal(x, y)

    def __repr__(self) -> str:
        mode = "virtual" if self._virtual else "real"
        return f"<ClusterRegistry {mode} time now={self.now():.3f}s seed={self.seed}>"


@public_module("atomr.cluster")
class Cluster(Extension):
    """The cluster membership of one actor system (one per system).

    Get it with :meth:`get` (over the system's TCP transport when remoting
    is enabled, else a one-node cluster), :meth:`with_tcp_transport` or
    :meth:`with_test_transport`; the first choice for a system wins, later
    calls return the same cluster. Every node starts as a one-node cluster
    of itself (self ``joining``, made ``up`` by the first gossip tick) until
    :meth:`join_seed_nodes` names the nodes to join.

    Membership changes are observed with :meth:`subscribe`; the current
    view with :attr:`leader`, :meth:`member_count` and
    :meth:`membership_snapshot`.

    Example:
        >>> cluster = Cluster.with_tcp_transport(system, "127.0.0.1:0")  # doctest: +SKIP
        >>> await cluster.join_seed_nodes([seed_address])  # doctest: +SKIP
        >>> async for event in cluster.subscribe(["MemberUp"]):  # doctest: +SKIP
        ...     print(event.member.address)
    """

    _system: "ActorSystem"
    _daemon: _ClusterDaemon
    _remote: Optional[Remote]
    _registry: Optional[ClusterRegistry]
    _transport_address: str
    _lock: threading.Lock
    _subscriptions: list[EventSubscription]
    _members: dict[str, MemberInfo]
    _unreachable: set[str]
    _leader_seen: Optional[str]
    _lease: Any
    _lease_state: Optional[_ClusterLease]
    _lease_attempting: bool
    _lease_timer: Optional[asyncio.TimerHandle]
    _reader: bool
    _closed: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use Cluster.get(system), Cluster.with_tcp_transport or "
                        "Cluster.with_test_transport")

    # -- creation ---------------------------------------------------------------------

    @staticmethod
    def get(system: "ActorSystem") -> "Cluster":
        """The cluster of `system`, created on first use: over its TCP
        transport when remoting is enabled (``remote.enabled`` or
        ``actor.provider = "remote"`` / ``"cluster"``), else a one-node
        cluster without a transport. Joins ``cluster.seed-nodes`` if set.

        Raises:
            ActorSystemTerminatedError: `system` is terminating or terminated.
            ValueError: a bad ``cluster.*`` setting (an unknown SBR strategy).
        """
        return _CLUSTER.get(system)

    @staticmethod
    def with_test_transport(system: "ActorSystem", registry: ClusterRegistry,
                            advertised_address: Optional[str] = None) -> "Cluster":
        """The cluster of `system` over `registry` (if it has none yet), at
        `advertised_address` (a bare name becomes ``akka://<name>``) or
        ``akka://<system name>``.

        Raises:
            TypeError: `registry` is not a :class:`ClusterRegistry`.
            RemoteTransportError: another cluster holds that address on `registry`.
        """
        if not isinstance(registry, ClusterRegistry):
            raise TypeError(f"registry must be a ClusterRegistry, not {type(registry).__name__}")
        address = _local_address(advertised_address if advertised_address is not None
                                 else system.name)
        return Cluster._get_with(system, ("test", registry, address))

    @staticmethod
    def with_tcp_transport(system: "ActorSystem", bind_addr: str,
                           advertised_host: Optional[str] = None) -> "Cluster":
        """The cluster of `system` over TCP: starts the system's
        :class:`~atomr.remote.Remote` listening at `bind_addr` (``"ip:port"``;
        ``":0"`` or port 0: the kernel picks a port) and returns once it
        listens. :attr:`self_address` is then
        ``akka.tcp://<name>@<host>:<port>`` (`advertised_host` if given).
        When the system's remoting already runs, the cluster uses it as it is.

        Raises:
            ValueError: `bind_addr` is not ``host:port``, its host does not
                resolve, or it cannot be bound.
        """
        host, port = _parse_bind(bind_addr, "127.0.0.1")
        if advertised_host is not None and (not isinstance(advertised_host, str)
                                            or not advertised_host):
            raise ValueError(f"advertised_host must be a non-empty str, got {advertised_host!r}")
        return Cluster._get_with(system, ("tcp", host, port, advertised_host or ""))

    @staticmethod
    def _get_with(system: "ActorSystem", given: tuple[Any, ...]) -> "Cluster":
        with _GIVEN_LOCK:
            if system not in _CLUSTERS and system not in _GIVEN:
                _GIVEN[system] = given
        try:
            return _CLUSTER.get(system)
        finally:
            with _GIVEN_LOCK:
                if _GIVEN.get(system) is given:
                    del _GIVEN[system]

    @classmethod
    def _create(cls, system: "ActorSystem", settings: dict[str, Any],
                given: Optional[tuple[Any, ...]]) -> "Cluster":
        daemon_settings = _daemon_settings(system, settings)
        seeds = _seed_list(settings.get("seed-nodes") or [])
        self = object.__new__(cls)
        self._system = system
        self._remote = None
        self._registry = None
        self._lock = threading.Lock()
        self._subscriptions = []
        self._members = {}
        self._unreachable = set()
        self._leader_seen = None
        self._reader = False
        self._closed = False
        self._lease = None
        self._lease_state = None
        self._lease_attempting = False
        self._lease_timer = None
        lease_name = settings["sbr.lease-name"]
        if lease_name and daemon_settings.get("sbr") is not None and \
                daemon_settings["sbr"][0] == "lease-majority":
            self._lease_state = daemon_settings["lease"] = _ClusterLease()
        if given is not None and given[0] == "test":
            _, registry, address = given
            self._registry = registry
            self._daemon = _ClusterDaemon.on_sim(address, daemon_settings, registry._bus)
        else:
            remote = system._remote
            if given is not None and remote is None:
                _, host, port, advertised = given
                try:
                    remote = Remote._start_at(system, host, port, advertised)
                except (RemoteTransportError, InvalidRemoteAddressError) as exc:
                    raise ValueError(f"cannot listen at {host}:{port}: {exc}") from exc
            elif remote is None and (system.settings["remote.enabled"] or
                                     system.settings["actor.provider"] in ("remote", "cluster")):
                remote = Remote.get(system)
            transport = None if remote is None else remote._transport
            if isinstance(transport, _RemoteTransport):
                self._remote = remote
                assert remote is not None
                self._daemon = _ClusterDaemon.on_tcp(remote.address, daemon_settings, transport)
            else:
                if remote is not None:
                    _log.warning("the remote transport of %s is simulated; its cluster runs "
                                 "alone (use Cluster.with_test_transport)", system.name)
                self._daemon = _ClusterDaemon.standalone(f"akka://{system.name}",
                                                         daemon_settings)
        self._transport_address = _transport_address(self._daemon.self_address)
        if self._lease_state is not None:
            # Imported here: atomr.coordination is only needed with a lease.
            from atomr.coordination import LEASE_PROVIDER
            self._lease = LEASE_PROVIDER.get(system).get_lease(lease_name,
                                                                self._daemon.self_address)
        with _GIVEN_LOCK:
            _CLUSTERS[system] = self
        loop = system.loop
        if _get_running_loop() is loop:
            self._add_reader()
        else:
            loop.call_soon_threadsafe(self._add_reader)
        if seeds:
            self._daemon.join_seed_nodes(seeds)
        self._register_shutdown_tasks()
        _log.info("cluster node %s started", self.self_address)
        return self

    # -- the view ---------------------------------------------------------------------

    @property
    def system(self) -> "ActorSystem":
        """The actor system this cluster belongs to."""
        return self._system

    @property
    def self_address(self) -> str:
        """This node's cluster address (``akka.tcp://<name>@<host>:<port>``
        over TCP, ``akka://<name>`` otherwise)."""
        return self._daemon.self_address

    @property
    def self_uid(self) -> int:
        """This incarnation's uid."""
        return self._daemon.uid

    @property
    def leader(self) -> Optional[str]:
        """The leader's address in this node's view, or None."""
        return self._daemon.leader

    @property
    def converged(self) -> bool:
        """Whether this node's view has converged."""
        return bool(self._daemon.converged)

    def self_status(self) -> Optional[str]:
        """This node's status in its own view (``joining``, ``weakly_up``,
        ``up``, ``leaving``, ``exiting``, ``down``), or None once removed."""
        return self._daemon.self_status()

    def member_count(self) -> int:
        """Members in this node's view (self included; 0 once self was
        removed by :meth:`leave` or downed and removed)."""
        return self._daemon.member_count()

    def membership_snapshot(self) -> MembershipState:
        """A copy of this node's view of the members."""
        return self._daemon.state()

    def unreachable_members(self) -> list[str]:
        """The addresses some member observes as unreachable, sorted."""
        return self._daemon.unreachable()

    def stats(self) -> dict[str, int]:
        """The daemon's counters (gossip sent/received/merged, heartbeats, ...)."""
        return self._daemon.stats()

    # -- commands ---------------------------------------------------------------------

    async def join_seed_nodes(self, seed_nodes: Iterable[str], timeout: float = 30.0) -> None:
        """Joins the cluster of `seed_nodes` (cluster addresses; bare names
        become ``akka://<name>``) and returns once this node is ``up`` (or
        ``weakly_up``) in it. A first seed equal to this node forms the
        cluster when no other seed answers within ``cluster.seed-node-timeout``.

        Raises:
            AtomrError: not up within `timeout` seconds.
            ValueError: `seed_nodes` is empty or holds a malformed address.
        """
        seeds = _seed_list(seed_nodes)
        if not seeds:
            raise ValueError("join_seed_nodes needs at least one seed node")
        _check_timeout(timeout)
        me = self.self_address
        others = [s for s in seeds if s != me]
        # Gossip rounds after which a first seed equal to self has formed
        # the cluster alone (no other seed answered within seed-node-timeout).
        settings = self._system.settings
        rounds = self._daemon.stats()["gossip_rounds"] + 2 + math.ceil(
            settings["cluster.seed-node-timeout"] / settings["cluster.gossip-interval"])
        self._daemon.join_seed_nodes(seeds)

        def joined() -> bool:
            if self._daemon.self_status() not in ("up", "weakly_up"):
                return False
            if not others:
                return True
            members = {m.address for m in self._daemon.state().members()}
            return any(s in members for s in others) or \
                (seeds[0] == me and self._daemon.stats()["gossip_rounds"] >= rounds)

        await self._wait(joined, timeout, f"{me} did not join the cluster of {seeds} "
                                          f"within {timeout}s")
        await self._sync_events()

    async def leave(self, timeout: float = 30.0) -> None:
        """Leaves the cluster gracefully: waits for this node to be up,
        marks it ``leaving`` and returns once it was removed (events
        MemberLeft -> MemberExited -> MemberRemoved); :meth:`member_count`
        is 0 then.

        Raises:
            AtomrError: not removed within `timeout` seconds.
        """
        _check_timeout(timeout)
        deadline = time.monotonic() + timeout
        me = self.self_address
        if self._daemon.member_count() == 0:
            return
        await self._wait(lambda: self._daemon.self_status() in ("up", "weakly_up", "leaving",
                                                                "exiting", None),
                         timeout, f"{me} was not up within {timeout}s, so it cannot leave")
        if self._daemon.self_status() in ("up", "weakly_up"):
            self._daemon.leave(me)
        await self._wait(lambda: self._daemon.member_count() == 0,
                         max(0.0, deadline - time.monotonic()),
                         f"{me} was not removed from the cluster within {timeout}s")
        await self._sync_events()

    async def down(self, address: str) -> None:
        """Marks the member at `address` ``down``; :class:`MemberDowned` is
        published at once, and a later gossip tick removes it
        (:class:`MemberRemoved`).

        Raises:
            ValueError: `address` is malformed.
            ClusterError: no such member.
        """
        self._daemon.down(_local_address(address))
        await self._sync_events()

    # -- events -----------------------------------------------------------------------

    def subscribe(self, event_types: Optional[Iterable[Union[str, type]]] = None,
                  capacity: int = 1024) -> EventSubscription:
        """A subscription to this node's cluster events (the dataclasses of
        :mod:`atomr.cluster.events`), read with ``async for``. It starts
        with the current state as events (Akka's InitialStateAsEvents: a
        MemberJoined / MemberWeaklyUp / MemberUp / MemberLeft / MemberExited
        / MemberDowned per member, UnreachableMember per unreachable member,
        then LeaderChanged(None, leader)), then every change in order.

        Args:
            event_types: Class names (or classes) to keep; None for all.
            capacity: Events that may wait to be read; more are dropped and
                counted in ``dropped_events``.

        Raises:
            TypeError, ValueError: see :class:`EventSubscription`.
        """
        sub = EventSubscription(event_types, capacity)
        if _get_running_loop() is self._system.loop:
            self._on_events()  # what the daemon already reported is in the view
        with self._lock:
            for info in sorted(self._members.values(), key=lambda m: m.address):
                make = _STATUS_EVENTS.get(info.status)
                if make is not None:
                    sub.publish(make(info))
            for address in sorted(self._unreachable):
                unreachable = self._members.get(address)
                if unreachable is not None:
                    sub.publish(UnreachableMember(unreachable))
            if self._leader_seen is not None:
                sub.publish(LeaderChanged(None, self._leader_seen))
            if self._closed:
                sub.close()
            else:
                self._subscriptions.append(sub)
        return sub

    def _add_reader(self) -> None:
        if self._closed or self._reader:
            return
        self._system.loop.add_reader(self._daemon.fd, self._on_events)
        self._reader = True
        if self._lease_state is not None:
            self._poll_lease()

    def _poll_lease(self) -> None:
        """On the loop thread, every ``_POLL`` seconds: when the daemon's
        lease-majority resolver asked for the lease, tries it
        (``Lease.acquire_nowait``) and stores the outcome the daemon's next
        attempt takes; the daemon's thread never calls Python."""
        self._lease_timer = None
        if self._closed:
            return
        state, lease = self._lease_state, self._lease
        assert state is not None and lease is not None
        if state.take_request() or self._lease_attempting:
            try:
                outcome = lease.acquire_nowait()
            except Exception as exc:  # noqa: BLE001 - a failed attempt is a denial
                _log.warning("cluster: acquiring the SBR lease %s failed: %s",
                             lease.settings.lease_name, exc)
                outcome = False
            self._lease_attempting = outcome is None
            if outcome is not None:
                state.set_outcome(outcome)
        self._lease_timer = self._system.loop.call_later(_POLL, self._poll_lease)

    def _on_events(self) -> None:
        """Drains the daemon's events on the loop thread: updates the view
        subscriptions replay and hands each to the subscriptions."""
        items = self._daemon.drain()
        if not items:
            return
        removed: list[tuple[str, int]] = []
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if not s.closed]
            subs = list(self._subscriptions)
            events = []
            for raw, uid in items:
                try:
                    event = event_from_dict(raw)
                except ValueError as exc:  # pragma: no cover - the daemon's own events
                    _log.error("cluster: malformed event %r: %s", raw, exc)
                    continue
                self._apply(event)
                events.append(event)
                if isinstance(event, MemberRemoved):
                    removed.append((event.member.address, uid))
        stream = self._system.event_stream
        for event in events:
            for sub in subs:
                sub.publish(event)
            # As Akka's cluster events, on the system's event stream too
            # (the telemetry bus's "cluster" topic, the dashboard).
            stream.publish(event)
        for address, uid in removed:
            self._member_gone(address, uid)

    def _apply(self, event: Any) -> None:
        """Updates the view replayed to new subscriptions (under the lock)."""
        if isinstance(event, MemberRemoved):
            self._members.pop(event.member.address, None)
            self._unreachable.discard(event.member.address)
        elif isinstance(event, UnreachableMember):
            self._unreachable.add(event.member.address)
        elif isinstance(event, ReachableMember):
            self._unreachable.discard(event.member.address)
        elif isinstance(event, LeaderChanged):
            self._leader_seen = event.to_address
        else:
            member = getattr(event, "member", None)
            if isinstance(member, MemberInfo):
                self._members[member.address] = member

    def _member_gone(self, address: str, uid: int) -> None:
        """A member was removed: the remote watches of its actors end
        (Terminated with ``address_terminated``), the asks to it fail."""
        remote = self._remote
        if remote is None or address == self.self_address or \
                not address.startswith(TCP_SCHEME + "://"):
            return
        hostport = remote._known_hostport(address)
        if hostport is None:
            return
        # Every watch of an actor there ends (uid 0): the watches made before
        # the first association recorded no uid.
        remote._address_terminated(hostport, 0, address, "it was removed from the cluster")

    async def _sync_events(self) -> None:
        """Hands what the daemon reported so far to the subscriptions."""
        loop = self._system.loop
        if _get_running_loop() is loop:
            self._on_events()
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                self._on_events()
            finally:
                done.set_result(None)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # the system's loop is closed
            return
        await asyncio.wrap_future(done)

    async def _wait(self, cond: Callable[[], bool], timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if self._closed:
                raise AtomrError(f"{message}: the cluster was shut down")
            if time.monotonic() >= deadline:
                raise AtomrError(message)
            await asyncio.sleep(_POLL)

    # -- shutdown ---------------------------------------------------------------------

    def _register_shutdown_tasks(self) -> None:
        """Adds the graceful leave to the system's coordinated shutdown, as
        Akka's cluster does: ``cluster-leave`` marks this node ``leaving``,
        ``cluster-exiting`` waits until it is ``exiting``,
        ``cluster-exiting-done`` until it was removed. Each waits at most
        its phase's timeout; the daemon itself stops as the system
        terminates (``actor-system-terminate``)."""
        shutdown = COORDINATED_SHUTDOWN.get(self._system)
        shutdown.add_task("cluster-leave", "leave", self._shutdown_leave)
        shutdown.add_task("cluster-exiting", "wait-exiting", self._shutdown_wait_exiting)
        shutdown.add_task("cluster-exiting-done", "exiting-completed",
                          self._shutdown_wait_removed)

    def _phase_budget(self, phase: str) -> float:
        """What a shutdown task of `phase` may wait: a little less than the
        phase's timeout, so that it ends before the phase gives up on it."""
        timeout = COORDINATED_SHUTDOWN.get(self._system).phase_timeout(phase)
        return max(timeout * 0.9, min(timeout, _POLL))

    async def _shutdown_leave(self) -> None:
        if self._closed or self._daemon.member_count() == 0:
            return
        budget = self._phase_budget("cluster-leave")
        me = self.self_address
        await self._wait(lambda: self._daemon.self_status() != "joining", budget,
                         f"{me} was not up within {budget:.1f}s, so it cannot leave")
        if self._daemon.self_status() in ("up", "weakly_up"):
            self._daemon.leave(me)
        await self._wait(lambda: self._daemon.self_status() not in ("up", "weakly_up"),
                         budget, f"{me} was not leaving within {budget:.1f}s")
        await self._sync_events()

    async def _shutdown_wait_exiting(self) -> None:
        if self._closed:
            return
        budget = self._phase_budget("cluster-exiting")
        await self._wait(lambda: self._daemon.self_status() in ("exiting", "down", None),
                         budget, f"{self.self_address} was not exiting within {budget:.1f}s")
        await self._sync_events()

    async def _shutdown_wait_removed(self) -> None:
        if self._closed:
            return
        budget = self._phase_budget("cluster-exiting-done")
        await self._wait(lambda: self._daemon.member_count() == 0, budget,
                         f"{self.self_address} was not removed within {budget:.1f}s")
        await self._sync_events()

    def shutdown(self) -> None:
        """Stops the daemon (on the system's loop thread, as the system
        terminates, before its remote transport stops); subscriptions end."""
        if self._closed:
            return
        self._closed = True
        with _GIVEN_LOCK:
            if _CLUSTERS.get(self._system) is self:
                del _CLUSTERS[self._system]
        if self._lease_timer is not None:
            self._lease_timer.cancel()
            self._lease_timer = None
        if self._reader:
            self._reader = False
            try:
                self._system.loop.remove_reader(self._daemon.fd)
            except Exception:  # the loop is closing
                pass
        self._daemon.shutdown()
        try:
            self._on_events()
        finally:
            with self._lock:
                subs, self._subscriptions = self._subscriptions, []
            for sub in subs:
                sub.close()

    def __repr__(self) -> str:
        return f"<Cluster {self.self_address} members={self.member_count()}>"


def _transport_address(address: str) -> str:
    """Where the daemon at `address` is reached: ``host:port`` when the
    address has them, else the address itself."""
    authority = address.partition("://")[2]
    _, at, hostport = authority.rpartition("@")
    return hostport if at and hostport else address


def _seed_list(seeds: Any) -> list[str]:
    if isinstance(seeds, str) or not isinstance(seeds, Iterable):
        raise TypeError("seed nodes must be a list of cluster addresses")
    out = []
    for s in seeds:
        address = _local_address(s)
        if address.startswith(TCP_SCHEME + "://"):
            try:
                parse_tcp_address(address)
            except InvalidRemoteAddressError as exc:
                raise ValueError(str(exc)) from None
        out.append(address)
    return out


def _check_timeout(timeout: Any) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
            not 0.0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _daemon_settings(system: "ActorSystem", settings: dict[str, Any]) -> dict[str, Any]:
    """The daemon's settings from the ``cluster`` section."""
    roles = settings["roles"]
    if isinstance(roles, str) or not isinstance(roles, (list, tuple)) or \
            not all(isinstance(r, str) for r in roles):
        raise ValueError(f"cluster.roles must be a list of str, got {roles!r}")
    out: dict[str, Any] = {
        "roles": list(roles),
        "gossip_interval": settings["gossip-interval"],
        "gossip_different_view_probability": settings["gossip-different-view-probability"],
        "seed_node_timeout": settings["seed-node-timeout"],
        "retry_unsuccessful_join_after": settings["retry-unsuccessful-join-after"],
        "allow_weakly_up": settings["allow-weakly-up-members"],
        "min_nr_of_members": settings["min-nr-of-members"],
        "heartbeat_interval": settings["heartbeat-interval"],
        "monitored_by_nr_of_members": settings["monitored-by-nr-of-members"],
        "failure_detector": {
            "threshold": settings["failure-detector.threshold"],
            "max_sample_size": settings["failure-detector.max-sample-size"],
            "min_std_deviation": settings["failure-detector.min-std-deviation"],
            "acceptable_heartbeat_pause": settings["failure-detector.acceptable-heartbeat-pause"],
            "first_heartbeat_estimate": settings["failure-detector.first-heartbeat-estimate"],
        },
    }
    sbr = SbrSettings.from_config(system.config)
    if sbr is not None:
        out["sbr"] = sbr._native()
        out["lease_acquired"] = sbr.lease_acquired
    seeds = settings["seed-nodes"]
    if isinstance(seeds, str) or not isinstance(seeds, (list, tuple)):
        raise ValueError(f"cluster.seed-nodes must be a list of addresses, got {seeds!r}")
    return out
