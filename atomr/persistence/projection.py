"""Projections: a query run from a stored offset, each envelope handed to a
handler, the offset stored after the handler succeeded (at-least-once
delivery), restarted with backoff when the handler fails.

Example::

    from atomr.persistence.projection import at_least_once, events_by_tag
    from atomr.persistence.query import PersistenceQuery

    rj = PersistenceQuery.get(system).read_journal_for()

    async def update_view(envelope):            # or a plain function
        await db.upsert(envelope.persistence_id, envelope.event)

    projection = at_least_once("orders-view", events_by_tag(rj, "order"), update_view)
    task = asyncio.ensure_future(projection.run())   # until projection.stop()

The offset store defaults to one on the journal's own backend (its snapshot
store: the LMDB directory, the PostgreSQL database, the in-memory store), so
an event's effect and the offset live where the events do.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
import logging
import random
import struct
from functools import partial
from typing import Any, Callable, Optional

from atomr._util import public_module
from atomr.persistence._records import SnapshotRecord, _now_ms
from atomr.persistence._store import SnapshotStore
from atomr.persistence.query import EventEnvelope, NoOffset, Offset, ReadJournal, Sequence
from atomr.streams import Keep, KillSwitches, Sink, Source

__all__ = [
    "OffsetStore",
    "InMemoryOffsetStore",
    "SnapshotOffsetStore",
    "SourceProvider",
    "events_by_tag",
    "events_by_persistence_id",
    "Projection",
    "at_least_once",
]

_log = logging.getLogger("atomr.persistence.projection")

#: The manifest of a stored offset (an 8-byte big-endian int).
_OFFSET_MANIFEST = "atomr.projection.offset"
#: Offsets are stored as snapshots of this reserved persistence id prefix.
_OFFSET_ID_PREFIX = "atomr-projection-offset|"


# -- offset stores ---------------------------------------------------------------------


@public_module("atomr.persistence.projection")
class OffsetStore(abc.ABC):
    """Where a projection keeps the offset of the last envelope it handled."""

    @abc.abstractmethod
    async def read_offset(self, projection_id: str) -> Optional[int]:
        """The stored offset of `projection_id`, or None."""

    @abc.abstractmethod
    async def save_offset(self, projection_id: str, offset: int) -> None:
        """Stores `offset` for `projection_id` (durably, before returning)."""


@public_module("atomr.persistence.projection")
class InMemoryOffsetStore(OffsetStore):
    """Offsets in this process's memory."""

    def __init__(self) -> None:
        self._offsets: dict[str, int] = {}

    async def read_offset(self, projection_id: str) -> Optional[int]:
        return self._offsets.get(projection_id)

    async def save_offset(self, projection_id: str, offset: int) -> None:
        self._offsets[projection_id] = offset


@public_module("atomr.persistence.projection")
class SnapshotOffsetStore(OffsetStore):
    """Offsets kept in a snapshot store, as the snapshot (sequence number 1,
    replaced by each save) of the reserved id
    ``"atomr-projection-offset|<projection id>"``: an LMDB store keeps them in
    the journal's directory (synced like its events), a PostgreSQL store in
    the ``atomr_snapshot`` table.

    Args:
        store: Any :class:`SnapshotStore`.
    """

    def __init__(self, store: SnapshotStore) -> None:
        if not isinstance(store, SnapshotStore):
            raise TypeError(f"store must be a SnapshotStore, not {type(store).__name__}")
        self._store = store

    async def read_offset(self, projection_id: str) -> Optional[int]:
        snap = await self._store.load_snapshot(_OFFSET_ID_PREFIX + projection_id)
        if snap is None:
            return None
        if snap.manifest != _OFFSET_MANIFEST or len(snap.payload) != 8:
            raise ValueError(f"the stored offset of projection `{projection_id}` is not one "
                             f"(manifest `{snap.manifest}`, {len(snap.payload)} bytes)")
        return struct.unpack(">Q", snap.payload)[0]

    async def save_offset(self, projection_id: str, offset: int) -> None:
        await self._store.save_snapshot(SnapshotRecord(
            _OFFSET_ID_PREFIX + projection_id, 1, _now_ms(), _OFFSET_MANIFEST,
            struct.pack(">Q", offset)))

    def __repr__(self) -> str:
        return f"<SnapshotOffsetStore {self._store!r}>"


# -- sources ---------------------------------------------------------------------------------


@public_module("atomr.persistence.projection")
class SourceProvider:
    """What a projection reads: a query started from an offset, and the
    offset store that goes with its journal.

    Args:
        make: ``make(offset) -> Source`` of :class:`EventEnvelope`.
        offset_store: The default offset store of projections over it.
    """

    def __init__(self, make: Callable[[Offset], Source],
                 offset_store: Optional[OffsetStore] = None) -> None:
        if not callable(make):
            raise TypeError("make must be callable")
        self._make = make
        self.offset_store = offset_store

    def source(self, offset: Offset) -> Source:
        """The query from `offset` (exclusive)."""
        return self._make(offset)


def _default_store(read_journal: ReadJournal) -> OffsetStore:
    store = read_journal.journal.snapshot_store()
    return InMemoryOffsetStore() if store is None else SnapshotOffsetStore(store)


@public_module("atomr.persistence.projection")
def events_by_tag(read_journal: ReadJournal, tag: str) -> SourceProvider:
    """The live ``events_by_tag(tag)`` query of `read_journal` (Akka's
    ``EventSourcedProvider.eventsByTag``); offsets on the journal's backend."""
    if not isinstance(read_journal, ReadJournal):
        raise TypeError(f"read_journal must be a ReadJournal, not {type(read_journal).__name__}")
    read_journal.events_by_tag(tag)  # checks the tag now
    return SourceProvider(lambda offset: read_journal.events_by_tag(tag, offset),
                          _default_store(read_journal))


@public_module("atomr.persistence.projection")
def events_by_persistence_id(read_journal: ReadJournal, persistence_id: str) -> SourceProvider:
    """The live ``events_by_persistence_id`` query of `read_journal` (the
    offset is the sequence number)."""
    if not isinstance(read_journal, ReadJournal):
        raise TypeError(f"read_journal must be a ReadJournal, not {type(read_journal).__name__}")
    read_journal.events_by_persistence_id(persistence_id)
    return SourceProvider(
        lambda offset: read_journal.events_by_persistence_id(persistence_id, offset.value + 1),
        _default_store(read_journal))


# -- the projection ----------------------------------------------------------------------------


class _Attempt:
    """The progress of one run of a projection's query."""

    __slots__ = ("last", "unsaved")

    def __init__(self) -> None:
        #: The offset of the last envelope handled in this run (None: none yet).
        self.last: Optional[int] = None
        #: Envelopes handled since the last save.
        self.unsaved = 0


@public_module("atomr.persistence.projection")
class Projection:
    """Runs a :class:`SourceProvider`'s query into a handler, at least once.

    :meth:`run` reads the stored offset, runs the query from it and calls
    ``handler(envelope)`` (a function or a coroutine function) for each
    envelope, one at a time, in order. After every
    `save_offset_after_envelopes` successful calls the offset of the last
    one is stored; only then does it count as done. When the handler (or
    the query) fails, the run stops, waits a backoff (`min_backoff`,
    doubling up to `max_backoff`, times 1..1+`random_factor`; back to
    `min_backoff` once an envelope succeeds again) and restarts from the
    stored offset: the envelopes after it are delivered again. A process
    that dies loses nothing either: the next run starts from the stored
    offset. Handlers must therefore tolerate seeing an envelope twice.

    Args:
        projection_id: Names the stored offset.
        provider: What to read (:func:`events_by_tag`, ...).
        handler: ``handler(envelope)``; may return an awaitable.
        offset_store: Where offsets live (default: the provider's, on the
            journal's backend).
        save_offset_after_envelopes: Store the offset every this many
            envelopes (1: after each).
        min_backoff, max_backoff, random_factor: The restart backoff.
        max_restarts: Give up (:meth:`run` raises the failure) after this
            many restarts in a row without a success; None never gives up.
    """

    def __init__(self, projection_id: str, provider: SourceProvider,
                 handler: Callable[[EventEnvelope], Any], *,
                 offset_store: Optional[OffsetStore] = None,
                 save_offset_after_envelopes: int = 1, min_backoff: float = 0.2,
                 max_backoff: float = 10.0, random_factor: float = 0.2,
                 max_restarts: Optional[int] = None) -> None:
        if not isinstance(projection_id, str) or not projection_id:
            raise ValueError("a projection needs a non-empty str projection_id")
        if not isinstance(provider, SourceProvider):
            raise TypeError(f"provider must be a SourceProvider, not {type(provider).__name__}")
        if not callable(handler):
            raise TypeError("handler must be callable")
        store = offset_store if offset_store is not None else provider.offset_store
        if store is None:
            store = InMemoryOffsetStore()
        if not isinstance(store, OffsetStore):
            raise TypeError(f"offset_store must be an OffsetStore, not {type(store).__name__}")
        if (isinstance(save_offset_after_envelopes, bool)
                or not isinstance(save_offset_after_envelopes, int)
                or save_offset_after_envelopes < 1):
            raise ValueError("save_offset_after_envelopes must be a positive int")
        for name, value in (("min_backoff", min_backoff), ("max_backoff", max_backoff)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if isinstance(random_factor, bool) or not isinstance(random_factor, (int, float)) \
                or random_factor < 0:
            raise ValueError(f"random_factor must be a non-negative number, got {random_factor!r}")
        if max_restarts is not None and (isinstance(max_restarts, bool)
                                         or not isinstance(max_restarts, int) or max_restarts < 0):
            raise ValueError("max_restarts must be None or a non-negative int")
        self.projection_id = projection_id
        self._provider = provider
        self._handler = handler
        self._store = store
        self._save_every = save_offset_after_envelopes
        self._min_backoff = float(min_backoff)
        self._max_backoff = max(float(max_backoff), float(min_backoff))
        self._random_factor = float(random_factor)
        self._max_restarts = max_restarts
        self._stopping = False
        self._switch: Any = None
        self._stop_event: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        #: Restarts after failures so far.
        self.restarts = 0
        #: Envelopes handled successfully so far (in this object).
        self.handled = 0

    @property
    def offset_store(self) -> OffsetStore:
        """Where this projection stores its offset."""
        return self._store

    async def run(self) -> None:
        """Runs the projection until :meth:`stop` (or until a current query
        completes).

        Raises:
            Exception: the last failure, after `max_restarts` restarts in a
                row.
        """
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        failures = 0
        while not self._stopping:
            stored = await self._store.read_offset(self.projection_id)
            offset: Offset = NoOffset if stored is None else Sequence(stored)
            attempt = _Attempt()
            source = self._provider.source(offset)
            switch, done = (source.via_mat(KillSwitches.single(), Keep.right)
                            .map_async(partial(self._handle, attempt))
                            .to_mat(Sink.ignore(), Keep.both).run())
            self._switch = switch
            if self._stopping:
                switch.shutdown()
            try:
                await done
                failure: Optional[BaseException] = None
            except Exception as exc:
                failure = exc
            finally:
                self._switch = None
            if attempt.unsaved and attempt.last is not None:
                await self._store.save_offset(self.projection_id, attempt.last)
            succeeded = attempt.last is not None
            if failure is None:
                return  # stopped, or a current query completed
            failures = 0 if succeeded else failures
            if self._max_restarts is not None and failures >= self._max_restarts:
                raise failure
            delay = min(self._max_backoff, self._min_backoff * (2 ** min(failures, 30)))
            delay *= 1 + random.random() * self._random_factor
            failures += 1
            self.restarts += 1
            _log.warning("projection %s failed (%s: %s); restarting from its stored offset "
                         "in %.2fs", self.projection_id, type(failure).__name__, failure, delay)
            try:
                await asyncio.wait_for(self._stop_event.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def _handle(self, attempt: "_Attempt", envelope: EventEnvelope) -> None:
        result = self._handler(envelope)
        if inspect.isawaitable(result):
            await result
        self.handled += 1
        attempt.last = envelope.offset.value
        attempt.unsaved += 1
        if attempt.unsaved >= self._save_every:
            attempt.unsaved = 0
            await self._store.save_offset(self.projection_id, attempt.last)

    def stop(self) -> None:
        """Stops a running projection (from any thread): the query is shut
        down, the offset of the last envelope handled is stored, and
        :meth:`run` returns. A handler call still in flight is cancelled; its
        envelope is delivered again by the next run."""
        self._stopping = True
        switch = self._switch
        if switch is not None:
            switch.shutdown()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass

    def __repr__(self) -> str:
        return f"<Projection {self.projection_id!r}>"


@public_module("atomr.persistence.projection")
def at_least_once(projection_id: str, provider: SourceProvider,
                  handler: Callable[[EventEnvelope], Any], **options: Any) -> Projection:
    """A :class:`Projection` with at-least-once delivery (Akka's
    ``atLeastOnce``): the offset is stored after the handler succeeded."""
    return Projection(projection_id, provider, handler, **options)
