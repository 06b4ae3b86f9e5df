"""What journals and snapshot stores hold: event and snapshot records, selection
criteria, and the checks shared by every backend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from atomr._util import public_module

#: The largest sequence number (an open upper bound for replays).
MAX_SEQUENCE_NR = 2**64 - 1
_MAX_TIMESTAMP = 2**63 - 1
_MIN_TIMESTAMP = -(2**63)
#: Events fetched per journal round trip while recovering.
_REPLAY_CHUNK = 4096
_DEFAULT_MAP_SIZE = 64 << 20
_DEFAULT_MAX_MAP_SIZE = 16 << 30


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- records ----------------------------------------------------------------------


@public_module("atomr.persistence")
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


@public_module("atomr.persistence")
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


@public_module("atomr.persistence")
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
