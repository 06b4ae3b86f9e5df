"""Cluster-aware routers: routers whose routees live on the cluster's members.

A **group** (:func:`cluster_router_group`) routes to actors that already run
at the given paths (``/user/worker``) on every member that is up (or weakly
up), reachable and has one of the roles; a **pool** (:func:`cluster_router_pool`)
deploys its routees itself, at most ``max_instances_per_node`` on each such
member and ``total_instances`` in all. Both follow the membership: a member
that comes up gets routees, one that becomes unreachable or is removed
loses them (a pool deploys replacements on the other members), one that is
reachable again gets them back.

A pool deploys on another member by asking that member's deployer (an
actor the :class:`ClusterRouting` extension runs on each node, as Akka's
remote daemon) to start the routee from the qualified name of its Actor
class, so the class must be importable there and the members' systems must
run ``ClusterRouting.get(system)``. Messages to routees on other members
cross the wire through the codec registries (as ``tell_remote``): the
message types need codecs on both sides.

Example:
    >>> settings = ClusterRouterPoolSettings(total_instances=6, max_instances_per_node=2)
    >>> pool = cluster_router_pool(props(Worker), "round_robin", settings)  # doctest: +SKIP
    >>> router = system.actor_of(pool, "workers")                     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import logging
import random as _random
import threading
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

from atomr._util import public_module
from atomr.actor import Actor, ActorRef, Props, Terminated, props
from atomr.actor.extension import Extension, ExtensionId
from atomr.cluster._extension import Cluster
from atomr.cluster._nodes import ensure_messaging, messaging_address, node_ref
from atomr.cluster.events import MemberEvent, MemberRemoved
from atomr.routing import Broadcast, GetRoutees

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = [
    "ClusterRouterGroupSettings",
    "ClusterRouterPoolSettings",
    "ClusterRouting",
    "ConsistentHashableEnvelope",
    "Routee",
    "RoutingLogic",
    "cluster_router_group",
    "cluster_router_pool",
    "LOGICS",
]

_log = logging.getLogger("atomr.cluster.routing")

#: The routing logics named by str (an :class:`RoutingLogic` instance works too).
LOGICS = ("round_robin", "random", "broadcast", "consistent_hash", "adaptive")

#: The name of the deployer actor on each node (``/user/<name>``).
DEPLOYER = "atomr-cluster-deployer"

# How often a router re-reads the membership besides reacting to events,
# and how long a remote deployment may go unconfirmed before it is retried.
_REFRESH = 1.0
_DEPLOY_TIMEOUT = 10.0

_ROUTABLE = ("up", "weaklyup", "weakly_up")


def _roles(use_roles: Any) -> Optional[frozenset[str]]:
    if use_roles is None:
        return None
    if isinstance(use_roles, str):
        use_roles = [use_roles]
    try:
        roles = frozenset(use_roles)
    except TypeError:
        raise TypeError(f"use_roles must be a str, an iterable of str or None, not "
                        f"{type(use_roles).__name__}") from None
    if not roles or not all(isinstance(r, str) and r for r in roles):
        raise ValueError(f"use_roles must name at least one non-empty role, got {use_roles!r}")
    return roles


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


@public_module("atomr.cluster.routing")
class ClusterRouterGroupSettings:
    """Where a cluster-aware group router finds its routees.

    Args:
        routees_paths: Actor paths without address (``"/user/worker"``),
            looked up on every member the router uses.
        allow_local_routees: Whether this node's own actors are routees.
        use_roles: A role (or roles): only members with one of them are
            used; None: every member.

    Raises:
        ValueError: no paths, a path that does not start with ``/user/``,
            or an empty role list.
        TypeError: an argument has the wrong type.
    """

    __slots__ = ("routees_paths", "allow_local_routees", "use_roles")

    def __init__(self, routees_paths: Iterable[str], allow_local_routees: bool = True,
                 use_roles: Union[str, Iterable[str], None] = None) -> None:
        if isinstance(routees_paths, str):
            routees_paths = [routees_paths]
        paths = list(routees_paths)
        if not paths:
            raise ValueError("a cluster router group needs at least one routee path")
        for p in paths:
            if not isinstance(p, str):
                raise TypeError(f"routee paths must be str, not {type(p).__name__}")
            if not p.startswith("/user/") or len(p) <= len("/user/") or "//" in p:
                raise ValueError(f"routee path {p!r} must be an actor path without address, "
                                 "like '/user/worker'")
        if len(set(paths)) != len(paths):
            raise ValueError(f"routee paths repeat: {paths!r}")
        self.routees_paths: tuple[str, ...] = tuple(paths)
        self.allow_local_routees = _check_bool("allow_local_routees", allow_local_routees)
        self.use_roles = _roles(use_roles)

    def __repr__(self) -> str:
        return (f"ClusterRouterGroupSettings({list(self.routees_paths)!r}, "
                f"allow_local_routees={self.allow_local_routees}, "
                f"use_roles={sorted(self.use_roles) if self.use_roles else None})")


@public_module("atomr.cluster.routing")
class ClusterRouterPoolSettings:
    """How many routees a cluster-aware pool router deploys, and where.

    Args:
        total_instances: Routees in all (at most).
        max_instances_per_node: Routees on any one member (at most).
        allow_local_routees: Whether routees run on this node too.
        use_roles: A role (or roles): only members with one of them get
            routees; None: every member.

    Raises:
        ValueError: a count below 1, or an empty role list.
        TypeError: an argument has the wrong type.
    """

    __slots__ = ("total_instances", "max_instances_per_node", "allow_local_routees",
                 "use_roles")

    def __init__(self, total_instances: int, max_instances_per_node: int = 1,
                 allow_local_routees: bool = True,
                 use_roles: Union[str, Iterable[str], None] = None) -> None:
        self.total_instances = _check_count("total_instances", total_instances)
        self.max_instances_per_node = _check_count("max_instances_per_node",
                                                   max_instances_per_node)
        self.allow_local_routees = _check_bool("allow_local_routees", allow_local_routees)
        self.use_roles = _roles(use_roles)

    def __repr__(self) -> str:
        return (f"ClusterRouterPoolSettings(total_instances={self.total_instances}, "
                f"max_instances_per_node={self.max_instances_per_node}, "
                f"allow_local_routees={self.allow_local_routees}, "
                f"use_roles={sorted(self.use_roles) if self.use_roles else None})")


@public_module("atomr.cluster.routing")
class ConsistentHashableEnvelope:
    """A message with the key a ``"consistent_hash"`` cluster router routes
    it by: every message of one key goes to the same routee while the
    routees stay the same (rendezvous hashing, so a routee that comes or
    goes moves only its own share of the keys). The routee gets `message`.

    Attributes:
        message: The message delivered.
        hash_key: The key (str, bytes or int).
    """

    __slots__ = ("message", "hash_key")

    def __init__(self, message: Any, hash_key: Any) -> None:
        if not isinstance(hash_key, (str, bytes, int)) or isinstance(hash_key, bool):
            raise TypeError(f"hash_key must be a str, bytes or int, not "
                            f"{type(hash_key).__name__}")
        self.message = message
        self.hash_key = hash_key

    def __repr__(self) -> str:
        return f"ConsistentHashableEnvelope({self.message!r}, {self.hash_key!r})"


@public_module("atomr.cluster.routing")
class Routee:
    """One routee of a cluster-aware router: the member it runs on and a
    ref to it (a local :class:`~atomr.ActorRef` on this node, a
    :class:`~atomr.remote.RemoteActorRef` on another).

    Attributes:
        address: The member's cluster address.
        path: The routee's path (with its messaging address).
        ref: The ref messages are sent to.
    """

    __slots__ = ("address", "path", "ref")

    def __init__(self, address: str, path: str, ref: Any) -> None:
        self.address = address
        self.path = path
        self.ref = ref

    def __repr__(self) -> str:
        return f"Routee({self.path!r})"


@public_module("atomr.cluster.routing")
class RoutingLogic:
    """How a cluster-aware router chooses routees for a message; subclass it
    for a logic of your own. Each router gets its own instance
    (:meth:`copy`); its methods run on the router's thread.
    """

    def copy(self) -> "RoutingLogic":
        """A fresh instance for one router (default: a shallow copy)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def start(self, system: "ActorSystem") -> None:
        """Called once as the router starts, on its thread."""

    def select(self, message: Any, routees: Sequence[Routee]) -> Sequence[Routee]:
        """The routees `message` goes to (routees is never empty)."""
        raise NotImplementedError


class _RoundRobin(RoutingLogic):
    def __init__(self) -> None:
        self._next = itertools.count()

    def copy(self) -> RoutingLogic:
        return _RoundRobin()

    def select(self, message: Any, routees: Sequence[Routee]) -> Sequence[Routee]:
        return [routees[next(self._next) % len(routees)]]


class _Random(RoutingLogic):
    def __init__(self) -> None:
        self._rng = _random.Random()

    def copy(self) -> RoutingLogic:
        return _Random()

    def select(self, message: Any, routees: Sequence[Routee]) -> Sequence[Routee]:
        return [routees[self._rng.randrange(len(routees))]]


class _Broadcast(RoutingLogic):
    def copy(self) -> RoutingLogic:
        return _Broadcast()

    def select(self, message: Any, routees: Sequence[Routee]) -> Sequence[Routee]:
        return list(routees)


def _key_bytes(key: Any) -> bytes:
    if isinstance(key, bytes):
        return key
    return str(key).encode("utf-8")


class _ConsistentHash(RoutingLogic):
    def copy(self) -> RoutingLogic:
        return _ConsistentHash()

    def select(self, message: Any, routees: Sequence[Routee]) -> Sequence[Routee]:
        if not isinstance(message, ConsistentHashableEnvelope):
            _log.warning("a consistent_hash cluster router got %r without a key "
                         "(wrap it in ConsistentHashableEnvelope); dropped", message)
            return []
        key = _key_bytes(message.hash_key)

        def score(r: Routee) -> bytes:
            return hashlib.blake2b(key + b"\0" + r.path.encode(), digest_size=8).digest()

        return [max(routees, key=score)]


def _logic(logic: Any) -> RoutingLogic:
    if isinstance(logic, RoutingLogic):
        return logic
    if logic == "round_robin":
        return _RoundRobin()
    if logic == "random":
        return _Random()
    if logic == "broadcast":
        return _Broadcast()
    if logic == "consistent_hash":
        return _ConsistentHash()
    if logic == "adaptive":
        # The metrics layer sits above the cluster: found by name.
        metrics = importlib.import_module("atomr.cluster_metrics")
        return metrics.AdaptiveLoadBalancingLogic()
    if isinstance(logic, str):
        raise ValueError(f"unknown cluster routing logic {logic!r} (expected one of "
                         f"{', '.join(LOGICS)}, or a RoutingLogic)")
    raise TypeError(f"logic must be a str or a RoutingLogic, not {type(logic).__name__}")


def _class_name(child_props: Props) -> tuple[str, str]:
    """The module and qualified name a pool's routees are deployed from."""
    cls = child_props.factory
    if not (isinstance(cls, type) and issubclass(cls, Actor)):
        raise ValueError("a cluster router pool deploys its routees on other nodes by class "
                         "name: give Props of an Actor subclass built without arguments "
                         "(props(Worker)), not a factory")
    module, qualname = cls.__module__, cls.__qualname__
    if "<locals>" in qualname or _load_class(module, qualname) is not cls:
        raise ValueError(f"{module}.{qualname} cannot be imported by its qualified name; "
                         "a cluster router pool needs a module-level Actor class")
    return module, qualname


def _load_class(module: str, qualname: str) -> Any:
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


@public_module("atomr.cluster.routing")
def cluster_router_group(logic: Union[str, RoutingLogic],
                         settings: ClusterRouterGroupSettings) -> Props:
    """Props of a cluster-aware group router (see the module doc).

    Args:
        logic: ``"round_robin"``, ``"random"``, ``"broadcast"``,
            ``"consistent_hash"`` (messages wrapped in
            :class:`ConsistentHashableEnvelope`), ``"adaptive"`` (by the
            members' metrics, :mod:`atomr.cluster_metrics`), or a
            :class:`RoutingLogic`.
        settings: The routee paths and which members to use.

    Raises:
        ValueError: an unknown logic.
        TypeError: `settings` is not a :class:`ClusterRouterGroupSettings`.
    """
    if not isinstance(settings, ClusterRouterGroupSettings):
        raise TypeError(f"settings must be ClusterRouterGroupSettings, not "
                        f"{type(settings).__name__}")
    template = _logic(logic)
    return Props(lambda: _ClusterRouterHead(template.copy(), settings, None), kind="router")


@public_module("atomr.cluster.routing")
def cluster_router_pool(child_props: Props, logic: Union[str, RoutingLogic],
                        settings: ClusterRouterPoolSettings) -> Props:
    """Props of a cluster-aware pool router (see the module doc).

    Args:
        child_props: The routees' Props: of a module-level Actor subclass
            without constructor arguments (``props(Worker)``), which is what
            other nodes deploy by name; its dispatcher is kept.
        logic: As for :func:`cluster_router_group`.
        settings: How many routees, and where.

    Raises:
        ValueError: an unknown logic, or Props other nodes cannot deploy.
        TypeError: an argument has the wrong type.
    """
    if not isinstance(child_props, Props):
        raise TypeError(f"expected Props for the routees, not {type(child_props).__name__}")
    if not isinstance(settings, ClusterRouterPoolSettings):
        raise TypeError(f"settings must be ClusterRouterPoolSettings, not "
                        f"{type(settings).__name__}")
    template = _logic(logic)
    deploy = _class_name(child_props)
    return Props(lambda: _ClusterRouterHead(template.copy(), settings, (child_props, deploy)),
                 child_props.dispatcher, child_props.interpreter_role, kind="router")


# -- the wire messages between routers and deployers ----------------------------------


class _Deploy:
    """Router -> a member's deployer: start routee `name` from the class."""

    __slots__ = ("module", "qualname", "dispatcher", "name", "owner", "reply_to")

    def __init__(self, module: str, qualname: str, dispatcher: str, name: str, owner: str,
                 reply_to: str) -> None:
        self.module = module
        self.qualname = qualname
        self.dispatcher = dispatcher
        self.name = name
        self.owner = owner
        self.reply_to = reply_to


class _Deployed:
    """Deployer -> router: the routee `name` runs (or `error`)."""

    __slots__ = ("name", "error")

    def __init__(self, name: str, error: str) -> None:
        self.name = name
        self.error = error


class _Undeploy:
    """Router -> deployer: stop the routee `name`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_WIRE_TYPES: dict[str, type] = {"_Deploy": _Deploy, "_Deployed": _Deployed,
                                "_Undeploy": _Undeploy}


def _encode(obj: Any) -> bytes:
    return json.dumps([type(obj).__name__, [getattr(obj, s) for s in obj.__slots__]]).encode()


def _decode(blob: bytes) -> Any:
    kind, fields = json.loads(blob)
    return _WIRE_TYPES[kind](*fields)


def register_wire_codecs(system: "ActorSystem") -> None:
    """Registers the codecs of the routers' and deployers' messages."""
    manifests = [f"{__name__}.{name}" for name in _WIRE_TYPES]
    system.register_codec("atomr-cluster-routing", _encode, _decode, manifests, force=True)


# -- the deployer --------------------------------------------------------------------


class _Deployer(Actor):
    """Starts the routees cluster-aware pools on other members deploy here,
    and stops them when their router's member is removed."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}  # routee name -> owning member address

    def pre_start(self, ctx: Any) -> None:
        ctx.system.event_stream.subscribe(ctx.self_ref, MemberRemoved)

    def post_stop(self, ctx: Any) -> None:
        ctx.system.event_stream.unsubscribe(ctx.self_ref)

    def handle(self, ctx: Any, msg: Any) -> Any:
        system = ctx.system
        if isinstance(msg, _Deploy):
            error = ""
            cls = _load_class(msg.module, msg.qualname)
            if not (isinstance(cls, type) and issubclass(cls, Actor)):
                error = f"{msg.module}.{msg.qualname} is not an importable Actor class here"
            else:
                try:
                    system.actor_of(props(cls, dispatcher=msg.dispatcher), msg.name)
                    self._owners[msg.name] = msg.owner
                except Exception as exc:  # noqa: BLE001 - reported to the router
                    error = f"{type(exc).__name__}: {exc}"
            if error:
                _log.error("cluster router deployment of %s failed: %s", msg.name, error)
            try:
                system.actor_selection(msg.reply_to).tell(_Deployed(msg.name, error))
            except Exception as exc:  # noqa: BLE001 - the router retries
                _log.warning("cannot answer the deployment of %s: %s", msg.name, exc)
            return None
        if isinstance(msg, _Undeploy):
            self._stop(ctx, msg.name)
            return None
        if isinstance(msg, MemberRemoved):
            for name, owner in list(self._owners.items()):
                if owner == msg.member.address:
                    self._stop(ctx, name)
            return None
        return None

    def _stop(self, ctx: Any, name: str) -> None:
        self._owners.pop(name, None)
        ref = ctx.system.top_level(name)
        if ref is not None:
            ctx.stop(ref)


class _ClusterRoutingId(ExtensionId["ClusterRouting"]):
    def create_extension(self, system: "ActorSystem") -> "ClusterRouting":
        return ClusterRouting._create(system)


_CLUSTER_ROUTING = _ClusterRoutingId()


@public_module("atomr.cluster.routing")
class ClusterRouting(Extension):
    """A node's part in cluster-aware routing: the codecs of the routers'
    messages and the deployer that starts other members' pool routees here
    (``/user/atomr-cluster-deployer``). Every member that hosts routees of
    cluster-aware pools runs it (:meth:`get`); a router starts it on its
    own node. Starting it also gives a member of an in-process
    :class:`~atomr.cluster.ClusterRegistry` the messaging transport it
    reaches other members' actors by.
    """

    _system: "ActorSystem"
    _cluster: Cluster
    _deployer: ActorRef

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use ClusterRouting.get(system)")

    @staticmethod
    def get(system: "ActorSystem") -> "ClusterRouting":
        """The cluster routing of `system` (its cluster is :meth:`Cluster.get`'s)."""
        return _CLUSTER_ROUTING.get(system)

    @classmethod
    def _create(cls, system: "ActorSystem") -> "ClusterRouting":
        self = object.__new__(cls)
        self._system = system
        self._cluster = Cluster.get(system)
        ensure_messaging(self._cluster)
        register_wire_codecs(system)
        self._deployer = system.actor_of(props(_Deployer), DEPLOYER)
        return self

    @property
    def cluster(self) -> Cluster:
        """The node's cluster."""
        return self._cluster

    def __repr__(self) -> str:
        return f"<ClusterRouting {self._cluster.self_address}>"


# -- the router ----------------------------------------------------------------------


class _Refresh:
    __slots__ = ()


_ids = itertools.count()
_ids_lock = threading.Lock()


class _ClusterRouterHead(Actor):
    """A cluster-aware router: keeps its routees in line with the members
    and routes each message by its logic."""

    def __init__(self, logic: RoutingLogic, settings: Any,
                 pool: Optional[tuple[Props, tuple[str, str]]]) -> None:
        self._logic = logic
        self._settings = settings
        self._pool = pool
        self._routees: list[Routee] = []
        self._refs: dict[tuple[str, str], Any] = {}  # group: (member, path) -> ref
        # pool: member -> {routee name: (ref or None while unconfirmed, deadline)}
        self._deployed: dict[str, dict[str, list[Any]]] = {}
        self._unreachable_orphans: dict[str, list[str]] = {}
        self._serial = 0
        self._tag = ""

    # -- life cycle -------------------------------------------------------------------

    def pre_start(self, ctx: Any) -> None:
        system = ctx.system
        self._cluster = Cluster.get(system)
        ClusterRouting.get(system)
        with _ids_lock:
            n = next(_ids)
        self._tag = f"{ctx.self_ref.name}-{self._cluster.self_uid & 0xFFFFFFFF:08x}-{n}"
        self._logic.start(system)
        system.event_stream.subscribe(ctx.self_ref, MemberEvent)
        ctx.schedule_periodically(initial=_REFRESH, interval=_REFRESH, msg=_Refresh())
        self._refresh(ctx)

    def post_stop(self, ctx: Any) -> None:
        ctx.system.event_stream.unsubscribe(ctx.self_ref)
        me = self._cluster.self_address
        for member, names in self._deployed.items():
            if member == me:
                continue
            deployer = node_ref(self._cluster, member, DEPLOYER)
            for name in names:
                if deployer is not None:
                    deployer.tell(_Undeploy(name))

    # -- membership -------------------------------------------------------------------

    def _eligible(self) -> tuple[list[str], set[str], set[str]]:
        """(routable members, members unreachable, every member) in this node's view."""
        cluster = self._cluster
        me = cluster.self_address
        unreachable = set(cluster.unreachable_members())
        members = cluster.membership_snapshot().members()
        roles = self._settings.use_roles
        out = []
        known = set()
        for m in members:
            if m.status in ("down", "removed", "exiting"):
                continue
            known.add(m.address)
            if m.status not in _ROUTABLE or m.address in unreachable:
                continue
            if m.address == me and not self._settings.allow_local_routees:
                continue
            if roles is not None and not roles.intersection(m.roles):
                continue
            out.append(m.address)
        return sorted(out), unreachable, known

    def _refresh(self, ctx: Any) -> None:
        eligible, unreachable, known = self._eligible()
        if self._pool is None:
            self._refresh_group(ctx, eligible)
        else:
            self._refresh_pool(ctx, eligible, unreachable, known)

    def _refresh_group(self, ctx: Any, eligible: list[str]) -> None:
        routees = []
        me = self._cluster.self_address
        for member in eligible:
            for path in self._settings.routees_paths:
                if member == me:
                    # Looked up each time: a local actor that stopped is no
                    # routee, a new one at the path is.
                    ref = ctx.system.actor_selection(path)
                    if ref is None:
                        continue  # not started (yet) on this node
                    routees.append(Routee(member, ref.path, ref))
                    continue
                ref = self._refs.get((member, path))
                if ref is None:
                    address = messaging_address(self._cluster, member)
                    if address is None:
                        continue
                    ref = ctx.system.actor_selection(address + path)
                    self._refs[(member, path)] = ref
                routees.append(Routee(member, ref.path, ref))
        self._refs = {k: v for k, v in self._refs.items() if k[0] in eligible}
        self._routees = routees

    def _refresh_pool(self, ctx: Any, eligible: list[str], unreachable: set[str],
                      known: set[str]) -> None:
        now = ctx.system.scheduler.now()
        settings = self._settings
        me = self._cluster.self_address
        # Members that are gone take their routees with them; unconfirmed
        # deployments that timed out are forgotten (and retried).
        for member in list(self._deployed):
            if member not in known:
                del self._deployed[member]
                continue
            names = self._deployed[member]
            for name, (ref, deadline) in list(names.items()):
                if ref is None and now > deadline:
                    del names[name]
            if member in unreachable and names:
                # Replaced elsewhere; stopped there once it is reachable again.
                self._unreachable_orphans.setdefault(member, []).extend(names)
                names.clear()
        for member in list(self._unreachable_orphans):
            if member not in known:
                del self._unreachable_orphans[member]
            elif member not in unreachable:
                deployer = node_ref(self._cluster, member, DEPLOYER)
                if deployer is not None:
                    for name in self._unreachable_orphans.pop(member):
                        deployer.tell(_Undeploy(name))
        active = {m: self._deployed.setdefault(m, {}) for m in eligible}
        count = sum(len(n) for n in active.values())
        while count < settings.total_instances:
            room = [m for m in eligible if len(active[m]) < settings.max_instances_per_node]
            if not room:
                break
            # The member with the fewest routees; ties by address.
            target = min(room, key=lambda m: (len(active[m]), m))
            if not self._deploy(ctx, target, active[target], me, now):
                eligible = [m for m in eligible if m != target]
                continue
            count += 1
        while count > settings.total_instances:
            target = max(active, key=lambda m: (len(active[m]), m))
            name = sorted(active[target])[-1]
            self._undeploy(ctx, target, name, active[target].pop(name)[0])
            count -= 1
        self._routees = [Routee(m, ref.path, ref) for m in sorted(active)
                         for _, (ref, _d) in sorted(active[m].items()) if ref is not None]

    def _deploy(self, ctx: Any, member: str, names: dict[str, list[Any]], me: str,
                now: float) -> bool:
        child_props, (module, qualname) = self._pool  # type: ignore[misc]
        self._serial += 1
        name = f"{self._tag}-{self._serial}"
        if member == me:
            ref = ctx.spawn(child_props, name)
            ctx.watch(ref)
            names[name] = [ref, 0.0]
            return True
        deployer = node_ref(self._cluster, member, DEPLOYER)
        own = messaging_address(self._cluster, me)
        if deployer is None or own is None:
            return False
        local_path = ctx.self_ref.path.split("/", 3)[3]
        deployer.tell(_Deploy(module, qualname, child_props.dispatcher, name, me,
                              f"{own}/{local_path}"))
        names[name] = [None, now + _DEPLOY_TIMEOUT]
        return True

    def _undeploy(self, ctx: Any, member: str, name: str, ref: Any) -> None:
        if member == self._cluster.self_address:
            if ref is not None:
                ctx.stop(ref)
            return
        deployer = node_ref(self._cluster, member, DEPLOYER)
        if deployer is not None:
            deployer.tell(_Undeploy(name))

    def _confirmed(self, ctx: Any, msg: _Deployed) -> None:
        for member, names in self._deployed.items():
            entry = names.get(msg.name)
            if entry is None:
                continue
            if msg.error:
                del names[msg.name]
                return
            address = messaging_address(self._cluster, member)
            if address is not None:
                entry[0] = ctx.system.actor_selection(f"{address}/user/{msg.name}")
                entry[1] = 0.0
            self._refresh(ctx)
            return

    # -- routing ----------------------------------------------------------------------

    def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, (MemberEvent, _Refresh)):
            self._refresh(ctx)
            return None
        if isinstance(msg, _Deployed):
            self._confirmed(ctx, msg)
            return None
        if isinstance(msg, GetRoutees):
            return [r.ref for r in self._routees]
        if isinstance(msg, Terminated):
            for names in self._deployed.values():
                for name, (ref, _d) in list(names.items()):
                    if ref is not None and isinstance(ref, ActorRef) and ref.path == msg.path:
                        del names[name]
            self._refresh(ctx)
            return None
        routees = self._routees
        if isinstance(msg, Broadcast):
            for r in routees:
                r.ref.tell(msg.message)
            return None
        if not routees:
            _log.warning("cluster router %s has no routees; %r dropped", ctx.path, msg)
            return None
        chosen = self._logic.select(msg, routees)
        if isinstance(msg, ConsistentHashableEnvelope):
            if len(chosen) == 1:
                _forward_unwrapped(ctx, chosen[0].ref, msg.message)
            return None
        if len(chosen) == 1:
            ctx.forward(chosen[0].ref, msg)
        else:
            for r in chosen:
                r.ref.tell(msg)
        return None


# A reply relayed for a routee's answer waits at most this long.
_RELAY_TIMEOUT = 60.0


def _forward_unwrapped(ctx: Any, ref: Any, inner: Any) -> None:
    """Forwards `inner` (the content of the current message) to `ref` with
    the current message's sender and pending ask reply, which `ref`'s
    answer then completes."""
    reply = ctx.reply_to if ctx.awaiting_reply else None
    if reply is None:
        ctx.forward(ref, inner)
        return
    hook = getattr(type(ref), "_forward", None)
    if hook is not None:  # a remote ref relays the remote answer itself
        hook(ref, inner, ctx.sender, reply)
        return
    loop = ctx.system.loop

    async def relay() -> None:
        try:
            reply.tell(await ref.ask(inner, timeout=_RELAY_TIMEOUT))
        except BaseException as exc:  # noqa: BLE001 - the asker gets the failure
            reply.fail(exc)

    def start() -> None:
        task = loop.create_task(relay())
        _RELAYS.add(task)  # held until done: the loop keeps only weak refs
        task.add_done_callback(_RELAYS.discard)

    loop.call_soon_threadsafe(start)


_RELAYS: set[Any] = set()
