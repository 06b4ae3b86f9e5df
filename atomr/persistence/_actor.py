"""The persistent actor: :class:`EventSourcedActor`.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from typing import Any, Callable, Optional

from atomr._util import public_module
from atomr.actor import Actor
from atomr.codecs import PyCodecRegistry
from atomr.errors import AtomrError, EventRejectedError, JournalError
from atomr.persistence._effect import _effects_of
from atomr.persistence._extension import Persistence
from atomr.persistence._native import _NativeBackedJournal
from atomr.persistence._records import (
    _REPLAY_CHUNK,
    PersistentRecord,
    SnapshotRecord,
    SnapshotSelectionCriteria,
    _now_ms,
)
from atomr.persistence._recovery import RecoveryPermitter
from atomr.persistence._store import Journal, SnapshotStore

_log = logging.getLogger("atomr.persistence")


def _check_chunk(pid: str, expected: int, first: int, last: int, count: int, replayed: bool,
                 highest: int) -> None:
    """Raises JournalError when a chunk of replayed events shows lost data.

    Events are numbered one after another up to `highest`. The first chunk
    may start later than asked (the events before it were deleted) or be
    empty (all of them were); after that, every chunk starts where the last
    one ended, holds no gap and is not empty before `highest`.
    """
    if count == 0:
        if replayed:
            raise JournalError(f"the journal of `{pid}` ends at event {expected - 1} but its "
                               f"highest sequence number is {highest}")
        return
    if (replayed and first != expected) or first < expected or last - first + 1 != count:
        raise JournalError(f"the journal of `{pid}` is damaged: replaying from event {expected} "
                           f"gave {count} events numbered {first} to {last}")


class _EventDecodeError(AtomrError):
    """An event could not be decoded while recovering (internal: recovery
    names the event and raises an :class:`AtomrError` from it)."""

    sequence_nr = 0


class _Decoder:
    """Decodes stored events, looking each manifest's codec up once."""

    __slots__ = ("_codecs", "_decoders")

    def __init__(self, codecs: Any) -> None:
        self._codecs = codecs
        self._decoders: dict[str, Callable[[bytes], Any]] = {}

    def __call__(self, manifest: str, payload: bytes) -> Any:
        decoder = self._decoders.get(manifest)
        if decoder is None:
            try:
                decoder = self._decoder_for(manifest)
            except Exception as exc:
                raise _EventDecodeError(str(exc)) from exc
            self._decoders[manifest] = decoder
        try:
            return decoder(payload)
        except Exception as exc:
            raise _EventDecodeError(str(exc)) from exc

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


def _recovery_completed_arity(method: Any) -> int:
    """How many arguments `method` (a bound ``recovery_completed``) takes:
    3 (ctx, state, highest_seq), 2 (state, highest_seq) or 1 (state)."""
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read: the current form
        return 3
    positional = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return 3
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return min(max(positional, 1), 3)


_ARITIES: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()


def _call_recovery_completed(actor: "EventSourcedActor", ctx: Any) -> Any:
    method = actor.recovery_completed
    func = getattr(method, "__func__", method)
    try:
        arity = _ARITIES.get(func)
    except TypeError:  # not weakly referenceable: read it every time
        arity = _recovery_completed_arity(method)
    if arity is None:
        arity = _ARITIES[func] = _recovery_completed_arity(method)
    if arity == 3:
        return method(ctx, actor._state, actor._seq)
    if arity == 2:
        return method(actor._state, actor._seq)  # type: ignore[call-arg]
    return method(actor._state)  # type: ignore[call-arg]


# -- the persistent actor ----------------------------------------------------------------------


@public_module("atomr.persistence")
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
        ...         if cmd["op"] == "incr":      # answers the ask with the new count
        ...             return Effect.persist({"type": "Incremented", "by": cmd["by"]}
        ...                                   ).then_reply(lambda state: state["count"])
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
        snapshot_store: The snapshot store; default: the one that goes with
            the journal -- with `journal` given, that journal's own
            (:meth:`Journal.snapshot_store`: the LMDB journal's is an
            :class:`LmdbSnapshotStore` on its directory, the in-memory
            journal's an in-memory store), otherwise the system's
            (``persistence.snapshot-store``, ``auto`` following the
            configured journal).
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
        self._own_journal = journal is not None
        self._snapshot_store = snapshot_store
        self._snapshot_every = snapshot_every or None
        self._permitter = recovery_permitter
        self._codec_registry = codec_registry
        self._codecs: Any = codec_registry
        self._state: Any = None
        self._seq = 0
        self._last_snapshot_seq = 0
        self._recovered = False
        self._warned_no_store = False

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

    async def recovery_completed(self, ctx: Any, state: Any, highest_seq: int) -> None:
        """Runs once recovery finished, before the first command. May be sync.

        Args:
            ctx: The actor's context (tell, spawn, start timers...).
            state: The recovered state.
            highest_seq: The sequence number of the last recovered event.

        Overrides may also take the older forms ``recovery_completed(self,
        state, highest_seq)`` or ``recovery_completed(self, state)``: the
        number of parameters decides what is passed.
        """

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
            storage = Persistence.get(ctx.system)
            if self._journal is None:
                self._journal = storage.journal()
            if self._snapshot_store is None:
                # The snapshot store follows the journal: a journal given to
                # the constructor brings its own, the configured one the
                # configured store.
                self._snapshot_store = (self._journal.snapshot_store() if self._own_journal
                                        else storage.snapshot_store())
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
            ctx._stop_self_not_started(exc)
            return
        self._recovered = True
        done = _call_recovery_completed(self, ctx)
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
                try:
                    value = _decode(codecs, snap.manifest, snap.payload)
                except Exception as exc:
                    raise AtomrError(f"cannot recover `{pid}`: its snapshot at event "
                                     f"{snap.sequence_nr} does not decode: {exc}") from exc
                state = self.restore_state(value)
                seq = snap.sequence_nr
        self._last_snapshot_seq = seq
        journal = self._journal
        highest = await journal.read_highest_sequence_nr(pid)
        next_seq = seq + 1
        # Row tuples straight from the journal (no PersistentRecord per
        # event): the built-ins, and plugins whose `_replay_rows` mirrors
        # their replay_messages (`_replay_rows_mirrors`), unless a subclass
        # replaced replay_messages.
        native = ((isinstance(journal, _NativeBackedJournal)
                   and type(journal).replay_messages is _NativeBackedJournal.replay_messages)
                  or getattr(type(journal), "_replay_rows_mirrors", None)
                  is type(journal).replay_messages)
        decode = _Decoder(codecs)
        try:
            state = await self._replay(journal, native, decode, state, next_seq, highest)
        except _EventDecodeError as exc:
            raise AtomrError(f"cannot recover `{pid}`: event {exc.sequence_nr} does not "
                             f"decode: {exc}") from exc.__cause__
        self._state = state
        self._seq = max(seq, highest)

    async def _replay(self, journal: Any, native: bool, decode: _Decoder, state: Any,
                      next_seq: int, highest: int) -> Any:
        """Replays events `next_seq..highest` into `state`; returns the new
        state. A decoding failure raises :class:`_EventDecodeError` with the
        event's number in ``sequence_nr``."""
        pid = self.persistent_id
        handler = self.event_handler
        replayed = False
        while next_seq <= highest:
            if native:  # row tuples: (pid, seq, manifest, payload, ts, tags)
                rows = await journal._replay_rows(pid, next_seq, highest, _REPLAY_CHUNK)
                first = rows[0][1] if rows else 0
                last = rows[-1][1] if rows else 0
                _check_chunk(pid, next_seq, first, last, len(rows), replayed, highest)
                row: Any = None
                try:
                    for row in rows:
                        state = handler(state, decode(row[2], row[3]), True)
                except _EventDecodeError as exc:
                    exc.sequence_nr = row[1]
                    raise
            else:
                records = await journal.replay_messages(pid, next_seq, highest, _REPLAY_CHUNK)
                first = records[0].sequence_nr if records else 0
                last = records[-1].sequence_nr if records else 0
                _check_chunk(pid, next_seq, first, last, len(records), replayed, highest)
                record: Any = None
                try:
                    for record in records:
                        state = handler(state, decode(record.manifest, record.payload), True)
                except _EventDecodeError as exc:
                    exc.sequence_nr = record.sequence_nr
                    raise
            if not last:
                break
            replayed = True
            next_seq = last + 1
        return state

    async def handle(self, ctx: Any, cmd: Any) -> Any:
        """Runs :meth:`command_handler` and applies its effects in order;
        returns the ask's answer (the last reply for the ask).

        Each effect's ``then_run`` / ``then_reply`` callbacks run right
        after it, with the state as it is then. Replies to refs
        (``reply_to=``) go out once every effect was applied; when one
        failed, nothing after it runs and no reply goes out."""
        result = self.command_handler(self._state, ctx, cmd)
        if inspect.isawaitable(result):
            result = await result
        reply = None
        tells: list = []
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
                if effect._reply_to is None:
                    reply = effect._value
                else:
                    tells.append((effect._reply_to, effect._value))
            elif kind == "stop":
                stop = True
            for step, callback, reply_to in effect._then:
                value = callback(self._state)
                if inspect.isawaitable(value):
                    value = await value
                if step == "reply":
                    if reply_to is None:
                        reply = value
                    else:
                        tells.append((reply_to, value))
        for reply_to, value in tells:
            reply_to.tell(value)
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
            if not self._warned_no_store:
                self._warned_no_store = True
                _log.warning("persistent actor %s: a snapshot was due but there is no snapshot "
                             "store (journal %r has none): pass snapshot_store= or set "
                             "persistence.snapshot-store", self.persistent_id, self._journal)
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
