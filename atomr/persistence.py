"""Event sourcing: persistent actors, journals and snapshot stores.

An :class:`EventSourcedActor` keeps its state as the fold of the events it
persisted. Commands go through :meth:`EventSourcedActor.command_handler`,
which returns :class:`Effect` values; persisted events are applied with
:meth:`EventSourcedActor.event_handler`, both live and when the actor
recovers after a restart, a crash or in another process.

Storage is pluggable. The built-in backends are C++ implementations behind
one interface:

* :class:`InMemoryJournal` / :class:`InMemorySnapshotStore` -- the process's
  memory (the default: one journal per actor system);
* :class:`LmdbJournal` / :class:`LmdbSnapshotStore` -- durable LMDB files.
  Commits are fsynced before a write is acknowledged, and the writes of
  concurrent actors are committed together (group commit).

Any object implementing the :class:`Journal` (and :class:`SnapshotStore`)
interface plugs in the same way, through the actor's constructor or, after
:func:`register_journal`, through the ``persistence`` config section.

Events and snapshots are stored as bytes made by the actor system's codec
registry (``system.codecs``: msgpack for plain builtin values, JSON or user
codecs for the rest); pickle is never used unless a user registered it for a
manifest.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import concurrent.futures
import inspect
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

from atomr._native._core import _CompletionPort, _NativeJournal, _NativeSnapshotStore
from atomr._native._core import lmdb_map_size as _lmdb_map_size
from atomr.actor import Actor
from atomr.codecs import PyCodecRegistry
from atomr.config import ConfigError, Setting, register_section
from atomr.errors import AtomrError, EventRejectedError, JournalError

__all__ = [
    "EventSourcedActor",
    "Effect",
    "Journal",
    "SnapshotStore",
    "InMemoryJournal",
    "InMemorySnapshotStore",
    "LmdbJournal",
    "LmdbSnapshotStore",
    "RecoveryPermitter",
    "PersistentRecord",
    "SnapshotRecord",
    "SnapshotSelectionCriteria",
    "JournalError",
    "EventRejectedError",
    "register_journal",
    "register_snapshot_store",
    "MAX_SEQUENCE_NR",
]

_log = logging.getLogger("atomr.persistence")

#: The largest sequence number (an open upper bound for replays).
MAX_SEQUENCE_NR = 2**64 - 1
_MAX_TIMESTAMP = 2**63 - 1
_MIN_TIMESTAMP = -(2**63)
#: Events fetched per journal round trip while recovering.
_REPLAY_CHUNK = 4096
_DEFAULT_MAP_SIZE = 64 << 20
_DEFAULT_MAX_MAP_SIZE = 16 << 30

register_section("persistence", {
    "journal": Setting("str", "inmemory"),
    "snapshot-store": Setting("str", "auto"),
    "snapshot-every": Setting("int", 0, minimum=0),
    "max-concurrent-recoveries": Setting("int", 50, minimum=1),
    "lmdb.path": Setting("str", ""),
    "lmdb.map-size": Setting("int", _DEFAULT_MAP_SIZE, minimum=65536),
    "lmdb.max-map-size": Setting("int", _DEFAULT_MAX_MAP_SIZE, minimum=65536),
    "lmdb.sync": Setting("bool", True),
})


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- records ----------------------------------------------------------------------


@dataclass(frozen=True)
class PersistentRecord:
    """One stored event, as journals see it.

    Attributes:
        persistence_id: The entity the event belongs to.
        sequence_nr: Its number: 1 for an entity's first event, then +1.
        manifest: What the payload is (the codec manifest of the event).
        payload: The encoded event.
        timestamp_ms: When it was written (milliseconds since the epoch).
        tags: Tags for :meth:`InMemoryJournal.events_by_tag`.
    """

    persistence_id: str
    sequence_nr: int
    manifest: str
    payload: bytes
    timestamp_ms: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SnapshotRecord:
    """One stored snapshot.

    Attributes:
        persistence_id: The entity.
        sequence_nr: The number of the last event the snapshot includes.
        timestamp_ms: When it was taken (milliseconds since the epoch).
        manifest: What the payload is.
        payload: The encoded state.
    """

    persistence_id: str
    sequence_nr: int
    timestamp_ms: int
    manifest: str
    payload: bytes


@dataclass(frozen=True)
class SnapshotSelectionCriteria:
    """Which snapshots a load or delete selects: the bounds are inclusive.

    ``SnapshotSelectionCriteria()`` selects every snapshot; a load then
    returns the latest one.
    """

    max_sequence_nr: int = MAX_SEQUENCE_NR
    max_timestamp_ms: int = _MAX_TIMESTAMP
    min_sequence_nr: int = 0
    min_timestamp_ms: int = _MIN_TIMESTAMP

    @staticmethod
    def latest() -> "SnapshotSelectionCriteria":
        """Selects every snapshot (a load returns the newest)."""
        return SnapshotSelectionCriteria()

    def matches(self, sequence_nr: int, timestamp_ms: int) -> bool:
        """True when a snapshot with these numbers is selected."""
        return (self.min_sequence_nr <= sequence_nr <= self.max_sequence_nr
                and self.min_timestamp_ms <= timestamp_ms <= self.max_timestamp_ms)

    def _bounds(self) -> tuple[int, int, int, int]:
        return (_clamp(self.max_sequence_nr, 0, MAX_SEQUENCE_NR),
                _clamp(self.max_timestamp_ms, _MIN_TIMESTAMP, _MAX_TIMESTAMP),
                _clamp(self.min_sequence_nr, 0, MAX_SEQUENCE_NR),
                _clamp(self.min_timestamp_ms, _MIN_TIMESTAMP, _MAX_TIMESTAMP))


def _clamp(value: int, lo: int, hi: int) -> int:
    return lo if value < lo else hi if value > hi else value


def _check_seq(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return min(value, MAX_SEQUENCE_NR)


def _record_tuple(record: Any) -> tuple:
    """The native form of `record`; TypeError/ValueError when it cannot be stored."""
    if not isinstance(record, PersistentRecord):
        raise TypeError(f"journals store PersistentRecord values, not {type(record).__name__}")
    payload = record.payload
    if isinstance(payload, (bytearray, memoryview)):
        payload = bytes(payload)
    if not isinstance(payload, bytes):
        raise TypeError(f"the payload of event {record.sequence_nr} of `{record.persistence_id}` "
                        f"is {type(payload).__name__}, not bytes (encode events with a codec)")
    if not isinstance(record.persistence_id, str) or not isinstance(record.manifest, str):
        raise TypeError("persistence_id and manifest must be str")
    if (isinstance(record.sequence_nr, bool) or not isinstance(record.sequence_nr, int)
            or not 0 < record.sequence_nr <= MAX_SEQUENCE_NR):
        raise ValueError(f"invalid sequence number {record.sequence_nr!r}")
    tags = tuple(record.tags)
    if not all(isinstance(t, str) for t in tags):
        raise TypeError("tags must be str")
    ts = record.timestamp_ms
    if isinstance(ts, bool) or not isinstance(ts, int) or not _MIN_TIMESTAMP <= ts <= _MAX_TIMESTAMP:
        raise ValueError(f"invalid timestamp {ts!r}")
    return (record.persistence_id, record.sequence_nr, record.manifest, payload, ts, tags)


async def _ready(value: Any) -> Any:
    return value


def _from_tuple(t: tuple) -> PersistentRecord:
    return PersistentRecord(t[0], t[1], t[2], t[3], t[4], t[5])


# -- blocking I/O off the event loop ------------------------------------------------


class _IoPool:
    """A few threads for blocking journal calls (replays, snapshot I/O).

    The calls release the GIL inside C++; the threads run no other Python.
    A thread that stays idle for `idle` seconds exits, so an idle program
    keeps none.
    """

    def __init__(self, max_workers: int = 4, idle: float = 1.0) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._tasks: collections.deque = collections.deque()
        self._max = max_workers
        self._idle = idle
        self._workers = 0
        self._waiting = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._cv:
            self._tasks.append((fut, fn, args))
            if self._waiting > 0:
                self._cv.notify()
            elif self._workers < self._max:
                self._workers += 1
                threading.Thread(target=self._work, name="atomr-journal-io", daemon=True).start()
        return fut

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._tasks:
                    self._waiting += 1
                    woken = self._cv.wait(self._idle)
                    self._waiting -= 1
                    if not woken and not self._tasks:
                        self._workers -= 1
                        return
                fut, fn, args = self._tasks.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the awaiting caller
                fut.set_exception(exc)


_io_pool = _IoPool()


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.wrap_future(_io_pool.submit(fn, *args))


class _PortBinding:
    """The completion port of one event loop: LMDB writers finish on the
    C++ writer thread, which posts the outcome here; the loop resolves the
    waiting futures on its own thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.port = _CompletionPort()
        self.futures: dict[int, asyncio.Future] = {}
        self.next_ticket = 0
        loop.add_reader(self.port.fd, self._drain)

    def _drain(self) -> None:
        for ticket, rejections, failed, error in self.port.drain():
            fut = self.futures.pop(ticket, None)
            if fut is None or fut.done():
                continue
            if failed:
                fut.set_exception(JournalError(error))
            else:
                fut.set_result(rejections)


_bindings: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PortBinding]" = (
    weakref.WeakKeyDictionary())


def _submit_write(native: _NativeJournal, batches: list) -> "asyncio.Future[list]":
    loop = asyncio.get_running_loop()
    binding = _bindings.get(loop)
    if binding is None:
        binding = _bindings[loop] = _PortBinding(loop)
    binding.next_ticket += 1
    ticket = binding.next_ticket
    fut = loop.create_future()
    binding.futures[ticket] = fut
    try:
        native.submit(batches, binding.port, ticket)
    except BaseException:
        del binding.futures[ticket]
        raise
    return fut


# -- the plugin interface -------------------------------------------------------------


class Journal(abc.ABC):
    """The interface every journal implements (built-in or plugged in).

    A journal stores :class:`PersistentRecord` values per persistence id.
    Implement the four abstract coroutines to plug in your own storage; an
    event-sourced actor only ever calls these. Every method may be called
    from any event loop.

    Contract:

    * :meth:`write_messages` writes each batch atomically, in order, and
      returns only once the written batches are durable. A batch whose
      records cannot be stored -- a payload that is not bytes, numbers that
      do not continue the entity's highest sequence number -- is *rejected*:
      its slot in the result holds an :class:`EventRejectedError` and nothing
      of it is written. A storage failure raises :class:`JournalError`
      instead (no batch of that call may be acknowledged).
    * :meth:`read_highest_sequence_nr` never decreases, deletes included.
    * :meth:`delete_messages_to` removes a prefix of the entity's events.

    :meth:`check_batch` and :meth:`validate_records` implement the
    numbering and type rules for plugin authors.
    """

    @abc.abstractmethod
    async def write_messages(
            self, batches: Sequence[Sequence[PersistentRecord]]) -> list[Optional[BaseException]]:
        """Writes each batch atomically.

        Args:
            batches: Batches of records; each holds one entity's events with
                consecutive numbers.

        Returns:
            One entry per batch: None when it was written, the rejection
            (an :class:`EventRejectedError`) when it was not.

        Raises:
            JournalError: the storage failed; nothing was acknowledged.
        """

    @abc.abstractmethod
    async def replay_messages(self, persistence_id: str, from_sequence_nr: int = 1,
                              to_sequence_nr: int = MAX_SEQUENCE_NR,
                              max: int = MAX_SEQUENCE_NR) -> list[PersistentRecord]:
        """The records of `persistence_id` numbered ``from..to`` (inclusive),
        in order, at most `max` of them. Unknown ids give an empty list."""

    @abc.abstractmethod
    async def read_highest_sequence_nr(self, persistence_id: str) -> int:
        """The highest sequence number ever written for the id (0 if none)."""

    @abc.abstractmethod
    async def delete_messages_to(self, persistence_id: str, to_sequence_nr: int) -> None:
        """Deletes the id's records numbered up to `to_sequence_nr`."""

    async def persistence_ids(self) -> list[str]:
        """Every persistence id written so far (optional for plugins).

        Raises:
            NotImplementedError: the journal cannot list its ids.
        """
        raise NotImplementedError(f"{type(self).__name__} does not list persistence ids")

    @staticmethod
    def check_batch(batch: Sequence[PersistentRecord], highest: int) -> Optional[str]:
        """Why `batch` cannot follow `highest`, or None when it can.

        A batch holds records of one non-empty persistence id numbered
        ``highest + 1, highest + 2, ...``.
        """
        if not batch:
            return None
        pid = batch[0].persistence_id
        if not pid:
            return "the persistence id is empty"
        expected = highest + 1
        for record in batch:
            if record.persistence_id != pid:
                return (f"a batch must hold the events of one persistence id (found `{pid}` "
                        f"and `{record.persistence_id}`)")
            if record.sequence_nr != expected:
                return (f"sequence number {record.sequence_nr} of `{pid}` is not the next one "
                        f"(expected {expected})")
            expected += 1
        return None

    @staticmethod
    def validate_records(batch: Sequence[PersistentRecord]) -> Optional[str]:
        """Why a record of `batch` cannot be stored (bad types), or None."""
        try:
            for record in batch:
                _record_tuple(record)
        except (TypeError, ValueError) as exc:
            return str(exc)
        return None


class SnapshotStore(abc.ABC):
    """The interface every snapshot store implements.

    Contract: :meth:`save_snapshot` replaces a snapshot of the same id and
    sequence number; :meth:`load_snapshot` returns the matching snapshot
    with the highest sequence number; failures raise :class:`JournalError`.
    """

    @abc.abstractmethod
    async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Stores `snapshot` (durably, before returning)."""

    @abc.abstractmethod
    async def load_snapshot(
            self, persistence_id: str,
            criteria: SnapshotSelectionCriteria = SnapshotSelectionCriteria()
    ) -> Optional[SnapshotRecord]:
        """The newest snapshot of the id matching `criteria`, or None."""

    @abc.abstractmethod
    async def delete_snapshot(self, persistence_id: str, sequence_nr: int) -> None:
        """Deletes the id's snapshot numbered `sequence_nr` (no-op if absent)."""

    @abc.abstractmethod
    async def delete_snapshots(self, persistence_id: str,
                               criteria: SnapshotSelectionCriteria) -> None:
        """Deletes every snapshot of the id matching `criteria`."""


# -- built-in backends ------------------------------------------------------------------


class _NativeBackedJournal(Journal):
    """A journal implemented in C++ (shared interface of the built-ins).

    Besides the :class:`Journal` coroutines it offers synchronous helpers
    (``write``, ``replay``, ...). On a durable backend those block the
    calling thread until the disk answers: keep them off event loops.
    """

    _native: _NativeJournal

    # -- Journal ---------------------------------------------------------------

    async def write_messages(
            self, batches: Sequence[Sequence[PersistentRecord]]) -> list[Optional[BaseException]]:
        batches = list(batches)
        results: list[Optional[BaseException]] = [None] * len(batches)
        native_batches = []
        slots = []
        for i, batch in enumerate(batches):
            try:
                native_batches.append([_record_tuple(r) for r in batch])
            except (TypeError, ValueError) as exc:
                results[i] = EventRejectedError(str(exc))
                continue
            slots.append(i)
        if native_batches:
            reasons = await self._write_rows(native_batches)
            for i, reason in zip(slots, reasons):
                if reason is not None:
                    results[i] = EventRejectedError(reason)
        return results

    def _write_rows(self, batches: list) -> Any:
        """Writes batches of validated native row tuples; an awaitable of
        one rejection reason (or None) per batch."""
        if self._native.blocking:
            return _submit_write(self._native, batches)
        return _ready(self._native.write(batches))

    async def _replay_rows(self, pid: str, from_seq: int, to_seq: int, max_count: int) -> list:
        """Native row tuples of a replay (recovery uses these directly)."""
        if self._native.blocking:
            return await _off_loop(self._native.replay, pid, from_seq, to_seq, max_count)
        return self._native.replay(pid, from_seq, to_seq, max_count)

    async def replay_messages(self, persistence_id: str, from_sequence_nr: int = 1,
                              to_sequence_nr: int = MAX_SEQUENCE_NR,
                              max: int = MAX_SEQUENCE_NR) -> list[PersistentRecord]:
        rows = await self._replay_rows(
            persistence_id, _check_seq(from_sequence_nr, "from_sequence_nr"),
            _check_seq(to_sequence_nr, "to_sequence_nr"), _check_seq(max, "max"))
        return [_from_tuple(t) for t in rows]

    async def read_highest_sequence_nr(self, persistence_id: str) -> int:
        if self._native.blocking:
            return await _off_loop(self._native.highest_sequence_nr, persistence_id)
        return self._native.highest_sequence_nr(persistence_id)

    async def delete_messages_to(self, persistence_id: str, to_sequence_nr: int) -> None:
        to = _check_seq(to_sequence_nr, "to_sequence_nr")
        if self._native.blocking:
            await _off_loop(self._native.delete_to, persistence_id, to)
        else:
            self._native.delete_to(persistence_id, to)

    async def persistence_ids(self) -> list[str]:
        """Every persistence id written so far (in no promised order); the
        built-in journals always support this."""
        if self._native.blocking:
            return await _off_loop(self._native.persistence_ids)
        return self._native.persistence_ids()

    # -- synchronous helpers --------------------------------------------------------

    def write(self, pid: str, seq: int, payload: bytes, tags: Iterable[str] = ()) -> None:
        """Appends one event with manifest ``"bytes"``.

        Raises:
            EventRejectedError: `seq` does not follow the id's highest number,
                or `payload` is not bytes.
            JournalError: the storage failed.
        """
        self.write_event(pid, seq, payload, "bytes", tags)

    def write_event(self, pid: str, seq: int, payload: bytes, manifest: str,
                    tags: Iterable[str] = ()) -> None:
        """Appends one event with an explicit manifest (see :meth:`write`)."""
        try:
            row = _record_tuple(PersistentRecord(pid, seq, manifest, payload, _now_ms(),
                                                 tuple(tags)))
        except (TypeError, ValueError) as exc:
            raise EventRejectedError(str(exc)) from None
        reason = self._native.write([[row]])[0]
        if reason is not None:
            raise EventRejectedError(reason)

    def replay(self, pid: str) -> list[bytes]:
        """Every stored payload of `pid`, in order."""
        return [t[3] for t in self._native.replay(pid, 1, MAX_SEQUENCE_NR, MAX_SEQUENCE_NR)]

    def replay_events(self, pid: str, from_seq: int = 1, to_seq: int = MAX_SEQUENCE_NR,
                      max: int = MAX_SEQUENCE_NR) -> list[tuple[int, bytes, str, list[str]]]:
        """``(seq, payload, manifest, tags)`` of `pid` numbered
        ``from_seq..to_seq`` (inclusive), at most `max`."""
        rows = self._native.replay(pid, _check_seq(from_seq, "from_seq"),
                                   _check_seq(to_seq, "to_seq"), _check_seq(max, "max"))
        return [(t[1], t[3], t[2], list(t[5])) for t in rows]

    def highest_sequence_nr(self, pid: str) -> int:
        """The highest number ever written for `pid` (0 when unknown)."""
        return self._native.highest_sequence_nr(pid)

    def delete_to(self, pid: str, to_seq: int) -> None:
        """Deletes the events of `pid` numbered up to `to_seq`."""
        self._native.delete_to(pid, _check_seq(to_seq, "to_seq"))

    def events_by_tag(self, tag: str, from_offset: int = 0,
                      max: int = MAX_SEQUENCE_NR) -> list[tuple[str, int, bytes, list[str]]]:
        """``(pid, seq, payload, tags)`` of the events tagged `tag` numbered
        at least `from_offset`, across entities."""
        rows = self._native.events_by_tag(tag, _check_seq(from_offset, "from_offset"),
                                          _check_seq(max, "max"))
        return [(t[0], t[1], t[3], list(t[5])) for t in rows]

    def all_persistence_ids(self) -> list[str]:
        """Every persistence id written so far (unordered)."""
        return self._native.persistence_ids()


class InMemoryJournal(_NativeBackedJournal):
    """A journal in this process's memory (C++). Nothing survives the process.

    Example:
        >>> j = InMemoryJournal()
        >>> j.write("counter-1", 1, b"\\x01")
        >>> j.highest_sequence_nr("counter-1")
        1
    """

    def __init__(self) -> None:
        self._native = _NativeJournal.in_memory()

    def __repr__(self) -> str:
        return "<InMemoryJournal>"


def _lmdb_args(path: Any, map_size: int, max_map_size: int, sync: bool) -> tuple:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, not {type(path).__name__}")
    path = os.fspath(path)
    if not path:
        raise ValueError("the LMDB path must not be empty")
    for name, value in (("map_size", map_size), ("max_map_size", max_map_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 65536:
            raise ValueError(f"{name} must be an int of at least 65536 bytes, got {value!r}")
    return path, map_size, max(map_size, max_map_size), bool(sync)


class LmdbJournal(_NativeBackedJournal):
    """A durable journal in an LMDB environment (a directory).

    Every acknowledged write has been committed and, with ``sync=True`` (the
    default), fsynced: it survives a crash of the process or the machine.
    Writes of concurrent actors are committed together in one transaction
    (group commit). When the memory map fills up it doubles, up to
    `max_map_size`; a write that still does not fit fails with
    :class:`JournalError`. Journals and snapshot stores of one process that
    name the same directory share one environment.

    Args:
        path: The directory (created when missing).
        map_size: The initial map size in bytes.
        max_map_size: The largest the map may grow to, in bytes.
        sync: fsync each commit. ``False`` is faster, but the last commits
            may be lost if the machine (not just the process) crashes.

    Raises:
        JournalError: the environment cannot be opened.
    """

    def __init__(self, path: Any, *, map_size: int = _DEFAULT_MAP_SIZE,
                 max_map_size: int = _DEFAULT_MAX_MAP_SIZE, sync: bool = True) -> None:
        self.path, *rest = _lmdb_args(path, map_size, max_map_size, sync)
        self._native = _NativeJournal.lmdb(self.path, *rest)

    @property
    def map_size(self) -> int:
        """The current size of the memory map, in bytes."""
        return _lmdb_map_size(self.path)

    def __repr__(self) -> str:
        return f"<LmdbJournal path={self.path!r}>"


class _NativeBackedSnapshotStore(SnapshotStore):
    """A snapshot store implemented in C++ (shared by the built-ins)."""

    _native: _NativeSnapshotStore

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._native.blocking:
            return await _off_loop(fn, *args)
        return fn(*args)

    async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        args = _snapshot_args(snapshot)
        await self._call(self._native.save, *args)

    async def load_snapshot(
            self, persistence_id: str,
            criteria: SnapshotSelectionCriteria = SnapshotSelectionCriteria()
    ) -> Optional[SnapshotRecord]:
        row = await self._call(self._native.load, persistence_id, *criteria._bounds())
        return None if row is None else SnapshotRecord(*row)

    async def delete_snapshot(self, persistence_id: str, sequence_nr: int) -> None:
        await self._call(self._native.remove, persistence_id, _check_seq(sequence_nr, "sequence_nr"))

    async def delete_snapshots(self, persistence_id: str,
                               criteria: SnapshotSelectionCriteria) -> None:
        await self._call(self._native.remove_matching, persistence_id, *criteria._bounds())

    # -- synchronous helpers --------------------------------------------------------

    def save(self, pid: str, seq: int, payload: bytes, manifest: str = "bytes",
             timestamp_ms: Optional[int] = None) -> None:
        """Stores a snapshot of `pid` taken at event `seq`."""
        ts = _now_ms() if timestamp_ms is None else timestamp_ms
        self._native.save(*_snapshot_args(SnapshotRecord(pid, seq, ts, manifest, payload)))

    def load(self, pid: str) -> Optional[tuple[int, bytes]]:
        """``(seq, payload)`` of the latest snapshot of `pid`, or None."""
        row = self._native.load(pid, *SnapshotSelectionCriteria()._bounds())
        return None if row is None else (row[1], row[4])

    def delete(self, pid: str, to_seq: int) -> None:
        """Deletes the snapshots of `pid` numbered up to `to_seq`."""
        self._native.remove_matching(
            pid, *SnapshotSelectionCriteria(max_sequence_nr=_check_seq(to_seq, "to_seq"))._bounds())


def _snapshot_args(s: SnapshotRecord) -> tuple:
    if not isinstance(s, SnapshotRecord):
        raise TypeError(f"expected a SnapshotRecord, not {type(s).__name__}")
    payload = bytes(s.payload) if isinstance(s.payload, (bytearray, memoryview)) else s.payload
    if not isinstance(payload, bytes):
        raise TypeError(f"a snapshot payload must be bytes, not {type(payload).__name__}")
    if not s.persistence_id:
        raise ValueError("a snapshot needs a persistence id")
    return (s.persistence_id, _check_seq(s.sequence_nr, "sequence_nr"), int(s.timestamp_ms),
            s.manifest, payload)


class InMemorySnapshotStore(_NativeBackedSnapshotStore):
    """A snapshot store in this process's memory (C++)."""

    def __init__(self) -> None:
        self._native = _NativeSnapshotStore.in_memory()

    def __repr__(self) -> str:
        return "<InMemorySnapshotStore>"


class LmdbSnapshotStore(_NativeBackedSnapshotStore):
    """A durable snapshot store in an LMDB environment (see :class:`LmdbJournal`
    for the arguments; a journal and a store on one directory share it)."""

    def __init__(self, path: Any, *, map_size: int = _DEFAULT_MAP_SIZE,
                 max_map_size: int = _DEFAULT_MAX_MAP_SIZE, sync: bool = True) -> None:
        self.path, *rest = _lmdb_args(path, map_size, max_map_size, sync)
        self._native = _NativeSnapshotStore.lmdb(self.path, *rest)

    def __repr__(self) -> str:
        return f"<LmdbSnapshotStore path={self.path!r}>"


# -- recovery permits ------------------------------------------------------------------


class RecoveryPermitter:
    """Limits how many persistent actors recover at the same time.

    Recovery reads a whole event history; many actors starting at once
    (after a restart of the process) would otherwise all replay together.
    A permitter may be shared by actors of several systems and loops.

    Args:
        max_concurrent: Permits available at once (at least 1).

    Raises:
        ValueError: `max_concurrent` is below 1.
    """

    def __init__(self, max_concurrent: int = 50) -> None:
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TypeError(f"max_concurrent must be an int, not {type(max_concurrent).__name__}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self._capacity = max_concurrent
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False
        # FIFO of waiters: [loop, future] for coroutines, threading.Event for threads.
        self._waiters: collections.deque = collections.deque()

    def capacity(self) -> int:
        """The number of permits."""
        return self._capacity

    def available(self) -> int:
        """Permits free right now."""
        with self._lock:
            return self._capacity - self._in_flight

    def in_flight(self) -> int:
        """Permits held right now."""
        with self._lock:
            return self._in_flight

    def _closed_error(self) -> AtomrError:
        return AtomrError("the recovery permitter is closed")

    async def acquire(self) -> None:
        """Waits for a permit and takes it; :meth:`release` gives it back.

        Raises:
            AtomrError: the permitter is (or gets) closed.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._in_flight < self._capacity and not self._waiters:
                self._in_flight += 1
                return
            fut = loop.create_future()
            waiter = [loop, fut]
            self._waiters.append(waiter)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            # Granted already: if the grant resolved the future before the
            # cancellation, we hold the permit and pass it on (otherwise the
            # grant sees the cancelled future and does so itself).
            if fut.done() and not fut.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Returns a permit taken by :meth:`acquire` (hands it to the next waiter)."""
        with self._lock:
            if self._in_flight == 0:
                raise RuntimeError("release() without a matching acquire()")
            waiter = self._waiters.popleft() if self._waiters else None
            if waiter is None:
                self._in_flight -= 1
                return
        self._grant(waiter)

    def _grant(self, waiter: Any) -> None:
        """Hands a held permit to `waiter` (the count stays)."""
        if isinstance(waiter, threading.Event):
            waiter.set()
            return
        loop, fut = waiter

        def resolve() -> None:
            if fut.done():  # cancelled meanwhile: the permit goes on
                self.release()
            else:
                fut.set_result(None)

        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # its loop is closed: nobody will take it
            self.release()

    def permit(self) -> "_Permit":
        """``async with permitter.permit(): ...`` holds a permit for the block."""
        return _Permit(self)

    def acquire_blocking(self, timeout: Optional[float] = None) -> None:
        """Blocks the calling thread until a permit is free, takes it and
        releases it again on return (a gate, not a hold).

        Raises:
            AtomrError: the permitter is closed.
            TimeoutError: no permit within `timeout` seconds.
        """
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._in_flight < self._capacity and not self._waiters:
                self._in_flight += 1
                event = None
            else:
                event = threading.Event()
                self._waiters.append(event)
        if event is not None:
            if not event.wait(timeout):
                with self._lock:
                    if event in self._waiters:
                        self._waiters.remove(event)
                        raise TimeoutError(f"no recovery permit within {timeout}s")
                event.wait()  # granted or closed just now
            if getattr(event, "closed", False):
                raise self._closed_error()
        self.release()

    def close(self) -> None:
        """Refuses new acquisitions and fails every waiter with AtomrError."""
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
            self._waiters.clear()
        for waiter in waiters:
            if isinstance(waiter, threading.Event):
                waiter.closed = True  # type: ignore[attr-defined]
                waiter.set()
                continue
            loop, fut = waiter
            try:
                loop.call_soon_threadsafe(
                    lambda f=fut: f.done() or f.set_exception(self._closed_error()))
            except RuntimeError:
                pass

    def __repr__(self) -> str:
        return (f"<RecoveryPermitter capacity={self._capacity} in_flight={self.in_flight()} "
                f"closed={self._closed}>")


class _Permit:
    __slots__ = ("_permitter",)

    def __init__(self, permitter: RecoveryPermitter) -> None:
        self._permitter = permitter

    async def __aenter__(self) -> None:
        await self._permitter.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self._permitter.release()


# -- effects -------------------------------------------------------------------------------


class Effect:
    """What a command handler asks for. Build effects with the static
    methods; the handler returns one effect or a list of them, applied in
    order after it returns.

    Attributes:
        kind: ``"persist"``, ``"snapshot"``, ``"reply"``, ``"stop"`` or ``"none"``.
        events: The events to persist (a list), or None.
        every: The snapshot cadence of a snapshot effect, or None.
        value: The reply of a reply effect.
        tags: Tags stored with persisted events.
    """

    __slots__ = ("_kind", "_events", "_every", "_value", "_tags")

    def __init__(self, kind: str, events: Optional[list] = None, every: Optional[int] = None,
                 value: Any = None, tags: tuple = ()) -> None:
        self._kind = kind
        self._events = events
        self._every = every
        self._value = value
        self._tags = tags

    kind = property(lambda self: self._kind, doc=(
        '``"persist"``, ``"snapshot"``, ``"reply"``, ``"stop"`` or ``"none"``.'))
    events = property(lambda self: None if self._events is None else list(self._events), doc=(
        "A copy of the events to persist (a list), or None for other kinds."))
    every = property(lambda self: self._every, doc=(
        "The cadence of a snapshot effect (None: one snapshot now, and for other kinds)."))
    value = property(lambda self: self._value, doc="The reply of a reply effect (else None).")
    tags = property(lambda self: self._tags, doc="The tags stored with persisted events (a tuple).")

    @staticmethod
    def persist(event: Any, tags: Iterable[str] = ()) -> "Effect":
        """Appends `event` to the journal, then applies it with ``event_handler``."""
        return Effect("persist", [event], tags=_tags(tags))

    @staticmethod
    def persist_all(events: Iterable[Any], tags: Iterable[str] = ()) -> "Effect":
        """Appends every event atomically (all or none), then applies them in order."""
        return Effect("persist", list(events), tags=_tags(tags))

    @staticmethod
    def snapshot(every: Optional[int] = None) -> "Effect":
        """``every=None`` saves a snapshot now; ``every=N`` snapshots after
        every N persisted events from now on; ``every=0`` stops that."""
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 0):
            raise ValueError(f"every must be None or a non-negative int, got {every!r}")
        return Effect("snapshot", every=every)

    @staticmethod
    def reply_message(value: Any) -> "Effect":
        """Answers the ask with `value` (the last reply effect wins)."""
        return Effect("reply", value=value)

    @staticmethod
    def stop() -> "Effect":
        """Stops the actor after every effect was applied."""
        return Effect("stop")

    @staticmethod
    def none() -> "Effect":
        """Does nothing."""
        return Effect("none")

    def __repr__(self) -> str:
        extra = {"persist": f" events={self._events!r}", "snapshot": f" every={self._every!r}",
                 "reply": f" value={self._value!r}"}.get(self._kind, "")
        return f"<Effect {self._kind}{extra}>"


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    out = tuple(tags)
    if not all(isinstance(t, str) for t in out):
        raise TypeError("tags must be strings")
    return out


def _effects_of(result: Any) -> list[Effect]:
    if result is None:
        return []
    if isinstance(result, Effect):
        return [result]
    if isinstance(result, (list, tuple)):
        for e in result:
            if not isinstance(e, Effect):
                raise TypeError(f"command_handler returned {type(e).__name__} in its effects; "
                                "expected Effect values")
        return list(result)
    raise TypeError(f"command_handler must return an Effect, a list of Effects or None, not "
                    f"{type(result).__name__}")


# -- configuration: default storage per actor system ----------------------------------------

JournalFactory = Callable[[dict], Journal]
SnapshotStoreFactory = Callable[[dict], Optional[SnapshotStore]]

_journal_factories: dict[str, JournalFactory] = {}
_snapshot_factories: dict[str, SnapshotStoreFactory] = {}


def register_journal(name: str, factory: JournalFactory) -> None:
    """Makes ``persistence.journal = "<name>"`` build journals with `factory`.

    Args:
        name: The config value that selects the plugin.
        factory: ``factory(settings) -> Journal``; `settings` maps every
            dotted setting key of the system (``"persistence.lmdb.path"``,
            ...) to its value. Called once per actor system.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("a journal plugin needs a non-empty name")
    if not callable(factory):
        raise TypeError("factory must be callable")
    _journal_factories[name] = factory


def register_snapshot_store(name: str, factory: SnapshotStoreFactory) -> None:
    """Makes ``persistence.snapshot-store = "<name>"`` use `factory` (see
    :func:`register_journal`)."""
    if not isinstance(name, str) or not name:
        raise ValueError("a snapshot store plugin needs a non-empty name")
    if not callable(factory):
        raise TypeError("factory must be callable")
    _snapshot_factories[name] = factory


def _lmdb_settings(settings: dict) -> tuple[str, dict]:
    path = settings["persistence.lmdb.path"]
    if not path:
        raise ConfigError("persistence.lmdb.path must be set to use the LMDB journal")
    return path, dict(map_size=settings["persistence.lmdb.map-size"],
                      max_map_size=settings["persistence.lmdb.max-map-size"],
                      sync=settings["persistence.lmdb.sync"])


def _lmdb_journal_from(settings: dict) -> Journal:
    path, kw = _lmdb_settings(settings)
    return LmdbJournal(path, **kw)


def _lmdb_store_from(settings: dict) -> SnapshotStore:
    path, kw = _lmdb_settings(settings)
    return LmdbSnapshotStore(path, **kw)


register_journal("inmemory", lambda settings: InMemoryJournal())
register_journal("lmdb", _lmdb_journal_from)
register_snapshot_store("inmemory", lambda settings: InMemorySnapshotStore())
register_snapshot_store("lmdb", _lmdb_store_from)
register_snapshot_store("none", lambda settings: None)


class _SystemStorage:
    """The default journal, snapshot store and permitter of one system,
    built on first use from its ``persistence`` settings."""

    def __init__(self, settings: dict) -> None:
        self.settings = settings
        self._journal: Optional[Journal] = None
        self._store: Any = False  # False: not built yet (None is "no store")
        self.permitter = RecoveryPermitter(settings["persistence.max-concurrent-recoveries"])
        every = settings["persistence.snapshot-every"]
        self.snapshot_every = every or None

    def journal(self) -> Journal:
        if self._journal is None:
            name = self.settings["persistence.journal"]
            factory = _journal_factories.get(name)
            if factory is None:
                raise ConfigError(f"unknown persistence.journal `{name}`; known: "
                                  f"{', '.join(sorted(_journal_factories))}")
            self._journal = factory(self.settings)
        return self._journal

    def snapshot_store(self) -> Optional[SnapshotStore]:
        if self._store is False:
            name = self.settings["persistence.snapshot-store"]
            if name == "auto":
                name = self.settings["persistence.journal"]
                if name not in _snapshot_factories:
                    name = "none"
            factory = _snapshot_factories.get(name)
            if factory is None:
                raise ConfigError(f"unknown persistence.snapshot-store `{name}`; known: "
                                  f"auto, {', '.join(sorted(_snapshot_factories))}")
            self._store = factory(self.settings)
        return self._store


_storage: "weakref.WeakKeyDictionary[Any, _SystemStorage]" = weakref.WeakKeyDictionary()
_storage_lock = threading.Lock()


def _storage_of(system: Any) -> _SystemStorage:
    with _storage_lock:
        storage = _storage.get(system)
        if storage is None:
            storage = _storage[system] = _SystemStorage(system.settings)
        return storage


class _Decoder:
    """Decodes stored events, looking each manifest's codec up once."""

    __slots__ = ("_codecs", "_decoders")

    def __init__(self, codecs: Any) -> None:
        self._codecs = codecs
        self._decoders: dict[str, Callable[[bytes], Any]] = {}

    def __call__(self, manifest: str, payload: bytes) -> Any:
        decoder = self._decoders.get(manifest)
        if decoder is None:
            decoder = self._decoders[manifest] = self._decoder_for(manifest)
        return decoder(payload)

    def _decoder_for(self, manifest: str) -> Callable[[bytes], Any]:
        if manifest == "bytes":
            return bytes
        codecs = self._codecs
        if isinstance(codecs, PyCodecRegistry):
            codec = codecs._lookup(manifest)  # fails now for an unknown manifest

            def decode(payload: bytes) -> Any:
                try:
                    return codec.decoder(payload)
                except Exception as exc:
                    raise AtomrError(f"codec `{codec.name}` failed to decode manifest "
                                     f"`{manifest}`: {type(exc).__name__}: {exc}") from exc

            return decode
        return lambda payload: codecs.decode(manifest, payload)


def _decode(codecs: Any, manifest: str, payload: bytes) -> Any:
    """The event stored under `manifest`. Manifest ``"bytes"`` (what the
    synchronous ``Journal.write`` stores) is the raw payload itself."""
    if manifest == "bytes":
        return payload
    return codecs.decode(manifest, payload)


# -- the persistent actor ----------------------------------------------------------------------


class EventSourcedActor(Actor):
    """An actor whose state is the fold of the events it persisted.

    Subclasses set :attr:`persistent_id` and implement
    :meth:`command_handler` and :meth:`event_handler`:

    Example:
        >>> class Counter(EventSourcedActor):
        ...     persistent_id = "counter-1"
        ...     def initial_state(self):
        ...         return {"count": 0}
        ...     async def command_handler(self, state, ctx, cmd):
        ...         if cmd["op"] == "incr":
        ...             return [Effect.persist({"type": "Incremented", "by": cmd["by"]})]
        ...         if cmd["op"] == "get":
        ...             return [Effect.reply_message(state["count"])]
        ...     def event_handler(self, state, event, recovery_mode=False):
        ...         state["count"] += event["by"]
        ...         return state

    Lifecycle: ``pre_start`` recovers -- it takes a permit from the recovery
    permitter, loads the latest snapshot, replays the later events through
    ``event_handler(state, event, True)`` and calls
    :meth:`recovery_completed`. Commands that arrive meanwhile, or while a
    persist is in flight, wait (in arrival order) and are handled
    afterwards: the actor is parked while it awaits its journal, exactly as
    if it stashed them.

    Failures:

    * An event that cannot be encoded (no codec for its manifest, or the
      codec fails), or that the journal rejects, fails that command only:
      nothing is written, an asker gets :class:`EventRejectedError`,
      :meth:`on_persist_rejected` reports it, and the actor keeps running.
    * A journal failure (:class:`JournalError`) fails the pending ask,
      calls :meth:`on_persist_failure` and stops the actor: its state can
      no longer be trusted to match the journal. A recovery failure stops
      it too.

    Args:
        journal: The journal; default: the system's (``persistence.journal``
            config, an in-memory journal per system when unset).
        snapshot_store: The snapshot store; default: the system's.
        snapshot_every: Save a snapshot after every N persisted events.
        recovery_permitter: Limits concurrent recoveries; default: the
            system's (``persistence.max-concurrent-recoveries``).
        codec_registry: Encodes events and snapshots; default: the system's
            codecs.
        persistent_id: Overrides the class attribute (for entities whose id
            is only known at construction).

    Raises:
        ValueError: the persistent id is empty.
    """

    #: The entity's id in the journal; must be a non-empty str.
    persistent_id: str = ""

    def __init__(self, *, journal: Optional[Journal] = None,
                 snapshot_store: Optional[SnapshotStore] = None,
                 snapshot_every: Optional[int] = None,
                 recovery_permitter: Optional[RecoveryPermitter] = None,
                 codec_registry: Any = None, persistent_id: Optional[str] = None) -> None:
        if persistent_id is not None:
            self.persistent_id = persistent_id
        pid = self.persistent_id
        if not isinstance(pid, str) or not pid:
            raise ValueError(f"{type(self).__qualname__}.persistent_id must be a non-empty str, "
                             f"got {pid!r}")
        if journal is not None and not isinstance(journal, Journal):
            raise TypeError(f"journal must implement atomr.persistence.Journal, not "
                            f"{type(journal).__name__}")
        if snapshot_store is not None and not isinstance(snapshot_store, SnapshotStore):
            raise TypeError(f"snapshot_store must implement atomr.persistence.SnapshotStore, "
                            f"not {type(snapshot_store).__name__}")
        if snapshot_every is not None and (isinstance(snapshot_every, bool)
                                           or not isinstance(snapshot_every, int)
                                           or snapshot_every < 0):
            raise ValueError(f"snapshot_every must be None or a non-negative int, "
                             f"got {snapshot_every!r}")
        if recovery_permitter is not None and not isinstance(recovery_permitter,
                                                             RecoveryPermitter):
            raise TypeError("recovery_permitter must be a RecoveryPermitter")
        self._journal = journal
        self._snapshot_store = snapshot_store
        self._snapshot_every = snapshot_every or None
        self._permitter = recovery_permitter
        self._codec_registry = codec_registry
        self._codecs: Any = codec_registry
        self._state: Any = None
        self._seq = 0
        self._last_snapshot_seq = 0
        self._recovered = False

    # -- overridables ------------------------------------------------------------------

    def initial_state(self) -> Any:
        """The state before the first event (default None)."""
        return None

    async def command_handler(self, state: Any, ctx: Any, cmd: Any) -> Any:
        """Decides what a command does. May be sync or async.

        Args:
            state: The current state (do not mutate it here).
            ctx: The actor's context.
            cmd: The command.

        Returns:
            An :class:`Effect`, a list of them, or None.
        """
        return None

    def event_handler(self, state: Any, event: Any, recovery_mode: bool = False) -> Any:
        """Applies one event and returns the new state. Must be
        deterministic: it runs again on every recovery.

        Args:
            state: The state before the event.
            event: The event.
            recovery_mode: True while replaying the journal.
        """
        return state

    def snapshot_state(self, state: Any) -> Any:
        """The value stored in a snapshot of `state` (default: the state)."""
        return state

    def restore_state(self, snapshot: Any) -> Any:
        """The state rebuilt from a snapshot value (default: the value)."""
        return snapshot

    async def recovery_completed(self, state: Any, highest_seq: int) -> None:
        """Runs once recovery finished, before the first command. May be sync."""

    def on_persist_rejected(self, cause: BaseException, events: list, sequence_nr: int) -> None:
        """Reports events that were rejected (not written). Default: logs."""
        _log.error("persistent actor %s: events %d..%d rejected: %s", self.persistent_id,
                   sequence_nr, sequence_nr + len(events) - 1, cause)

    def on_persist_failure(self, cause: BaseException, events: list, sequence_nr: int) -> None:
        """Reports a journal failure (the actor stops next). Default: logs."""
        _log.error("persistent actor %s: writing events %d..%d failed, stopping: %s",
                   self.persistent_id, sequence_nr, sequence_nr + len(events) - 1, cause)

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> Any:
        """The current state."""
        return self._state

    @property
    def sequence_nr(self) -> int:
        """The sequence number of the last persisted (or recovered) event."""
        return self._seq

    # -- lifecycle ----------------------------------------------------------------------

    async def pre_start(self, ctx: Any) -> None:
        """Recovers the state (see the class docstring)."""
        self._recovered = False
        try:
            storage = _storage_of(ctx.system)
            if self._journal is None:
                self._journal = storage.journal()
            if self._snapshot_store is None:
                self._snapshot_store = storage.snapshot_store()
            if self._snapshot_every is None:
                self._snapshot_every = storage.snapshot_every
            if self._codecs is None:
                self._codecs = ctx.system.codecs
            permitter = self._permitter or storage.permitter
            async with permitter.permit():
                await self._recover()
        except Exception as exc:
            _log.error("persistent actor %s (%s) failed to recover and stops: %s",
                       self.persistent_id, ctx.path, exc, exc_info=exc)
            ctx.stop_self()
            return
        self._recovered = True
        done = self.recovery_completed(self._state, self._seq)
        if inspect.isawaitable(done):
            await done

    async def _recover(self) -> None:
        codecs = self._codecs
        pid = self.persistent_id
        state = self.initial_state()
        seq = 0
        if self._snapshot_store is not None:
            snap = await self._snapshot_store.load_snapshot(pid, SnapshotSelectionCriteria())
            if snap is not None:
                state = self.restore_state(_decode(codecs, snap.manifest, snap.payload))
                seq = snap.sequence_nr
        self._last_snapshot_seq = seq
        journal = self._journal
        highest = await journal.read_highest_sequence_nr(pid)
        next_seq = seq + 1
        native = (isinstance(journal, _NativeBackedJournal)
                  and type(journal).replay_messages is _NativeBackedJournal.replay_messages)
        decode = _Decoder(codecs)
        handler = self.event_handler
        while next_seq <= highest:
            if native:  # row tuples: (pid, seq, manifest, payload, ts, tags)
                rows = await journal._replay_rows(pid, next_seq, highest, _REPLAY_CHUNK)
                for row in rows:
                    state = handler(state, decode(row[2], row[3]), True)
                last = rows[-1][1] if rows else 0
            else:
                records = await journal.replay_messages(pid, next_seq, highest, _REPLAY_CHUNK)
                for record in records:
                    state = handler(state, decode(record.manifest, record.payload), True)
                last = records[-1].sequence_nr if records else 0
            if not last:
                break
            next_seq = last + 1
        self._state = state
        self._seq = max(seq, highest)

    async def handle(self, ctx: Any, cmd: Any) -> Any:
        """Runs :meth:`command_handler` and applies its effects; returns the
        reply of the last ``reply_message`` effect (the ask's answer)."""
        result = self.command_handler(self._state, ctx, cmd)
        if inspect.isawaitable(result):
            result = await result
        reply = None
        stop = False
        for effect in _effects_of(result):
            kind = effect._kind
            if kind == "persist":
                if effect._events:
                    failure = await self._persist(ctx, effect._events, effect._tags)
                    if failure is not None:
                        if ctx.awaiting_reply:
                            raise failure
                        return None
            elif kind == "snapshot":
                if effect._every is None:
                    await self._save_snapshot()
                else:
                    self._snapshot_every = effect._every or None
            elif kind == "reply":
                reply = effect._value
            elif kind == "stop":
                stop = True
        if stop:
            ctx.stop_self()
        return reply

    async def _persist(self, ctx: Any, events: list, tags: tuple) -> Optional[BaseException]:
        """Writes `events` as one batch and applies them. Returns the error
        that failed them (after reporting it), or None."""
        pid = self.persistent_id
        first = self._seq + 1
        ts = _now_ms()
        codecs = self._codecs
        journal = self._journal
        native = (isinstance(journal, _NativeBackedJournal)
                  and type(journal).write_messages is _NativeBackedJournal.write_messages)
        try:
            batch = []
            for i, event in enumerate(events):
                manifest, payload = codecs.encode_message(event)
                if native:
                    if not isinstance(payload, bytes):
                        payload = bytes(payload)
                    batch.append((pid, first + i, manifest, payload, ts, tags))
                else:
                    batch.append(PersistentRecord(pid, first + i, manifest, payload, ts, tags))
        except Exception as exc:
            rejected = EventRejectedError(f"cannot encode event of `{pid}`: {exc}")
            rejected.__cause__ = exc
            self.on_persist_rejected(rejected, events, first)
            return rejected
        try:
            if native:
                reasons = await journal._write_rows([batch])
                results = [None if r is None else EventRejectedError(r) for r in reasons]
            else:
                results = await journal.write_messages([batch])
        except Exception as exc:
            failure = exc if isinstance(exc, JournalError) else JournalError(
                f"journal {type(journal).__name__} failed: {type(exc).__name__}: {exc}")
            if failure is not exc:
                failure.__cause__ = exc
            self.on_persist_failure(failure, events, first)
            ctx.stop_self()
            return failure
        rejection = results[0] if results else None
        if rejection is not None:
            if not isinstance(rejection, EventRejectedError):
                wrapped = EventRejectedError(str(rejection))
                wrapped.__cause__ = rejection
                rejection = wrapped
            self.on_persist_rejected(rejection, events, first)
            return rejection
        state = self._state
        for event in events:
            state = self.event_handler(state, event, False)
        self._state = state
        self._seq = first + len(events) - 1
        every = self._snapshot_every
        if every and self._seq - self._last_snapshot_seq >= every:
            await self._save_snapshot()
        return None

    async def _save_snapshot(self) -> None:
        store = self._snapshot_store
        if store is None:
            return
        try:
            manifest, payload = self._codecs.encode_message(self.snapshot_state(self._state))
            await store.save_snapshot(SnapshotRecord(self.persistent_id, self._seq, _now_ms(),
                                                     manifest, payload))
        except Exception as exc:
            _log.error("persistent actor %s: snapshot at %d failed: %s", self.persistent_id,
                       self._seq, exc)
            return
        self._last_snapshot_seq = self._seq
