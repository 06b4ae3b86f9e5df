"""Cluster bootstrap: forming or joining a cluster from service discovery.

Instead of a fixed list of seed nodes, every node of a deployment asks a
:class:`~atomr.discovery.ServiceDiscovery` (static, config, DNS A/SRV, ...)
for the instances of one service -- its *contact points* -- and
:class:`ClusterBootstrap` turns them into a join, after Akka Management's
cluster bootstrap:

1. It looks the service up every ``discovery_interval`` seconds until at
   least ``required_contact_points`` instances are known and the set has
   not changed for ``stable_margin`` seconds (a deployment still coming up
   is not joined half-seen).
2. It then joins with the contact points, in one order every node computes
   alike (by IP address, then port), as seed nodes: a contact point that
   is already a member of a cluster answers the join and the node joins
   that cluster; when none is, the lowest contact point forms the cluster
   (the daemon's first-seed rule, after ``cluster.seed-node-timeout``) and
   the others join it. So nodes that boot together form exactly one
   cluster, and a node started later joins the existing one.

Host names are resolved to IP addresses first (the cluster daemon speaks
to IP literals), and a contact point without a port (an A record) takes
``settings.port`` or, without one, this node's own port. All nodes share
one actor system name, as in Akka (``settings.system_name`` overrides it).

Example:
    >>> discovery = DnsDiscovery()                              # doctest: +SKIP
    >>> cluster = Cluster.with_tcp_transport(system, "0.0.0.0:2552")  # doctest: +SKIP
    >>> seeds = await ClusterBootstrap(cluster, discovery,
    ...     BootstrapSettings("_akka._tcp.backend.svc", required_contact_points=3)).run()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import time
from typing import TYPE_CHECKING, Optional, Union

from atomr._util import public_module
from atomr._util.validate import check_nonempty_str
from atomr.discovery import DISCOVERY, Lookup, ServiceDiscovery, Target
from atomr.errors import AtomrError, InvalidRemoteAddressError
from atomr.remote._extension import TCP_SCHEME, parse_tcp_address

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.cluster._extension import Cluster

__all__ = ["BootstrapSettings", "ClusterBootstrap"]

_log = logging.getLogger("atomr.cluster.bootstrap")


@public_module("atomr.cluster")
@dataclasses.dataclass(frozen=True)
class BootstrapSettings:
    """How :class:`ClusterBootstrap` finds and waits for its contact points.

    Args:
        service: The service to look up (a name, or a
            :class:`~atomr.discovery.Lookup` for SRV records).
        required_contact_points: Contact points that must be known before
            anything is joined (at least 1).
        stable_margin: Seconds the discovered set must stay unchanged.
        discovery_interval: Seconds between lookups.
        lookup_timeout: Seconds one lookup may take.
        port: The port of contact points discovered without one (None: this
            node's own port).
        system_name: The actor system name of the contact points (None:
            this node's).

    Raises:
        ValueError: a count below 1, a negative or non-finite duration, an
            empty service name or a port outside 1..65535.
    """

    service: Union[str, Lookup]
    required_contact_points: int = 2
    stable_margin: float = 1.0
    discovery_interval: float = 0.5
    lookup_timeout: float = 5.0
    port: Optional[int] = None
    system_name: Optional[str] = None

    def __post_init__(self) -> None:
        if isinstance(self.service, str):
            check_nonempty_str("service", self.service)
        elif not isinstance(self.service, Lookup):
            raise TypeError(f"service must be a str or a Lookup, not {type(self.service).__name__}")
        if isinstance(self.required_contact_points, bool) or \
                not isinstance(self.required_contact_points, int) or \
                self.required_contact_points < 1:
            raise ValueError(f"required_contact_points must be an int >= 1, "
                             f"got {self.required_contact_points!r}")
        for name in ("stable_margin", "discovery_interval", "lookup_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0.0 <= value < float("inf"):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if self.discovery_interval <= 0.0 or self.lookup_timeout <= 0.0:
            raise ValueError("discovery_interval and lookup_timeout must be positive")
        if self.port is not None and (isinstance(self.port, bool) or not isinstance(self.port, int)
                                      or not 1 <= self.port <= 65535):
            raise ValueError(f"port must be None or an int in 1..65535, got {self.port!r}")
        if self.system_name is not None:
            check_nonempty_str("system_name", self.system_name)


def _resolve(host: str) -> str:
    """`host` as an IP literal (IPv4 first), through getaddrinfo."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as e:
        raise InvalidRemoteAddressError(f"contact point host {host!r} does not resolve: {e}") \
            from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


def _order(address: str) -> tuple[int, bytes, int]:
    """The order every node sorts contact points in: by IP, then port."""
    _, hostport = parse_tcp_address(address)
    host, _, port = hostport.rpartition(":")
    ip = ipaddress.ip_address(host.strip("[]"))
    return (ip.version, ip.packed, int(port))


@public_module("atomr.cluster")
class ClusterBootstrap:
    """Joins `cluster` with the contact points `discovery` reports (see
    the module documentation for the rules).

    Args:
        cluster: A :class:`~atomr.cluster.Cluster` with a TCP transport
            (:meth:`~atomr.cluster.Cluster.with_tcp_transport`).
        discovery: Where to look (None: the system's
            :data:`~atomr.discovery.DISCOVERY` provider, from config).
        settings: A :class:`BootstrapSettings`.

    Raises:
        ValueError: the cluster has no TCP transport.
        TypeError: a `discovery` that is not a ServiceDiscovery.
    """

    __slots__ = ("_cluster", "_discovery", "_settings", "_system_name", "_own_port",
                 "_contact_points")

    def __init__(self, cluster: "Cluster", discovery: Optional[ServiceDiscovery],
                 settings: BootstrapSettings) -> None:
        if not isinstance(settings, BootstrapSettings):
            raise TypeError(f"settings must be BootstrapSettings, not {type(settings).__name__}")
        if discovery is None:
            discovery = DISCOVERY.get(cluster.system).provider
        if not isinstance(discovery, ServiceDiscovery):
            raise TypeError(f"discovery must be a ServiceDiscovery, not {type(discovery).__name__}")
        address = cluster.self_address
        if not address.startswith(TCP_SCHEME + "://"):
            raise ValueError(f"cluster bootstrap needs a TCP transport; {address} has none "
                             f"(Cluster.with_tcp_transport)")
        system_name, hostport = parse_tcp_address(address)
        self._cluster = cluster
        self._discovery = discovery
        self._settings = settings
        self._system_name = settings.system_name or system_name
        self._own_port = int(hostport.rpartition(":")[2])
        self._contact_points: list[str] = []

    @property
    def settings(self) -> BootstrapSettings:
        return self._settings

    @property
    def contact_points(self) -> list[str]:
        """The cluster addresses of the last lookup, in join order."""
        return list(self._contact_points)

    def _addresses(self, targets: list[Target]) -> list[str]:
        port_default = self._settings.port or self._own_port
        found = set()
        for host, port in targets:
            ip = _resolve(host)
            shown = f"[{ip}]" if ":" in ip else ip
            found.add(f"{TCP_SCHEME}://{self._system_name}@{shown}:{port or port_default}")
        return sorted(found, key=_order)

    async def discover(self) -> list[str]:
        """One lookup: the contact points' cluster addresses, in join order.

        Raises:
            DiscoveryError: the discovery source could not answer.
            InvalidRemoteAddressError: a host that does not resolve.
        """
        targets = await self._discovery.lookup_async(self._settings.service,
                                                     self._settings.lookup_timeout)
        self._contact_points = await asyncio.to_thread(self._addresses, targets)
        return list(self._contact_points)

    async def run(self, timeout: float = 60.0) -> list[str]:
        """Waits for a stable set of enough contact points, joins with
        them, and returns them (in the order they were given as seeds)
        once this node is up.

        Raises:
            AtomrError: no stable set of ``required_contact_points`` within
                `timeout` seconds, or the join did not finish in time.
            ValueError: `timeout` is not a positive number.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0.0 < timeout < float("inf"):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        s = self._settings
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        stable_since = time.monotonic()
        while True:
            try:
                current = await self.discover()
            except (AtomrError, OSError) as e:
                _log.warning("cluster bootstrap: lookup of %s failed: %s", s.service, e)
                current = seen
            now = time.monotonic()
            if current != seen:
                _log.info("cluster bootstrap: %d contact point(s) of %s: %s", len(current),
                          s.service, current)
                seen, stable_since = current, now
            if len(seen) >= s.required_contact_points and now - stable_since >= s.stable_margin:
                break
            if now + s.discovery_interval > deadline:
                raise AtomrError(
                    f"cluster bootstrap: no stable set of {s.required_contact_points} contact "
                    f"point(s) of {s.service} within {timeout}s (last saw {seen})")
            await asyncio.sleep(s.discovery_interval)
        _log.info("cluster bootstrap: joining with seed nodes %s", seen)
        await self._cluster.join_seed_nodes(seen, max(0.001, deadline - time.monotonic()))
        return seen

    def __repr__(self) -> str:
        return f"<ClusterBootstrap {self._cluster.self_address} service={self._settings.service!r}>"
