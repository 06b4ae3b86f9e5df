"""Akka's asynchronous lease: an owner, a time to live kept by a heartbeat,
and a callback when the lease is lost."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
import time
from typing import Any, Callable, Optional, TypeVar

from atomr._util.validate import check_nonempty_str, check_positive
from atomr.coordination._stores import LeaseStore
from atomr.errors import LeaseError, LeaseTimeoutError

__all__ = ["TimeoutSettings", "LeaseSettings", "Lease", "LeaseLostCallback"]

_log = logging.getLogger("atomr.coordination")

T = TypeVar("T")

#: Called once when a held lease is lost, with the reason (a
#: :class:`~atomr.errors.LeaseError`: another owner took it, or the
#: heartbeat fell behind) or None.
LeaseLostCallback = Callable[[Optional[BaseException]], Any]


@dataclasses.dataclass(frozen=True)
class TimeoutSettings:
    """The timing of a lease (Akka's ``heartbeat-interval``,
    ``heartbeat-timeout`` and ``lease-operation-timeout``).

    Attributes:
        heartbeat_interval: Seconds between renewals of a held lease.
        heartbeat_timeout: The holding's time to live: a holder that has
            not renewed for this long loses the lease, and others may take
            it. Must exceed `heartbeat_interval`.
        operation_timeout: Seconds an acquire or release may take before
            it fails with :class:`~atomr.errors.LeaseTimeoutError`.

    Raises:
        TypeError, ValueError: a value is not a positive number, or the
            interval is not below the timeout.
    """

    heartbeat_interval: float = 12.0
    heartbeat_timeout: float = 120.0
    operation_timeout: float = 5.0

    def __post_init__(self) -> None:
        for field in ("heartbeat_interval", "heartbeat_timeout", "operation_timeout"):
            object.__setattr__(self, field, check_positive(field, getattr(self, field)))
        if self.heartbeat_interval >= self.heartbeat_timeout:
            raise ValueError(f"heartbeat_interval ({self.heartbeat_interval}s) must be below "
                             f"heartbeat_timeout ({self.heartbeat_timeout}s)")


@dataclasses.dataclass(frozen=True)
class LeaseSettings:
    """What a :class:`Lease` is: its name, who takes it and its timing.

    Attributes:
        lease_name: The lease's name (the same for every contender).
        owner_name: This contender's name, unique among contenders (Akka
            uses the node's address).
        timeout_settings: The heartbeat and operation timing.
    """

    lease_name: str
    owner_name: str
    timeout_settings: TimeoutSettings = dataclasses.field(default_factory=TimeoutSettings)

    def __post_init__(self) -> None:
        check_nonempty_str("lease_name", self.lease_name)
        check_nonempty_str("owner_name", self.owner_name)
        if not isinstance(self.timeout_settings, TimeoutSettings):
            raise TypeError(f"timeout_settings must be TimeoutSettings, not "
                            f"{type(self.timeout_settings).__name__}")


class Lease:
    """One owner's handle on a lease kept in a :class:`LeaseStore`.

    :meth:`acquire` takes the lease with a time to live of
    ``heartbeat_timeout`` and, while it is held, a heartbeat thread renews
    it every ``heartbeat_interval``. The lease is lost when another owner
    took it (the holding had expired) or when a renewal does not succeed
    within ``heartbeat_timeout`` of the previous one (the store may have
    let it go in between); the lost-lease callback given to
    :meth:`acquire` then runs once, on the heartbeat thread, and
    :meth:`check_lease` turns false. The awaitables work from any event
    loop; the ``_blocking`` variants suit synchronous callers (such as the
    split brain resolver's lease callable).

    Args:
        store: Where the lease is kept (:class:`InMemoryLease`,
            :class:`FileLease`, ...).
        settings: The lease's name, this owner and the timing.

    Raises:
        TypeError: a bad argument.
    """

    def __init__(self, store: LeaseStore, settings: LeaseSettings) -> None:
        if not isinstance(store, LeaseStore):
            raise TypeError(f"store must be a LeaseStore, not {type(store).__name__}")
        if not isinstance(settings, LeaseSettings):
            raise TypeError(f"settings must be LeaseSettings, not {type(settings).__name__}")
        self._store = store
        self._settings = settings
        self._lock = threading.Lock()
        # Serialises this handle's store operations, so a renewal in
        # flight cannot re-take the lease after a release.
        self._op_lock = threading.Lock()
        self._held = False
        self._renewed_at = 0.0
        self._stop: Optional[threading.Event] = None
        self._heartbeat: Optional[threading.Thread] = None
        self._on_lost: Optional[LeaseLostCallback] = None
        self._pending: Optional[concurrent.futures.Future[bool]] = None

    @property
    def settings(self) -> LeaseSettings:
        """The lease's settings."""
        return self._settings

    @property
    def store(self) -> LeaseStore:
        """Where the lease is kept."""
        return self._store

    # -- the operations ------------------------------------------------------------

    async def acquire(self, lease_lost_callback: Optional[LeaseLostCallback] = None) -> bool:
        """Tries to take the lease (see :meth:`acquire_blocking`)."""
        return await asyncio.to_thread(self.acquire_blocking, lease_lost_callback)

    def acquire_blocking(self, lease_lost_callback: Optional[LeaseLostCallback] = None) -> bool:
        """Tries to take the lease and, on success, starts its heartbeat.

        Args:
            lease_lost_callback: Called once, as ``callback(reason)``, if the
                lease is later lost (not when it is released).

        Returns:
            True when this owner holds the lease now (also when it already
            did), False when another owner holds it.

        Raises:
            LeaseTimeoutError: the store did not answer within
                ``operation_timeout`` (the store may still grant the
                holding; it then expires after ``heartbeat_timeout``).
            TypeError: `lease_lost_callback` is not callable.
            Exception: what the store raised.
        """
        if lease_lost_callback is not None and not callable(lease_lost_callback):
            raise TypeError(f"lease_lost_callback must be callable, not "
                            f"{type(lease_lost_callback).__name__}")
        if self.check_lease():
            if lease_lost_callback is not None:
                self._on_lost = lease_lost_callback
            return True
        started = time.monotonic()
        try:
            self._within_timeout("acquire", self._renew)
        except LeaseError as exc:
            if isinstance(exc, LeaseTimeoutError):
                raise
            return False
        with self._lock:
            self._stop_heartbeat()
            self._held = True
            self._renewed_at = started
            self._on_lost = lease_lost_callback
            stop = self._stop = threading.Event()
            self._heartbeat = threading.Thread(
                target=self._beat, args=(stop,), daemon=True,
                name=f"atomr-lease-{self._settings.lease_name}")
            self._heartbeat.start()
        return True

    def acquire_nowait(self) -> Optional[bool]:
        """Tries to take the lease without blocking, for callers polled on
        a timer (the split brain resolver's lease callable: True, False or
        None for "not known yet, ask again").

        Returns:
            True when this owner holds the lease. Otherwise it starts an
            acquisition in the background (unless one is running) and
            returns None until its outcome is known, then that outcome once
            (True or False); the call after that starts a new attempt.

        Raises:
            Exception: what the finished attempt raised (once).
        """
        if self.check_lease():
            return True
        with self._lock:
            pending = self._pending
            if pending is None:
                pending = self._pending = concurrent.futures.Future()
                start = True
            else:
                start = False
        if start:
            def attempt() -> None:
                try:
                    pending.set_result(self.acquire_blocking())
                except BaseException as exc:
                    pending.set_exception(exc)

            threading.Thread(target=attempt, daemon=True,
                             name=f"atomr-lease-{self._settings.lease_name}-try").start()
            return None
        if not pending.done():
            return None
        with self._lock:
            self._pending = None
        return pending.result()

    async def release(self) -> bool:
        """Gives the lease up (see :meth:`release_blocking`)."""
        return await asyncio.to_thread(self.release_blocking)

    def release_blocking(self) -> bool:
        """Stops the heartbeat and gives the lease up.

        Returns:
            True when this owner held the lease and released it; False when
            it did not hold it (never acquired, released already, lost or
            expired).

        Raises:
            LeaseTimeoutError: the store did not answer within
                ``operation_timeout``.
            Exception: what the store raised.
        """
        with self._lock:
            held, self._held = self._held, False
            self._on_lost = None
            self._stop_heartbeat()
        if not held:
            return False
        try:
            self._within_timeout("release", self._give_up)
        except LeaseError as exc:
            if isinstance(exc, LeaseTimeoutError):
                raise
            return False
        return True

    def check_lease(self) -> bool:
        """Whether this owner holds the lease: acquired, not released nor
        lost, and renewed within the last ``heartbeat_timeout`` seconds.
        Cheap (no store access)."""
        with self._lock:
            return self._held and time.monotonic() - self._renewed_at < \
                self._settings.timeout_settings.heartbeat_timeout

    # -- internals -------------------------------------------------------------------

    def _renew(self, stop: Optional[threading.Event] = None) -> bool:
        """Takes or renews the holding; False (and nothing done) when
        `stop` was set, i.e. the heartbeat was stopped meanwhile."""
        with self._op_lock:
            if stop is not None and stop.is_set():
                return False
            self._store.acquire(self._settings.owner_name,
                                ttl=self._settings.timeout_settings.heartbeat_timeout)
            return True

    def _give_up(self) -> None:
        with self._op_lock:
            self._store.release(self._settings.owner_name)

    def _within_timeout(self, what: str, call: Callable[[], T]) -> T:
        """Runs `call` on a helper thread and waits at most the operation timeout."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(call())
            except BaseException as exc:
                done.set_exception(exc)

        threading.Thread(target=run, daemon=True,
                         name=f"atomr-lease-{self._settings.lease_name}-{what}").start()
        timeout = self._settings.timeout_settings.operation_timeout
        try:
            return done.result(timeout)
        except concurrent.futures.TimeoutError:
            raise LeaseTimeoutError(
                f"{what} of lease {self._settings.lease_name!r} by "
                f"{self._settings.owner_name!r} did not complete within {timeout}s") from None

    def _stop_heartbeat(self) -> None:  # holds _lock
        if self._stop is not None:
            self._stop.set()
        self._stop = None
        self._heartbeat = None

    def _beat(self, stop: threading.Event) -> None:
        timing = self._settings.timeout_settings
        last_error: Optional[BaseException] = None
        while not stop.wait(timing.heartbeat_interval):
            started = time.monotonic()
            try:
                if not self._renew(stop):
                    return
            except LeaseError as exc:
                # Another owner holds it: the holding expired in between.
                self._lost(stop, exc, release=False)
                return
            except Exception as exc:  # the store failed: retry until the timeout
                last_error = exc
                _log.warning("lease %s: renewal by %s failed: %r", self._settings.lease_name,
                             self._settings.owner_name, exc)
                if time.monotonic() - self._renewed_at >= timing.heartbeat_timeout:
                    self._lost(stop, self._overdue(last_error), release=True)
                    return
                continue
            with self._lock:
                if stop.is_set():
                    return
                gap = started - self._renewed_at
                if gap < timing.heartbeat_timeout:
                    self._renewed_at = started
                    last_error = None
                    continue
            # Renewed, but after the holding had expired: another owner
            # could have held it in between.
            self._lost(stop, self._overdue(last_error), release=True)
            return

    def _overdue(self, cause: Optional[BaseException]) -> LeaseTimeoutError:
        exc = LeaseTimeoutError(
            f"lease {self._settings.lease_name!r} of {self._settings.owner_name!r} was not "
            f"renewed within {self._settings.timeout_settings.heartbeat_timeout}s")
        exc.__cause__ = cause
        return exc

    def _lost(self, stop: threading.Event, reason: BaseException, release: bool) -> None:
        with self._lock:
            if stop.is_set():  # released or re-acquired meanwhile
                return
            self._held = False
            callback, self._on_lost = self._on_lost, None
            self._stop_heartbeat()
        _log.warning("lease %s lost by %s: %s", self._settings.lease_name,
                     self._settings.owner_name, reason)
        if release:
            try:
                self._give_up()
            except Exception:
                pass  # expired or taken: nothing left to free
        if callback is not None:
            try:
                callback(reason)
            except BaseException as exc:
                _log.error("lease %s: the lost-lease callback failed", self._settings.lease_name,
                           exc_info=exc)

    def __repr__(self) -> str:
        return (f"<Lease {self._settings.lease_name!r} owner={self._settings.owner_name!r} "
                f"held={self.check_lease()}>")
