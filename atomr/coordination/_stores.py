"""The lease stores: where a lease's holder and expiry are kept.

A store holds at most one owner at a time and has the seed's synchronous
shape: :meth:`acquire` (True when free, expired or already held by the same
owner -- which also renews the holding), :meth:`release` and :meth:`check`.
"""

from __future__ import annotations

import abc
import fcntl
import json
import os
import threading
import time
from typing import Any, Callable, Optional

from atomr._util.validate import check_nonempty_str, check_positive
from atomr.errors import LeaseError

__all__ = ["LeaseStore", "InMemoryLease", "FileLease"]


def _check_ttl(ttl: Any) -> Optional[float]:
    return None if ttl is None else check_positive("ttl", ttl)


class LeaseStore(abc.ABC):
    """A lease in the synchronous shape: one holder at a time, by owner name.

    Owners are names (Akka uses the node's address): the same name is the
    same holder wherever it calls from. A holding may carry a time to live;
    it is then free again `ttl` seconds after it was last acquired (or
    renewed) unless renewed before. Implementations are thread-safe.

    Args:
        ttl: Default seconds a holding lives without renewal (None: until
            released).
    """

    def __init__(self, ttl: Optional[float] = None) -> None:
        self._ttl = _check_ttl(ttl)

    @property
    def ttl(self) -> Optional[float]:
        """The default time to live of a holding in seconds, or None (no expiry)."""
        return self._ttl

    def acquire(self, owner: str, ttl: Optional[float] = None) -> bool:
        """Takes the lease for `owner`, or renews `owner`'s holding.

        Args:
            owner: Who takes it (a non-empty string).
            ttl: Seconds this holding lives without renewal (None: the
                store's :attr:`ttl`).

        Returns:
            True: the lease was free (or expired) or already held by `owner`;
            the holding now lives `ttl` seconds from now.

        Raises:
            LeaseError: another owner holds the lease.
            TypeError, ValueError: `owner` is not a non-empty string, or
                `ttl` is not a positive number.
        """
        owner = check_nonempty_str("owner", owner)
        ttl = self._ttl if ttl is None else check_positive("ttl", ttl)
        holder = self._take(owner, ttl)
        if holder != owner:
            raise LeaseError(f"lease {self.name!r} is held by {holder!r}")
        return True

    def release(self, owner: str) -> None:
        """Gives the lease up.

        Raises:
            LeaseError: `owner` does not hold the lease (it is free, expired
                or held by another owner).
            TypeError, ValueError: `owner` is not a non-empty string.
        """
        owner = check_nonempty_str("owner", owner)
        holder = self._give_up(owner)
        if holder != owner:
            what = "free" if holder is None else f"held by {holder!r}"
            raise LeaseError(f"{owner!r} cannot release lease {self.name!r}: it is {what}")

    def check(self) -> Optional[str]:
        """The current holder, or None when the lease is free (or expired)."""
        return self._holder()

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The lease's name."""

    @abc.abstractmethod
    def _take(self, owner: str, ttl: Optional[float]) -> Optional[str]:
        """Atomically: take or renew for `owner` unless another live
        holder exists; returns the holder afterwards."""

    @abc.abstractmethod
    def _give_up(self, owner: str) -> Optional[str]:
        """Atomically: free the lease if `owner` holds it; returns the
        holder before."""

    @abc.abstractmethod
    def _holder(self) -> Optional[str]:
        """The live holder, or None."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} holder={self.check()!r}>"


class InMemoryLease(LeaseStore):
    """A lease held in this process: threads (and the actor systems of
    one process) share it through the object.

    ``InMemoryLease.named(name)`` returns the process-wide lease of that
    name, so separate components (several actor systems in one test, say)
    find the same one.

    Args:
        ttl: Default seconds a holding lives without renewal (None: until
            released).
        name: The lease's name (for messages).
        clock: Seconds on a monotonic clock (default ``time.monotonic``);
            a test may pass its own.

    Example:
        >>> lease = InMemoryLease()
        >>> lease.acquire("node-a")
        True
        >>> lease.check()
        'node-a'
        >>> lease.release("node-a")
        >>> lease.check() is None
        True
    """

    _named: dict[str, "InMemoryLease"] = {}
    _named_lock = threading.Lock()

    def __init__(self, ttl: Optional[float] = None, *, name: str = "in-memory",
                 clock: Optional[Callable[[], float]] = None) -> None:
        super().__init__(ttl)
        self._name = check_nonempty_str("name", name)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be callable, not {type(clock).__name__}")
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._owner: Optional[str] = None
        self._expires: Optional[float] = None

    @classmethod
    def named(cls, name: str, ttl: Optional[float] = None) -> "InMemoryLease":
        """The process-wide in-memory lease called `name`, created (with
        `ttl`) on first use."""
        name = check_nonempty_str("name", name)
        with cls._named_lock:
            lease = cls._named.get(name)
            if lease is None:
                lease = cls._named[name] = cls(ttl, name=name)
            return lease

    @property
    def name(self) -> str:
        """The lease's name."""
        return self._name

    def _live_owner(self) -> Optional[str]:  # holds _lock
        if self._owner is not None and self._expires is not None and \
                self._clock() >= self._expires:
            self._owner = self._expires = None
        return self._owner

    def _take(self, owner: str, ttl: Optional[float]) -> Optional[str]:
        with self._lock:
            holder = self._live_owner()
            if holder is None or holder == owner:
                self._owner = owner
                self._expires = None if ttl is None else self._clock() + ttl
            return self._owner

    def _give_up(self, owner: str) -> Optional[str]:
        with self._lock:
            holder = self._live_owner()
            if holder == owner:
                self._owner = self._expires = None
            return holder

    def _holder(self) -> Optional[str]:
        with self._lock:
            return self._live_owner()


def _boot_id() -> str:
    """This boot of the machine (Linux), so a lease file written before a
    reboot reads as expired; empty where unknown."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


class FileLease(LeaseStore):
    """A lease shared by the processes of one machine through a file.

    The file holds the holder's name and when its holding expires (on the
    machine's monotonic clock, tagged with the boot, so a reboot frees
    it); every operation reads and rewrites it under an exclusive
    ``flock``, so processes and threads see one holder. A holder that dies
    (even by ``kill -9``) keeps the lease until its time to live runs out:
    give holdings a `ttl` and renew them (the asynchronous
    :class:`~atomr.coordination.Lease` does so with its heartbeat). An
    unreadable file (a writer killed mid-write) reads as free.

    Args:
        path: The lease file; created when missing (its directory must exist).
        ttl: Default seconds a holding lives without renewal (None: until
            released).
        name: The lease's name (default: the file's name).

    Raises:
        TypeError, ValueError: a bad argument.
    """

    def __init__(self, path: "str | os.PathLike[str]", ttl: Optional[float] = None, *,
                 name: Optional[str] = None) -> None:
        super().__init__(ttl)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path, not {type(path).__name__}")
        self._path = os.fspath(path)
        if not self._path:
            raise ValueError("path must not be empty")
        self._name = check_nonempty_str("name", name) if name is not None \
            else os.path.basename(self._path)
        self._boot = _boot_id()

    @property
    def name(self) -> str:
        """The lease's name."""
        return self._name

    @property
    def path(self) -> str:
        """The lease file."""
        return self._path

    def _locked(self, update: Callable[[Optional[str], Optional[float]], Any]) -> Any:
        """Runs ``update(owner, expires)`` with the file locked; it returns
        ``(result, new_record)``, the record written back when not None
        (``{}`` frees the lease)."""
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            owner, expires = self._read(fd)
            result, record = update(owner, expires)
            if record is not None:
                data = json.dumps(record).encode()
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            return result
        finally:
            os.close(fd)  # also drops the flock

    def _read(self, fd: int) -> tuple[Optional[str], Optional[float]]:
        raw = os.pread(fd, 1 << 16, 0)
        if not raw:
            return None, None
        try:
            record = json.loads(raw)
            owner = record.get("owner")
            expires = record.get("expires")
            boot = record.get("boot", "")
        except (ValueError, AttributeError):
            return None, None
        if not isinstance(owner, str) or not owner:
            return None, None
        if expires is not None:
            if not isinstance(expires, (int, float)) or boot != self._boot or \
                    time.monotonic() >= expires:
                return None, None
        return owner, expires

    def _take(self, owner: str, ttl: Optional[float]) -> Optional[str]:
        def update(holder: Optional[str], expires: Optional[float]) -> Any:
            if holder is not None and holder != owner:
                return holder, None
            record = {"owner": owner, "boot": self._boot,
                      "expires": None if ttl is None else time.monotonic() + ttl}
            return owner, record

        return self._locked(update)

    def _give_up(self, owner: str) -> Optional[str]:
        def update(holder: Optional[str], expires: Optional[float]) -> Any:
            return holder, ({} if holder == owner else None)

        return self._locked(update)

    def _holder(self) -> Optional[str]:
        return self._locked(lambda holder, expires: (holder, None))
