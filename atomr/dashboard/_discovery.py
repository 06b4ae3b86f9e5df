"""How dashboards of one cluster find each other: each served system runs
the system actor ``/system/dashboard`` that answers a :class:`DashboardQuery`
with its dashboards' ``host:port``; the cluster-wide view asks that actor
on every up and reachable member (over remoting) and fetches the overview
of the dashboard it names."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import weakref
from asyncio.events import _get_running_loop
from typing import TYPE_CHECKING, Any, Optional

from atomr.actor import Actor, props
from atomr.codecs import manifest
from atomr.errors import (
    ActorNameTakenError,
    ActorSystemTerminatedError,
    ActorTerminatedError,
    AskTimeoutError,
    RemoteError,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

#: The system actor's name: it runs at ``/system/dashboard``.
ACTOR_NAME = "dashboard"
ACTOR_PATH = f"/system/{ACTOR_NAME}"
#: Statuses of the members whose dashboards are asked for.
_ASKED = ("up", "weaklyup")
#: How long a stopping system actor may keep the name from a new one.
_NAME_FREED_DEADLINE = 10.0


@manifest("atomr.dashboard.DashboardQuery")
class DashboardQuery:
    """The question ``/system/dashboard`` answers: ``{"node", "dashboards"}``
    (the ``host:port`` of each dashboard serving that system, oldest
    first)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DashboardQuery)

    def __hash__(self) -> int:
        return hash(DashboardQuery)

    def __repr__(self) -> str:
        return "DashboardQuery()"


def _encode(obj: Any) -> bytes:
    if not isinstance(obj, DashboardQuery):
        raise TypeError(f"not a DashboardQuery: {type(obj).__name__}")
    return b"?"


def _decode(blob: bytes) -> DashboardQuery:
    if bytes(blob) != b"?":
        raise ValueError("a DashboardQuery is encoded as b'?'")
    return DashboardQuery()


_MANIFEST = "atomr.dashboard.DashboardQuery"


def register_codec(system: "ActorSystem") -> None:
    """Registers the query's codec with `system` (pickle never crosses
    the wire)."""
    system.register_codec("atomr-dashboard", _encode, _decode, [_MANIFEST], force=True)


def _host_of(address: Optional[str]) -> Optional[str]:
    """``akka.tcp://sys@host:port`` -> ``host`` (None for a local address)."""
    if not address or "@" not in address:
        return None
    host = address.rpartition("@")[2].rpartition(":")[0]
    return host or None


_WILDCARDS = ("0.0.0.0", "::", "")


def _reachable(dashboard: str, system_address: Optional[str]) -> str:
    """A dashboard bound to a wildcard host named by the host of the
    system's remote address (which the other members reach)."""
    host, _, port = dashboard.rpartition(":")
    if host.strip("[]") not in _WILDCARDS:
        return dashboard
    remote_host = _host_of(system_address)
    if remote_host is None:
        return dashboard
    if ":" in remote_host and not remote_host.startswith("["):
        remote_host = f"[{remote_host}]"
    return f"{remote_host}:{port}"


class _Responder(Actor):
    def __init__(self, beacon: "Beacon") -> None:
        self.beacon = beacon

    def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, DashboardQuery):
            return self.beacon.answer()
        return None


class Beacon:
    """The dashboards serving one system and the system actor that names
    them; the actor runs while at least one dashboard does."""

    def __init__(self, system: "ActorSystem") -> None:
        self._system_ref = weakref.ref(system)
        self._lock = threading.Lock()  # guards _dashboards (read by the actor)
        self._manage = threading.Lock()  # serializes starting/stopping the actor
        self._dashboards: list[tuple[str, str]] = []  # (node, host:port)
        self._ref: Any = None
        # Whether one was stopped (and may still hold the name); a bool, as a
        # kept ref would keep the system alive through the WeakKeyDictionary.
        self._stopped_one = False

    def answer(self) -> dict[str, Any]:
        system = self._system_ref()
        own = system.address if system is not None else None
        with self._lock:
            entries = list(self._dashboards)
        return {"node": entries[0][0] if entries else None,
                "dashboards": [_reachable(addr, own) for _, addr in entries]}

    def add(self, node: str, address: str) -> None:
        """One more dashboard (`address`) serves the system: the system
        actor runs from the first on."""
        system = self._system_ref()
        with self._manage:
            with self._lock:
                self._dashboards.append((node, address))
            if self._ref is not None or system is None or system.is_terminated:
                return
            try:
                register_codec(system)
                self._ref = self._spawn(system)
            except ActorSystemTerminatedError:
                pass  # a terminating system: nobody is left to ask it
            except BaseException:
                with self._lock:
                    self._dashboards.remove((node, address))
                raise

    def _spawn(self, system: "ActorSystem") -> Any:
        # A system actor stopped by the previous dashboard may still hold
        # the name for a moment (its stop runs on the system's loop).
        deadline = time.monotonic() + _NAME_FREED_DEADLINE
        while True:
            try:
                return system.system_actor_of(
                    props(_Responder, factory=lambda: _Responder(self)), ACTOR_NAME)
            except ActorNameTakenError:
                if not self._stopped_one:
                    raise ActorNameTakenError(
                        f"the dashboard cannot start {ACTOR_PATH} in system {system.name!r}: "
                        f"another system actor has that name") from None
                if time.monotonic() >= deadline or _get_running_loop() is system.loop:
                    raise
                time.sleep(0.01)

    def remove(self, address: str) -> None:
        """The dashboard at `address` stopped: the last one stops the
        system actor."""
        with self._manage:
            with self._lock:
                for i, (_, addr) in enumerate(self._dashboards):
                    if addr == address:
                        del self._dashboards[i]
                        break
                if self._dashboards:
                    return
            ref, self._ref = self._ref, None
            if ref is None:
                return
            self._stopped_one = True
            try:
                ref.stop()
            except Exception:  # noqa: BLE001 - the system is terminating
                pass


_BEACONS: "weakref.WeakKeyDictionary[Any, Beacon]" = weakref.WeakKeyDictionary()
_BEACONS_LOCK = threading.Lock()


def beacon_of(system: "ActorSystem") -> Beacon:
    """The beacon of `system` (made on first use)."""
    with _BEACONS_LOCK:
        beacon = _BEACONS.get(system)
        if beacon is None:
            beacon = _BEACONS[system] = Beacon(system)
        return beacon


def cluster_of(system: "ActorSystem") -> Any:
    """The system's :class:`atomr.cluster.Cluster`, if it has one (none is
    created here)."""
    if "atomr.cluster" not in sys.modules:
        return None
    from atomr.cluster import Cluster

    with system._extensions_lock:
        extensions = list(system._extensions.values())
    return next((e for e in extensions if isinstance(e, Cluster)), None)


async def _ask_member(system: "ActorSystem", member: str, timeout: float) -> dict[str, Any]:
    try:
        ref = system.actor_selection(member + ACTOR_PATH)
        answer = await ref.ask(DashboardQuery(), timeout=timeout)
    except ActorTerminatedError:
        return {"member": member, "error": f"no dashboard: nothing runs at {ACTOR_PATH}"}
    except AskTimeoutError:
        return {"member": member,
                "error": f"no dashboard: {ACTOR_PATH} did not answer within {timeout:g} s"}
    except RemoteError as exc:
        if _MANIFEST in str(exc):  # the member never served a dashboard
            return {"member": member, "error": "no dashboard: that node never served one"}
        return {"member": member, "error": f"RemoteError: {exc}"}
    except Exception as exc:  # noqa: BLE001 - reported per member
        return {"member": member, "error": f"{type(exc).__name__}: {exc}"}
    dashboards = answer.get("dashboards") if isinstance(answer, dict) else None
    if not isinstance(dashboards, list) or not all(isinstance(d, str) for d in dashboards):
        return {"member": member, "error": f"a bad answer from {ACTOR_PATH}: {answer!r}"}
    if not dashboards:
        return {"member": member, "error": "no dashboard: none serves that node"}
    return {"member": member, "dashboards": dashboards}


def _in_process(cluster: Any, member: str) -> dict[str, Any]:
    """The dashboards of `member` of an in-process cluster (a
    :class:`~atomr.cluster.ClusterRegistry`'s: its systems share this
    process), read from its system's beacon."""
    registry = cluster._registry
    if registry is None:
        return {"member": member, "error": "not asked: this cluster has no remoting"}
    if registry.partitioned(cluster.self_address, member):
        return {"member": member, "error": "member is partitioned from this node"}
    with _BEACONS_LOCK:
        beacons = list(_BEACONS.items())
    for system, beacon in beacons:
        if system.is_terminated:
            continue
        other = cluster_of(system)
        if other is not None and other._registry is registry and other.self_address == member:
            dashboards = beacon.answer()["dashboards"]
            if dashboards:
                return {"member": member, "dashboards": dashboards}
            break
    return {"member": member, "error": "no dashboard: none serves that node"}


async def discover(system: Optional["ActorSystem"], timeout: float) -> dict[str, Any]:
    """The other members' dashboards, as known to `system`'s cluster:
    ``{"self": <this member's address or None>, "members": [...]}`` with per
    member ``{"member", "dashboards"}`` or ``{"member", "error"}``. Members
    not up, or unreachable, are listed with an error and not asked."""
    if system is None or system.is_terminated:
        return {"self": None, "members": []}
    cluster = cluster_of(system)
    if cluster is None:
        return {"self": None, "members": []}
    me = cluster.self_address
    unreachable = set(cluster.unreachable_members())
    networked = cluster._remote is not None
    found: list[Any] = []
    for m in sorted(cluster.membership_snapshot().members(), key=lambda m: m.address):
        if m.address == me:
            continue
        if m.status not in _ASKED:
            found.append({"member": m.address, "error": f"member is {m.status}"})
        elif m.address in unreachable:
            found.append({"member": m.address, "error": "member is unreachable"})
        elif not networked:
            found.append(_in_process(cluster, m.address))
        else:
            found.append(_ask_member(system, m.address, timeout))
    asks = [f for f in found if not isinstance(f, dict)]
    answers = iter(await asyncio.gather(*asks))
    members = [f if isinstance(f, dict) else next(answers) for f in found]
    return {"self": me, "members": members}
