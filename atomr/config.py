"""Immutable, tree-shaped configuration."""

from __future__ import annotations

import copy
import threading
import tomllib
import warnings
from typing import Any, Mapping, Optional

from atomr.errors import AtomrError


class ConfigError(AtomrError, ValueError):
    """A configuration key is unknown or its value has the wrong type."""


class UnknownConfigSectionWarning(UserWarning):
    """A top-level config section that no subsystem or extension registered.

    Not an error: an application may keep its own sections in the same
    config as the actor system's. :meth:`Config.resolve` issues it once per
    section of each :class:`Config`; silence it with
    ``warnings.simplefilter("ignore", UnknownConfigSectionWarning)``.
    """


_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any, key: str = "duration") -> float:
    """Seconds from a config duration.

    A float is seconds, an int is milliseconds, a string carries its unit
    (``"10ms"``, ``"5s"``, ``"2m"``, ``"1h"``).

    Raises:
        ConfigError: anything else, or a negative duration.
    """
    if isinstance(value, bool):
        raise ConfigError(f"`{key}` must be a duration, not a bool")
    if isinstance(value, int):
        seconds = value / 1000.0
    elif isinstance(value, float):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        for unit in sorted(_UNITS, key=len, reverse=True):
            if text.endswith(unit) and text[: -len(unit)]:
                try:
                    seconds = float(text[: -len(unit)]) * _UNITS[unit]
                except ValueError:
                    break
                break
        else:
            raise ConfigError(f"`{key}` = {value!r} is not a duration (e.g. \"10ms\", \"5s\", \"2m\")")
        if "seconds" not in locals():
            raise ConfigError(f"`{key}` = {value!r} is not a duration (e.g. \"10ms\", \"5s\", \"2m\")")
    else:
        raise ConfigError(f"`{key}` must be a duration, not {type(value).__name__}")
    if not seconds >= 0:
        raise ConfigError(f"`{key}` must not be negative, got {value!r}")
    return seconds


class Setting:
    """One known configuration key: its kind, default and allowed values.

    Attributes:
        kind: ``"int"``, ``"float"``, ``"bool"``, ``"str"``, ``"duration"``
            or ``"any"``.
        default: The value used when the key is not configured.
        choices: The allowed values of a ``str`` setting (empty: any).
        minimum: The smallest allowed value, or None.
        maximum: The largest allowed value, or None.
    """

    __slots__ = ("kind", "default", "choices", "minimum", "maximum")

    def __init__(self, kind: str, default: Any, *, choices: tuple = (), minimum: Any = None,
                 maximum: Any = None) -> None:
        self.kind = kind
        self.default = default
        self.choices = choices
        self.minimum = minimum
        self.maximum = maximum

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Setting):
            return NotImplemented
        return (self.kind, self.default, tuple(self.choices), self.minimum, self.maximum) == \
            (other.kind, other.default, tuple(other.choices), other.minimum, other.maximum)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        parts = [repr(self.kind), repr(self.default)]
        if self.choices:
            parts.append(f"choices={self.choices!r}")
        if self.minimum is not None:
            parts.append(f"minimum={self.minimum!r}")
        if self.maximum is not None:
            parts.append(f"maximum={self.maximum!r}")
        return f"Setting({', '.join(parts)})"

    def parse(self, key: str, value: Any) -> Any:
        """Checks `value` against this setting and returns it normalised.

        An ``int`` setting needs an int (not a bool); a ``float`` one takes
        an int or float and returns a float; a ``duration`` one returns
        seconds (see :func:`parse_duration`); a ``str`` one must be one of
        `choices` when they are given; ``any`` takes anything.

        Args:
            key: The dotted key, for the error message.
            value: The configured value.

        Returns:
            The value, converted for ``float`` and ``duration`` settings.

        Raises:
            ConfigError: the value has the wrong type, is not one of the
                choices, or is below `minimum` or above `maximum`.
        """
        kind = self.kind
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"`{key}` must be an integer, got {value!r}")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"`{key}` must be a number, got {value!r}")
            value = float(value)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"`{key}` must be true or false, got {value!r}")
        elif kind == "str":
            if not isinstance(value, str):
                raise ConfigError(f"`{key}` must be a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise ConfigError(f"`{key}` must be one of {', '.join(self.choices)}; got {value!r}")
        elif kind == "duration":
            value = parse_duration(value, key)
        elif kind == "any":
            pass
        else:  # pragma: no cover - a schema bug
            raise AssertionError(kind)
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"`{key}` must be at least {self.minimum}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"`{key}` must be at most {self.maximum}, got {value!r}")
        return value


# The largest value a native 32-bit counter setting holds.
_INT32_MAX = 2**31 - 1

# The schema of every built-in section, known as soon as this module is
# imported (the subsystems that read a section need not be loaded):
# section name -> {dotted key below it -> Setting}.
_BUILTIN_SECTIONS: dict[str, dict[str, Setting]] = {
    "actor": {
        "throughput": Setting("int", 64, minimum=1, maximum=_INT32_MAX),
        # How long one drain of the dispatcher may run actors before it lets
        # the asyncio loop run its other callbacks (0: no time bound).
        "drain-deadline": Setting("duration", 0.01),
        # How a thread waiting for actors (the loop thread of a system that
        # runs its own loop, a thread in ask_blocking) waits: "adaptive"
        # spins up to `idle-spin` before it sleeps, and stops spinning while
        # that does not pay off or the machine is busy (never on one CPU);
        # "spin" always spins up to `idle-spin`; "park" sleeps at once.
        "idle-strategy": Setting("str", "adaptive", choices=("adaptive", "spin", "park")),
        # The longest spin of one such wait (0: never spin).
        "idle-spin": Setting("duration", 50e-6, maximum=0.01),
        # How long a handler suspended in an await may go on after its actor
        # was told to stop; then it is cancelled.
        "stop-grace": Setting("duration", 1.0),
        # How long terminating a system may take: then what actors still
        # await is cancelled, and a moment later the rest is stopped by force.
        "terminate-timeout": Setting("duration", 3.0),
        # -1: no limit.
        "supervision.max-retries": Setting("int", 10, minimum=-1, maximum=_INT32_MAX),
        "supervision.within": Setting("duration", 60.0),
        # The most routees a pool router may have (its size, a resizer's
        # upper bound, and growth through AdjustPoolSize).
        "router.max-pool-size": Setting("int", 10_000, minimum=1, maximum=_INT32_MAX),
        # "remote": the system starts its TCP transport when it is created
        # (as `remote.enabled = true` does); "cluster": that, and it joins
        # the cluster (atomr.cluster.Cluster, cluster.seed-nodes).
        "provider": Setting("str", "local", choices=("local", "remote", "cluster")),
    },
    "scheduler": {
        "clock": Setting("str", "real", choices=("real", "virtual")),
    },
    "dead-letters": {
        "log": Setting("int", 10, minimum=0),
    },
    # atomr.actor.coordinated_shutdown: terminate() runs the phases first
    # (with reason "ActorSystemTerminateReason") when the system has one.
    "coordinated-shutdown": {
        "run-by-actor-system-terminate": Setting("bool", True),
    },
    # atomr.persistence
    "persistence": {
        "journal": Setting("str", "inmemory"),
        "snapshot-store": Setting("str", "auto"),
        "snapshot-every": Setting("int", 0, minimum=0),
        "max-concurrent-recoveries": Setting("int", 50, minimum=1),
        "lmdb.path": Setting("str", ""),
        "lmdb.map-size": Setting("int", 64 << 20, minimum=65536),
        "lmdb.max-map-size": Setting("int", 16 << 30, minimum=65536),
        "lmdb.sync": Setting("bool", True),
        # The PostgreSQL journal (atomr.persistence.postgres): a
        # postgresql:// URI, the schema holding the tables, the pool size.
        "postgres.dsn": Setting("str", ""),
        "postgres.schema": Setting("str", "public"),
        "postgres.pool-size": Setting("int", 8, minimum=1),
        "postgres.connect-timeout": Setting("duration", 10.0),
        # Persistence queries (atomr.persistence.query): how often a live
        # query polls the journal when no write of this process woke it,
        # and how many events one read fetches.
        "query.refresh-interval": Setting("duration", 1.0),
        "query.batch-size": Setting("int", 500, minimum=1),
    },
    # atomr.ddata
    "distributed-data": {
        # "noop" keeps nothing; "file" one file per key in `durable.path`;
        # "lmdb" one LMDB database file at `durable.path`.
        "durable.store-actor-class": Setting("str", "noop", choices=("noop", "file", "lmdb")),
        "durable.path": Setting("str", ""),
        # Globs of the keys that are durable (when a store is configured).
        "durable.keys": Setting("any", ["*"]),
        "durable.lmdb.map-size": Setting("int", 64 * 1024 * 1024, minimum=1024 * 1024),
        # Between the members of a cluster: how often each replicator sends
        # the digests of its keys to a random member, and whether updates
        # are disseminated as deltas (else as full states).
        "gossip-interval": Setting("duration", 2.0, minimum=0.001),
        "delta-crdt.enabled": Setting("bool", True),
        # How long a removed node's "pruning performed" markers are kept
        # (spread to every replica) before they are dropped; the node stays
        # pruned: its entries are dropped from any state received later.
        "max-pruning-dissemination": Setting("duration", 300.0, minimum=0.001),
    },
    # atomr.remote: the TCP transport (started by atomr.remote.Remote.get, or
    # at system creation with remote.enabled / actor.provider = "remote")
    "remote": {
        # Start the transport when the system is created (else on
        # Remote.get(system)).
        "enabled": Setting("bool", False),
        # The address to listen on (an IP address, or a host name resolved
        # once at start) and, unless canonical-hostname is set, to advertise.
        "hostname": Setting("str", "127.0.0.1"),
        # The host peers are told to reach this system at ("": hostname).
        "canonical-hostname": Setting("str", ""),
        # 0: the kernel picks a free port.
        "port": Setting("int", 0, minimum=0, maximum=65535),
        # A shared secret every peer must present in the handshake ("": none).
        "cookie": Setting("str", ""),
        "max-frame-size": Setting("int", 4 << 20, minimum=1024, maximum=1 << 30),
        # Envelopes per peer waiting to be written before sends are dropped.
        "outbound-queue-size": Setting("int", 100_000, minimum=1),
        # Inbound items waiting for the loop at which the transport stops
        # reading its sockets until the loop drains them (TCP then holds
        # the senders back; their outbound queues overflow to dead letters).
        "inbound-queue-size": Setting("int", 100_000, minimum=1),
        "heartbeat-interval": Setting("duration", 1.0, minimum=0.001),
        # A connection on which nothing arrives for this long is closed.
        "idle-timeout": Setting("duration", 10.0, minimum=0.001),
        # Whether manifests registered with the pickle codec may cross the
        # wire (both ways); off, they are refused before sending and dropped
        # on receipt.
        "allow-pickle": Setting("bool", False),
        # TLS on every connection when all three files are set (PEM).
        "tls.certificate-chain": Setting("str", ""),
        "tls.private-key": Setting("str", ""),
        "tls.ca-file": Setting("str", ""),
        "tls.require-peer-certificate": Setting("bool", True),
        # Remote death watch: a phi-accrual failure detector per peer, fed
        # by its heartbeats (sent every heartbeat-interval, which overrides
        # remote.heartbeat-interval when set); past the threshold the peer is
        # unreachable and every watch of an actor there ends in Terminated.
        "watch-failure-detector.threshold": Setting("float", 10.0, minimum=0.001),
        "watch-failure-detector.max-sample-size": Setting("int", 200, minimum=1),
        "watch-failure-detector.min-std-deviation": Setting("duration", 0.1, minimum=0.001),
        "watch-failure-detector.acceptable-heartbeat-pause": Setting("duration", 10.0,
                                                                     minimum=0.0),
        "watch-failure-detector.heartbeat-interval": Setting("duration", 0.0, minimum=0.0),
        "watch-failure-detector.first-heartbeat-estimate": Setting("duration", 1.0,
                                                                   minimum=0.001),
        "watch-failure-detector.unreachable-nodes-reaper-interval": Setting("duration", 1.0,
                                                                            minimum=0.001),
        # A peer with no connection and nothing queued is forgotten after this.
        "peer-retention": Setting("duration", 300.0, minimum=0.001),
    },
    # atomr.cluster: the cluster daemon (atomr.cluster.Cluster; docs/cluster.md)
    # and the split brain resolver (atomr.cluster.sbr; docs/sbr.md).
    "cluster": {
        # Cluster addresses joined when the cluster starts (empty: join by
        # hand with Cluster.join_seed_nodes).
        "seed-nodes": Setting("any", []),
        "roles": Setting("any", []),
        # A gossip round, the leader's actions and the SBR's tick.
        "gossip-interval": Setting("duration", 1.0, minimum=0.001),
        "gossip-different-view-probability": Setting("float", 0.8, minimum=0.0, maximum=1.0),
        # The first seed forms the cluster alone when no other answers in time.
        "seed-node-timeout": Setting("duration", 5.0, minimum=0.001),
        "retry-unsuccessful-join-after": Setting("duration", 10.0, minimum=0.001),
        # Joining members are not moved up before the cluster has this many.
        "min-nr-of-members": Setting("int", 1, minimum=1, maximum=1_000_000),
        # Joining members become weakly up while unreachable members block
        # convergence.
        "allow-weakly-up-members": Setting("bool", True),
        # Cluster heartbeats: each member is monitored by this many others.
        "heartbeat-interval": Setting("duration", 1.0, minimum=0.001),
        "monitored-by-nr-of-members": Setting("int", 5, minimum=1, maximum=1_000_000),
        "failure-detector.threshold": Setting("float", 8.0, minimum=0.001),
        "failure-detector.max-sample-size": Setting("int", 1000, minimum=1),
        "failure-detector.min-std-deviation": Setting("duration", 0.1, minimum=0.001),
        "failure-detector.acceptable-heartbeat-pause": Setting("duration", 3.0, minimum=0.0),
        "failure-detector.first-heartbeat-estimate": Setting("duration", 1.0, minimum=0.001),
        # "": no split brain resolver; down-all-when-unstable is an alias of
        # down-all.
        "sbr.strategy": Setting("str", "", choices=(
            "", "keep-majority", "static-quorum", "keep-oldest", "down-all", "lease-majority",
            "down-all-when-unstable")),
        # Membership and reachability must be unchanged this long before
        # the resolver decides.
        "sbr.stable-after": Setting("duration", 20.0, minimum=0.001),
        # static-quorum: members a side needs to survive.
        "sbr.quorum-size": Setting("int", 1, minimum=1, maximum=1_000_000),
        # keep-oldest: the oldest member, alone on its side, downs itself.
        "sbr.down-if-alone": Setting("bool", True),
        # Where a shard coordinator keeps its allocations: "ddata" (in
        # distributed data) or "regions" (rebuilt from the regions alone).
        "sharding.state-store-mode": Setting("str", "regions", choices=("ddata", "regions")),
        # Hand-off limits of the shard regions whose ShardingSettings leave
        # them None: how long a hand-off waits for the other regions and
        # then for its entities to stop (then stops them outright), how
        # long a graceful shutdown hands shards off at most, how long the
        # coordinator waits for a leaving region whose node already left.
        "sharding.hand-off-timeout": Setting("duration", 10.0, minimum=0.001),
        "sharding.graceful-shutdown-timeout": Setting("duration", 20.0, minimum=0.001),
        "sharding.leaving-region-timeout": Setting("duration", 10.0, minimum=0.001),
        # lease-majority: whether this node's lease attempt succeeds.
        "sbr.lease-acquired": Setting("bool", False),
        # lease-majority: the name of the lease (atomr.coordination's
        # LEASE_PROVIDER, of coordination.lease.implementation) the sides
        # contend for; "": the fixed outcome of lease-acquired.
        "sbr.lease-name": Setting("str", ""),
        # lease-majority: the minority side waits this long before trying.
        "sbr.acquire-lease-delay-for-minority": Setting("duration", 2.0, minimum=0.0),
        # Only members with this role count ("": all).
        "sbr.role": Setting("str", ""),
        # atomr.cluster_metrics: how often a node samples its CPU load and
        # memory (and pushes the sample to the others), and the half-life of
        # the moving averages that smooth the samples.
        "metrics.collect-interval": Setting("duration", 3.0, minimum=0.01),
        "metrics.moving-average-half-life": Setting("duration", 12.0, minimum=0.001),
        # atomr.cluster_tools: start the node's ClusterReceptionist (the
        # system actor /system/receptionist) with the cluster.
        "client.receptionist.auto-start": Setting("bool", False),
    },
    # atomr.coordination: the leases LeaseProvider builds.
    "coordination": {
        # in-memory: shared within the process; file: by the processes of one machine;
        # postgres: by processes on any machines reaching one database.
        "lease.implementation": Setting("str", "in-memory",
                                        choices=("in-memory", "file", "postgres")),
        # file: the directory of the lease files ("": <tmp>/atomr-leases).
        "lease.directory": Setting("str", ""),
        # postgres: the database (a postgresql:// DSN), and the schema and table
        # of the leases (created when missing).
        "lease.dsn": Setting("str", ""),
        "lease.schema": Setting("str", "public"),
        "lease.table": Setting("str", "atomr_leases"),
        "lease.heartbeat-interval": Setting("duration", 12.0, minimum=0.001),
        # A holding's time to live without a heartbeat.
        "lease.heartbeat-timeout": Setting("duration", 120.0, minimum=0.001),
        "lease.lease-operation-timeout": Setting("duration", 5.0, minimum=0.001),
    },
    # atomr.discovery: the provider the DISCOVERY extension builds.
    "discovery": {
        "method": Setting("str", "config", choices=("config", "dns", "aggregate")),
        # config: [[discovery.services]] tables of name and endpoints ("host:port").
        "services": Setting("any", ()),
        # dns: servers to ask ("ip" or "ip:port"; empty: /etc/resolv.conf).
        "dns.nameservers": Setting("any", ()),
        "dns.timeout": Setting("duration", 5.0, minimum=0.001),
        # aggregate: the methods asked in order; the first non-empty answer wins.
        "aggregate.methods": Setting("any", ("config", "dns")),
    },
}

_SCHEMA: dict[str, dict[str, Setting]] = {
    name: dict(settings) for name, settings in _BUILTIN_SECTIONS.items()}
_SCHEMA_LOCK = threading.Lock()


def register_section(name: str, settings: Mapping[str, Setting]) -> None:
    """Declares the keys of a top-level config section.

    For extensions outside atomr (the built-in sections are always known).
    A section may be declared in several calls; declaring a key again with
    an equal :class:`Setting` does nothing.

    Args:
        name: The section, a top-level key of the config tree (the
            ``config_section`` of the extension that reads it).
        settings: Dotted key below the section -> its :class:`Setting`.

    Raises:
        TypeError: `name` is not a str or a value is not a :class:`Setting`.
        ValueError: `name` is empty or contains a dot, or a key is already
            declared with a different setting.
    """
    if not isinstance(name, str):
        raise TypeError(f"a config section name must be a str, not {type(name).__name__}")
    if not name or "." in name:
        raise ValueError(f"invalid config section name {name!r}")
    for key, setting in settings.items():
        if not isinstance(setting, Setting):
            raise TypeError(f"`{name}.{key}` must be declared with a Setting, not "
                            f"{type(setting).__name__}")
    with _SCHEMA_LOCK:
        section = _SCHEMA.get(name, {})
        for key, setting in settings.items():
            known = section.get(key)
            if known is not None and known != setting:
                raise ValueError(f"config key `{name}.{key}` is already declared as {known!r}")
        updated = dict(section)
        updated.update(settings)
        _SCHEMA[name] = updated


def section_names() -> list[str]:
    """The names of every known config section (built-in and registered), sorted."""
    return sorted(_SCHEMA)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flatten(value, full))
        else:
            out[full] = value
    return out

__all__ = ["Config", "ConfigError", "Setting", "UnknownConfigSectionWarning",
           "register_section", "section_names", "parse_duration"]

_SCALARS = (bool, int, float, str)


def _check_tree(value: Any, where: str) -> Any:
    if value is None:
        raise ValueError(f"config value at `{where or '<root>'}` must not be None")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"config keys must be str, got {type(key).__name__} at `{where}`")
            out[key] = _check_tree(item, f"{where}.{key}" if where else key)
        return out
    if isinstance(value, (list, tuple)):
        return [_check_tree(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(
        f"config value at `{where}` has unsupported type {type(value).__name__} "
        "(use dict, list, bool, int, float or str)")


class Config:
    """A frozen configuration tree, addressed with dotted keys.

    Example:
        >>> cfg = Config.from_toml('[actor]\\nthroughput = 32')
        >>> cfg.get_int("actor.throughput")
        32
    """

    __slots__ = ("_root", "_warned")

    def __init__(self, root: Optional[Mapping[str, Any]] = None) -> None:
        self._root = _check_tree(dict(root or {}), "")
        # Unknown sections already warned about (see resolve).
        self._warned: set[str] = set()

    @staticmethod
    def empty() -> "Config":
        """A configuration with no keys."""
        return Config()

    @staticmethod
    def from_toml(text: str) -> "Config":
        """Parses TOML text (not a file name).

        Raises:
            AtomrError: the text is not valid TOML.
        """
        if not isinstance(text, str):
            raise TypeError(f"from_toml expects TOML text, not {type(text).__name__}")
        try:
            return Config(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise AtomrError(f"invalid TOML configuration: {exc}") from exc

    @staticmethod
    def from_dict(mapping: Mapping[str, Any]) -> "Config":
        """A configuration from nested dicts, lists and scalars.

        Raises:
            ValueError: a value is None, or the top level is not a mapping.
            TypeError: a value has an unsupported type.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"the top level of a config must be a mapping, not "
                             f"{type(mapping).__name__}")
        return Config(mapping)

    def _lookup(self, key: str) -> Any:
        node: Any = self._root
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(key)
            node = node[part]
        return node

    def get(self, key: str, default: Any = None) -> Any:
        """The value at the dotted `key`, or `default`."""
        try:
            return copy.deepcopy(self._lookup(key))
        except KeyError:
            return default

    def get_string(self, key: str) -> Optional[str]:
        """The string at the dotted `key`, or None when it is missing or
        not a string."""
        value = self.get(key)
        return value if isinstance(value, str) else None

    def get_int(self, key: str) -> Optional[int]:
        """The integer at the dotted `key`, or None when it is missing or
        not a number; a float is truncated with ``int()``, a bool gives
        None."""
        value = self.get(key)
        if isinstance(value, bool):
            return None
        if isinstance(value, float):
            return int(value)
        return value if isinstance(value, int) else None

    def get_bool(self, key: str) -> Optional[bool]:
        """The boolean at the dotted `key`, or None when it is missing or
        not a bool."""
        value = self.get(key)
        return value if isinstance(value, bool) else None

    def extract(self, key: str) -> Any:
        """The subtree at `key` as plain Python values.

        Raises:
            AtomrError: the key is missing.
        """
        try:
            return copy.deepcopy(self._lookup(key))
        except KeyError:
            raise AtomrError(f"config key `{key}` is missing") from None

    def extract_root(self) -> dict:
        """The whole tree as a dict."""
        return copy.deepcopy(self._root)

    def resolve(self) -> dict[str, Any]:
        """Every known setting (dotted key -> value), defaults filled in.

        A top-level section no subsystem registered is left out, with an
        :class:`UnknownConfigSectionWarning` (once per section of this
        config): applications keep their own sections beside atomr's.

        Raises:
            ConfigError: a key a registered section does not know, or a
                value of the wrong type.
        """
        schema = dict(_SCHEMA)  # sections are replaced, never mutated: a consistent view
        values: dict[str, Any] = {}
        for section, settings in schema.items():
            for key, setting in settings.items():
                values[f"{section}.{key}"] = setting.default
        unknown = [section for section in self._root if section not in schema]
        for section in unknown:
            with _SCHEMA_LOCK:
                first = section not in self._warned
                self._warned.add(section)
            if first:
                warnings.warn(
                    f"config section `{section}` is not used by atomr (no subsystem "
                    f"registered it; known sections: {', '.join(sorted(schema))})",
                    UnknownConfigSectionWarning, stacklevel=2)
        for full, value in _flatten(self._root).items():
            section, _, rest = full.partition(".")
            settings = schema.get(section)
            if settings is None:
                continue
            setting = settings.get(rest)
            if setting is None:
                if any(k.startswith(rest + ".") for k in settings) or not rest:
                    raise ConfigError(f"config key `{full}` must be a table")
                raise ConfigError(f"unknown config key `{full}`; known keys in `{section}`: "
                                  f"{', '.join(sorted(settings))}")
            values[full] = setting.parse(full, value)
        return values

    def __contains__(self, key: str) -> bool:
        try:
            self._lookup(key)
            return True
        except KeyError:
            return False

    def __repr__(self) -> str:
        return f"Config({self._root!r})"
