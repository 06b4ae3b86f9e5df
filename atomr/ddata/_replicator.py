"""The Replicator: the replicated values of one actor system, by key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fnmatch
import inspect
import threading
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
from atomr.ddata._durable import DurableStore, FileDurableStore, NoopDurableStore
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use DistributedData.get(system)")

    @classmethod
    def _create(cls, system: "ActorSystem") -> "DistributedData":
        self = object.__new__(cls)
        self._system = system
        self._lock = threading.Lock()
        self._replicator = None
        return self

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
        if rep is not None:
            rep._shutdown()

    def __repr__(self) -> str:
        return f"<DistributedData {self._system.name} replicator={self._replicator!r}>"


@public_module("atomr.ddata")
class Replicator:
    """Holds the replicated values of one actor system, by key.

    One per system (:meth:`get`). Operations run on the system's event loop
    (as Akka's replicator actor would) and can be awaited from any loop;
    updates of one key are serialized. This is a one-node cluster: the
    consistency levels are honoured for one replica -- ``local``,
    ``majority`` and ``all`` are met at once; ``write_to(n)`` /
    ``read_from(n)`` with ``n > 1`` cannot be met and time out after their
    timeout. With a durable store, writes of durable keys are on disk
    before the update answers, and the values are loaded at start-up.
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
        try:
            self._load()
            if store.is_durable:
                self._io = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"atomr-ddata-{system.name}")
            self._guard = system.actor_of(
                props(_ReplicatorGuard, factory=lambda: _ReplicatorGuard(self)))
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
        """The replica id of this node's updates (the system's address)."""
        return self._node

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
            new = current.copy() if current is not None else self._fresh(proto)
            new.merge(result)
            new.reset_delta()
            new.with_node(self._node)
            changed = current is None or new != current
            if changed:
                if self.is_durable(key):
                    await self._persist(key, new.to_bytes())
                self._data[key] = new
                self._notify(key)
        return await self._await_writes(wc)

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
            self._deleted.add(key)
            self._data.pop(key, None)
            self._notify(key)
        return await self._await_writes(wc)

    async def _await_writes(self, wc: WriteConsistency) -> str:
        aggregator = WriteAggregator(max(1, wc.required(self.cluster_size)))
        aggregator.ack()  # this replica holds the write
        if aggregator.is_satisfied():
            return "ok"
        # No other replica exists to acknowledge: wait out the timeout, as a
        # replicator waiting for acks that never come would.
        if await self._wait_for_replicas(wc.timeout, aggregator.is_satisfied):
            return "ok"
        return "timeout"

    async def _await_reads(self, rc: ReadConsistency, key: str) -> None:
        aggregator = ReadAggregator(max(1, rc.required(self.cluster_size)))
        aggregator.reply()  # this replica's own value
        if aggregator.is_satisfied():
            return
        if not await self._wait_for_replicas(rc.timeout, aggregator.is_satisfied):
            raise ReplicationTimeoutError(
                f"read of key {key!r} could not reach {aggregator.target} replicas within "
                f"{rc.timeout}s (this cluster has {self.cluster_size})")

    async def _wait_for_replicas(self, timeout: float, satisfied: Callable[[], bool]) -> bool:
        replies: asyncio.Future = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(replies, timeout)
        except asyncio.TimeoutError:
            pass
        return satisfied()

    @property
    def cluster_size(self) -> int:
        """The replicas this replicator reaches: itself only."""
        return 1

    # -- shutdown -----------------------------------------------------------------

    def _shutdown(self, close_store: bool = True) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
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
