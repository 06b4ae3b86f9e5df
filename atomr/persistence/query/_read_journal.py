"""The read journal: queries over a journal as atomr.streams Sources, and the
:class:`PersistenceQuery` extension that finds one for an actor system.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Optional

from atomr._util import public_module
from atomr.actor.extension import Extension, ExtensionId
from atomr.config import ConfigError
from atomr.errors import AtomrError
from atomr.persistence._records import MAX_SEQUENCE_NR, _check_seq
from atomr.persistence._signal import signal_of
from atomr.persistence.query._backends import _Backend, backend_for
from atomr.persistence.query._offsets import EventEnvelope, Sequence, _offset_value
from atomr.streams import Source

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor import ActorSystem

_DEFAULT_REFRESH = 1.0
_DEFAULT_BATCH = 500


_new = object.__new__


def _sequence(value: int) -> Sequence:
    offset = _new(Sequence)
    offset._value = value
    return offset


def _identity(page: list) -> list:
    return page


class _Pages:
    """An async iterable that makes a fresh page generator for every run of
    its Source (so the Source is a reusable blueprint)."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[], AsyncIterator[list]]) -> None:
        self._make = make

    def __aiter__(self) -> AsyncIterator[list]:
        return self._make()


def _source(make: Callable[[], AsyncIterator[list]]) -> Source:
    # One async call per page, then the page's elements one by one in C++.
    return Source.from_async_iter(_Pages(make)).map_concat(_identity)


def _check_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def _check_positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


@public_module("atomr.persistence.query")
class ReadJournal:
    """Persistence queries over one journal, as :class:`atomr.streams.Source`
    blueprints of :class:`EventEnvelope` (Akka's read journal).

    Each query has a *current* variant, which completes with the events
    stored when it started, and a *live* one, which then keeps following
    the journal and never completes by itself (bound it with ``take``, a
    kill switch or ``to_sequence_nr``). Sources are blueprints: each run
    queries afresh.

    Live queries poll the journal every `refresh_interval` seconds; a write
    through the same journal object in this process wakes them at once.
    Writes of other processes (an LMDB directory shared by processes, a
    PostgreSQL database) are seen at the next poll.

    Tag queries read the journal's tag index in its global order of tagged
    events: an envelope's ``offset`` is a :class:`Sequence` of the event's
    ordering, and a query from that offset continues with the events after
    it. Orderings are given in the transaction that writes the events, and
    no reader ever sees an ordering before the lower ones are committed, so
    resuming from an offset neither skips nor repeats an event (orderings
    may have gaps).

    Events are decoded with `codecs` (the actor system's registry when the
    read journal comes from :class:`PersistenceQuery`); an event that does
    not decode fails the stream with :class:`AtomrError`.

    Args:
        journal: An :class:`InMemoryJournal`, :class:`LmdbJournal` or
            :class:`~atomr.persistence.postgres.PostgresJournal`.
        codecs: The codec registry that decodes events (default: a registry
            as an actor system makes).
        refresh_interval: Seconds between polls of a live query.
        batch_size: Events fetched per read.

    Raises:
        TypeError: no read journal exists for that kind of journal.

    Example:
        >>> rj = ReadJournal(journal)                                  # doctest: +SKIP
        >>> await rj.current_events_by_tag("order").run_collect_async()  # doctest: +SKIP
    """

    def __init__(self, journal: Any, *, codecs: Any = None,
                 refresh_interval: float = _DEFAULT_REFRESH,
                 batch_size: int = _DEFAULT_BATCH) -> None:
        self._backend: _Backend = backend_for(journal)
        if codecs is None:
            from atomr.codecs import new_system_registry
            codecs = new_system_registry()
        self._codecs = codecs
        self._refresh = _check_positive(refresh_interval, "refresh_interval")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._batch = batch_size

    @property
    def identifier(self) -> str:
        """The plugin id of this read journal's store (``"inmemory"``,
        ``"lmdb"`` or ``"postgres"``)."""
        return self._backend.identifier

    @property
    def journal(self) -> Any:
        """The journal this read journal queries."""
        return self._backend.journal

    @property
    def refresh_interval(self) -> float:
        """Seconds between polls of a live query."""
        return self._refresh

    # -- envelopes ---------------------------------------------------------------------

    def _decoder(self) -> Callable[[str, bytes], Any]:
        from atomr.persistence._actor import _Decoder
        return _Decoder(self._codecs)

    @staticmethod
    def _envelope(decode: Callable[[str, bytes], Any], offset: int, row: tuple) -> EventEnvelope:
        try:
            event = decode(row[2], row[3])
        except AtomrError as exc:
            raise AtomrError(f"event {row[1]} of `{row[0]}` (manifest `{row[2]}`) does not "
                             f"decode: {exc}") from exc.__cause__
        # Trusted values: made without the frozen dataclass's (slower) __init__.
        envelope = _new(EventEnvelope)
        tags = row[5]
        envelope.__dict__.update(offset=_sequence(offset), persistence_id=row[0],
                                 sequence_nr=row[1], event=event, timestamp=row[4],
                                 tags=tuple(tags) if tags else ())
        return envelope

    async def _wait(self) -> None:
        await signal_of(self._backend.journal).wait(self._refresh)

    # -- events of one entity ------------------------------------------------------------

    def events_by_persistence_id(self, persistence_id: str, from_sequence_nr: int = 0,
                                 to_sequence_nr: int = MAX_SEQUENCE_NR) -> Source:
        """The events of one entity numbered ``from..to`` (inclusive), then
        the ones it persists later; completes after `to_sequence_nr`. An
        envelope's offset is its sequence number."""
        return self._by_pid(persistence_id, from_sequence_nr, to_sequence_nr, live=True)

    def current_events_by_persistence_id(self, persistence_id: str, from_sequence_nr: int = 0,
                                         to_sequence_nr: int = MAX_SEQUENCE_NR) -> Source:
        """The events of one entity numbered ``from..to`` (inclusive) stored
        when the query starts; then completes."""
        return self._by_pid(persistence_id, from_sequence_nr, to_sequence_nr, live=False)

    def _by_pid(self, pid: Any, lo: Any, hi: Any, live: bool) -> Source:
        pid = _check_str(pid, "persistence_id")
        lo = max(1, _check_seq(lo, "from_sequence_nr"))
        hi = _check_seq(hi, "to_sequence_nr")
        backend, batch = self._backend, self._batch

        async def pages() -> AsyncIterator[list]:
            decode = self._decoder()
            next_seq = lo
            while next_seq <= hi:
                highest = min(await backend.highest(pid), hi)
                while next_seq <= highest:
                    rows = await backend.replay(pid, next_seq, highest, batch)
                    if not rows:  # deleted below `highest`: nothing more to read now
                        next_seq = highest + 1
                        break
                    next_seq = rows[-1][1] + 1
                    yield [self._envelope(decode, r[1], r) for r in rows]
                if not live:
                    return
                if next_seq <= hi:
                    await self._wait()

        return _source(pages)

    # -- events by tag --------------------------------------------------------------------

    def events_by_tag(self, tag: str, offset: Any = None) -> Source:
        """The events tagged `tag` after `offset` (an :class:`Offset`, an
        int ordering, or None for the beginning) in the journal's global
        order, then the ones written later; never completes by itself."""
        return self._by_tag(tag, offset, live=True)

    def current_events_by_tag(self, tag: str, offset: Any = None) -> Source:
        """The events tagged `tag` after `offset` that are stored when the
        query starts, in the journal's global order; then completes."""
        return self._by_tag(tag, offset, live=False)

    def _by_tag(self, tag: Any, offset: Any, live: bool) -> Source:
        tag = _check_str(tag, "tag")
        start = _offset_value(offset)
        backend, batch = self._backend, self._batch

        async def pages() -> AsyncIterator[list]:
            decode = self._decoder()
            after = start
            head = MAX_SEQUENCE_NR if live else await backend.head(tag)
            # While downstream takes a full page, the next one is already read.
            fetch = asyncio.ensure_future(backend.tagged(tag, after, batch))
            try:
                while True:
                    rows = await fetch
                    full = len(rows) == batch
                    if not live:
                        rows = [r for r in rows if r[0] <= head]
                        full = full and len(rows) == batch
                    if rows:
                        after = rows[-1][0]
                    if full:
                        fetch = asyncio.ensure_future(backend.tagged(tag, after, batch))
                    if rows:
                        yield [self._envelope(decode, ordering, row) for ordering, row in rows]
                    if full:
                        continue
                    if not live:
                        return
                    await self._wait()
                    fetch = asyncio.ensure_future(backend.tagged(tag, after, batch))
            finally:
                if not fetch.done():
                    fetch.cancel()

        return _source(pages)

    # -- persistence ids ------------------------------------------------------------------

    def persistence_ids(self) -> Source:
        """Every persistence id in the journal, then each new one as it is
        first written; never completes by itself."""
        return self._ids(live=True)

    def current_persistence_ids(self) -> Source:
        """Every persistence id in the journal when the query starts."""
        return self._ids(live=False)

    def _ids(self, live: bool) -> Source:
        backend = self._backend

        async def pages() -> AsyncIterator[list]:
            seen: set[str] = set()
            while True:
                ids = [pid for pid in await backend.ids() if pid not in seen]
                if ids:
                    seen.update(ids)
                    yield ids
                if not live:
                    return
                await self._wait()

        return _source(pages)

    def __repr__(self) -> str:
        return f"<ReadJournal {self.identifier} {self._backend.journal!r}>"


# -- the extension ------------------------------------------------------------------------


class _PersistenceQueryId(ExtensionId["PersistenceQuery"]):
    """Builds the :class:`PersistenceQuery` extension of a system."""

    def create_extension(self, system: "ActorSystem") -> "PersistenceQuery":
        """A new :class:`PersistenceQuery` for `system`."""
        return PersistenceQuery._create(system)


_QUERY = _PersistenceQueryId()


@public_module("atomr.persistence.query")
class PersistenceQuery(Extension):
    """Finds the read journal of an actor system's journal (Akka's
    ``PersistenceQuery(system).readJournalFor(id)``).

    Example:
        >>> rj = PersistenceQuery.get(system).read_journal_for("lmdb")   # doctest: +SKIP
        >>> source = rj.events_by_tag("order")                           # doctest: +SKIP
    """

    _system: Any
    _journals: dict[str, ReadJournal]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use PersistenceQuery.get(system)")

    @classmethod
    def _create(cls, system: Any) -> "PersistenceQuery":
        self = object.__new__(cls)
        self._system = system
        self._journals = {}
        return self

    @staticmethod
    def get(system: "ActorSystem") -> "PersistenceQuery":
        """The persistence-query extension of `system` (created on first use)."""
        return _QUERY.get(system)

    def read_journal_for(self, plugin_id: Optional[str] = None) -> ReadJournal:
        """The read journal over the system's journal (the one
        ``persistence.journal`` names, which persistent actors without a
        journal of their own write to), with the system's codecs and the
        ``persistence.query`` settings. The same object every time.

        Args:
            plugin_id: The journal plugin the caller expects (``"inmemory"``,
                ``"lmdb"``, ``"postgres"``); None takes whichever is
                configured.

        Raises:
            ConfigError: `plugin_id` is not the configured journal, or that
                journal has no read journal.
        """
        from atomr.persistence import Persistence
        settings = self._system.settings
        configured = settings["persistence.journal"]
        if plugin_id is None:
            plugin_id = configured
        if not isinstance(plugin_id, str):
            raise TypeError(f"plugin_id must be a str, not {type(plugin_id).__name__}")
        if plugin_id != configured:
            raise ConfigError(f"no read journal `{plugin_id}`: the system's journal is "
                              f"`{configured}` (persistence.journal)")
        rj = self._journals.get(plugin_id)
        if rj is None:
            journal = Persistence.get(self._system).journal()
            try:
                rj = ReadJournal(journal, codecs=self._system.codecs,
                                 refresh_interval=settings["persistence.query.refresh-interval"],
                                 batch_size=settings["persistence.query.batch-size"])
            except TypeError as exc:
                raise ConfigError(str(exc)) from None
            self._journals[plugin_id] = rj
        return rj

    def read_journal_of(self, journal: Any) -> ReadJournal:
        """A read journal over `journal` (one an actor was given with
        ``journal=``), with the system's codecs and query settings.

        Raises:
            TypeError: no read journal exists for that kind of journal.
        """
        settings = self._system.settings
        return ReadJournal(journal, codecs=self._system.codecs,
                           refresh_interval=settings["persistence.query.refresh-interval"],
                           batch_size=settings["persistence.query.batch-size"])

    def __repr__(self) -> str:
        return "<PersistenceQuery>"
