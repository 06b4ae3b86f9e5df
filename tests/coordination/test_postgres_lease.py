"""The PostgreSQL lease: one holder across connections and processes,
expiry on the server's clock, Akka's heartbeat lease over it, and clear
errors. Runs on the throwaway PostgreSQL server of the persistence tests."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from atomr import LeaseError
from atomr.coordination import Lease, LeaseSettings, PostgresLease, TimeoutSettings
from tests.conftest import wait_until_blocking
from tests.persistence.conftest import postgres_cluster  # noqa: F401 - the server fixture

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count(1)


@pytest.fixture
def lease_db(postgres_cluster):  # noqa: F811 - the imported fixture
    """(dsn, schema): a schema of its own, dropped afterwards."""
    schema = f"lease{os.getpid()}_{next(_names)}"
    yield postgres_cluster.dsn("atomr_test"), schema
    postgres_cluster.psql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', "atomr_test")


def test_one_holder_across_connections(lease_db) -> None:
    dsn, schema = lease_db
    with PostgresLease(dsn, "orders", schema=schema) as a, \
            PostgresLease(dsn, "orders", schema=schema) as b:
        assert a.check() is None
        assert a.acquire("node-a")
        assert b.check() == "node-a"
        with pytest.raises(LeaseError, match="held by 'node-a'"):
            b.acquire("node-b")
        assert b.acquire("node-a")  # the same owner renews
        with pytest.raises(LeaseError):
            b.release("node-b")
        b.release("node-a")
        assert a.check() is None
        assert b.acquire("node-b")
        with PostgresLease(dsn, "payments", schema=schema) as other:
            assert other.acquire("node-a")  # another name, another lease
        b.release("node-b")


def test_holding_expires_after_its_ttl(lease_db) -> None:
    dsn, schema = lease_db
    with PostgresLease(dsn, "sbr", ttl=0.5, schema=schema) as a, \
            PostgresLease(dsn, "sbr", schema=schema) as b:
        assert a.acquire("node-a")
        assert b.check() == "node-a"

        def taken() -> bool:
            try:
                return b.acquire("node-b")
            except LeaseError:
                return False

        wait_until_blocking(taken, message="the expired holding is free")
        with pytest.raises(LeaseError):
            a.release("node-a")  # expired, and now someone else's
        assert a.check() == "node-b"


def test_shared_with_another_process(lease_db) -> None:
    dsn, schema = lease_db
    script = textwrap.dedent(f"""
        import sys
        from atomr.coordination import PostgresLease
        lease = PostgresLease({dsn!r}, "singleton", ttl=600, schema={schema!r})
        lease.acquire("process-b")
        print("held", flush=True)
        sys.stdin.readline()
        lease.release("process-b")
        print("released", flush=True)
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "held"
        with PostgresLease(dsn, "singleton", schema=schema) as mine:
            assert mine.check() == "process-b"
            with pytest.raises(LeaseError):
                mine.acquire("process-a")
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "released"
            assert mine.acquire("process-a")
            mine.release("process-a")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_heartbeat_lease_over_postgres(lease_db) -> None:
    dsn, schema = lease_db
    timing = TimeoutSettings(heartbeat_interval=0.2, heartbeat_timeout=5.0,
                             operation_timeout=5.0)
    with PostgresLease(dsn, "leader", schema=schema) as store_a, \
            PostgresLease(dsn, "leader", schema=schema) as store_b:
        mine = Lease(store_a, LeaseSettings("leader", "node-a", timing))
        theirs = Lease(store_b, LeaseSettings("leader", "node-b", timing))

        async def run() -> None:
            assert await mine.acquire()
            assert not await theirs.acquire()
            assert store_b.check() == "node-a"
            await mine.release()
            assert await theirs.acquire()
            await theirs.release()

        asyncio.run(run())
        assert store_a.check() is None


def test_unreachable_database_is_lease_error(tmp_path) -> None:
    pytest.importorskip("asyncpg")
    dsn = f"postgresql://nobody@/none?host={tmp_path}&port=1"
    with PostgresLease(dsn, "x", timeout=5.0) as lease:
        with pytest.raises(LeaseError, match="check failed"):
            lease.check()


def test_bad_arguments() -> None:
    pytest.importorskip("asyncpg")
    with pytest.raises(ValueError):
        PostgresLease("postgresql://x@/y", "x", schema='a"; DROP TABLE t; --')
    with pytest.raises(ValueError):
        PostgresLease("postgresql://x@/y", "")
    with pytest.raises(ValueError):
        PostgresLease("postgresql://x@/y", "x", ttl=0)
    lease = PostgresLease("postgresql://x@/y", "x")
    lease.close()
    with pytest.raises(LeaseError, match="closed"):
        lease.check()


def test_concurrent_acquirers_get_one_holder(lease_db) -> None:
    import threading

    dsn, schema = lease_db
    stores = [PostgresLease(dsn, "race", ttl=60, schema=schema) for _ in range(6)]
    winners: list[str] = []
    start = threading.Barrier(len(stores))

    def attempt(i: int) -> None:
        start.wait(30)
        try:
            if stores[i].acquire(f"node-{i}"):
                winners.append(f"node-{i}")
        except LeaseError:
            pass

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(stores))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(winners) == 1
        assert stores[0].check() == winners[0]
    finally:
        for s in stores:
            s.close()


def test_lease_provider_builds_postgres_leases(lease_db) -> None:
    from atomr import ActorSystem, Config
    from atomr.coordination import LEASE_PROVIDER

    dsn, schema = lease_db
    config = Config.from_dict({"coordination": {"lease": {
        "implementation": "postgres", "dsn": dsn, "schema": schema,
        "heartbeat-interval": "200ms", "heartbeat-timeout": "5s"}}})
    a = ActorSystem.create_blocking("lease-a", config)
    b = ActorSystem.create_blocking("lease-b", config)
    try:
        mine = LEASE_PROVIDER.get(a).get_lease("sbr", owner_name="node-a")
        theirs = LEASE_PROVIDER.get(b).get_lease("sbr", owner_name="node-b")
        assert isinstance(mine.store, PostgresLease)
        assert mine.acquire_blocking()
        assert not theirs.acquire_blocking()
        a.terminate_blocking(10.0)  # releases it
        assert theirs.acquire_blocking()
    finally:
        a.terminate_blocking(10.0)
        b.terminate_blocking(10.0)


def test_lease_provider_postgres_needs_a_dsn() -> None:
    from atomr import ActorSystem, Config
    from atomr.config import ConfigError
    from atomr.coordination import LEASE_PROVIDER

    system = ActorSystem.create_blocking("lease-nodsn", Config.from_dict(
        {"coordination": {"lease": {"implementation": "postgres"}}}))
    try:
        with pytest.raises(ConfigError, match="dsn"):
            LEASE_PROVIDER.get(system)
    finally:
        system.terminate_blocking(10.0)
