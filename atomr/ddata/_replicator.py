"""The Replicator: the replicated values of one actor system, by key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fnmatch
import hashlib
import inspect
import logging
import random
import threading
import time
import zlib
from asyncio.events import _get_running_loop
from collections import deque
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    ClassVar,
    Optional,
    Sequence,
    Union,
)

from atomr._native import _core as _n
from atomr._util import check_nonempty_str, public_module
from atomr.actor import Actor, props
from atomr.actor.extension import Extension, ExtensionId
from atomr.config import ConfigError
from atomr.ddata._consistency import (
    ReadAggregator,
    ReadConsistency,
    WriteAggregator,
    WriteConsistency,
)
from atomr.ddata._crdt import (
    _CRDT_CLASSES,
    LwwRegister,
    ORMap,
    ReplicatedData,
    _Deleted,
    _kind_name,
    _value_kind,
)
from atomr.ddata import _replication as _rep
from atomr.ddata._durable import DurableStore, FileDurableStore, NoopDurableStore
from atomr.ddata._pruning import PruningState, pruning_phases
from atomr.errors import (
    ActorSystemTerminatedError,
    DataDeletedError,
    DurableStoreError,
    MalformedDataError,
    ReplicationTimeoutError,
    UpdateFailedError,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

_log = logging.getLogger("atomr.ddata")

#: The member statuses whose nodes hold replicas (as Akka's replicator counts them).
_REPLICA_STATUSES = frozenset(("weakly_up", "up", "leaving", "exiting"))
#: At most this many digests per status message (more keys go in chunks).
_STATUS_KEYS = 500


class _Pending:
    """A write or read waiting for the other replicas."""

    __slots__ = ("key", "aggregator", "done", "waiting")

    def __init__(self, key: str, aggregator: Union[WriteAggregator, ReadAggregator],
                 done: asyncio.Future, waiting: set[str]) -> None:
        self.key = key
        self.aggregator = aggregator
        self.done = done
        self.waiting = waiting


def _chunk_of(key: str, chunks: int) -> int:
    return 0 if chunks == 1 else zlib.crc32(key.encode("utf-8", "surrogatepass")) % chunks


def _batches(items: list[tuple[str, str, bytes]]) -> list[list[tuple[str, str, bytes]]]:
    """`items` in runs of at most :data:`_rep.MAX_MESSAGE_BYTES` blob bytes
    (a larger single state goes alone)."""
    out: list[list[tuple[str, str, bytes]]] = []
    run: list[tuple[str, str, bytes]] = []
    size = 0
    for item in items:
        if run and size + len(item[2]) > _rep.MAX_MESSAGE_BYTES:
            out.append(run)
            run, size = [], 0
        run.append(item)
        size += len(item[2])
    if run:
        out.append(run)
    return out


def _prunable(value: ReplicatedData, node: str) -> bool:
    """Whether `value` holds state of the removed replica `node`."""
    return value.needs_pruning_from(node)


def _prune(value: ReplicatedData, node: str, owner: Optional[str]) -> ReplicatedData:
    """`value` without `node`'s state: moved into `owner`'s (pruning), or
    dropped (`owner` None: the cleanup once pruning was performed). The same
    object when there is nothing to prune, else a pruned copy."""
    if not value.needs_pruning_from(node):
        return value
    out = value.copy()
    if owner is None:
        out.prune_cleanup(node)
    else:
        out.prune(node, owner)
    out.reset_delta()
    return out


def _unique(address: str, uid: int) -> str:
    """The replica id of a cluster member: its unique address."""
    return f"{address}#{uid}"


def _log_persist_failure(fut: "concurrent.futures.Future[Any]") -> None:
    exc = fut.exception()
    if exc is not None:
        _log.error("ddata: a durable write of a replicated change failed: %s", exc)


def _store_from_settings(settings: dict[str, Any]) -> tuple[DurableStore, tuple[str, ...]]:
    kind = settings["distributed-data.durable.store-actor-class"]
    path = settings["distributed-data.durable.path"]
    globs = _store_from_settings_globs(settings)
    if kind == "noop":
        return NoopDurableStore(), globs
    if not path:
        raise ConfigError(f"`distributed-data.durable.path` must be set when "
                          f"`distributed-data.durable.store-actor-class` is {kind!r}")
    if kind == "file":
        return FileDurableStore(path), globs
    return DurableStore.lmdb(path, map_size=settings["distributed-data.durable.lmdb.map-size"]), globs


# ---------------------------------------------------------------------------
# The Replicator


@public_module("atomr.ddata")
class ReplicatorSubscription:
    """An async iterator of the changes of one key: it yields the key each
    time a later update changes its value, and when it is deleted.

    Buffers up to :attr:`BUFFER` changes; beyond that new changes are
    dropped (counted in :attr:`dropped`). Iterate it from any event loop
    (one consumer at a time); iteration ends when it is closed or the
    replicator shuts down.
    """

    BUFFER: ClassVar[int] = 64

    def __init__(self, key: str, unregister: Callable[["ReplicatorSubscription"], None]) -> None:
        self.key: str = key
        self.dropped: int = 0
        self._buf: deque[str] = deque()
        self._lock = threading.Lock()
        self._waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = None
        self._closed = False
        self._unregister = unregister

    @staticmethod
    def _wake(waiter: Optional[tuple[asyncio.AbstractEventLoop, asyncio.Future]]) -> None:
        if waiter is None:
            return
        loop, fut = waiter

        def resolve() -> None:
            if not fut.done():
                fut.set_result(None)

        if _get_running_loop() is loop:
            resolve()
        else:
            try:
                loop.call_soon_threadsafe(resolve)
            except RuntimeError:  # the consumer's loop is closed
                pass

    def _push(self, item: str) -> None:
        with self._lock:
            if self._closed:
                return
            if len(self._buf) >= self.BUFFER:
                self.dropped += 1
                return
            self._buf.append(item)
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)

    def pending(self) -> int:
        """Changes buffered and not yet consumed."""
        with self._lock:
            return len(self._buf)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the replicator shut down)."""
        return self._closed

    def close(self) -> None:
        """Stops the subscription; a waiting iteration ends."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)
        self._unregister(self)

    async def aclose(self) -> None:
        """Awaitable :meth:`close` (the async-iterator protocol's close)."""
        self.close()

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        while True:
            with self._lock:
                if self._buf:
                    return self._buf.popleft()
                if self._closed:
                    raise StopAsyncIteration
                loop = asyncio.get_running_loop()
                fut = loop.create_future()
                self._waiter = (loop, fut)
            try:
                await fut
            finally:
                with self._lock:
                    if self._waiter is not None and self._waiter[1] is fut:
                        self._waiter = None

    async def __aenter__(self) -> "ReplicatorSubscription":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ReplicatorSubscription {self.key!r} {state} pending={self.pending()}>"


class _ReplicatorGuard(Actor):
    """Ties a replicator's life to its system: when the system stops this
    actor, the replicator flushes its durable writes and closes its store."""

    def __init__(self, replicator: "Replicator") -> None:
        self._replicator = replicator

    def handle(self, ctx: Any, msg: Any) -> Any:
        return None

    def post_stop(self, ctx: Any) -> None:
        self._replicator._shutdown()


Kind = Union[type, ReplicatedData]


class _ClassOrInstance:
    """A name that is one function on the class and another on instances:
    ``Replicator.get(system)`` and ``replicator.get(key, kind)``."""

    def __init__(self, on_class: Any, on_instance: Callable[..., Any]) -> None:
        self._on_class = on_class.__func__ if isinstance(on_class, staticmethod) else on_class
        self._on_instance = on_instance
        self.__doc__ = (f"On the class: {inspect.cleandoc(self._on_class.__doc__ or '')}\n\n"
                        f"On an instance: {inspect.cleandoc(on_instance.__doc__ or '')}")

    def __get__(self, obj: Any, objtype: Any = None) -> Callable[..., Any]:
        if obj is None:
            return self._on_class
        return self._on_instance.__get__(obj, objtype)


class _DistributedDataId(ExtensionId["DistributedData"]):
    """Builds the :class:`DistributedData` extension of a system."""

    config_section = "distributed-data"

    def create_extension(self, system: "ActorSystem") -> "DistributedData":
        """A new :class:`DistributedData` for `system` (its replicator is
        built on first use)."""
        return DistributedData._create(system)


_DISTRIBUTED_DATA = _DistributedDataId()


@public_module("atomr.ddata")
class DistributedData(Extension):
    """The distributed data of one actor system (one per system, created on
    first use): it holds the system's :class:`Replicator`.

    The replicator is built the first time it is asked for, with the
    durable store the ``distributed-data`` config section names, and is
    shut down (its durable writes flushed, its store closed) when the
    system terminates.

    Example:
        >>> replicator = DistributedData.get(system).replicator  # doctest: +SKIP
        >>> replicator is Replicator.get(system)                 # doctest: +SKIP
        True
    """

    _system: "ActorSystem"
    _lock: threading.Lock
    _replicator: Optional["Replicator"]
    _link: Optional[_rep.Link]
    _link_cluster: Any
    _link_lock: threading.Lock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use DistributedData.get(system)")

    @classmethod
    def _create(cls, system: "ActorSystem") -> "DistributedData":
        self = object.__new__(cls)
        self._system = system
        self._lock = threading.Lock()
        self._replicator = None
        self._link = None
        self._link_cluster = None
        self._link_lock = threading.Lock()
        return self

    def _cluster_link(self) -> tuple[Any, Optional[_rep.Link]]:
        """The system's cluster (None without one: the replicator is
        node-local) and the link to the other members' replicators, made
        the first time a cluster is seen."""
        from atomr.cluster._extension import _CLUSTERS

        cluster = _CLUSTERS.get(self._system)
        if cluster is None or cluster._closed:
            return None, None
        if self._link_cluster is cluster:
            return cluster, self._link
        with self._link_lock:
            if self._link_cluster is cluster:
                return cluster, self._link
            if self._link is not None:
                self._link.close()
                self._link = None
            link: Optional[_rep.Link] = None
            if cluster._registry is not None:
                link = _rep.SimLink(self._system, cluster, self._deliver)
            elif cluster._remote is not None:
                link = _rep.TcpLink(self._system, cluster._remote, self._deliver)
            self._link = link
            self._link_cluster = cluster  # after the link: the unlocked read above
        return cluster, link

    def _deliver(self, payload: Any) -> None:
        rep = self._replicator
        if rep is not None and not rep._closed:
            rep._on_message(payload)

    @staticmethod
    def get(system: "ActorSystem") -> "DistributedData":
        """The distributed data extension of `system`, created on first use.

        Raises:
            ActorSystemTerminatedError: `system` is terminating or terminated
                and has no distributed data extension yet.
        """
        return _DISTRIBUTED_DATA.get(system)

    @property
    def replicator(self) -> "Replicator":
        """The system's replicator, created on first use (again after it was
        shut down) with the durable store its config names
        (``distributed-data.durable.*``).

        Raises:
            ActorSystemTerminatedError: the system is terminated.
            ConfigError: a file/lmdb store without ``durable.path``.
            DurableStoreError: the store cannot be opened or holds malformed data.
        """
        with self._lock:
            rep = self._replicator
            if rep is None or rep._closed:
                store, globs = _store_from_settings(self._system.settings)
                try:
                    rep = Replicator._create(self._system, store, globs)
                except BaseException:
                    store.close()
                    raise
                self._replicator = rep
            return rep

    def _replace(self, store: DurableStore) -> "Replicator":
        """Replaces the replicator with a fresh one backed by `store`."""
        globs = _store_from_settings_globs(self._system.settings)
        with self._lock:
            old, self._replicator = self._replicator, None
            if old is not None:
                old._shutdown(close_store=old._store is not store)
                old._guard.stop()
            rep = self._replicator = Replicator._create(self._system, store, globs)
            return rep

    def shutdown(self) -> None:
        """Shuts the replicator down (the system has terminated): its
        subscriptions end, its durable writes are flushed and its store is
        closed."""
        with self._lock:
            rep = self._replicator
            link, self._link = self._link, None
        if rep is not None:
            rep._shutdown()
        if link is not None:
            link.close()

    def __repr__(self) -> str:
        return f"<DistributedData {self._system.name} replicator={self._replicator!r}>"


@public_module("atomr.ddata")
class Replicator:
    """Holds the replicated values of one actor system, by key.

    One per system (:meth:`get`). Operations run on the system's event loop
    (as Akka's replicator actor would) and can be awaited from any loop;
    updates of one key are serialized.

    When the system is a member of a cluster (:class:`atomr.cluster.Cluster`
    over TCP or a :class:`~atomr.cluster.ClusterRegistry`) the replicator
    replicates with the other members' replicators, as Akka's does: every
    ``distributed-data.gossip-interval`` it sends the digests of its keys to
    a random reachable member, which answers with the states that differ;
    each update is disseminated at once as a delta (or full state); the
    consistency levels send the write (or read) to the other members and
    wait for their acknowledgements (replies) up to their timeout; deletes
    propagate as tombstones; subscriptions fire for changes from other
    nodes; the state of removed members is pruned (every CRDT type with
    per-node state). Replica ids are unique addresses. The replicas
    counted are the members from ``weakly_up`` to ``exiting`` (reachable or
    not). Without a cluster, or alone in one, the replicator is one replica:
    ``local``, ``majority`` and ``all`` are met at once; ``write_to(n)`` /
    ``read_from(n)`` with ``n > 1`` cannot be met and time out after their
    timeout. With a durable store, writes of durable keys are on disk
    before the update (or a peer's write) is acknowledged, and the values
    are loaded at start-up.
    """

    _system: "ActorSystem"
    _store: DurableStore
    _globs: tuple[str, ...]
    _node: str
    _codecs: Any
    _data: dict[str, ReplicatedData]
    _deleted: set[str]
    _locks: dict[str, asyncio.Lock]
    _subs: dict[str, list["ReplicatorSubscription"]]
    _closed: bool
    _close_lock: threading.Lock
    _io: Optional[concurrent.futures.ThreadPoolExecutor]
    _guard: Any  # the ActorRef of the _ReplicatorGuard
    _ext: "DistributedData"
    _digests: dict[str, str]
    _pending: dict[int, _Pending]
    _req_ids: int
    _distrusted: set[tuple[str, str]]
    _delta_buf: dict[str, tuple[str, ReplicatedData]]
    _flush_scheduled: bool
    _round: int
    _random: random.Random
    _timer: Optional[asyncio.TimerHandle]
    _gossip_interval: float
    _deltas_enabled: bool
    _pruning: dict[str, PruningState]
    _pruning_now: set[tuple[str, str]]
    _members_seen: set[str]
    _removed_nodes: set[str]
    _pruned_nodes: set[str]
    _max_pruning_dissemination: float
    #: Messages from peers dropped as malformed (or states not trusted).
    dropped_messages: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use Replicator.get(system) or Replicator.with_durable_store(system, store)")

    @classmethod
    def _create(cls, system: Any, store: DurableStore, globs: tuple[str, ...]) -> "Replicator":
        system.check_live()
        self = object.__new__(cls)
        self._system = system
        self._store = store
        self._globs = globs
        self._node = system.address
        self._codecs = system.codecs
        self._data = {}
        self._deleted = set()
        self._locks = {}
        self._subs = {}
        self._closed = False
        self._close_lock = threading.Lock()
        self._io = None
        self._ext = DistributedData.get(system)
        self._digests = {}
        self._pending = {}
        self._req_ids = 0
        self._distrusted = set()
        self._delta_buf = {}
        self._flush_scheduled = False
        self._round = 0
        self._random = random.Random()
        self._timer = None
        self._pruning = {}
        self._pruning_now = set()
        self._members_seen = set()
        self._removed_nodes = set()
        self._pruned_nodes = set()
        self.dropped_messages = 0
        settings = system.settings
        self._max_pruning_dissemination = float(
            settings["distributed-data.max-pruning-dissemination"])
        self._gossip_interval = float(settings["distributed-data.gossip-interval"])
        self._deltas_enabled = bool(settings["distributed-data.delta-crdt.enabled"])
        try:
            self._load()
            if store.is_durable:
                self._io = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"atomr-ddata-{system.name}")
            self._guard = system.actor_of(
                props(_ReplicatorGuard, factory=lambda: _ReplicatorGuard(self)))
            system.loop.call_soon_threadsafe(self._schedule_tick)
        except BaseException:
            self._shutdown()
            raise
        return self

    def _load(self) -> None:
        for key, blob in self._store.load_all().items():
            try:
                value = ReplicatedData.from_bytes(blob, node=self._node, codecs=self._codecs)
            except MalformedDataError as exc:
                raise DurableStoreError(f"durable entry {key!r} is malformed: {exc}") from exc
            if isinstance(value, _Deleted):
                self._deleted.add(key)
            else:
                self._data[key] = value

    # -- access -----------------------------------------------------------

    @staticmethod
    def _for_system(system: Any) -> "Replicator":
        """The replicator of `system`, created on first use with the
        durable store its config names (``distributed-data.durable.*``).

        Raises:
            ActorSystemTerminatedError: the system is terminated.
            ConfigError: a file/lmdb store without ``durable.path``.
            DurableStoreError: the store cannot be opened or holds malformed data.
        """
        return DistributedData.get(system).replicator

    @staticmethod
    def with_durable_store(system: Any, store: DurableStore) -> "Replicator":
        """Replaces `system`'s replicator with a fresh one backed by `store`
        (loading what it holds); the previous replicator is shut down.

        Raises:
            TypeError: `store` is not a :class:`DurableStore`.
        """
        if not isinstance(store, DurableStore):
            raise TypeError(f"store must be a DurableStore, not {type(store).__name__}")
        return DistributedData.get(system)._replace(store)

    @property
    def durable(self) -> DurableStore:
        """The durable store."""
        return self._store

    @property
    def node(self) -> str:
        """The replica id of this node's updates: in a cluster its unique
        address (``<cluster address>#<incarnation uid>``, so a system
        restarted on the same address is another replica, as in Akka),
        else the system's address."""
        self._refresh_node()
        return self._node

    def _refresh_node(self) -> None:
        cluster, _ = self._ext._cluster_link()
        if cluster is not None:
            self._node = _unique(cluster.self_address, cluster.self_uid)

    @property
    def system(self) -> Any:
        """The actor system this replicator belongs to."""
        return self._system

    def is_durable(self, key: str) -> bool:
        """Whether `key` is kept in the durable store."""
        return self._store.is_durable and any(fnmatch.fnmatchcase(key, g) for g in self._globs)

    def keys(self) -> list[str]:
        """The keys holding a value (not deleted), sorted."""
        return sorted(self._data)

    def deleted_keys(self) -> list[str]:
        """The keys that were deleted (they stay deleted), sorted."""
        return sorted(self._deleted)

    # -- operations ---------------------------------------------------------

    def update(self, key: str, initial: Kind, modify: Callable[[Any], Any],
               write_consistency: Optional[WriteConsistency] = None) -> Awaitable[str]:
        """Updates `key`'s value.

        `modify` receives a copy of the stored value (or of `initial` when
        the key is new: a CRDT class means its empty value, an instance is
        used as is) acting as this node's replica; it may be ``async``,
        mutates and returns it (returning None keeps the mutated argument).
        The result is merged into the stored value, written to the durable
        store when the key is durable, and subscribers are told.

        Returns:
            An awaitable of "ok", or "timeout" when `write_consistency`
            cannot be met (the value is still updated locally).

        Raises:
            ValueError: `initial` names no CRDT type (at call time).
            UpdateFailedError: `modify` raised or returned a value of another
                type; the stored value is unchanged.
            DataDeletedError: `key` was deleted.
            DurableStoreError: the durable write failed (value unchanged).
        """
        _check_key(key)
        proto = _prototype(initial)
        if not callable(modify):
            raise TypeError(f"modify must be callable, not {type(modify).__name__}")
        wc = _write_level(write_consistency)
        return self._call(self._update, key, proto, modify, wc)

    def _get_key(self, key: str, kind: Kind,
                 read_consistency: Optional[ReadConsistency] = None) -> Awaitable[Optional[Any]]:
        """Reads a copy of `key`'s value.

        Returns:
            An awaitable of the value, or None when the key has no value.

        Raises:
            DataDeletedError: `key` was deleted.
            TypeError: the key holds another CRDT type.
            ReplicationTimeoutError: `read_consistency` cannot be met.
        """
        _check_key(key)
        proto = _prototype(kind)
        rc = _read_level(read_consistency)
        return self._call(self._get, key, proto, rc, True)

    get = _ClassOrInstance(_for_system, _get_key)

    def get_value(self, key: str, kind: Kind,
                  read_consistency: Optional[ReadConsistency] = None) -> Awaitable[Optional[Any]]:
        """Like :meth:`get`, but None also for a deleted key or a value of
        another type."""
        _check_key(key)
        proto = _prototype(kind)
        rc = _read_level(read_consistency)
        return self._call(self._get, key, proto, rc, False)

    def delete(self, key: str,
               write_consistency: Optional[WriteConsistency] = None) -> Awaitable[str]:
        """Deletes `key` for good: later updates and gets of it raise
        :class:`~atomr.errors.DataDeletedError`. Subscribers are told.

        Returns:
            An awaitable of "ok" (or "timeout", as for :meth:`update`).

        Raises:
            DataDeletedError: `key` was already deleted.
        """
        _check_key(key)
        wc = _write_level(write_consistency)
        return self._call(self._delete, key, wc)

    def subscribe(self, key: str) -> ReplicatorSubscription:
        """An async iterator yielding `key` on each later change or delete."""
        _check_key(key)
        sub = ReplicatorSubscription(key, self._unsubscribe)
        if self._closed:
            sub.close()
            return sub
        self._subs.setdefault(key, []).append(sub)
        return sub

    def _unsubscribe(self, sub: ReplicatorSubscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.key]

    # -- on the system's loop -------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed or self._system.is_terminated:
            raise ActorSystemTerminatedError(f"the replicator of actor system "
                                             f"{self._system.name} is shut down")
        loop = self._system.loop
        if asyncio.get_running_loop() is loop:
            return await fn(*args)
        try:
            cf = asyncio.run_coroutine_threadsafe(fn(*args), loop)
        except RuntimeError:
            raise ActorSystemTerminatedError(f"actor system {self._system.name} is "
                                             f"terminated") from None
        return await asyncio.wrap_future(cf)

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _persist(self, key: str, blob: bytes) -> None:
        assert self._io is not None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._io, self._store.persist, key, blob)
        except RuntimeError as exc:  # the executor is shut down
            raise ActorSystemTerminatedError(f"the replicator of actor system "
                                             f"{self._system.name} is shut down") from exc

    def _notify(self, key: str) -> None:
        for sub in list(self._subs.get(key, ())):
            sub._push(key)

    def _fresh(self, proto: tuple[type, int, Optional[ReplicatedData]]) -> ReplicatedData:
        cls, value_tag, instance = proto
        if instance is not None:
            value = instance.copy()
        elif cls is ORMap:
            value = ReplicatedData._wrap(_n.ddata_new(ORMap._TAG, value_tag))
        else:
            value = cls()
        value._codecs = self._codecs
        value.reset_delta()
        return value.with_node(self._node)

    async def _update(self, key: str, proto: tuple[type, int, Optional[ReplicatedData]],
                      modify: Callable[[Any], Any], wc: WriteConsistency) -> str:
        self._refresh_node()
        async with self._lock(key):
            if key in self._deleted:
                raise DataDeletedError(key)
            current = self._data.get(key)
            kind = proto[:2]
            if current is not None and _value_kind(current) != kind:
                raise UpdateFailedError(f"key {key!r} holds a {_kind_name(_value_kind(current))}, "
                                        f"not a {_kind_name(kind)}")
            base = current.copy().with_node(self._node) if current is not None \
                else self._fresh(proto)
            base.reset_delta()
            try:
                result = modify(base)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                raise UpdateFailedError(f"the modify function of key {key!r} raised "
                                        f"{type(exc).__name__}: {exc}") from exc
            if result is None:
                result = base
            if not isinstance(result, ReplicatedData) or _value_kind(result) != kind:
                raise UpdateFailedError(f"the modify function of key {key!r} must return a "
                                        f"{_kind_name(kind)}, not {type(result).__name__}")
            # What arrived from other nodes while `modify` ran is kept.
            if key in self._deleted:
                raise DataDeletedError(key)
            latest = self._data.get(key)
            if latest is not None and _value_kind(latest) != kind:
                raise UpdateFailedError(f"key {key!r} holds a {_kind_name(_value_kind(latest))}, "
                                        f"not a {_kind_name(kind)}")
            delta = result.delta()
            new = latest.copy() if latest is not None else self._fresh(proto)
            new.merge(result)
            new.reset_delta()
            new.with_node(self._node)
            changed = latest is None or new != latest
            if changed:
                if self.is_durable(key):
                    await self._persist(key, new.to_bytes())
                    # A remote state merged meanwhile is kept too.
                    again = self._data.get(key)
                    if again is not latest and again is not None:
                        new.merge(again)
                self._set(key, new)
                self._notify(key)
        if not changed:
            return await self._await_writes(wc, key, latest, None, disseminate=False)
        return await self._await_writes(wc, key, new, delta)

    async def _get(self, key: str, proto: tuple[type, int, Optional[ReplicatedData]],
                   rc: ReadConsistency, strict: bool) -> Optional[ReplicatedData]:
        await self._await_reads(rc, key)
        if key in self._deleted:
            if strict:
                raise DataDeletedError(key)
            return None
        current = self._data.get(key)
        if current is None:
            return None
        if _value_kind(current) != proto[:2]:
            if strict:
                raise TypeError(f"key {key!r} holds a {_kind_name(_value_kind(current))}, not "
                                f"a {_kind_name(proto[:2])}")
            return None
        return current.copy()

    async def _delete(self, key: str, wc: WriteConsistency) -> str:
        async with self._lock(key):
            if key in self._deleted:
                raise DataDeletedError(key)
            if self.is_durable(key):
                await self._persist(key, _Deleted().to_bytes())
            self._mark_deleted(key)
            self._notify(key)
        return await self._await_writes(wc, key, _Deleted())

    # -- the cluster ------------------------------------------------------------------

    def _peers(self) -> tuple[Optional[_rep.Link], list[str], int]:
        """(link, the other members' addresses, the replicas counted by the
        consistency levels). Without a cluster (or alone in one): no link,
        no peers, one replica. Members count from ``weakly_up`` to
        ``exiting``, reachable or not, as Akka's replicator counts them."""
        if self._closed:
            return None, [], 1
        cluster, link = self._ext._cluster_link()
        if cluster is None or link is None:
            return None, [], 1
        me = cluster.self_address
        others = sorted({m.address for m in cluster.membership_snapshot().members()
                         if m.status in _REPLICA_STATUSES and m.address != me})
        return link, others, len(others) + 1

    def _reachable(self, others: list[str]) -> list[str]:
        cluster, _ = self._ext._cluster_link()
        if cluster is None:
            return []
        unreachable = set(cluster.unreachable_members())
        return [a for a in others if a not in unreachable]

    def _send(self, link: _rep.Link, to: str, header: dict[str, Any],
              blobs: Sequence[bytes] = ()) -> None:
        header["f"] = self._self_address()
        header["u"] = self._node
        if self._pruning and blobs:
            keys = header.get("k")
            markers = {k: m for k in ([keys] if isinstance(keys, str) else keys or ())
                       for m in (self._markers(k),) if m is not None}
            if markers:
                header["p"] = markers
        link.send(to, _rep.encode(header, list(blobs)))

    def _self_address(self) -> str:
        cluster, _ = self._ext._cluster_link()
        return cluster.self_address if cluster is not None else self._node

    def _set(self, key: str, value: ReplicatedData) -> None:
        self._data[key] = value
        self._digests.pop(key, None)

    def _mark_deleted(self, key: str) -> None:
        self._deleted.add(key)
        self._data.pop(key, None)
        self._digests.pop(key, None)
        self._delta_buf.pop(key, None)

    def _digest(self, key: str) -> str:
        d = self._digests.get(key)
        if d is None:
            if key in self._deleted:
                d = "D"
            else:
                h = hashlib.blake2b(self._data[key].to_bytes(), digest_size=8)
                markers = self._markers(key)
                if markers is not None:
                    h.update(repr(markers).encode())
                d = h.hexdigest()
            self._digests[key] = d
        return d

    def _blob(self, key: str) -> Optional[bytes]:
        if key in self._deleted:
            return _DELETED_BLOB
        value = self._data.get(key)
        return None if value is None else value.to_bytes()

    def _next_id(self) -> int:
        self._req_ids += 1
        return self._req_ids

    async def _await_writes(self, wc: WriteConsistency, key: str,
                            value: Optional[ReplicatedData],
                            delta: Optional[ReplicatedData] = None,
                            disseminate: bool = True) -> str:
        link, others, size = self._peers()
        aggregator = WriteAggregator(max(1, wc.required(size)))
        aggregator.ack()  # this replica holds the write
        if link is not None and others and value is not None and disseminate and \
                aggregator.is_satisfied():
            self._disseminate(key, value, delta)
        if aggregator.is_satisfied():
            return "ok"
        if link is None or not others or value is None:
            # No other replica exists to acknowledge: wait out the timeout, as a
            # replicator waiting for acks that never come would.
            if await self._wait_for_replicas(wc.timeout, aggregator.is_satisfied):
                return "ok"
            return "timeout"
        blob = value.to_bytes()
        req = self._next_id()
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[req] = _Pending(key, aggregator, done, set(others))
        primaries, secondaries = self._primaries(others, aggregator.target - aggregator.received)
        asked = set(primaries)
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + wc.timeout
        try:
            while True:
                if secondaries and loop.time() - start >= wc.timeout / 5:
                    asked.update(secondaries)
                    secondaries = []
                waiting = self._pending[req].waiting
                for peer in sorted(waiting & asked):
                    self._send(link, peer, {"t": "write", "k": key, "r": req}, [blob])
                left = deadline - loop.time()
                if left <= 0:
                    return "timeout"
                wait = min(left, wc.timeout / 4)
                if secondaries:
                    wait = min(wait, max(0.0, start + wc.timeout / 5 - loop.time()))
                try:
                    await asyncio.wait_for(asyncio.shield(done), wait)
                    if secondaries:
                        # Met by the primaries: the others get the change as
                        # any local update's (as Akka's delta propagation).
                        self._send_change(link, secondaries, key, value, delta)
                    return "ok"
                except asyncio.TimeoutError:
                    continue  # the secondaries' turn, or resend to the silent
        finally:
            self._pending.pop(req, None)

    async def _await_reads(self, rc: ReadConsistency, key: str) -> None:
        link, others, size = self._peers()
        aggregator = ReadAggregator(max(1, rc.required(size)))
        aggregator.reply()  # this replica's own value
        if aggregator.is_satisfied():
            return
        if link is not None and others:
            req = self._next_id()
            done: asyncio.Future = asyncio.get_running_loop().create_future()
            self._pending[req] = _Pending(key, aggregator, done, set(others))
            primaries, secondaries = self._primaries(others,
                                                     aggregator.target - aggregator.received)
            asked = set(primaries)
            loop = asyncio.get_running_loop()
            start = loop.time()
            deadline = start + rc.timeout
            try:
                while True:
                    if secondaries and loop.time() - start >= rc.timeout / 5:
                        asked.update(secondaries)
                        secondaries = []
                    for peer in sorted(self._pending[req].waiting & asked):
                        self._send(link, peer, {"t": "read", "k": key, "r": req})
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    wait = min(left, rc.timeout / 4)
                    if secondaries:
                        wait = min(wait, max(0.0, start + rc.timeout / 5 - loop.time()))
                    try:
                        await asyncio.wait_for(asyncio.shield(done), wait)
                        return
                    except asyncio.TimeoutError:
                        continue
            finally:
                self._pending.pop(req, None)
        elif await self._wait_for_replicas(rc.timeout, aggregator.is_satisfied):
            return
        raise ReplicationTimeoutError(
            f"read of key {key!r} could not reach {aggregator.target} replicas within "
            f"{rc.timeout}s (this cluster has {size})")

    def _primaries(self, others: list[str], needed: int) -> tuple[list[str], list[str]]:
        """The replicas a write or read goes to first (`needed` of them,
        reachable ones first, in random order) and the ones it goes to after
        a fifth of its timeout if it is not met by then, as Akka's
        aggregators split them."""
        unreachable = set(self._reachable_exclusions())
        reachable = [a for a in others if a not in unreachable]
        rest = [a for a in others if a in unreachable]
        self._random.shuffle(reachable)
        self._random.shuffle(rest)
        ordered = reachable + rest
        needed = max(0, needed)
        return ordered[:needed], ordered[needed:]

    def _reachable_exclusions(self) -> list[str]:
        cluster, _ = self._ext._cluster_link()
        return [] if cluster is None else cluster.unreachable_members()

    def _send_change(self, link: _rep.Link, peers: list[str], key: str,
                     value: ReplicatedData, delta: Optional[ReplicatedData]) -> None:
        """`key`'s change (its delta, or its full state) to `peers` at once."""
        if key in self._deleted or isinstance(value, _Deleted):
            what, blob = "state", _DELETED_BLOB
        elif delta is not None and self._deltas_enabled:
            what, blob = "delta", delta.to_bytes()
        else:
            current = self._data.get(key)
            if current is None:
                return
            what, blob = "state", current.to_bytes()
        for peer in peers:
            self._send(link, peer, {"t": "delta", "k": [key], "w": [what]}, [blob])

    async def _wait_for_replicas(self, timeout: float, satisfied: Callable[[], bool]) -> bool:
        replies: asyncio.Future = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(replies, timeout)
        except asyncio.TimeoutError:
            pass
        return satisfied()

    @property
    def cluster_size(self) -> int:
        """The replicas the consistency levels count: this node plus the
        other members of its cluster from ``weakly_up`` to ``exiting``
        (reachable or not); 1 without a cluster."""
        return self._peers()[2]

    # -- dissemination and gossip ---------------------------------------------------------

    def _disseminate(self, key: str, value: ReplicatedData,
                     delta: Optional[ReplicatedData]) -> None:
        """Queues `key`'s change for the other members: its delta when the
        type has one, else its full state; sent in one batch per loop turn."""
        if delta is not None and self._deltas_enabled:
            pending = self._delta_buf.get(key)
            if pending is None or pending[0] != "delta":
                self._delta_buf[key] = ("delta", delta) if pending is None else ("state", value)
            else:
                pending[1].merge(delta)
        else:
            self._delta_buf[key] = ("state", value)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        buf, self._delta_buf = self._delta_buf, {}
        if not buf or self._closed:
            return
        link, others, _ = self._peers()
        if link is None:
            return
        peers = self._reachable(others)
        if not peers:
            return
        items: list[tuple[str, str, bytes]] = []
        for key, (what, value) in buf.items():
            if key in self._deleted:
                continue
            if what == "state":
                current = self._data.get(key)
                if current is None:
                    continue
                value = current
            items.append((key, what, value.to_bytes()))
        for batch in _batches(items):
            header = {"t": "delta", "k": [k for k, _, _ in batch], "w": [w for _, w, _ in batch]}
            blobs = [b for _, _, b in batch]
            for peer in peers:
                self._send(link, peer, dict(header), blobs)

    def _schedule_tick(self) -> None:
        if self._closed:
            return
        self._timer = self._system.loop.call_later(self._gossip_interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._closed:
            return
        try:
            self._check_removed()
            self._gc_pruning()
            self._gossip()
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            _log.warning("ddata: a gossip round failed: %s", exc, exc_info=True)
        self._schedule_tick()

    def _gossip(self) -> None:
        link, others, _ = self._peers()
        if link is None:
            return
        peers = self._reachable(others)
        if not peers:
            return
        self._round += 1
        keys = list(self._data) + list(self._deleted)
        chunks = max(1, -(-len(keys) // _STATUS_KEYS))
        chunk = self._round % chunks
        digests = {k: self._digest(k) for k in keys if _chunk_of(k, chunks) == chunk}
        peer = self._random.choice(peers)
        self._send(link, peer, {"t": "status", "d": digests, "c": chunk, "n": chunks})

    # -- pruning the entries of removed nodes --------------------------------------------

    def _markers(self, key: str) -> Optional[list[list[Any]]]:
        state = self._pruning.get(key)
        if state is None or not state._m:
            return None
        return [[node, phase, owner, at] for node, (phase, owner, at) in sorted(state._m.items())]

    def _merge_pruning(self, peer: str, markers: Any) -> None:
        """Joins the pruning markers `peer` sent (``{key: [[removed node,
        phase, owner, obsolete_at], ...]}``) and cleans the removed nodes'
        entries out of the values whose pruning was performed."""
        if not isinstance(markers, dict):
            raise MalformedDataError("malformed pruning markers")
        for key, entries in markers.items():
            if not isinstance(key, str) or not isinstance(entries, list):
                raise MalformedDataError("malformed pruning markers")
            theirs = PruningState()
            for e in entries:
                if not (isinstance(e, list) and len(e) == 4 and isinstance(e[0], str) and
                        e[1] in pruning_phases() and isinstance(e[2], str) and
                        isinstance(e[3], int) and e[0] and e[2]):
                    raise MalformedDataError("a malformed pruning marker")
                if e[0] not in self._pruned_nodes:  # collected here already
                    theirs._m[e[0]] = (e[1], e[2], e[3])
            if not theirs._m:
                continue
            mine = self._pruning.setdefault(key, PruningState())
            before = dict(mine._m)
            mine.merge(theirs)
            if mine._m != before:
                self._digests.pop(key, None)
                self._cleanup(key)

    def _performed(self, key: str) -> list[str]:
        """The removed nodes whose entries `key`'s states must not hold: its
        performed prunings and the nodes whose markers were collected."""
        state = self._pruning.get(key)
        done = [n for n, (phase, _, _) in state._m.items() if phase == "performed"] \
            if state is not None else []
        if self._pruned_nodes:
            done.extend(n for n in self._pruned_nodes if n not in done)
        return done

    def _cleanup(self, key: str) -> None:
        """Drops the entries of the nodes whose pruning of `key` was performed."""
        value = self._data.get(key)
        if value is None:
            return
        cleaned = value
        for node in self._performed(key):
            cleaned = _prune(cleaned, node, None)
        if cleaned is not value:
            self._set(key, cleaned.with_node(self._node))
            if self.is_durable(key):
                self._persist_later(key, cleaned.to_bytes())

    def _check_removed(self) -> None:
        """Each gossip round: the members (by unique address) removed since
        the last round start the pruning of their entries, by the leader (as
        in Akka); the owner performs it once every reachable member's state
        is merged. Messages of a removed member are ignored from then on."""
        cluster, _ = self._ext._cluster_link()
        if cluster is None:
            return
        self._refresh_node()
        members = {_unique(m.address, m.uid) for m in cluster.membership_snapshot().members()}
        removed = self._members_seen - members
        self._members_seen |= members
        self._removed_nodes |= removed
        me = self._node
        if removed and cluster.leader == cluster.self_address:
            for key, value in self._data.items():
                for node in removed:
                    if _prunable(value, node):
                        state = self._pruning.setdefault(key, PruningState())
                        if state.phase(node) is None:
                            state.initialize(node, me)
                            self._digests.pop(key, None)
        for key, state in list(self._pruning.items()):
            for node, (phase, owner, _) in list(state._m.items()):
                if phase == "initialized" and owner == me and (key, node) not in self._pruning_now:
                    self._pruning_now.add((key, node))
                    asyncio.ensure_future(self._perform_pruning(key, node))

    def _now_ms(self) -> int:
        """The clock of the pruning markers, in milliseconds: the wall clock
        (shared by the nodes, as Akka's markers use it), or the virtual
        clock of a ClusterRegistry in virtual time."""
        cluster, _ = self._ext._cluster_link()
        registry = getattr(cluster, "_registry", None) if cluster is not None else None
        if registry is not None and registry.virtual_time:
            return int(registry.now() * 1000)
        return int(time.time() * 1000)

    def _gc_pruning(self) -> None:
        """Drops the performed markers older than
        ``distributed-data.max-pruning-dissemination``; their nodes stay in
        the set of pruned nodes, whose entries are dropped from every
        state received later (so old data cannot bring them back)."""
        now = self._now_ms()
        for key, state in list(self._pruning.items()):
            doomed = [n for n, (phase, _, at) in state._m.items()
                      if phase == "performed" and at <= now]
            if doomed:
                state.gc(now)
                self._pruned_nodes.update(doomed)
                self._digests.pop(key, None)
            if not state._m:
                del self._pruning[key]

    async def _perform_pruning(self, key: str, node: str) -> None:
        try:
            # Every reachable member's state first: the removed node's last
            # increments may have reached only some of them.
            await self._await_reads(ReadConsistency.all(max(0.5, 2 * self._gossip_interval)), key)
            async with self._lock(key):
                state = self._pruning.get(key)
                value = self._data.get(key)
                if state is None or state.phase(node) != "initialized" or value is None:
                    return
                pruned = _prune(value, node, self._node)
                state.mark_performed(
                    node, self._now_ms() + int(self._max_pruning_dissemination * 1000))
                self._set(key, pruned.with_node(self._node))
                if self.is_durable(key):
                    await self._persist(key, pruned.to_bytes())
            link, others, _ = self._peers()
            if link is not None:
                for peer in self._reachable(others):
                    self._send_states(peer, [key], [])
        except (ReplicationTimeoutError, asyncio.CancelledError, ActorSystemTerminatedError):
            pass  # tried again next round
        finally:
            self._pruning_now.discard((key, node))

    # -- receiving -------------------------------------------------------------------

    def _on_message(self, payload: Any) -> None:
        try:
            header, blobs = _rep.decode(payload)
            handler = self._handlers.get(header["t"])
            if handler is None:
                raise MalformedDataError(f"unknown replicator message type {header['t']!r}")
            sender = header.get("u")
            if sender is not None and not isinstance(sender, str):
                raise MalformedDataError("a replicator message with a malformed sender id")
            if sender in self._removed_nodes:
                # A late message of a removed incarnation: its data is pruned
                # (or being pruned) and must not come back (as in Akka).
                _log.debug("ddata: ignored a message of the removed node %s", sender)
                return
            if "p" in header:
                self._merge_pruning(header["f"], header["p"])
            handler(self, header, blobs)
        except (MalformedDataError, KeyError, TypeError, ValueError, IndexError) as exc:
            self.dropped_messages += 1
            _log.warning("ddata: dropped a malformed message from a peer: %s", exc)

    def _decode_from(self, peer: str, key: str, blob: bytes) -> Optional[ReplicatedData]:
        """The state `peer` sent for `key`, or None when it is malformed
        (logged; `peer` is not trusted for `key` again) or `peer` is not
        trusted for `key`."""
        if (peer, key) in self._distrusted:
            return None
        try:
            return ReplicatedData.from_bytes(blob, node=self._node, codecs=self._codecs)
        except MalformedDataError as exc:
            self._distrusted.add((peer, key))
            self.dropped_messages += 1
            _log.warning("ddata: %s sent a malformed state of key %r (dropped; not trusted "
                         "for that key again): %s", peer, key, exc)
            return None

    def _merge_in(self, peer: str, key: str, value: ReplicatedData, as_delta: bool = False
                  ) -> bool:
        """Joins a state (or delta) `peer` sent for `key` into the store;
        True when the key's value (or deletion) is now known here."""
        if key in self._deleted:
            return True
        if isinstance(value, _Deleted):
            self._mark_deleted(key)
            if self.is_durable(key):
                self._persist_later(key, _DELETED_BLOB)
            self._notify(key)
            return True
        current = self._data.get(key)
        if current is not None and _value_kind(current) != _value_kind(value):
            self._distrusted.add((peer, key))
            self.dropped_messages += 1
            _log.warning("ddata: %s sent a %s for key %r, which holds a %s here (dropped; not "
                         "trusted for that key again)", peer, _kind_name(_value_kind(value)),
                         key, _kind_name(_value_kind(current)))
            return False
        for node in self._performed(key):
            value = _prune(value, node, None)
        if current is None:
            new = value
            new._codecs = self._codecs
        else:
            new = current.copy()
            if as_delta:
                new.merge_delta(value)
            else:
                new.merge(value)
        new.reset_delta()
        new.with_node(self._node)
        if current is None or new != current:
            self._set(key, new)
            if self.is_durable(key):
                self._persist_later(key, new.to_bytes())
            self._notify(key)
        return True

    def _persist_later(self, key: str, blob: bytes) -> None:
        if self._io is None:
            return
        try:
            fut = self._io.submit(self._store.persist, key, blob)
        except RuntimeError:  # shut down
            return
        fut.add_done_callback(_log_persist_failure)

    def _h_status(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        peer = h["f"]
        theirs = h["d"]
        chunks, chunk = int(h["n"]), int(h["c"])
        if not isinstance(theirs, dict) or chunks < 1:
            raise MalformedDataError("a status without digests")
        mine = [k for k in list(self._data) + list(self._deleted)
                if _chunk_of(k, chunks) == chunk]
        send = [k for k in mine if theirs.get(k) != self._digest(k)]
        want = [k for k, d in theirs.items()
                if isinstance(k, str) and (k not in self._deleted) and
                (k not in self._data or self._digest(k) != d)]
        if send or want:
            self._send_states(peer, send, want)

    def _send_states(self, peer: str, keys: list[str], want: list[str]) -> None:
        link, _, _ = self._peers()
        if link is None:
            return
        items = [(k, "state", b) for k in keys for b in (self._blob(k),) if b is not None]
        batches = _batches(items) or [[]]
        for i, batch in enumerate(batches):
            header: dict[str, Any] = {"t": "gossip", "k": [k for k, _, _ in batch]}
            if i == 0 and want:
                header["want"] = want
            self._send(link, peer, header, [b for _, _, b in batch])

    def _h_gossip(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        peer = h["f"]
        keys = h["k"]
        if not isinstance(keys, list) or len(keys) != len(blobs):
            raise MalformedDataError("a gossip message whose keys and states do not match")
        for key, blob in zip(keys, blobs):
            value = self._decode_from(peer, key, blob)
            if value is not None:
                self._merge_in(peer, key, value)
        want = h.get("want")
        if want:
            if not isinstance(want, list):
                raise MalformedDataError("a gossip message with a malformed `want`")
            self._send_states(peer, [k for k in want if isinstance(k, str)], [])

    def _h_delta(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        peer = h["f"]
        keys, what = h["k"], h["w"]
        if not isinstance(keys, list) or len(keys) != len(blobs) or len(what) != len(keys):
            raise MalformedDataError("a delta message whose keys and states do not match")
        for key, w, blob in zip(keys, what, blobs):
            value = self._decode_from(peer, key, blob)
            if value is not None:
                self._merge_in(peer, key, value, as_delta=(w == "delta"))

    def _h_write(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        peer, key, req = h["f"], h["k"], h["r"]
        if not isinstance(key, str) or len(blobs) != 1:
            raise MalformedDataError("a write message without a key and one state")
        value = self._decode_from(peer, key, blobs[0])
        ok = value is not None and self._merge_in(peer, key, value)
        if ok and self.is_durable(key) and self._io is not None:
            # Acknowledged once the durable store holds it, as Akka's replicator does.
            blob = self._blob(key)
            assert blob is not None
            fut = asyncio.wrap_future(self._io.submit(self._store.persist, key, blob))
            fut.add_done_callback(lambda f: self._ack(peer, req, f.exception() is None))
            return
        self._ack(peer, req, ok)

    def _ack(self, peer: str, req: Any, ok: bool) -> None:
        link, _, _ = self._peers()
        if link is not None:
            self._send(link, peer, {"t": "wack" if ok else "wnack", "r": req})

    def _h_wack(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        pending = self._pending.get(h["r"])
        if pending is None or h["f"] not in pending.waiting:
            return  # late, duplicate, or not asked
        if not isinstance(pending.aggregator, WriteAggregator):
            return  # an ack naming a read's id
        pending.waiting.discard(h["f"])
        pending.aggregator.ack()
        if pending.aggregator.is_satisfied() and not pending.done.done():
            pending.done.set_result(None)

    def _h_wnack(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        pending = self._pending.get(h["r"])
        if pending is None or h["f"] not in pending.waiting:
            return
        pending.waiting.discard(h["f"])
        if isinstance(pending.aggregator, WriteAggregator):
            pending.aggregator.nack()

    def _h_read(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        peer, key = h["f"], h["k"]
        if not isinstance(key, str):
            raise MalformedDataError("a read message without a key")
        link, _, _ = self._peers()
        if link is None:
            return
        blob = self._blob(key)
        self._send(link, peer, {"t": "rres", "r": h["r"], "k": key},
                   [] if blob is None else [blob])

    def _h_rres(self, h: dict[str, Any], blobs: list[bytes]) -> None:
        pending = self._pending.get(h["r"])
        peer = h["f"]
        if pending is None or peer not in pending.waiting or h.get("k") != pending.key or \
                not isinstance(pending.aggregator, ReadAggregator):
            return
        if len(blobs) > 1:
            raise MalformedDataError("a read reply with more than one state")
        if blobs:
            value = self._decode_from(peer, pending.key, blobs[0])
            if value is None:
                return  # not counted: a malformed reply
            self._merge_in(peer, pending.key, value)  # read repair
        pending.waiting.discard(peer)
        pending.aggregator.reply()
        if pending.aggregator.is_satisfied() and not pending.done.done():
            pending.done.set_result(None)

    _handlers: ClassVar[dict[str, Callable[["Replicator", dict[str, Any], list[bytes]], None]]]

    # -- shutdown -----------------------------------------------------------------

    def _shutdown(self, close_store: bool = True) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        timer, self._timer = self._timer, None
        if timer is not None:
            try:
                self._system.loop.call_soon_threadsafe(timer.cancel)
            except RuntimeError:  # the loop is closed
                pass
        for pending in list(self._pending.values()):
            fut = pending.done
            try:
                fut.get_loop().call_soon_threadsafe(
                    lambda f=fut: None if f.done() else f.cancel())
            except RuntimeError:
                pass
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()
        if self._io is not None:
            self._io.shutdown(wait=True)
        if close_store:
            self._store.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<Replicator {self._system.name} {state} keys={len(self._data)} store={self._store!r}>"


Replicator._handlers = {
    "status": Replicator._h_status,
    "gossip": Replicator._h_gossip,
    "delta": Replicator._h_delta,
    "write": Replicator._h_write,
    "wack": Replicator._h_wack,
    "wnack": Replicator._h_wnack,
    "read": Replicator._h_read,
    "rres": Replicator._h_rres,
}
_DELETED_BLOB = _Deleted().to_bytes()


def _store_from_settings_globs(settings: dict[str, Any]) -> tuple[str, ...]:
    globs = settings["distributed-data.durable.keys"]
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
        raise ConfigError("`distributed-data.durable.keys` must be a list of key globs (str)")
    return tuple(globs)


def _check_key(key: Any) -> None:
    check_nonempty_str("a replicated key", key)


def _prototype(initial: Any) -> tuple[type, int, Optional[ReplicatedData]]:
    """(class, ORMap value tag, instance or None) from a CRDT class or instance."""
    if isinstance(initial, ReplicatedData) and type(initial) in _CRDT_CLASSES:
        cls, value_tag = _value_kind(initial)
        return cls, value_tag, initial
    if isinstance(initial, type) and initial in _CRDT_CLASSES:
        return initial, (LwwRegister._TAG if initial is ORMap else 0), None
    raise ValueError(f"{initial!r} is not a CRDT type of atomr.ddata "
                     f"({', '.join(c.__name__ for c in _CRDT_CLASSES)})")


def _write_level(wc: Any) -> WriteConsistency:
    if wc is None:
        return WriteConsistency.local()
    if not isinstance(wc, WriteConsistency):
        raise TypeError(f"write_consistency must be a WriteConsistency, not {type(wc).__name__}")
    return wc


def _read_level(rc: Any) -> ReadConsistency:
    if rc is None:
        return ReadConsistency.local()
    if not isinstance(rc, ReadConsistency):
        raise TypeError(f"read_consistency must be a ReadConsistency, not {type(rc).__name__}")
    return rc
