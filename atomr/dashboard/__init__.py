"""A web dashboard for a running actor system.

:func:`serve` starts an HTTP server on its own thread. Its page (``/``) is
what one keeps open during an incident: the live actor tree with each
actor's mailbox depth, the dead letters as they come, the cluster's members
and their reachability (when the system is in a cluster), the distributed
data keys, remote associations and a throughput chart -- kept current by
server-sent events (``/api/events``) or a websocket (``/ws``) without a
reload. Everything is served from the package: no external scripts.

JSON routes: ``/api/overview``, ``/api/snapshot``, ``/api/actors/tree``,
``/api/actors``, ``/api/dead-letters?limit=``, ``/api/cluster/state``,
``/api/cluster/reachability``, ``/api/sharding``, ``/api/persistence``,
``/api/remote``, ``/api/streams``, ``/api/ddata``, ``/api/throughput``,
``/api/cluster-wide/overview`` (this node's and each peer dashboard's
overview) and ``/healthz`` (``ok``). The sharding view lists each shard
region of the system (atomr.cluster_sharding) with its shards and their
entities, as does the page's shards panel. The actor tree lists the
system actors (under ``/system``) as well, marked ``"system": true``.

A dashboard serving a system runs the system actor ``/system/dashboard``
(until its handle shuts down), which names the system's dashboards. When
the system is a member of a cluster over TCP, the cluster-wide overview
asks that actor on every other up and reachable member and gathers the
overview of the dashboard it names: the members' dashboards are found
without listing them in ``peers``.

Example:
    >>> from atomr import ActorSystem
    >>> from atomr import dashboard
    >>> system = ActorSystem.create_blocking("dash-doc")
    >>> with dashboard.serve("127.0.0.1:0", node="doc", system=system) as handle:
    ...     print(handle.address.startswith("127.0.0.1:"))
    True
    >>> system.terminate_blocking(10.0)

It is not imported by ``import atomr``; import it explicitly.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Optional

from atomr.dashboard._discovery import beacon_of
from atomr.dashboard._server import DashboardHandle, parse_bind
from atomr.dashboard._state import SystemState

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

__all__ = ["serve", "DashboardHandle", "start_demo_graph", "finish_demo_graph"]

# The live state of each system a dashboard serves (for the demo graphs).
_STATES: "weakref.WeakKeyDictionary[Any, SystemState]" = weakref.WeakKeyDictionary()


def _check_exporters(exporters: Optional[dict[str, Any]]) -> None:
    if exporters is None:
        return
    if not isinstance(exporters, dict):
        raise TypeError(f"exporters must be a dict, not {type(exporters).__name__}")
    otlp = exporters.get("otlp")
    if otlp is not None:
        if not isinstance(otlp, dict) or not otlp.get("endpoint"):
            raise ValueError("exporters['otlp'] needs an 'endpoint'")


def serve(bind: str = "127.0.0.1:9100", node: str = "local", peers: Optional[list[str]] = None,
          exporters: Optional[dict[str, Any]] = None,
          system: Optional["ActorSystem"] = None, *,
          interval: float = 0.5) -> DashboardHandle:
    """Starts a dashboard on `bind` and returns its handle.

    Args:
        bind: ``"host:port"`` (port 0: the kernel picks; the handle's
            :attr:`~DashboardHandle.address` tells which).
        node: The name the dashboard shows for this node.
        peers: Other dashboards' ``host:port``: ``/api/cluster-wide/overview``
            gathers their ``/api/overview`` with this node's (a peer that
            does not answer within 2 s is listed with its error), and
            ``/api/overview`` lists them. The dashboards of the other
            members of the system's cluster are found without them (see
            above); one both listed and found is fetched once.
        exporters: ``{"prometheus": bool | {"enabled", "namespace"},
            "otlp": {"endpoint", ...}}``. ``prometheus`` adds ``/metrics``
            (needs prometheus-client); ``otlp`` is checked and otherwise
            ignored.
        system: The actor system to show (None: an empty dashboard). The
            dashboard runs ``/system/dashboard`` in it until shut down.
        interval: Seconds between two pushes to the open pages.

    Raises:
        ValueError: a bad `bind`, an ``otlp`` exporter without endpoint or
            an `interval` <= 0.
        TypeError: arguments of the wrong type.
    """
    host, port = parse_bind(bind)
    if not isinstance(node, str) or not node:
        raise ValueError("node must be a non-empty str")
    if peers is not None and (not isinstance(peers, (list, tuple))
                              or not all(isinstance(p, str) for p in peers)):
        raise TypeError("peers must be a list of 'host:port' strings")
    _check_exporters(exporters)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise ValueError("interval must be a number of seconds > 0")
    state: Optional[SystemState] = None
    if system is not None:
        from atomr.actor import ActorSystem

        if not isinstance(system, ActorSystem):
            raise TypeError(f"system must be an ActorSystem, not {type(system).__name__}")
        state = _STATES.get(system)
        if state is None:
            state = SystemState(system)
            _STATES[system] = state
        state.start()
    prometheus = None
    if exporters and exporters.get("prometheus"):
        spec = exporters["prometheus"]
        enabled = spec.get("enabled", True) if isinstance(spec, dict) else bool(spec)
        if enabled:
            namespace = spec.get("namespace", "atomr") if isinstance(spec, dict) else "atomr"
            prometheus = (namespace, system)
    handle = DashboardHandle._start(host, port, node, list(peers or []), state,
                                    float(interval), prometheus)
    if system is not None:
        handle._announce(beacon_of(system))
    return handle


def _state_of(system: "ActorSystem") -> SystemState:
    state = _STATES.get(system)
    if state is None:
        raise RuntimeError(f"no dashboard serves system {system.name!r}: call "
                           "dashboard.serve(system=...) first")
    return state


def start_demo_graph(system: "ActorSystem", name: str) -> int:
    """Shows a running stream graph named `name` on the dashboards of
    `system` and returns its id (for :func:`finish_demo_graph`).

    Raises:
        RuntimeError: no dashboard was started for `system`.
    """
    return _state_of(system).start_graph(str(name))


def finish_demo_graph(system: "ActorSystem", graph_id: int) -> None:
    """Removes the graph :func:`start_demo_graph` made.

    Raises:
        RuntimeError: no dashboard was started for `system`.
    """
    _state_of(system).finish_graph(int(graph_id))
