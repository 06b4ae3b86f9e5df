"""What the dashboard shows of one actor system, gathered from the system
itself (its actor tree, counters and extensions) and from its event stream."""

from __future__ import annotations

import collections
import itertools
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Optional

from atomr.event_stream import DeadLetter

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

#: Dead letters kept for the page (the newest).
DEAD_LETTERS_KEPT = 200
#: Throughput samples kept (one per sample interval).
SAMPLES_KEPT = 120
_REPR = 200


def _text(value: Any) -> str:
    out = repr(value)
    return out if len(out) <= _REPR else out[:_REPR - 3] + "..."


class SystemState:
    """Live view of one actor system: listens to its event stream from
    :meth:`start` until :meth:`stop` (or the system terminates)."""

    def __init__(self, system: "ActorSystem") -> None:
        self._system_ref = weakref.ref(system)
        self.name = system.name
        self._lock = threading.Lock()
        self._dead_letters: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=DEAD_LETTERS_KEPT)
        self._members: dict[str, dict[str, Any]] = {}
        self._leader: Optional[str] = None
        self._remote_events: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self._persistence_events = 0
        self._streams_events: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self._graphs: dict[int, dict[str, Any]] = {}
        self._graph_ids = itertools.count(1)
        self._samples: collections.deque[dict[str, Any]] = collections.deque(maxlen=SAMPLES_KEPT)
        self._last: Optional[tuple[float, int, int]] = None
        self._listening = False
        self._users = 0

    # --- the event stream -------------------------------------------------

    def start(self) -> None:
        """One more dashboard shows this system: listen while any does."""
        system = self._system_ref()
        with self._lock:
            self._users += 1
            if system is None or self._listening:
                return
            self._listening = True
        system.event_stream.subscribe(self._on_event)

    def stop(self) -> None:
        """One dashboard fewer; the last one stops listening."""
        system = self._system_ref()
        with self._lock:
            self._users = max(self._users - 1, 0)
            if system is None or not self._listening or self._users:
                return
            self._listening = False
        try:
            system.event_stream.unsubscribe(self._on_event)
        except Exception:  # noqa: BLE001 - a terminated system's stream
            pass

    def _on_event(self, event: Any) -> None:
        if isinstance(event, DeadLetter):
            entry = {"timestamp": time.time(), "recipient": event.recipient,
                     "sender": getattr(event.sender, "path", None) if event.sender else None,
                     "message_type": type(event.message).__qualname__,
                     "message": _text(event.message)}
            with self._lock:
                self._dead_letters.append(entry)
            return
        module = type(event).__module__
        if module.startswith("atomr.cluster"):
            self._on_cluster_event(event)
        elif module.startswith("atomr.remote"):
            with self._lock:
                self._remote_events.append({"timestamp": time.time(),
                                            "kind": type(event).__name__,
                                            "detail": _text(event)})
        elif module.startswith("atomr.persistence"):
            with self._lock:
                self._persistence_events += 1
        elif module.startswith("atomr.streams"):
            with self._lock:
                self._streams_events.append({"timestamp": time.time(),
                                             "kind": type(event).__name__,
                                             "detail": _text(event)})

    def _on_cluster_event(self, event: Any) -> None:
        kind = type(event).__name__
        member = getattr(event, "member", None)
        with self._lock:
            if kind == "LeaderChanged":
                self._leader = getattr(event, "to_address", None)
                return
            address = getattr(member, "address", None)
            if not isinstance(address, str):
                return
            if kind == "MemberRemoved":
                self._members.pop(address, None)
                return
            entry = self._members.setdefault(address, {
                "address": address, "status": "joining", "reachable": True,
                "roles": [], "up_number": 0})
            entry["status"] = str(getattr(member, "status", entry["status"]))
            entry["roles"] = [str(r) for r in getattr(member, "roles", []) or []]
            entry["up_number"] = int(getattr(member, "up_number", 0) or 0)
            if kind == "UnreachableMember":
                entry["reachable"] = False
            elif kind == "ReachableMember":
                entry["reachable"] = True

    # --- demo graphs ------------------------------------------------------

    def start_graph(self, name: str) -> int:
        with self._lock:
            graph_id = next(self._graph_ids)
            self._graphs[graph_id] = {"id": graph_id, "name": name, "started_at": time.time()}
            return graph_id

    def finish_graph(self, graph_id: int) -> None:
        with self._lock:
            self._graphs.pop(graph_id, None)

    # --- reading ----------------------------------------------------------

    def _live(self) -> Optional["ActorSystem"]:
        system = self._system_ref()
        if system is None or system.is_terminated:
            return None
        return system

    def _extensions(self) -> list[Any]:
        system = self._live()
        if system is None:
            return []
        with system._extensions_lock:
            return list(system._extensions.values())

    def sample(self) -> None:
        """Records the messages handled since the last sample (the
        throughput chart's next point)."""
        system = self._live()
        if system is None:
            return
        handled = sum(int(str(m["messages_handled"])) for m in system._core.metrics())
        now = time.time()
        dead = system._core.dead_letter_count
        with self._lock:
            if self._last is not None:
                t0, h0, d0 = self._last
                span = max(now - t0, 1e-6)
                self._samples.append({"timestamp": now,
                                      "messages_per_sec": max(handled - h0, 0) / span,
                                      "dead_letters_per_sec": max(dead - d0, 0) / span})
            self._last = (now, handled, dead)

    def actors(self, system_actors: bool = True) -> list[dict[str, Any]]:
        """The live actors, parents before children: those under /user
        (``"system": False``), then with `system_actors` those under
        /system (``"system": True``)."""
        system = self._live()
        if system is None:
            return []
        core = system._core
        parts = [(False, core.actor_tree())]
        if system_actors:
            parts.append((True, core.actor_tree(True)))
        return [{"path": path, "parent": parent, "actor_class": kind, "mailbox_depth": depth,
                 "children": children, "system": flag}
                for flag, rows in parts
                for path, parent, kind, depth, children in rows]

    def actor_tree(self) -> list[dict[str, Any]]:
        nodes: dict[str, dict[str, Any]] = {}
        roots: list[dict[str, Any]] = []
        for actor in self.actors():
            node = {**actor, "children": []}
            nodes[actor["path"]] = node
            parent = nodes.get(actor["parent"]) if actor["parent"] else None
            (parent["children"] if parent is not None else roots).append(node)
        return roots

    def dead_letters(self, limit: Optional[int] = None) -> dict[str, Any]:
        system = self._live()
        with self._lock:
            recent = list(self._dead_letters)
        if limit is not None:
            recent = recent[-limit:] if limit > 0 else []
        total = system._core.dead_letter_count if system is not None else len(recent)
        return {"count": total, "recent": recent}

    def cluster(self) -> dict[str, Any]:
        with self._lock:
            members = [dict(m) for m in self._members.values()]
            leader = self._leader
        members.sort(key=lambda m: m["address"])
        return {"available": bool(members), "leader": leader, "members": members,
                "unreachable": [m["address"] for m in members if not m["reachable"]]}

    def remote(self) -> dict[str, Any]:
        associations: dict[str, int] = {}
        address = None
        for ext in self._extensions():
            assoc = getattr(ext, "associations", None)
            if callable(assoc) and type(ext).__module__.startswith("atomr.remote"):
                associations = {str(k): int(v) for k, v in assoc().items()}
                address = str(getattr(ext, "address", ""))
        with self._lock:
            events = list(self._remote_events)
        return {"address": address, "associations": associations, "events": events}

    def ddata(self) -> dict[str, Any]:
        for ext in self._extensions():
            if type(ext).__name__ == "DistributedData":
                rep = getattr(ext, "_replicator", None)
                if rep is not None and not getattr(rep, "_closed", True):
                    return {"available": True, "keys": sorted(rep.keys())}
        return {"available": False, "keys": []}

    def persistence(self) -> dict[str, Any]:
        with self._lock:
            return {"event_count": self._persistence_events}

    def streams(self) -> dict[str, Any]:
        with self._lock:
            return {"running_graphs": sorted(self._graphs.values(), key=lambda g: g["id"]),
                    "events": list(self._streams_events)}

    def sharding(self) -> dict[str, Any]:
        regions: list[str] = []
        details: list[dict[str, Any]] = []
        for ext in self._extensions():
            shards = getattr(ext, "shard_regions", None)
            if callable(shards):
                regions = [str(r) for r in shards()]
                details = _shard_details(ext)
        return {"available": bool(regions), "regions": regions, "details": details}

    def throughput(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._samples)


# The most entity ids the shards panel lists per shard.
_ENTITY_IDS = 20


def _shard_details(node: Any) -> list[dict[str, Any]]:
    """Per live region of a sharding node (atomr.cluster_sharding): its
    type, whether it is a proxy, and each shard it hosts with its
    entities (the count, and the first ids)."""
    out: list[dict[str, Any]] = []
    lock = getattr(node, "lock", None)
    regions = getattr(node, "regions", None)
    if lock is None or not isinstance(regions, dict):
        return out
    with lock:
        for region in list(regions.values()):
            if getattr(region, "_closed", False):
                continue
            shards = []
            for shard_id, shard in sorted(getattr(region, "_shards", {}).items()):
                ids = sorted(getattr(shard, "entities", ()))
                shards.append({"id": str(shard_id), "entity_count": len(ids),
                               "entity_ids": ids[:_ENTITY_IDS]})
            out.append({"region": str(region.region_id), "type_name": str(region.type_name),
                        "proxy": bool(getattr(region, "is_proxy", False)),
                        "shard_count": len(shards),
                        "entity_count": sum(sh["entity_count"] for sh in shards),
                        "shards": shards})
    return out
