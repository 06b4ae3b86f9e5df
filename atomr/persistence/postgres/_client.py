"""The connection side of the PostgreSQL journal: one event loop thread per
process that runs every asyncpg pool, and the client of one journal (its
pool, its group-commit writer and the mapping of driver errors to
:class:`JournalError`).

asyncpg connections belong to the event loop that made them. Actor systems
each run their own loop, and one journal serves any number of them, so the
pools live on a loop of their own: a call from an actor hops to it and
back, and the writes of every actor of the process meet there, in one
queue, to be committed together.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
from typing import Any, Awaitable, Callable, Optional, TypeVar

from atomr.errors import JournalError

T = TypeVar("T")

#: The most batches one group commit carries (a round trip each).
_MAX_ROUND_BATCHES = 2048
#: The most events one group commit carries.
_MAX_ROUND_EVENTS = 16384
#: Seconds a closing pool gets to finish its queries before it is terminated.
_CLOSE_GRACE = 5.0


def _check_dsn(dsn: Any) -> str:
    if not isinstance(dsn, str):
        raise TypeError(f"dsn must be a str, not {type(dsn).__name__}")
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"dsn must be a postgresql:// URI, got {dsn!r}")
    return dsn


class _IoThread:
    """The event loop thread the PostgreSQL clients of this process share.
    It runs while at least one client is open."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._users = 0

    def acquire(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            self._users += 1
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._run, args=(loop,),
                                          name="atomr-postgres", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0 or self._loop is None:
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            assert thread is not None
            thread.join()

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()


_io = _IoThread()


def _driver_errors() -> tuple[type[BaseException], ...]:
    import asyncpg
    return (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
            TimeoutError, asyncio.TimeoutError)


class _Client:
    """The pool and group-commit writer of one journal (and its snapshot
    store). Coroutines named ``_op_*`` run on the shared loop; :meth:`call`
    and :meth:`call_blocking` run them from anywhere."""

    def __init__(self, dsn: str, schema: str, pool_size: int, connect_timeout: float) -> None:
        import asyncpg  # fail here, at construction, when the driver is missing
        self._asyncpg = asyncpg
        self._errors = _driver_errors()
        self.dsn = dsn
        self.schema = schema
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._pool: Any = None
        self._pool_lock: Optional[asyncio.Lock] = None
        self._pending: collections.deque[tuple[list, asyncio.Future]] = collections.deque()
        self._writing = False
        #: Group commits made (one round trip each).
        self.rounds = 0
        self._closed = False
        self._close_lock = threading.Lock()
        self._loop = _io.acquire()

    # -- running on the shared loop -------------------------------------------

    def _submit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future:
        if self._closed:
            raise JournalError(f"the PostgreSQL journal on {self._where()} is closed")
        return asyncio.run_coroutine_threadsafe(fn(*args), self._loop)  # type: ignore[arg-type]

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Runs ``fn(*args)`` on the shared loop and awaits it here."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return await fn(*args)
        return await asyncio.wrap_future(self._submit(fn, *args))

    def call_blocking(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Runs ``fn(*args)`` on the shared loop; blocks this thread until it
        is done."""
        if threading.current_thread() is _io._thread:
            raise RuntimeError("a blocking journal call cannot run on the journal's own loop")
        return self._submit(fn, *args).result()

    def _where(self) -> str:
        return f"schema {self.schema!r}"

    async def _get_pool(self) -> Any:
        if self._pool is None:
            if self._pool_lock is None:
                self._pool_lock = asyncio.Lock()
            async with self._pool_lock:  # one pool, however many first calls wait
                if self._pool is None:
                    self._pool = await self._asyncpg.create_pool(
                        self.dsn, min_size=0, max_size=self.pool_size,
                        timeout=self.connect_timeout,
                        server_settings={"search_path": self.schema})
        return self._pool

    async def run(self, op: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Runs ``op(connection, *args)`` with a pooled connection; driver failures
        become :class:`JournalError`. A connection the server dropped is
        replaced on the next call (the pool reconnects)."""
        if self._closed:
            raise JournalError(f"the PostgreSQL journal on {self._where()} is closed")
        asyncpg = self._asyncpg
        try:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                return await op(conn, *args)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError) as exc:
            raise JournalError(
                f"the atomr tables are missing in {self._where()} ({exc}); create them with "
                f"`python -m atomr.persistence.postgres migrate --dsn ...`") from exc
        except self._errors as exc:
            raise JournalError(f"PostgreSQL failed: {type(exc).__name__}: {exc}") from exc

    # -- group commit -------------------------------------------------------------------

    async def write(self, batches: list) -> list[Optional[int]]:
        """Writes batches ``(pid, first_seq, [(manifest, payload, ts, tags)])``
        in the next group commit. Returns per batch None (written) or the
        id's highest sequence number (rejected: the batch does not follow
        it). Raises JournalError when the commit failed."""
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((batches, fut))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write_loop())
        return await fut

    async def _write_loop(self) -> None:
        try:
            while self._pending:
                take: list[tuple[list, asyncio.Future]] = []
                batches = events = 0
                while self._pending and (not take or (batches < _MAX_ROUND_BATCHES
                                                      and events < _MAX_ROUND_EVENTS)):
                    request = self._pending.popleft()
                    if request[1].done():  # its caller went away
                        continue
                    take.append(request)
                    batches += len(request[0])
                    events += sum(len(b[2]) for b in request[0])
                if not take:
                    continue
                try:
                    outcomes = await self.run(self._write_round, take)
                except BaseException as exc:
                    failure = exc if isinstance(exc, JournalError) else JournalError(
                        f"PostgreSQL write failed: {type(exc).__name__}: {exc}")
                    for _, fut in take:
                        if not fut.done():
                            fut.set_exception(failure)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                start = 0
                for request, fut in take:
                    if not fut.done():
                        fut.set_result(outcomes[start:start + len(request)])
                    start += len(request)
        finally:
            self._writing = False

    async def _write_round(self, conn: Any, take: list[tuple[list, asyncio.Future]]) -> list:
        self.rounds += 1
        flat = [batch for request, _ in take for batch in request]
        # Batches go in persistence id order (stable: the batches of one id
        # keep theirs), so concurrent writers lock the ids in one order.
        order = sorted(range(len(flat)), key=lambda i: flat[i][0])
        pids: list[str] = []
        firsts: list[int] = []
        counts: list[int] = []
        manifests: list[str] = []
        payloads: list[bytes] = []
        stamps: list[int] = []
        tag_starts: list[int] = []
        tag_counts: list[int] = []
        tags: list[str] = []
        for i in order:
            pid, first, events = flat[i]
            pids.append(pid)
            firsts.append(first)
            counts.append(len(events))
            for manifest, payload, ts, event_tags in events:
                manifests.append(manifest)
                payloads.append(payload)
                stamps.append(ts)
                tag_starts.append(len(tags) + 1)
                tag_counts.append(len(event_tags))
                tags.extend(event_tags)
        result = await conn.fetchval(
            "SELECT atomr_journal_write($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            pids, firsts, counts, manifests, payloads, stamps, tag_starts, tag_counts, tags)
        outcomes: list[Optional[int]] = [None] * len(flat)
        for slot, i in enumerate(order):
            outcomes[i] = result[slot]
        return outcomes

    # -- closing ------------------------------------------------------------------------

    async def _op_close(self) -> None:
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(JournalError("the PostgreSQL journal was closed"))
        self._pending.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), _CLOSE_GRACE)
            except BaseException:
                pool.terminate()

    def close(self, wait: bool = True) -> None:
        """Closes the pool and lets the shared loop go. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        fut = asyncio.run_coroutine_threadsafe(self._op_close(), self._loop)
        if wait and threading.current_thread() is not _io._thread:
            try:
                fut.result()
            finally:
                _io.release()
        else:
            fut.add_done_callback(lambda _: _io.release())
