"""The shared base of the built-in (C++) journals and snapshot stores, and the
threads that run their blocking calls off the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
import weakref
from typing import Any, Callable, Iterable, Optional, Sequence

from atomr._native._core import _CompletionPort, _NativeJournal, _NativeSnapshotStore
from atomr.errors import EventRejectedError, JournalError
from atomr.persistence._records import (
    MAX_SEQUENCE_NR,
    PersistentRecord,
    SnapshotRecord,
    SnapshotSelectionCriteria,
    _check_seq,
    _from_tuple,
    _now_ms,
    _ready,
    _record_tuple,
)
from atomr.persistence._store import Journal, SnapshotStore


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
        signal = self.__dict__.get("_write_signal")  # live queries wait on it
        if self._native.blocking:
            fut = _submit_write(self._native, batches)
            if signal is not None:
                fut.add_done_callback(signal.notify)
            return fut
        result = self._native.write(batches)
        if signal is not None:
            signal.notify()
        return _ready(result)

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
        signal = self.__dict__.get("_write_signal")
        if signal is not None:
            signal.notify()
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
