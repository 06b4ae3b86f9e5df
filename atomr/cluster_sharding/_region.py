"""Shard regions and the sharding node of a system.

A :class:`ShardRegion` routes each message to the entity it names: the
entity id and the shard id come from the region's extractors; the shard
lives on one region of the cluster (the coordinator decides which, see
:mod:`atomr.cluster_sharding._coordinator`); the entity is a top-level
actor of that region's system, started on its first message.

All the regions of one system share a :class:`_Node`: its link to the
other nodes, its view of the membership (polled every :data:`_TICK`
seconds on the system's loop), the coordinators it hosts and the
remembered entities. Everything runs under the node's lock, so a region
may be used from any thread.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from atomr._util import public_module
from atomr.actor import Actor, ActorRef, Props
from atomr.actor.coordinated_shutdown import COORDINATED_SHUTDOWN
from atomr.actor.extension import Extension, ExtensionId
from atomr.cluster._extension import _CLUSTERS
from atomr.cluster_sharding._coordinator import Coordinator
from atomr.cluster_sharding._placement import Membership, membership_of
from atomr.cluster_sharding._remember import RememberStore, remember_store
from atomr.cluster_sharding._settings import ShardingSettings
from atomr.cluster_sharding._transport import Transport
from atomr.errors import ActorNameTakenError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["ShardRegion"]

_TICK = 0.05
# How long a region waits for an answer of the coordinator before asking again.
_RETRY = 1.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class _Stop:
    """Queued behind an entity's messages: it stops once they are handled."""

    __slots__ = ()


_STOP = _Stop()


class _Release:
    """Told to a remembered entity once its start is written: the messages
    it stashed meanwhile are handled, in order."""

    __slots__ = ()


_RELEASE = _Release()


def _gate(ctx: Any, entity: "_Entity", message: Any) -> bool:
    """True when `message` was held back (the entity's remembered start is
    not written yet; see :class:`_Entity`) or was the release marker."""
    if message is _RELEASE:
        entity.gated = False
        ctx.unstash_all()
        return True
    if entity.gated:
        ctx.stash()
        return True
    return False


class _Shell:
    """Wraps an entity instance: notes its activity (for passivation) and
    stops it on the hand-off marker; everything else is the instance's.

    The instance sees a :class:`_EntityContext`, whose ``become`` wraps the
    new behaviour the same way, so an entity that replaced its ``handle``
    still stops on the marker (Akka delivers its hand-off stop message to
    the actor's current behaviour)."""

    def __init__(self, inner: Any, entity: "_Entity") -> None:
        self.__dict__["_inner"] = inner
        self.__dict__["_entity"] = entity
        self.__dict__["_ctx"] = None

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.__dict__["_inner"], name)
        if name == "pre_start" and getattr(type(self.__dict__["_inner"]), name, None) is not \
                Actor.pre_start:
            hook = value

            def pre_start(ctx: Any) -> Any:
                return hook(self._wrap(ctx))

            return pre_start
        return value

    def _wrap(self, ctx: Any) -> "_EntityContext":
        wrapped = self.__dict__["_ctx"]
        if wrapped is None or wrapped._ctx is not ctx:
            wrapped = self.__dict__["_ctx"] = _EntityContext(ctx, self.__dict__["_entity"])
        return wrapped

    def handle(self, ctx: Any, message: Any) -> Any:
        entity = self.__dict__["_entity"]
        if entity.gated or message is _RELEASE:
            if _gate(ctx, entity, message):
                return None
        if message is _STOP:
            ctx.stop_self()
            return None
        entity.last = time.monotonic()
        return self.__dict__["_inner"].handle(self._wrap(ctx), message)


class _EntityContext:
    """An entity's view of its context: its own, but a behaviour set
    with ``become`` still stops on the hand-off marker and counts as
    activity."""

    __slots__ = ("_ctx", "_entity")

    def __init__(self, ctx: Any, entity: "_Entity") -> None:
        self._ctx = ctx
        self._entity = entity

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def _behaviour(self, handler: Any) -> Callable[[Any, Any], Any]:
        if not callable(handler):
            return handler  # the context raises its TypeError
        entity = self._entity
        me = self

        def behaviour(ctx: Any, message: Any) -> Any:
            if entity.gated or message is _RELEASE:
                if _gate(ctx, entity, message):
                    return None
            if message is _STOP:
                ctx.stop_self()
                return None
            entity.last = time.monotonic()
            return handler(me if me._ctx is ctx else _EntityContext(ctx, entity), message)

        return behaviour

    def become(self, handler: Any, discard_old: bool = True) -> None:
        self._ctx.become(self._behaviour(handler), discard_old)

    def become_(self, handler: Any, discard_old: bool = True) -> None:
        self._ctx.become_(self._behaviour(handler), discard_old)


class _Entity:
    __slots__ = ("id", "shard", "ref", "last", "gated")

    def __init__(self, entity_id: str, shard: str) -> None:
        self.id = entity_id
        self.shard = shard
        self.ref: Any = None
        self.last = time.monotonic()
        # While its remembered start is being written to the journal the
        # entity stashes every message (told through the region or its
        # ref) until the release marker; only the entity's own thread
        # clears it.
        self.gated = False

    def tell(self, message: Any) -> None:
        """Sends `message` to the entity."""
        self.ref.tell(message)

    def release(self) -> None:
        """Its remembered start is written: the messages it held go, in order."""
        self.ref.tell(_RELEASE)


class _Shard:
    __slots__ = ("id", "entities", "stopping", "waiting", "since", "refs")

    def __init__(self, shard_id: str) -> None:
        self.id = shard_id
        self.entities: set[str] = set()
        self.stopping = False
        self.waiting: Optional[set[str]] = None
        self.since = 0.0
        self.refs: list[Any] = []


def _entity_name(type_name: str, entity_id: str) -> str:
    return f"{type_name}-{_UNSAFE.sub('_', entity_id)}"


def _default_shard(entity_id: str) -> str:
    return str(hash(entity_id) % 16)


class _NodeId(ExtensionId["_Node"]):
    """Builds the sharding node of a system."""

    def create_extension(self, system: "ActorSystem") -> "_Node":
        return _Node(system)


_NODE = _NodeId()


class _Node(Extension):
    """The sharding side of one actor system (see the module comment): an
    extension of the system, closed when it terminates."""

    def __init__(self, system: "ActorSystem") -> None:
        self.system = system
        self.lock = threading.RLock()
        self.cluster = _CLUSTERS.get(system)
        self.address = self.cluster.self_address if self.cluster is not None else system.address
        self.membership: Membership = membership_of(self.address, self.cluster)
        self.regions: dict[str, ShardRegion] = {}
        self.coordinators: dict[str, Coordinator] = {}
        # The coordinator singleton managers (type -> manager), the types
        # whose singleton runs here and the settings each type's regions gave.
        self.managers: dict[str, Any] = {}
        self.singleton_running: set[str] = set()
        self.type_settings: dict[str, ShardingSettings] = {}
        self.detached: list[ShardRegion] = []
        # Registrations that came before the type's coordinator singleton
        # started here: type -> region address -> (when, message).
        self.early: dict[str, dict[str, tuple[float, tuple[Any, ...]]]] = {}
        self.remember: RememberStore = remember_store(system)
        self.transport = Transport(system, self.cluster, self.address, self.receive_batch)
        self.closed = False
        self._timer: Optional[asyncio.TimerHandle] = None
        system.loop.call_soon_threadsafe(self._tick)
        try:
            COORDINATED_SHUTDOWN.get(system).add_task(
                "cluster-sharding-shutdown-region", "shutdown-regions", self._shutdown_regions)
        except Exception:  # noqa: BLE001 - a terminating system has no shutdown to join
            pass

    @staticmethod
    def of(system: "ActorSystem") -> "_Node":
        return _NODE.get(system)

    def shard_regions(self) -> list[str]:
        """The region ids of this system (the dashboard's sharding panel)."""
        with self.lock:
            return sorted(r.region_id for r in list(self.regions.values()) + self.detached
                          if not r._closed)

    def shutdown(self) -> None:
        """The system terminated."""
        self.close()

    async def _shutdown_regions(self) -> None:
        """The coordinated shutdown's sharding phase: the regions hand
        their shards off; it waits until they are gone."""
        with self.lock:
            regions = list(self.regions.values())
            for region in regions:
                region.shutdown()
        budget = max((r.settings._limit("graceful_shutdown_timeout") for r in regions),
                     default=0.0)
        try:
            # a little less than the phase's timeout, so it ends before the
            # phase gives up on it
            timeout = COORDINATED_SHUTDOWN.get(self.system).phase_timeout(
                "cluster-sharding-shutdown-region")
            budget = min(budget, max(timeout * 0.9, min(timeout, _TICK)))
        except Exception:  # noqa: BLE001 - a terminating system: no wait
            return
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline and not self.closed:
            with self.lock:
                if not any(r._leaving for r in regions):
                    return
            await asyncio.sleep(_TICK)

    # -- messaging ------------------------------------------------------------------

    def send(self, to: str, msg: tuple[Any, ...]) -> None:
        if to == self.address:
            self.receive(to, msg)
        else:
            self.transport.send(to, msg)

    def receive_batch(self, sender: str, batch: list[tuple[Any, ...]]) -> None:
        """Messages another node sent, in its order."""
        with self.lock:
            if self.closed:
                return
            regions = self.regions
            for msg in batch:
                if msg[0] == "msg":
                    # the common case: an entity of a shard hosted here
                    region = regions.get(msg[1])
                    if region is not None and region._props is not None:
                        state = region._shards.get(msg[2])
                        entity = region._entities.get(msg[3])
                        if state is not None and not state.stopping and entity is not None:
                            entity.tell(msg[4])
                            continue
                self.receive(sender, msg)

    def receive(self, sender: str, msg: tuple[Any, ...]) -> None:
        kind, type_name = msg[0], msg[1]
        with self.lock:
            if self.closed:
                return
            if kind in ("register", "get_home", "stopped", "region_gone", "graceful"):
                coord = self._coordinator(type_name, msg[-1] if kind == "register" else None)
                if coord is None:
                    self._keep_early(sender, msg)
                    return
                if kind == "register":
                    coord.register(sender, msg[2], list(msg[3]), list(msg[4]), list(msg[5]))
                elif kind == "get_home":
                    coord.get_home(msg[2], sender)
                elif kind == "stopped":
                    coord.stopped(sender, msg[2], msg[3])
                elif kind == "graceful":
                    coord.graceful(sender)
                else:
                    coord.region_gone(sender, msg[2] if len(msg) > 2 else None)
                return
            region = self.regions.get(type_name)
            if region is not None:
                region._on_message(sender, msg)

    def _coordinator(self, type_name: str,
                     settings: Optional[dict[str, Any]]) -> Optional[Coordinator]:
        """This node's coordinator of `type_name` when this node runs the
        coordinators now (created on first use)."""
        coord = self.coordinators.get(type_name)
        if coord is None:
            region = self.regions.get(type_name)
            if region is not None:
                s = region.settings
            elif settings is not None:
                s = ShardingSettings._from_wire(settings)
            elif type_name in self.type_settings:
                s = self.type_settings[type_name]
            else:
                return None
            self.type_settings.setdefault(type_name, s)
            if self.membership.coordinator_for(s.role) != self.address:
                return None
            if not self._alone():
                # On a cluster: only while this node runs the singleton.
                self._ensure_manager(type_name, s.role)
                if type_name not in self.singleton_running:
                    return None
            coord = self.coordinators[type_name] = Coordinator(
                self, type_name, s, self._state_store(type_name))
        elif self.membership.coordinator_for(coord.settings.role) != self.address:
            return None
        return coord

    def _state_store(self, type_name: str) -> Optional[Any]:
        """Where a coordinator of `type_name` on a cluster stores its state
        (None: alone, or ``cluster.sharding.state-store-mode = "regions"``)."""
        if self._alone() or self.closed:
            return None
        from atomr.cluster_sharding._state_store import StateStore, state_store_mode
        if state_store_mode(self.system) != "ddata":
            return None
        try:
            return StateStore(self, type_name)
        except Exception:  # noqa: BLE001 - a terminating system has no replicator
            return None

    def _alone(self) -> bool:
        """No cluster, or none joined: this node coordinates itself."""
        return self.cluster is None or self.membership.alive == {self.address}

    def _ensure_manager(self, type_name: str, role: Optional[str]) -> None:
        if type_name in self.managers or self.cluster is None or self.closed:
            return
        from atomr.cluster_sharding._singleton import start_manager
        from atomr.cluster_sharding._state_store import state_store_mode
        try:
            if state_store_mode(self.system) == "ddata":
                # every member's replicator holds a replica of the state
                from atomr.ddata import DistributedData
                _ = DistributedData.get(self.system).replicator
            self.managers[type_name] = start_manager(self, type_name, role)
        except Exception:  # noqa: BLE001 - a terminating system starts no actor
            pass

    def singleton_started(self, type_name: str) -> None:
        """The coordinator singleton of `type_name` started here."""
        self.singleton_running.add(type_name)
        coord = self._coordinator(type_name, None)
        early = self.early.pop(type_name, {})
        if coord is None:
            return
        now = time.monotonic()
        alive = self.membership.alive
        for sender, (when, msg) in sorted(early.items(), key=lambda kv: kv[1][0]):
            # (kept twice the retry interval: a region not registered by
            # then sent its registration again)
            if sender in alive and now - when < 2 * _RETRY:
                coord.register(sender, msg[2], list(msg[3]), list(msg[4]), list(msg[5]))

    def _keep_early(self, sender: str, msg: tuple[Any, ...]) -> None:
        """A message for the coordinator of a type whose singleton is
        about to start here (its manager runs, the singleton does not yet):
        the last registration of each region is kept for the coordinator
        (else the region would only register again after :data:`_RETRY`,
        when the coordinator may have allocated without it); a region that
        shut down meanwhile is forgotten."""
        type_name = msg[1]
        if type_name not in self.managers or type_name in self.singleton_running:
            return
        settings = self.type_settings.get(type_name)
        if settings is None or self.membership.coordinator_for(settings.role) != self.address:
            return
        kind = msg[0]
        if kind == "register":
            self.early.setdefault(type_name, {})[sender] = (time.monotonic(), msg)
        elif kind in ("region_gone", "graceful"):
            self.early.get(type_name, {}).pop(sender, None)

    def singleton_stopped(self, type_name: str) -> None:
        """It stopped (handed over to the next oldest)."""
        self.singleton_running.discard(type_name)
        if not self._alone():
            self.coordinators.pop(type_name, None)

    # -- the periodic tick ----------------------------------------------------------

    def _tick(self) -> None:
        self._timer = None
        if self.closed:
            return
        try:
            with self.lock:
                self._refresh_membership()
                now = time.monotonic()
                for type_name, coord in list(self.coordinators.items()):
                    if coord.store is None and not self._alone():
                        store = self._state_store(type_name)
                        if store is not None:
                            coord.attach_store(store)
                    coord.tick(now)
                for region in list(self.regions.values()):
                    region._tick(now)
                self.detached = [r for r in self.detached if not r._closed]
                for region in self.detached:
                    region._sweep(now)
        finally:
            if not self.closed:
                try:
                    self._timer = self.system.loop.call_later(_TICK, self._tick)
                except RuntimeError:  # the loop closed: the system terminated
                    self.close()

    def _refresh_membership(self) -> None:
        if self.cluster is None or self.cluster._closed:
            cluster = _CLUSTERS.get(self.system)
            if cluster is not None and cluster is not self.cluster:
                self._adopt(cluster)
        if self.cluster is not None and self.cluster._closed:
            self.cluster = None
        membership = membership_of(self.address, self.cluster)
        if membership == self.membership:
            return
        if membership.alive == {self.address} and self.membership.alive - {self.address} and \
                any(r._leaving for r in self.regions.values()):
            # Removed from the cluster while handing shards off: the others
            # still take them (until the hand-offs are done or time out).
            return
        self.membership = membership
        if membership.leaving:
            # A graceful leave: the regions hand their shards off (Akka runs
            # the sharding phase of the coordinated shutdown on leave).
            for region in list(self.regions.values()):
                if region._props is not None:
                    region.shutdown()
        for type_name, coord in list(self.coordinators.items()):
            if membership.coordinator_for(coord.settings.role) != self.address:
                del self.coordinators[type_name]
        for type_name in list(self.regions):
            if not self._alone():
                self._ensure_manager(type_name, self.regions[type_name].settings.role)
            self._coordinator(type_name, None)
        for coord in self.coordinators.values():
            coord.membership_changed()
        for region in list(self.regions.values()):
            region._membership_changed()

    def _adopt(self, cluster: Any) -> None:
        """The system got its cluster after its first region started: the
        node moves to the cluster's address and transport."""
        old = self.address
        self.cluster = cluster
        self.address = cluster.self_address
        if self.transport.registry is None and self.transport.remote is None:
            self.transport.close()
            self.transport = Transport(self.system, cluster, self.address, self.receive_batch)
        if old != self.address:
            for region in list(self.regions.values()):
                for shard, home in list(region._homes.items()):
                    if home == old:
                        region._homes[shard] = self.address
            for coord in self.coordinators.values():
                coord.readdress(old, self.address)

    def locked(self, fn: Callable[..., Any], *args: Any) -> None:
        """Calls ``fn(*args)`` under the node's lock (unless closed)."""
        with self.lock:
            if not self.closed:
                fn(*args)

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.transport.close()


@public_module("atomr.cluster_sharding")
class ShardRegion:
    """Routes messages to sharded entities (Akka's ``ShardRegion``).

    Start one per entity type and system with :meth:`start` (or a
    proxy, which hosts no entities, with :meth:`start_proxy`). On a system
    without a cluster, or whose cluster has no other member, the region
    hosts every shard itself. On joined systems the shards are spread
    over the regions of the type on every node by a coordinator on the
    oldest member, rebalanced as nodes join, and moved when a node leaves
    or dies.

    Entities are top-level actors of the hosting system, named
    ``<type_name>-<entity id>`` (characters outside ``[A-Za-z0-9_-]``
    replaced by ``_``; a later incarnation whose name is still taken gets
    a suffix starting with ``__inc``, a second region of the type on the
    same system one starting with ``__r``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use ShardRegion.start(...) or ShardRegion.start_proxy(...)")

    # -- creation ------------------------------------------------------------------

    @staticmethod
    def start(system: "ActorSystem", type_name: str, entity_props: Optional[Props],
              message_extractor: Callable[[Any], Any],
              settings: Optional[ShardingSettings] = None,
              shard_id_extractor: Optional[Callable[[Any], Any]] = None,
              unwrap_extractor: Optional[Callable[[Any], Any]] = None) -> "ShardRegion":
        """Starts the region of `type_name` on `system`.

        Extractors, in one of two forms:

        * one callable: ``message_extractor(msg)`` returns ``(entity_id,
          shard_id, payload)``; a pair ``(entity_id, payload)`` or a bare
          entity id (the payload is then the whole message) are taken too,
          the shard being ``str(hash(str(entity_id)) % 16)``;
        * three callables (when `shard_id_extractor` is given):
          ``message_extractor(msg)`` gives the entity id,
          ``shard_id_extractor(msg)`` the shard (an int ``i`` becomes
          ``str(abs(i) % (number_of_shards or 16))``) and
          ``unwrap_extractor(msg)`` (optional) the payload delivered.

        Ids are made ``str``. `entity_props` None starts a proxy.

        Raises:
            TypeError: a bad argument type.
            ValueError: an empty `type_name`.
        """
        return ShardRegion._create(system, type_name, entity_props, message_extractor,
                                   settings, shard_id_extractor, unwrap_extractor)

    @staticmethod
    def start_proxy(system: "ActorSystem", type_name: str,
                    message_extractor: Callable[[Any], Any],
                    settings: Optional[ShardingSettings] = None,
                    shard_id_extractor: Optional[Callable[[Any], Any]] = None,
                    unwrap_extractor: Optional[Callable[[Any], Any]] = None) -> "ShardRegion":
        """Starts a proxy of `type_name` on `system`: it routes messages
        to the regions of the type on the cluster's nodes and hosts no
        entity itself (Akka's ``startProxy``)."""
        return ShardRegion._create(system, type_name, None, message_extractor, settings,
                                   shard_id_extractor, unwrap_extractor)

    @staticmethod
    def _create(system: "ActorSystem", type_name: str, entity_props: Optional[Props],
                message_extractor: Any, settings: Optional[ShardingSettings],
                shard_id_extractor: Any, unwrap_extractor: Any) -> "ShardRegion":
        if not hasattr(system, "actor_of") or not hasattr(system, "loop"):
            raise TypeError(f"system must be an ActorSystem, not {type(system).__name__}")
        if not isinstance(type_name, str):
            raise TypeError(f"type_name must be a str, not {type(type_name).__name__}")
        if not type_name:
            raise ValueError("type_name must not be empty")
        if entity_props is not None and not isinstance(entity_props, Props):
            raise TypeError(f"entity_props must be Props, not {type(entity_props).__name__}")
        if not callable(message_extractor):
            raise TypeError("message_extractor must be callable")
        for name, fn in (("shard_id_extractor", shard_id_extractor),
                         ("unwrap_extractor", unwrap_extractor)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None")
        if settings is None:
            settings = ShardingSettings()
        elif not isinstance(settings, ShardingSettings):
            raise TypeError(f"settings must be ShardingSettings, not {type(settings).__name__}")
        settings = settings._resolved(system)
        if entity_props is not None and settings.role is not None:
            roles = system.config.get("cluster.roles") if hasattr(system, "config") else None
            if settings.role not in (roles or ()):
                entity_props = None  # a node without the role: a proxy
        self = object.__new__(ShardRegion)
        self._init(system, type_name, entity_props, message_extractor, settings,
                   shard_id_extractor, unwrap_extractor)
        return self

    def _init(self, system: "ActorSystem", type_name: str, entity_props: Optional[Props],
              message_extractor: Any, settings: ShardingSettings, shard_id_extractor: Any,
              unwrap_extractor: Any) -> None:
        self._system = system
        self._type_name = type_name
        self._props = entity_props
        self._extract = message_extractor
        self._extract_shard = shard_id_extractor
        self._unwrap = unwrap_extractor
        self.settings = settings
        self._closed = False
        # Shutting down gracefully: handing its shards off.
        self._leaving = False
        self._leave_started = 0.0
        self._graceful_sent = 0.0
        self._entities: dict[str, _Entity] = {}
        self._shards: dict[str, _Shard] = {}
        self._homes: dict[str, str] = {}
        self._buffers: dict[str, list[tuple[str, Any]]] = {}
        self._requested: dict[str, float] = {}
        self._handing: set[str] = set()
        self._early_drained: dict[str, set[str]] = {}
        self._registered_with: Optional[str] = None
        self._register_sent = 0.0
        self._incarnation = 0
        self._suffix = ""
        self._last_sweep = time.monotonic()
        self._last_reap = time.monotonic()
        node = _Node.of(system)
        self._node = node
        self._delegate: Optional[ShardRegion] = None
        with node.lock:
            existing = node.regions.get(type_name)
            if existing is not None and existing._leaving:
                existing._finish()
                existing = None
            if existing is not None and existing.is_proxy and entity_props is not None:
                # A proxy of this system hands its routing to the region.
                existing._delegate = self
                existing = None
            self._detached = existing is not None and not existing._closed
            if self._detached:
                # A second live region of the type on this system: it works
                # on its own, beside the first (as a region of an unjoined
                # system does).
                self._suffix = f"__r{id(self) & 0xffffff:x}"
                self._own_node: Optional[_Node] = None
                self._coord = Coordinator(node, type_name, settings)
                self._coord.active = True
                self._coord.regions[self._address] = set()
                node.detached.append(self)
            else:
                proxy = node.regions.get(type_name)
                node.regions[type_name] = self
                if not node._alone():
                    node._ensure_manager(type_name, settings.role)
                self._register()
                if proxy is not None and proxy._delegate is self:
                    buffered, proxy._buffers = proxy._buffers, {}
                    for shard, items in buffered.items():
                        for entity_id, payload in items:
                            self._route(shard, entity_id, payload)

    # -- properties ----------------------------------------------------------------

    @property
    def type_name(self) -> str:
        """The entity type this region serves."""
        return self._type_name

    @property
    def region_id(self) -> str:
        """``<type_name>@<system address>``."""
        return f"{self._type_name}@{self._system.address}"

    @property
    def is_proxy(self) -> bool:
        """Whether this region only routes (hosts no entity)."""
        return self._props is None

    @property
    def _address(self) -> str:
        return self._node.address

    def _coordinator_address(self) -> Optional[str]:
        return self._node.membership.coordinator_for(self.settings.role)

    def entity_count(self) -> int:
        """The entities alive in this region."""
        with self._node.lock:
            return len(self._entities)

    def entity_ids(self) -> list[str]:
        """The ids of the entities alive in this region, sorted."""
        with self._node.lock:
            return sorted(self._entities)

    def shard_count(self) -> int:
        """The shards this region hosts."""
        with self._node.lock:
            return len(self._shards)

    def shard_ids(self) -> list[str]:
        """The ids of the shards this region hosts, sorted."""
        with self._node.lock:
            return sorted(self._shards)

    # -- extracting ----------------------------------------------------------------

    def _extract_all(self, msg: Any) -> tuple[str, str, Any]:
        if self._extract_shard is not None:
            entity_id = str(self._extract(msg))
            shard = self._extract_shard(msg)
            if isinstance(shard, int) and not isinstance(shard, bool):
                shard = str(abs(shard) % (self.settings.number_of_shards or 16))
            payload = self._unwrap(msg) if self._unwrap is not None else msg
            return entity_id, str(shard), payload
        out = self._extract(msg)
        if type(out) is tuple and len(out) == 3:
            entity_id, shard, payload = out
            return (entity_id if type(entity_id) is str else str(entity_id),
                    shard if type(shard) is str else str(shard), payload)
        if isinstance(out, tuple) and len(out) == 2:
            entity_id = str(out[0])
            return entity_id, _default_shard(entity_id), out[1]
        entity_id = str(out)
        return entity_id, _default_shard(entity_id), msg

    # -- the API -------------------------------------------------------------------

    def tell(self, msg: Any) -> None:
        """Sends `msg`'s payload to the entity it names, started on first
        use.

        Raises:
            RuntimeError: the region was shut down.
        """
        if self._closed:
            raise RuntimeError(f"shard region {self.region_id} was shut down")
        entity_id, shard, payload = self._extract_all(msg)
        node = self._node
        with node.lock:
            target = self._delegate if self._delegate is not None and \
                not self._delegate._closed else self
            home = None if target._detached else target._homes.get(shard)
            if home is not None and shard not in target._handing and \
                    shard not in target._buffers:
                # the common case: the shard's home is known
                if home != node.address:
                    node.transport.send(home, ("msg", target._type_name, shard, entity_id,
                                               payload))
                    return
                entity = target._entities.get(entity_id)
                if entity is not None:
                    entity.tell(payload)
                    return
            target._route(shard, entity_id, payload)

    def entity_ref(self, entity_id: Any) -> ActorRef:
        """The ref of the entity `entity_id` in this region (started if
        needed; its shard is the one the extractors give for the id).

        Raises:
            RuntimeError: the region was shut down, or it is a proxy.
        """
        if self._closed:
            raise RuntimeError(f"shard region {self.region_id} was shut down")
        if self._props is None:
            raise RuntimeError(f"shard region {self.region_id} is a proxy: it hosts no entity")
        entity_id = str(entity_id)
        with self._node.lock:
            entity = self._entities.get(entity_id)
            if entity is None:
                shard = self._shard_of(entity_id)
                entity = self._start_entity(shard, entity_id)
            return entity.ref

    def _shard_of(self, entity_id: str) -> str:
        for entity in self._entities.values():
            if entity.id == entity_id:
                return entity.shard
        try:
            # the extractors applied to the id itself, when they take it
            # for a message of that entity
            extracted, shard, _ = self._extract_all(entity_id)
            if extracted == entity_id or self._extract_shard is not None:
                return shard
        except Exception:  # noqa: BLE001 - extractors made for messages, not ids
            pass
        return _default_shard(entity_id)

    def request_passivation(self, entity_id: Any) -> None:
        """Stops the entity `entity_id` once it has handled the messages
        it has, and forgets it (also for remember-entities). The next
        message for it starts a fresh instance."""
        entity_id = str(entity_id)
        with self._node.lock:
            entity = self._entities.get(entity_id)
            if entity is None:
                return
            self._passivate(entity)

    def shutdown(self) -> None:
        """Shuts the region down; idempotent. :meth:`tell` fails from now
        on.

        On a joined cluster with other regions of the type the shards are
        handed off as in a rebalance (Akka's graceful shutdown): the
        coordinator allocates no shard here any more; each shard's
        entities handle every message sent to them before, are stopped
        and start again on their shard's new region, which gets the
        messages sent meanwhile. The region is gone once it hosts no
        shard (or 20 s passed). Otherwise its
        entities are stopped at once. Remembered entities stay remembered
        (and move with their shards)."""
        with self._node.lock:
            if self._closed:
                return
            self._closed = True
            node = self._node
            if self._props is not None and not self._detached and \
                    node.regions.get(self._type_name) is self and \
                    self._coordinator_address() is not None and \
                    node.membership.alive - {self._address} and \
                    self._shards:
                self._leaving = True
                self._leave_started = time.monotonic()
                self._graceful_sent = 0.0
                self._send_graceful()
                return
            self._finish()

    def _send_graceful(self) -> None:
        coordinator = self._coordinator_address()
        if coordinator is None or self._registered_with != coordinator:
            return  # sent once registered
        self._graceful_sent = time.monotonic()
        self._node.send(coordinator, ("graceful", self._type_name))

    def _finish(self) -> None:
        """Stops what is left of the region and tells the coordinator
        (under the node's lock)."""
        self._leaving = False
        for entity in list(self._entities.values()):
            entity.tell(_STOP)
        self._entities.clear()
        self._shards.clear()
        self._buffers.clear()
        node = self._node
        if not self._detached and node.regions.get(self._type_name) is self:
            del node.regions[self._type_name]
            coordinator = self._coordinator_address()
            if coordinator is not None:
                remembered = {}
                if self.settings.remember_entities and self._props is not None:
                    remembered = node.remember.entities(self._type_name)
                node.send(coordinator, ("region_gone", self._type_name, remembered))

    # -- routing -------------------------------------------------------------------

    def _route(self, shard: str, entity_id: str, payload: Any, start_only: bool = False) -> None:
        """Delivers or buffers one message (under the node's lock)."""
        if shard in self._handing or shard in self._buffers:
            self._buffer(shard, entity_id, payload, start_only)
            return
        home = self._home(shard)
        if home is None:
            self._buffer(shard, entity_id, payload, start_only)
            self._request_home(shard)
            return
        self._deliver_to(home, shard, entity_id, payload, start_only)

    def _home(self, shard: str) -> Optional[str]:
        if self._detached:
            return self._address
        return self._homes.get(shard)

    def _deliver_to(self, home: str, shard: str, entity_id: str, payload: Any,
                    start_only: bool) -> None:
        if home == self._address and self._props is not None:
            entity = self._entities.get(entity_id)
            if entity is None:
                entity = self._start_entity(shard, entity_id)
            if not start_only:
                entity.tell(payload)
        elif not start_only:
            self._node.send(home, ("msg", self._type_name, shard, entity_id, payload))

    def _buffer(self, shard: str, entity_id: str, payload: Any, start_only: bool) -> None:
        if not start_only:
            self._buffers.setdefault(shard, []).append((entity_id, payload))

    def _request_home(self, shard: str) -> None:
        if shard in self._requested:
            return
        coordinator = self._coordinator_address()
        self._requested[shard] = time.monotonic()
        if coordinator is None or self._registered_with != coordinator:
            return  # asked again once registered
        self._node.send(coordinator, ("get_home", self._type_name, shard))

    def _flush(self, shard: str) -> None:
        if shard in self._handing:
            return
        home = self._home(shard)
        if home is None:
            return
        pending = self._buffers.pop(shard, [])
        for entity_id, payload in pending:
            self._deliver_to(home, shard, entity_id, payload, False)

    # -- entities ------------------------------------------------------------------

    def _start_entity(self, shard: str, entity_id: str) -> _Entity:
        assert self._props is not None
        entity = _Entity(entity_id, shard)
        inner = self._props.factory

        def factory() -> Any:
            return _Shell(inner(), entity)

        entity_props = self._props._copy(factory=factory)
        entity.gated = self.settings.remember_entities
        base = _entity_name(self._type_name, entity_id) + self._suffix
        name = base
        while True:
            try:
                entity.ref = self._system.actor_of(entity_props, name)
                break
            except ActorNameTakenError:
                self._incarnation += 1
                name = f"{base}__inc{self._incarnation}"
        self._entities[entity_id] = entity
        state = self._shards.get(shard)
        if state is None:
            state = self._shards[shard] = _Shard(shard)
        state.entities.add(entity_id)
        if self.settings.remember_entities:
            # With a shared journal the entity handles no message before
            # its start is written there: were this node to die after it
            # handled one, the entity would start again elsewhere.
            node = self._node
            if not node.remember.started(self._type_name, shard, entity_id,
                                         lambda: node.locked(entity.release)):
                entity.release()
        return entity

    def _passivate(self, entity: _Entity) -> None:
        del self._entities[entity.id]
        state = self._shards.get(entity.shard)
        if state is not None:
            state.entities.discard(entity.id)
        entity.tell(_STOP)
        if self.settings.remember_entities:
            self._node.remember.stopped(self._type_name, entity.shard, entity.id)

    def _remembered_ids(self) -> dict[str, list[str]]:
        if not self.settings.remember_entities or self._props is None:
            return {}
        return self._node.remember.entities(self._type_name)

    # -- messages from the other nodes -------------------------------------------------

    def _on_message(self, sender: str, msg: tuple[Any, ...]) -> None:
        if self._closed and not self._leaving:
            return
        kind = msg[0]
        if kind == "msg":
            _, _, shard, entity_id, payload = msg
            state = self._shards.get(shard)
            if state is not None and not state.stopping and self._props is not None:
                # Hosted here (even while its hand-off waits for the other
                # regions to drain: this one was sent before).
                self._deliver_to(self._address, shard, entity_id, payload, False)
            else:
                self._route(shard, entity_id, payload)
        elif kind == "home":
            _, _, shard, home, entity_ids = msg
            self._on_home(shard, home, entity_ids)
        elif kind == "registered":
            if sender != self._coordinator_address():
                return
            self._registered_with = sender
            if self._leaving:
                self._send_graceful()
            for shard, home in msg[2].items():
                if home != self._address or shard in self._shards:
                    self._homes[shard] = home
                    self._handing.discard(shard)
            for shard in list(self._handing):
                # A hand-off the previous coordinator began: the new one
                # announces the shard's home once it is stopped.
                if shard not in self._buffers:
                    self._buffers[shard] = []
            for shard in list(self._buffers):
                if self._home(shard) is not None:
                    self._flush(shard)
            for shard in list(self._buffers):
                if self._home(shard) is None:
                    self._requested.pop(shard, None)
                    self._request_home(shard)
        elif kind == "begin":
            _, _, shard, home, participants = msg
            self._handing.add(shard)
            self._homes.pop(shard, None)
            # Its new home is announced once the hand-off is done; should
            # that announcement be lost, the shard's home is asked for
            # again every retry interval (the coordinator answers once the
            # hand-off is done), so what is buffered for it goes on.
            self._requested[shard] = time.monotonic()
            if home == self._address:
                state = self._shards.get(shard)
                if state is None:
                    state = self._shards[shard] = _Shard(shard)
                waiting = set(participants) & self._node.membership.alive
                waiting -= {self._address}
                waiting -= self._early_drained.pop(shard, set())
                state.waiting = waiting
                state.since = time.monotonic()
                self._check_drained(state)
            else:
                self._node.send(home, ("drained", self._type_name, shard))
        elif kind == "drained":
            shard = msg[2]
            state = self._shards.get(shard)
            if state is not None and state.waiting is not None:
                state.waiting.discard(sender)
                self._check_drained(state)
            else:
                self._early_drained.setdefault(shard, set()).add(sender)
        elif kind == "drop":
            shard = msg[2]
            state = self._shards.pop(shard, None)
            if state is not None:
                for entity_id in state.entities:
                    entity = self._entities.pop(entity_id, None)
                    if entity is not None:
                        entity.tell(_STOP)

    def _on_home(self, shard: str, home: str, entity_ids: Optional[list[str]]) -> None:
        self._homes[shard] = home
        self._handing.discard(shard)
        self._requested.pop(shard, None)
        if home == self._address and self._props is not None:
            if shard not in self._shards:
                self._shards[shard] = _Shard(shard)
            if self.settings.remember_entities:
                store = self._node.remember
                if entity_ids:
                    store.adopt(self._type_name, shard, entity_ids)
                self._start_remembered(shard, store.entities(self._type_name).get(shard, []))
                if store.durable:
                    store.load(self._type_name, shard,
                               lambda ids: self._node.locked(self._start_remembered, shard, ids))
        self._flush(shard)

    def _start_remembered(self, shard: str, ids: list[str]) -> None:
        state = self._shards.get(shard)
        if self._closed or state is None or state.stopping or self._homes.get(shard) != \
                self._address:
            return
        for entity_id in ids:
            if entity_id not in self._entities:
                self._start_entity(shard, entity_id)

    def _check_drained(self, state: _Shard) -> None:
        if state.waiting or state.stopping:
            return
        state.stopping = True
        state.since = time.monotonic()
        state.refs = []
        for entity_id in sorted(state.entities):
            entity = self._entities.pop(entity_id, None)
            if entity is not None:
                entity.tell(_STOP)
                state.refs.append(entity.ref)
        self._check_stopped(state)

    def _check_stopped(self, state: _Shard) -> None:
        if not state.stopping:
            return
        if any(not ref.is_terminated() for ref in state.refs):
            if time.monotonic() - state.since >= self.settings._limit("hand_off_timeout"):
                # An entity still busy (a handler that does not return,
                # an endless stream of its own messages): stopped outright.
                for ref in state.refs:
                    ref.stop()
            return
        del self._shards[state.id]
        ids = sorted(state.entities) if self.settings.remember_entities else None
        if ids is not None:
            self._node.remember.handed_off(self._type_name, state.id)
        coordinator = self._coordinator_address()
        if coordinator is not None:
            self._node.send(coordinator, ("stopped", self._type_name, state.id, ids))

    # -- the tick ------------------------------------------------------------------

    def _register(self) -> None:
        if self._detached or (self._closed and not self._leaving):
            return
        coordinator = self._coordinator_address()
        if coordinator is None:
            return
        self._register_sent = time.monotonic()
        remembered = sorted(self._remembered_ids())
        self._node.send(coordinator, ("register", self._type_name, self._props is None,
                                      sorted(s for s, st in self._shards.items()
                                             if not st.stopping), remembered,
                                      sorted(s for s, st in self._shards.items()
                                             if st.stopping),
                                      self.settings._wire()))

    def _membership_changed(self) -> None:
        membership = self._node.membership
        for shard, home in list(self._homes.items()):
            if home not in membership.alive:
                del self._homes[shard]
        for state in self._shards.values():
            if state.waiting is not None:
                state.waiting &= membership.alive
                self._check_drained(state)
        if self._coordinator_address() != self._registered_with:
            self._registered_with = None
            self._register()

    def _tick(self, now: float) -> None:
        if (self._closed and not self._leaving) or self._detached:
            return
        if self._leaving:
            if not self._shards and not self._buffers or \
                    now - self._leave_started >= \
                    self.settings._limit("graceful_shutdown_timeout"):
                self._finish()
                return
            if self._registered_with is not None and now - self._graceful_sent >= _RETRY:
                self._send_graceful()
        if self._registered_with is None and now - self._register_sent >= _RETRY:
            self._register()
        for shard, asked in list(self._requested.items()):
            if now - asked >= _RETRY:
                del self._requested[shard]
                self._request_home(shard)
        for state in list(self._shards.values()):
            if state.stopping:
                self._check_stopped(state)
            elif state.waiting and now - state.since >= self.settings._limit("hand_off_timeout"):
                state.waiting = set()
                self._check_drained(state)
        if now - self._last_reap >= _RETRY:
            self._last_reap = now
            for entity in list(self._entities.values()):
                if entity.ref.is_terminated():
                    # It stopped by itself (or failed for good).
                    del self._entities[entity.id]
                    owner = self._shards.get(entity.shard)
                    if owner is not None:
                        owner.entities.discard(entity.id)
        self._sweep(now)

    def _sweep(self, now: float) -> None:
        timeout = self.settings.passivation_idle_timeout
        if timeout is None:
            return
        interval = min(max(timeout / 2, 0.05), 5.0)
        if now - self._last_sweep < interval:
            return
        self._last_sweep = now
        for entity in list(self._entities.values()):
            if now - entity.last > timeout:
                del self._entities[entity.id]
                state = self._shards.get(entity.shard)
                if state is not None:
                    state.entities.discard(entity.id)
                entity.tell(_STOP)

    def __repr__(self) -> str:
        kind = "proxy" if self._props is None else "region"
        return f"<ShardRegion {kind} {self.region_id} entities={len(self._entities)}>"
