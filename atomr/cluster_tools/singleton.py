"""Cluster singletons: Akka's ``ClusterSingletonManager`` and ``ClusterSingletonProxy``.

Every node (of the role) runs a manager, the actor ``/user/<name>``. The
singleton runs as the manager's child ``singleton`` on the *oldest* up
member of the role (Akka's age ordering: the lowest up number, then the
address), and only there:

* **Hand-over.** When the oldest leaves, it stops its singleton as soon as
  it sees itself ``leaving``. The next oldest asks every member that may
  still run it (those leaving, exiting or down) with ``HandOverToMe`` and
  starts its own instance only when each answered ``HandOverDone`` (sent
  once the old instance has stopped) or was removed from the cluster. So
  the old instance has stopped before the new one starts.
* **Take-over.** When the oldest crashes, it stays the oldest (unreachable
  members still count) until it is downed (by the split brain resolver or
  :meth:`~atomr.cluster.Cluster.down`) and removed; then the next oldest
  starts the singleton.

* **Lease.** With a ``lease`` (an :mod:`atomr.coordination` lease name or
  :class:`~atomr.coordination.Lease`), the oldest starts the singleton only
  once it holds the lease (trying again every ``lease_retry_interval``),
  releases it when the singleton stops (before it answers a hand-over),
  and stops the singleton at once when the lease is lost.

A proxy (:class:`ClusterSingletonProxy`) finds the singleton by asking the
oldest member's manager, buffers messages while there is none (at most
``buffer_size``; the oldest are dropped first, counted in :attr:`drops`) and
delivers them in order once it is located.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Optional, Union

from atomr._util import public_module
from atomr.actor import Actor, Props, Terminated, props
from atomr.cluster_tools._nodes import _Peers, oldest
from atomr.coordination import LEASE_PROVIDER, Lease
from atomr.errors import AtomrError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["ClusterSingletonManager", "ClusterSingletonProxy", "SINGLETON_STATES"]

_log = logging.getLogger("atomr.cluster_tools")

#: The states of a :class:`ClusterSingletonManager`.
SINGLETON_STATES = ("inactive", "starting", "handing_over", "active_here", "active_remote")

#: How often managers and proxies look at the membership (seconds).
_POLL = 0.1
_CHILD = "singleton"


def _check_buffer_size(buffer_size: Any) -> int:
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
        raise TypeError(f"buffer_size must be an int, not {type(buffer_size).__name__}")
    if buffer_size < 0:
        raise ValueError(f"buffer_size must be >= 0, got {buffer_size}")
    return buffer_size


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty actor name without '/', got {name!r}")
    return name


def _element_path(path: str) -> str:
    """``/user/...`` of a full actor path."""
    return "/" + path.partition("://")[2].partition("/")[2] if "://" in path else path


def _check_role(role: Any) -> Optional[str]:
    if role is not None and (not isinstance(role, str) or not role):
        raise ValueError(f"role must be None or a non-empty str, got {role!r}")
    return role


@public_module("atomr.cluster_tools")
class ClusterSingletonManager:
    """One node's manager of a cluster singleton, and its state.

    ``ClusterSingletonManager(buffer_size)`` is the state machine alone
    (:attr:`state`, :meth:`begin_starting`, :meth:`begin_handover`,
    :meth:`clear`); :meth:`start` runs it on a node of a cluster, where its
    actor drives the state:

    * ``inactive``: no member of the role is up (or this node left);
    * ``starting``: this node is the oldest and waits for the previous
      holder to hand over;
    * ``handing_over``: this node stops its singleton for the next oldest;
    * ``active_here``: the singleton runs on this node;
    * ``active_remote``: it runs (or is about to) on the oldest, another node.

    :meth:`tell` reaches the singleton wherever it runs; while there is
    none the messages wait in a buffer of ``buffer_size`` (:attr:`buffered`;
    overflow drops the oldest, counted in :attr:`drops`).
    """

    def __init__(self, buffer_size: int = 1000) -> None:
        self._buffer_size = _check_buffer_size(buffer_size)
        self._state = "inactive"
        self._lock = threading.Lock()
        self._proxy: Optional[ClusterSingletonProxy] = None
        self._drops = 0
        self._system: Optional["ActorSystem"] = None
        self._name = ""
        self._role: Optional[str] = None
        self._ref: Any = None
        self._hand_over_timeout = 3.0
        self._lease: Optional[Lease] = None
        self._lease_retry = 5.0
        #: How many singleton instances this node started.
        self.started_count = 0

    # -- the state machine ----------------------------------------------------------

    @property
    def state(self) -> str:
        """One of :data:`SINGLETON_STATES`."""
        return self._state

    def begin_starting(self) -> None:
        """Enters ``starting``."""
        self._state = "starting"

    def begin_handover(self) -> None:
        """Enters ``handing_over``."""
        self._state = "handing_over"

    def clear(self) -> None:
        """Back to ``inactive``."""
        self._state = "inactive"

    def _set_state(self, state: str) -> None:
        if state != self._state:
            _log.debug("singleton %s on %s: %s -> %s", self._name,
                       self._system.name if self._system else "-", self._state, state)
        self._state = state

    @property
    def buffer_size(self) -> int:
        """The most messages :meth:`tell` keeps while there is no singleton."""
        return self._buffer_size

    @property
    def buffered(self) -> int:
        """Messages waiting for the singleton to be located."""
        return 0 if self._proxy is None else self._proxy.buffered

    @property
    def drops(self) -> int:
        """Messages dropped because the buffer was full."""
        return self._drops if self._proxy is None else self._proxy.drops

    # -- on a cluster ---------------------------------------------------------------

    @classmethod
    def start(cls, system: "ActorSystem", singleton_props: Props, name: str = "singleton",
              *, role: Optional[str] = None, buffer_size: int = 1000,
              hand_over_timeout: float = 3.0, lease: Union[str, Lease, None] = None,
              lease_retry_interval: float = 5.0) -> "ClusterSingletonManager":
        """Runs the manager of singleton `name` on `system`'s node (its
        cluster is :meth:`atomr.cluster.Cluster.get`'s): the actor
        ``/user/<name>``, whose child ``singleton`` (from `singleton_props`)
        runs while this node is the oldest up member with `role`. Start it
        on every node of the role, with the same name and props.

        `hand_over_timeout` is how long a new oldest still waits for the
        hand-over of a member that left gracefully once it was removed
        (it may still run the singleton then); a downed member is waited
        for until it is removed.

        `lease` (Akka's ``use-lease``): a lease name, taken from the
        system's :data:`~atomr.coordination.LEASE_PROVIDER` with this node's
        address as the owner, or a :class:`~atomr.coordination.Lease` of
        this node. The singleton starts only while this node holds it; an
        attempt that fails is retried after `lease_retry_interval` seconds.
        The lease is released when the singleton stops, and a lost lease
        stops the singleton.

        Raises:
            TypeError: `singleton_props` is not a Props; bad argument types
                (`lease` neither a str nor a Lease).
            ValueError: `name` is empty or has '/'; `role` or `lease` is
                empty; `buffer_size` is negative; `lease_retry_interval` is
                not a positive number.
        """
        if not isinstance(singleton_props, Props):
            raise TypeError(f"singleton_props must be a Props, not "
                            f"{type(singleton_props).__name__}")
        self = cls(buffer_size)
        self._system = system
        self._name = _check_name(name)
        self._role = _check_role(role)
        if isinstance(hand_over_timeout, bool) or not isinstance(hand_over_timeout, (int, float)) \
                or not 0 <= hand_over_timeout < float("inf"):
            raise ValueError(f"hand_over_timeout must be a number of seconds >= 0, "
                             f"got {hand_over_timeout!r}")
        self._hand_over_timeout = float(hand_over_timeout)
        if isinstance(lease_retry_interval, bool) \
                or not isinstance(lease_retry_interval, (int, float)) \
                or not 0 < lease_retry_interval < float("inf"):
            raise ValueError(f"lease_retry_interval must be a positive number of seconds, "
                             f"got {lease_retry_interval!r}")
        self._lease_retry = float(lease_retry_interval)
        peers = _Peers(system)
        if isinstance(lease, str):
            if not lease:
                raise ValueError("lease must be a non-empty lease name")
            self._lease = LEASE_PROVIDER.get(system).get_lease(lease, peers.self_address)
        elif isinstance(lease, Lease):
            self._lease = lease
        elif lease is not None:
            raise TypeError(f"lease must be a lease name or an atomr.coordination.Lease, "
                            f"not {type(lease).__name__}")
        self._ref = system.actor_of(
            props(_ManagerActor, factory=lambda: _ManagerActor(self, peers, singleton_props)),
            name)
        self._proxy = ClusterSingletonProxy._start(system, name, role, buffer_size,
                                                   f"{name}-managerProxy", peers,
                                                   system_actor=True)
        return self

    @property
    def ref(self) -> Any:
        """The manager actor (None for a bare state machine)."""
        return self._ref

    @property
    def lease(self) -> Optional[Lease]:
        """The lease the singleton needs here, or None."""
        return self._lease

    @property
    def proxy(self) -> "ClusterSingletonProxy":
        """The proxy :meth:`tell` goes through.

        Raises:
            RuntimeError: a bare state machine has none.
        """
        if self._proxy is None:
            raise RuntimeError("this manager was not started on a cluster "
                               "(ClusterSingletonManager.start)")
        return self._proxy

    def tell(self, msg: Any) -> None:
        """Sends `msg` to the singleton, wherever it runs (see :class:`ClusterSingletonProxy`)."""
        self.proxy.tell(msg)

    def singleton_ref(self) -> Any:
        """This node's singleton instance while it runs here, else None."""
        if self._system is None or self._state != "active_here":
            return None
        return self._system.actor_selection(f"/user/{self._name}/{_CHILD}")

    def __repr__(self) -> str:
        return f"<ClusterSingletonManager {self._name or '-'} state={self._state}>"


@dataclasses.dataclass(frozen=True)
class _Poll:
    pass


@dataclasses.dataclass(frozen=True)
class _LeaseResult:
    acquired: bool
    error: Optional[BaseException] = None


@dataclasses.dataclass(frozen=True)
class _LeaseLost:
    reason: Optional[BaseException]


class _ManagerActor(Actor):
    """The manager: decides from the membership where the singleton runs."""

    def __init__(self, manager: ClusterSingletonManager, peers: _Peers, child: Props) -> None:
        self._m = manager
        self._peers = peers
        self._props = child
        self._running: Any = None
        self._done_from: set[str] = set()
        self._stopping = False
        self._waiting_done: set[str] = set()
        # Members seen leaving or exiting, and, once removed, until when
        # their hand-over is still awaited (they may still run it).
        self._leaving_seen: set[str] = set()
        self._margin: dict[str, float] = {}
        self._acquiring = False
        self._lease_retry_at = 0.0
        self._tasks: set[Any] = set()

    def pre_start(self, ctx: Any) -> None:
        ctx.schedule_periodically(initial=_POLL, interval=_POLL, msg=_Poll())

    def post_stop(self, ctx: Any) -> None:
        for task in list(self._tasks):
            task.cancel()
        lease = self._m._lease
        if lease is not None and lease.check_lease():
            try:
                lease.release_blocking()
            except Exception as exc:  # noqa: BLE001 - it expires anyway
                _log.warning("singleton %s: releasing the lease failed: %s", self._m._name, exc)

    def _try_lease(self, ctx: Any) -> None:
        """Starts an attempt to take the lease (one at a time, not before
        the retry time); its outcome comes back as :class:`_LeaseResult`."""
        if self._acquiring or time.monotonic() < self._lease_retry_at:
            return
        lease = self._m._lease
        assert lease is not None
        self._acquiring = True
        me = ctx.self_ref

        def lost(reason: Optional[BaseException]) -> None:
            me.tell(_LeaseLost(reason))

        async def attempt() -> None:
            try:
                result = _LeaseResult(bool(await lease.acquire(lost)))
            except Exception as exc:  # noqa: BLE001 - reported, then retried
                result = _LeaseResult(False, exc)
            me.tell(result)

        task = asyncio.get_running_loop().create_task(attempt())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release_lease(self) -> None:
        lease = self._m._lease
        if lease is None or not lease.check_lease():
            return
        try:
            await lease.release()
        except Exception as exc:  # noqa: BLE001 - it expires after its time to live
            _log.warning("singleton %s: releasing the lease failed: %s", self._m._name, exc)

    async def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, _Poll):
            await self._poll(ctx)
            return None
        if isinstance(msg, _LeaseResult):
            self._acquiring = False
            if not msg.acquired:
                self._lease_retry_at = time.monotonic() + self._m._lease_retry
                _log.info("singleton %s: the lease is held elsewhere%s; trying again in %gs",
                          self._m._name, f" ({msg.error})" if msg.error else "",
                          self._m._lease_retry)
            await self._poll(ctx)
            return None
        if isinstance(msg, _LeaseLost):
            if self._running is not None:
                _log.warning("singleton %s: the lease was lost (%s); stopping the singleton",
                             self._m._name, msg.reason)
                self._lease_retry_at = time.monotonic() + self._m._lease_retry
                self._stop(ctx)
            return None
        if isinstance(msg, Terminated):
            if self._running is not None and msg.path == self._running.path:
                self._running = None
                self._stopping = False
                await self._release_lease()
                self._m._set_state("handing_over" if self._waiting_done else "inactive")
                # The requesters, and the oldest as this node sees it, learn
                # that this instance is gone.
                the_oldest = oldest(self._peers.members(("up",), self._m._role))
                if the_oldest is not None and the_oldest.address != self._peers.self_address:
                    self._waiting_done.add(the_oldest.address)
                for address in sorted(self._waiting_done):
                    self._send(address, ("hand_over_done", self._peers.self_address))
                self._waiting_done.clear()
                await self._poll(ctx)
            return None
        if isinstance(msg, tuple) and msg:
            kind = msg[0]
            if kind == "identify":
                if self._running is not None and not self._stopping:
                    return self._peers.self_address + f"/user/{self._m._name}/{_CHILD}"
                return None
            if kind == "hand_over_to_me" and len(msg) == 2:
                requester = str(msg[1])
                if self._running is None:
                    self._send(requester, ("hand_over_done", self._peers.self_address))
                else:
                    self._waiting_done.add(requester)
                    self._stop(ctx)
                return None
            if kind == "hand_over_done" and len(msg) == 2:
                self._done_from.add(str(msg[1]))
                await self._poll(ctx)
                return None
        _log.warning("singleton manager %s: unknown message %r dropped", self._m._name, msg)
        return None

    def _send(self, address: str, msg: tuple) -> None:
        self._peers.tell(address, f"/user/{self._m._name}", msg)

    def _stop(self, ctx: Any) -> None:
        if self._running is not None and not self._stopping:
            self._stopping = True
            self._m._set_state("handing_over")
            ctx.stop_child(_CHILD)

    async def _poll(self, ctx: Any) -> None:
        peers, m = self._peers, self._m
        me = peers.self_address
        members = peers.members(("joining", "weaklyup", "up", "leaving", "exiting", "down"),
                                m._role)
        status = {x.address: x.status for x in members}
        self._leaving_seen |= {a for a, s in status.items()
                               if a != me and s in ("leaving", "exiting")}
        the_oldest = oldest([x for x in members if x.status == "up"])
        if self._running is not None:
            if the_oldest is None or the_oldest.address != me:
                # This node left (or is no longer the oldest): stop first,
                # answer the hand-over requests once stopped.
                self._stop(ctx)
            return
        if self._stopping:
            return
        if the_oldest is None:
            m._set_state("inactive")
            return
        if the_oldest.address != me:
            m._set_state("active_remote")
            self._done_from.clear()
            return
        # This node is the oldest: every member that may still run the
        # singleton must hand it over (or be gone) before it starts here. A
        # member that left gracefully may still run it after its removal:
        # it is asked for up to hand_over_timeout more.
        now = time.monotonic()
        for address in list(self._leaving_seen):
            if address not in status:
                self._leaving_seen.discard(address)
                self._margin[address] = now + m._hand_over_timeout
        self._margin = {a: d for a, d in self._margin.items()
                        if d > now and a not in self._done_from}
        pending = [a for a, s in status.items()
                   if a != me and s in ("leaving", "exiting", "down") and a not in self._done_from]
        pending += [a for a in self._margin if a not in status]
        if pending:
            m._set_state("starting")
            for address in pending:
                if status.get(address) != "down":
                    self._send(address, ("hand_over_to_me", me))
            return
        m._set_state("starting")
        if m._lease is not None and not m._lease.check_lease():
            self._try_lease(ctx)  # the singleton starts once this node holds it
            return
        try:
            self._running = await ctx.spawn(self._props, _CHILD)
        except RuntimeError as exc:  # the previous instance's name is not free yet
            _log.debug("singleton %s: cannot start yet: %s", m._name, exc)
            return
        ctx.watch(self._running)
        m.started_count += 1
        m._set_state("active_here")
        self._done_from.clear()
        _log.info("singleton %s started on %s", m._name, me)


@public_module("atomr.cluster_tools")
class ClusterSingletonProxy:
    """Sends to a cluster singleton wherever it runs (Akka's ``ClusterSingletonProxy``).

    It asks the manager on the oldest member of the role where the
    singleton is, and sends to it once located. Until then (and while the
    singleton moves) messages wait in a buffer of `buffer_size`; when it is
    full the oldest message is dropped (counted in :attr:`drops`).
    """

    _lock: threading.Lock
    _buffer: "collections.deque[Any]"
    _buffer_size: int
    _drops: int
    _target: Any
    _location: Optional[str]
    _singleton_name: str
    _role: Optional[str]
    _peers: _Peers
    _ref: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use ClusterSingletonProxy.start(system, name, ...)")

    @classmethod
    def start(cls, system: "ActorSystem", singleton_name: str, *, role: Optional[str] = None,
              buffer_size: int = 1000, name: Optional[str] = None) -> "ClusterSingletonProxy":
        """A proxy on `system` to the singleton whose managers are named
        `singleton_name`; its actor is ``/user/<name>`` (default
        ``<singleton_name>Proxy``).

        Raises:
            TypeError, ValueError: bad names, role or buffer size.
        """
        singleton_name = _check_name(singleton_name)
        name = _check_name(name if name is not None else f"{singleton_name}Proxy")
        return cls._start(system, singleton_name, _check_role(role),
                          _check_buffer_size(buffer_size), name, _Peers(system))

    @classmethod
    def _start(cls, system: "ActorSystem", singleton_name: str, role: Optional[str],
               buffer_size: int, name: str, peers: _Peers,
               system_actor: bool = False) -> "ClusterSingletonProxy":
        self = object.__new__(cls)
        self._lock = threading.Lock()
        self._buffer = collections.deque()
        self._buffer_size = buffer_size
        self._drops = 0
        self._target = None
        self._location = None
        self._singleton_name = singleton_name
        self._role = role
        self._peers = peers
        spawn = system.system_actor_of if system_actor else system.actor_of
        self._ref = spawn(props(_ProxyActor, factory=lambda: _ProxyActor(self)), name)
        return self

    @property
    def buffered(self) -> int:
        """Messages waiting for the singleton to be located."""
        with self._lock:
            return len(self._buffer)

    @property
    def drops(self) -> int:
        """Messages dropped because the buffer was full."""
        with self._lock:
            return self._drops

    @property
    def location(self) -> Optional[str]:
        """The address of the node the singleton was located on, or None."""
        with self._lock:
            return self._location

    def tell(self, msg: Any) -> None:
        """Sends `msg` to the singleton, or buffers it while there is none."""
        with self._lock:
            target = self._target
            if target is None:
                if self._buffer_size == 0:
                    self._drops += 1
                    return
                if len(self._buffer) >= self._buffer_size:
                    self._buffer.popleft()
                    self._drops += 1
                self._buffer.append(msg)
                return
            target.tell(msg)

    def _located(self, address: Optional[str], target: Any) -> None:
        with self._lock:
            self._location = address
            self._target = target
            if target is not None:
                while self._buffer:
                    target.tell(self._buffer.popleft())

    def __repr__(self) -> str:
        return f"<ClusterSingletonProxy {self._singleton_name} at={self._location}>"


@dataclasses.dataclass(frozen=True)
class _Identified:
    address: str
    path: Optional[str]


class _ProxyActor(Actor):
    """Locates the singleton: asks the oldest's manager, without blocking
    its mailbox while the answer is awaited."""

    def __init__(self, proxy: ClusterSingletonProxy) -> None:
        self._p = proxy
        self._asking = False
        self._tasks: set[Any] = set()

    def pre_start(self, ctx: Any) -> None:
        ctx.schedule_periodically(initial=_POLL, interval=_POLL, msg=_Poll())

    def _oldest(self) -> Optional[str]:
        p = self._p
        the_oldest = oldest(p._peers.members(("up",), p._role))
        return None if the_oldest is None else the_oldest.address

    async def handle(self, ctx: Any, msg: Any) -> Any:
        p = self._p
        if isinstance(msg, _Identified):
            self._asking = False
            if msg.path is not None and p._target is None and msg.address == self._oldest():
                target = p._peers.ref(msg.address, _element_path(msg.path))
                if target is not None:
                    p._located(msg.address, target)
            return None
        if not isinstance(msg, _Poll):
            return None
        address = self._oldest()
        if p.location is not None and address != p.location:
            p._located(None, None)  # the singleton moves: buffer until located again
        if address is None or p._target is not None or self._asking:
            return None
        manager = p._peers.ref(address, f"/user/{p._singleton_name}")
        if manager is None:
            return None
        self._asking = True
        me = ctx.self_ref
        task = asyncio.get_running_loop().create_task(self._identify(manager, address, me))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    async def _identify(self, manager: Any, address: str, me: Any) -> None:
        path = None
        try:
            answer = await manager.ask(("identify",), timeout=max(1.0, 10 * _POLL))
            path = answer if isinstance(answer, str) else None
        except (AtomrError, TimeoutError) as exc:
            _log.debug("singleton proxy %s: %s did not answer: %s", self._p._singleton_name,
                       address, exc)
        finally:
            me.tell(_Identified(address, path))
