"""A lease kept in a PostgreSQL table, shared by processes on any machine
that reaches the database."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any, Coroutine, Optional, TypeVar

from atomr._util.validate import check_nonempty_str, check_positive
from atomr.coordination._stores import LeaseStore
from atomr.errors import LeaseError

__all__ = ["PostgresLease"]

T = TypeVar("T")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class _LoopThread:
    """An event loop on a daemon thread, running asyncpg for blocking callers."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="atomr-postgres-lease", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()


class PostgresLease(LeaseStore):
    """A lease held in a PostgreSQL table: one row per lease name with its
    holder and expiry, so processes on different machines share it.

    Expiry is measured on the database server's clock (``clock_timestamp()``),
    so the machines' own clocks need not agree. Each operation is one
    atomic statement: ``acquire`` inserts the row or takes it over when it
    is held by the same owner or has expired; ``release`` deletes it when
    the caller holds it. A holder that dies keeps the lease until its time
    to live runs out: give holdings a `ttl` (the asynchronous
    :class:`~atomr.coordination.Lease` renews them with its heartbeat).

    Args:
        dsn: A PostgreSQL connection string (``postgresql://...``).
        name: The lease's name (its row).
        ttl: Default seconds a holding lives without renewal (None: until
            released).
        schema: The schema of the table (created when missing).
        table: The table (created when missing).
        timeout: Seconds an operation may take before it raises
            :class:`~atomr.errors.LeaseError`.

    Raises:
        ImportError: asyncpg is not installed (``pip install atomr[postgres]``).
        TypeError, ValueError: a bad argument (schema and table must be
            plain identifiers).
    """

    def __init__(self, dsn: str, name: str, ttl: Optional[float] = None, *,
                 schema: str = "public", table: str = "atomr_leases",
                 timeout: float = 10.0) -> None:
        super().__init__(ttl)
        import asyncpg  # noqa: F401 - fails early without the driver

        self._dsn = check_nonempty_str("dsn", dsn)
        self._name = check_nonempty_str("name", name)
        for what, ident in (("schema", schema), ("table", table)):
            if not isinstance(ident, str) or not _IDENT.match(ident):
                raise ValueError(f"{what} must be a plain SQL identifier, got {ident!r}")
        self._table = f'"{schema}"."{table}"'
        self._schema = schema
        self._timeout = check_positive("timeout", timeout)
        self._lock = threading.Lock()
        self._runner: Optional[_LoopThread] = None
        self._conn: Any = None
        self._closed = False

    @property
    def name(self) -> str:
        """The lease's name."""
        return self._name

    # --- the connection ----------------------------------------------------

    async def _connection(self) -> Any:
        import asyncpg

        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
            try:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._table} ("
                    " name text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz)")
            except Exception:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    def _run(self, op: str, sql: str, *args: Any) -> Optional[str]:
        """Runs `sql` (answering one ``owner`` value or no row)."""
        with self._lock:
            if self._closed:
                raise LeaseError(f"lease {self._name!r} is closed")
            if self._runner is None:
                self._runner = _LoopThread()

            async def go() -> Optional[str]:
                conn = await self._connection()
                value = await conn.fetchval(sql, *args)
                return None if value is None else str(value)

            try:
                return self._runner.run(go(), self._timeout)
            except LeaseError:
                raise
            except Exception as exc:  # noqa: BLE001 - the driver's and the timeout's errors
                self._drop_connection()
                raise LeaseError(f"lease {self._name!r}: {op} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._runner is not None:
            try:
                self._runner.run(conn.close(timeout=2.0), 5.0)
            except Exception:  # noqa: BLE001 - a connection already gone
                conn.terminate()

    def close(self) -> None:
        """Closes the connection (idempotent); the holding stays in the
        table (release it first, or let it expire)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._drop_connection()
            if self._runner is not None:
                self._runner.close()

    def __enter__(self) -> "PostgresLease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the store -----------------------------------------------------------

    _LIVE = "(expires_at IS NULL OR expires_at > clock_timestamp())"

    def _take(self, owner: str, ttl: Optional[float]) -> Optional[str]:
        taken = self._run(
            "acquire",
            f"INSERT INTO {self._table} AS t (name, owner, expires_at) VALUES ($1, $2,"
            " CASE WHEN $3::float8 IS NULL THEN NULL"
            " ELSE clock_timestamp() + $3::float8 * interval '1 second' END)"
            " ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner,"
            " expires_at = EXCLUDED.expires_at"
            " WHERE t.owner = EXCLUDED.owner OR NOT (t.expires_at IS NULL"
            " OR t.expires_at > clock_timestamp())"
            " RETURNING owner",
            self._name, owner, ttl)
        return taken if taken is not None else self._holder()

    def _give_up(self, owner: str) -> Optional[str]:
        released = self._run(
            "release",
            f"DELETE FROM {self._table} WHERE name = $1 AND owner = $2 AND {self._LIVE}"
            " RETURNING owner", self._name, owner)
        return released if released is not None else self._holder()

    def _holder(self) -> Optional[str]:
        return self._run("check",
                         f"SELECT owner FROM {self._table} WHERE name = $1 AND {self._LIVE}",
                         self._name)
