"""Service discovery: where the instances of a named service are.

Every provider is a :class:`ServiceDiscovery` answering ``lookup(service)``
with a list of ``(host, port)`` pairs (``port`` None when the source does
not say), and an empty list for a service it does not know:

* :class:`StaticDiscovery`: what was registered in this process;
* :class:`ConfigDiscovery`: the ``[[discovery.services]]`` of a config;
* :class:`DnsDiscovery`: A/AAAA records, or SRV records (with ports) for
  ``Lookup(name, port_name, protocol)`` or a ``_port._proto.name`` name,
  through dnspython;
* :class:`AggregateDiscovery`: the first non-empty answer of several.

:data:`DISCOVERY` (an actor system extension) builds the provider the
``[discovery]`` section configures.

Example:
    >>> static = StaticDiscovery()
    >>> static.register("backend", "10.0.0.1", 2552)
    >>> static.register("backend", "10.0.0.2", 2552)
    >>> AggregateDiscovery([StaticDiscovery(), static]).lookup("backend")
    [('10.0.0.1', 2552), ('10.0.0.2', 2552)]
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import ipaddress
import threading
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence, Union

from atomr._util.validate import check_int, check_nonempty_str, check_positive
from atomr.actor.extension import Extension, ExtensionId
from atomr.config import Config, ConfigError
from atomr.errors import DiscoveryError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = [
    "Target",
    "Lookup",
    "ServiceDiscovery",
    "StaticDiscovery",
    "AggregateDiscovery",
    "ConfigDiscovery",
    "DnsDiscovery",
    "parse_endpoint",
    "discovery_from_config",
    "Discovery",
    "DiscoveryId",
    "DISCOVERY",
    "DiscoveryError",
]

#: One instance of a service: ``(host, port)``, port None when unknown.
Target = tuple[str, Optional[int]]


@dataclasses.dataclass(frozen=True)
class Lookup:
    """What to look up (Akka's ``Lookup``): a service name, and for DNS SRV
    the port name and protocol (``_<port_name>._<protocol>.<service_name>``).

    Raises:
        TypeError, ValueError: a name is not a non-empty str, or only one of
            `port_name` and `protocol` is given.
    """

    service_name: str
    port_name: Optional[str] = None
    protocol: Optional[str] = None

    def __post_init__(self) -> None:
        check_nonempty_str("service_name", self.service_name)
        if (self.port_name is None) != (self.protocol is None):
            raise ValueError("give both port_name and protocol (an SRV lookup) or neither")
        if self.port_name is not None:
            check_nonempty_str("port_name", self.port_name)
            check_nonempty_str("protocol", self.protocol)

    @property
    def srv_name(self) -> Optional[str]:
        """The SRV name to query, or None for a plain lookup."""
        if self.port_name is None:
            return None
        return f"_{self.port_name}._{self.protocol}.{self.service_name}"


def _lookup_of(service: Union[str, Lookup]) -> Lookup:
    if isinstance(service, Lookup):
        return service
    if not isinstance(service, str):
        raise TypeError(f"service must be a str or a Lookup, not {type(service).__name__}")
    return Lookup(service)


def _check_port(port: Any) -> Optional[int]:
    if port is None:
        return None
    port = check_int("port", port, 0)
    if port > 65535:
        raise ValueError(f"port must be at most 65535, got {port}")
    return port


def parse_endpoint(endpoint: Any) -> Target:
    """``"host:port"``, ``"host"``, ``"[v6]:port"``, ``(host, port)`` or
    ``{"host": ..., "port": ...}`` as a ``(host, port)`` target.

    Raises:
        TypeError, ValueError: none of these forms, or a bad port.
    """
    if isinstance(endpoint, Mapping):
        unknown = set(endpoint) - {"host", "port"}
        if unknown:
            raise ValueError(f"unknown endpoint keys: {', '.join(sorted(unknown))}")
        return check_nonempty_str("host", endpoint.get("host")), _check_port(endpoint.get("port"))
    if isinstance(endpoint, (tuple, list)):
        if len(endpoint) != 2:
            raise ValueError(f"an endpoint pair is (host, port), got {endpoint!r}")
        return check_nonempty_str("host", endpoint[0]), _check_port(endpoint[1])
    if not isinstance(endpoint, str):
        raise TypeError(f"an endpoint must be a str, pair or table, not {type(endpoint).__name__}")
    text = endpoint.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed endpoint {endpoint!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:  # a host name, an IPv4 address or a bare IPv6 address
        host, port_text = text, None
    host = check_nonempty_str("host", host)
    if port_text is None:
        return host, None
    if not port_text.isdigit():
        raise ValueError(f"malformed port in endpoint {endpoint!r}")
    return host, _check_port(int(port_text))


class ServiceDiscovery(abc.ABC):
    """A source of service instances."""

    @abc.abstractmethod
    def lookup(self, service: Union[str, Lookup],
               timeout: Optional[float] = None) -> list[Target]:
        """The instances of `service` (``[]`` when it knows none).

        Args:
            service: The service's name, or a :class:`Lookup`.
            timeout: Seconds the lookup may take (None: the provider's default).

        Raises:
            DiscoveryError: the source could not answer (a DNS server that
                does not respond).
            TypeError, ValueError: a bad `service`.
        """

    async def lookup_async(self, service: Union[str, Lookup],
                           timeout: Optional[float] = None) -> list[Target]:
        """:meth:`lookup` without blocking the event loop (from any loop)."""
        return await asyncio.to_thread(self.lookup, service, timeout)


class StaticDiscovery(ServiceDiscovery):
    """Instances registered in this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[str, list[Target]] = {}

    def register(self, service: str, host: str, port: Optional[int] = None) -> None:
        """Adds an instance of `service` (after those registered before).

        Raises:
            TypeError, ValueError: an empty name or host, or a bad port.
        """
        service = check_nonempty_str("service", service)
        target = (check_nonempty_str("host", host), _check_port(port))
        with self._lock:
            self._services.setdefault(service, []).append(target)

    def lookup(self, service: Union[str, Lookup],
               timeout: Optional[float] = None) -> list[Target]:
        """The instances registered for `service`, in registration order."""
        name = _lookup_of(service).service_name
        with self._lock:
            return list(self._services.get(name, ()))

    def services(self) -> list[str]:
        """The services with registered instances."""
        with self._lock:
            return list(self._services)


class ConfigDiscovery(ServiceDiscovery):
    """Instances listed in configuration.

    Args:
        services: A :class:`~atomr.Config` (its ``[[discovery.services]]``
            tables, each with ``name`` and ``endpoints``), or a mapping of
            service name -> endpoints. An endpoint is ``"host:port"``,
            ``"host"``, ``(host, port)`` or ``{host, port}``.

    Raises:
        ConfigError: a malformed entry (with the service it belongs to).
    """

    def __init__(self, services: Union[Config, Mapping[str, Iterable[Any]]]) -> None:
        if isinstance(services, Config):
            entries = services.get("discovery.services", [])
            if not isinstance(entries, (list, tuple)):
                raise ConfigError("`discovery.services` must be an array of tables "
                                  "([[discovery.services]] with name and endpoints)")
            table: dict[str, Any] = {}
            for entry in entries:
                if not isinstance(entry, Mapping) or set(entry) - {"name", "endpoints"} or \
                        not isinstance(entry.get("name"), str):
                    raise ConfigError(f"a `discovery.services` entry needs `name` and "
                                      f"`endpoints` only, got {entry!r}")
                table.setdefault(entry["name"], []).extend(entry.get("endpoints", []))
        elif isinstance(services, Mapping):
            table = dict(services)
        else:
            raise TypeError(f"services must be a Config or a mapping, not "
                            f"{type(services).__name__}")
        self._services: dict[str, list[Target]] = {}
        for name, endpoints in table.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"a service name must be a non-empty str, got {name!r}")
            if isinstance(endpoints, (str, bytes)) or not isinstance(endpoints, Iterable):
                raise ConfigError(f"the endpoints of service {name!r} must be a list")
            try:
                self._services[name] = [parse_endpoint(e) for e in endpoints]
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"service {name!r}: {exc}") from None

    def lookup(self, service: Union[str, Lookup],
               timeout: Optional[float] = None) -> list[Target]:
        """The configured instances of `service`."""
        return list(self._services.get(_lookup_of(service).service_name, ()))

    def services(self) -> list[str]:
        """The configured services."""
        return list(self._services)


class DnsDiscovery(ServiceDiscovery):
    """Instances from DNS, through dnspython (``pip install dnspython``).

    A plain lookup asks for A and AAAA records and answers the addresses
    (port None). A :class:`Lookup` with a port name and protocol, or a name
    starting with ``_`` (``_http._tcp.backend.example``), asks for SRV
    records and answers their targets and ports, by priority (lowest first)
    then weight (highest first). A name that does not exist or has no such
    records answers ``[]``.

    Args:
        nameservers: Servers to ask (``"ip"`` or ``"ip:port"``, ``"[v6]:port"``);
            None or empty: the system's (``/etc/resolv.conf``).
        timeout: Default seconds a lookup may take in all.

    Raises:
        ImportError: dnspython is not installed.
        TypeError, ValueError: a bad nameserver or timeout.
    """

    def __init__(self, nameservers: Optional[Sequence[str]] = None,
                 timeout: float = 5.0) -> None:
        try:
            import dns.nameserver
            import dns.resolver
        except ImportError as exc:  # pragma: no cover - dnspython is a test dependency
            raise ImportError("DnsDiscovery needs dnspython: pip install dnspython") from exc
        self._timeout = check_positive("timeout", timeout)
        if nameservers:
            if isinstance(nameservers, str):
                raise TypeError("nameservers must be a list of addresses, not a str")
            resolver = dns.resolver.Resolver(configure=False)
            servers: list[Any] = []
            for server in nameservers:
                host, port = parse_endpoint(server)
                try:
                    ipaddress.ip_address(host)
                except ValueError:
                    raise ValueError(f"a nameserver must be an IP address, got {host!r}") \
                        from None
                servers.append(dns.nameserver.Do53Nameserver(host, 53 if port is None else port))
            resolver.nameservers = servers
        else:
            resolver = dns.resolver.Resolver()
        resolver.cache = None
        self._resolver = resolver
        self._lock = threading.Lock()  # a Resolver is not documented as thread-safe

    @property
    def timeout(self) -> float:
        """The default timeout of a lookup in seconds."""
        return self._timeout

    def lookup(self, service: Union[str, Lookup],
               timeout: Optional[float] = None) -> list[Target]:
        """The instances DNS knows for `service` (see the class)."""
        query = _lookup_of(service)
        lifetime = self._timeout if timeout is None else check_positive("timeout", timeout)
        srv = query.srv_name or (query.service_name if query.service_name.startswith("_")
                                 else None)
        if srv is not None:
            records = self._query(srv, "SRV", lifetime)
            ordered = sorted(records, key=lambda r: (r.priority, -r.weight))
            return [(r.target.to_text(omit_final_dot=True), int(r.port)) for r in ordered]
        found: list[Target] = []
        for rdtype in ("A", "AAAA"):
            found.extend((r.address, None) for r in self._query(query.service_name, rdtype,
                                                                 lifetime))
        return found

    def _query(self, name: str, rdtype: str, lifetime: float) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            with self._lock:
                answer = self._resolver.resolve(name, rdtype, lifetime=lifetime, search=False,
                                                raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.resolver.LifetimeTimeout as exc:
            raise DiscoveryError(f"DNS lookup of {rdtype} {name} timed out after "
                                 f"{lifetime}s") from exc
        except dns.exception.DNSException as exc:
            raise DiscoveryError(f"DNS lookup of {rdtype} {name} failed: {exc}") from exc
        return list(answer.rrset or ())


class AggregateDiscovery(ServiceDiscovery):
    """Asks several providers in order; the first non-empty answer wins.

    A provider that fails is skipped; when none answers anything and at
    least one failed, the lookup fails with the last failure.

    Args:
        providers: The providers, in order (any :class:`ServiceDiscovery`).

    Raises:
        TypeError: a provider is not a :class:`ServiceDiscovery`.
    """

    def __init__(self, providers: Iterable[ServiceDiscovery]) -> None:
        self._providers = list(providers)
        for provider in self._providers:
            if not isinstance(provider, ServiceDiscovery):
                raise TypeError(f"providers must be ServiceDiscovery instances, not "
                                f"{type(provider).__name__}")

    def provider_count(self) -> int:
        """How many providers it asks."""
        return len(self._providers)

    @property
    def providers(self) -> list[ServiceDiscovery]:
        """The providers, in order."""
        return list(self._providers)

    def lookup(self, service: Union[str, Lookup],
               timeout: Optional[float] = None) -> list[Target]:
        """The first non-empty answer (``[]`` when every provider answers empty).

        Raises:
            DiscoveryError: no provider answered anything and one failed.
        """
        query = _lookup_of(service)
        failure: Optional[DiscoveryError] = None
        for provider in self._providers:
            try:
                found = provider.lookup(query, timeout)
            except DiscoveryError as exc:
                failure = exc
                continue
            if found:
                return found
        if failure is not None:
            raise failure
        return []


_METHODS = ("config", "dns", "aggregate")


def discovery_from_config(config: Config) -> ServiceDiscovery:
    """The provider the ``[discovery]`` section of `config` describes:
    ``method`` (``config``, ``dns`` or ``aggregate``), ``services`` (for
    ``config``), ``dns.nameservers`` and ``dns.timeout`` (for ``dns``), and
    ``aggregate.methods`` (the providers ``aggregate`` asks, in order).

    Raises:
        ConfigError: a bad setting.
    """
    if not isinstance(config, Config):
        raise TypeError(f"expected a Config, not {type(config).__name__}")
    settings = config.resolve()
    return _build(settings["discovery.method"], config, settings, nested=False)


def _build(method: str, config: Config, settings: Mapping[str, Any],
           nested: bool) -> ServiceDiscovery:
    if method == "config":
        return ConfigDiscovery(config)
    if method == "dns":
        nameservers = settings["discovery.dns.nameservers"]
        if not isinstance(nameservers, (list, tuple)):
            raise ConfigError("`discovery.dns.nameservers` must be a list of addresses")
        try:
            return DnsDiscovery(nameservers, settings["discovery.dns.timeout"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"`discovery.dns.nameservers`: {exc}") from None
    if method == "aggregate" and not nested:
        methods = settings["discovery.aggregate.methods"]
        if not isinstance(methods, (list, tuple)) or not methods or \
                any(m not in ("config", "dns") for m in methods):
            raise ConfigError("`discovery.aggregate.methods` must be a non-empty list of "
                              "config and dns")
        return AggregateDiscovery([_build(m, config, settings, nested=True) for m in methods])
    raise ConfigError(f"unknown discovery method {method!r}")  # pragma: no cover


class Discovery(Extension):
    """The service discovery of one actor system, as its ``[discovery]``
    config section says; get it with ``DISCOVERY.get(system)``."""

    def __init__(self, system: "ActorSystem") -> None:
        self._provider = discovery_from_config(system.config)

    @property
    def provider(self) -> ServiceDiscovery:
        """The configured provider."""
        return self._provider

    def lookup(self, service: Union[str, Lookup],
               timeout: Optional[float] = None) -> list[Target]:
        """``provider.lookup(service, timeout)``."""
        return self._provider.lookup(service, timeout)


class DiscoveryId(ExtensionId[Discovery]):
    """Identifies the :class:`Discovery` extension."""

    config_section = "discovery"

    def create_extension(self, system: "ActorSystem") -> Discovery:
        return Discovery(system)


#: The discovery extension: ``DISCOVERY.get(system).lookup("backend")``.
DISCOVERY = DiscoveryId()
