"""Persistence queries (Akka's read journal): the events of a journal as
:class:`atomr.streams.Source` blueprints.

:class:`ReadJournal` offers, over an in-memory, LMDB or PostgreSQL journal:

* ``events_by_persistence_id`` / ``current_events_by_persistence_id``;
* ``events_by_tag`` / ``current_events_by_tag``, with offsets in the
  journal's global order of tagged events (read from its tag index);
* ``persistence_ids`` / ``current_persistence_ids``.

Each emits :class:`EventEnvelope` values. The *current* queries complete
with what was stored when they started; the live ones keep following the
journal (polled every ``persistence.query.refresh-interval``, woken at once
by writes through the same journal object). :class:`PersistenceQuery`
finds the read journal of an actor system's configured journal.
"""

from __future__ import annotations

from atomr.persistence.query._offsets import EventEnvelope, NoOffset, Offset, Sequence
from atomr.persistence.query._read_journal import PersistenceQuery, ReadJournal

__all__ = [
    "EventEnvelope",
    "Offset",
    "NoOffset",
    "Sequence",
    "ReadJournal",
    "PersistenceQuery",
]
