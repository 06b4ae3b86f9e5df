"""The storage plugin interface: :class:`Journal` and :class:`SnapshotStore`.
"""

from __future__ import annotations

import abc
from typing import Optional, Sequence

from atomr._util import public_module
from atomr.persistence._records import (
    MAX_SEQUENCE_NR,
    PersistentRecord,
    SnapshotRecord,
    SnapshotSelectionCriteria,
    _record_tuple,
)


@public_module("atomr.persistence")
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

    def snapshot_store(self) -> Optional["SnapshotStore"]:
        """The snapshot store that goes with this journal, or None.

        A persistent actor given this journal (``journal=``) but no
        ``snapshot_store=`` keeps its snapshots here, and
        ``persistence.snapshot-store = "auto"`` picks it for a configured
        journal whose plugin registered no snapshot store of its own. The
        built-in journals answer a store of their own kind (one object per
        journal: the LMDB journal's store shares its directory); the
        default is None, no snapshots. Override it to pair a plugin's
        journal with its snapshot store.
        """
        return None

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


@public_module("atomr.persistence")
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
