"""Fixtures of the persistence tests: a throwaway PostgreSQL server for the
session (initdb + pg_ctl in a temporary directory, a Unix socket only), and
a freshly migrated schema on it per test.

Without PostgreSQL's binaries or asyncpg the PostgreSQL tests are skipped
locally; under CI (``CI`` set) they fail instead, so CI never passes
without running them (``make deps`` installs both).
"""

from __future__ import annotations

import asyncio
import itertools
import os

import pytest

_schemas = itertools.count(1)


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {why} (run `make deps`)")
    pytest.skip(f"PostgreSQL unavailable: {why}")


@pytest.fixture(scope="session")
def postgres_cluster():
    """A running :class:`~atomr.persistence.postgres._testing.TemporaryCluster`
    with a database ``atomr_test``; stopped and deleted at the end."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _unavailable("asyncpg is not installed")
    from atomr.persistence.postgres._testing import TemporaryCluster, find_bin_dir
    if find_bin_dir() is None:
        _unavailable("initdb was not found (Debian package `postgresql`)")
    cluster = TemporaryCluster()
    try:
        cluster.start()
        cluster.psql("CREATE DATABASE atomr_test")
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def postgres_schema(postgres_cluster):
    """``(dsn, schema)``: a new schema with the journal's tables, dropped
    after the test. The server is running again if the test stopped it."""
    from atomr.persistence.postgres import migrate
    schema = f"t{os.getpid()}_{next(_schemas)}"
    dsn = postgres_cluster.dsn("atomr_test")
    asyncio.run(migrate(dsn, schema=schema))
    yield dsn, schema
    if not postgres_cluster.running:
        postgres_cluster.start()
    postgres_cluster.psql(f'DROP SCHEMA "{schema}" CASCADE', "atomr_test")
