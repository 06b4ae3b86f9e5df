"""Leases: the synchronous stores (in memory, a file shared by processes)
and the asynchronous lease with its heartbeat and lost-lease callback."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from atomr import ActorSystem, AtomrError, Config
from atomr.coordination import (
    LEASE_PROVIDER,
    FileLease,
    InMemoryLease,
    Lease,
    LeaseError,
    LeaseSettings,
    LeaseTimeoutError,
    TimeoutSettings,
)
from _helpers import DEADLINE



def wait_until_blocking(pred, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(0.01)


HERE = pathlib.Path(__file__).resolve().parent
HOLDER = HERE / "_holder.py"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fast(interval: float = 0.05, timeout: float = 2.0, operation: float = 5.0) -> TimeoutSettings:
    return TimeoutSettings(heartbeat_interval=interval, heartbeat_timeout=timeout,
                           operation_timeout=operation)


# -- the synchronous shape ---------------------------------------------------------------


def test_in_memory_lease_is_reentrant_for_its_owner_and_refused_to_others():
    lease = InMemoryLease()
    assert lease.check() is None
    assert lease.acquire("a") is True
    assert lease.acquire("a") is True
    assert lease.check() == "a"
    with pytest.raises(LeaseError, match="held by 'a'") as info:
        lease.acquire("b")
    assert isinstance(info.value, AtomrError)
    lease.release("a")
    assert lease.check() is None
    assert lease.acquire("b") is True


def test_release_by_a_non_holder_is_a_lease_error():
    lease = InMemoryLease()
    with pytest.raises(LeaseError, match="free"):
        lease.release("a")
    lease.acquire("a")
    with pytest.raises(LeaseError, match="held by 'a'"):
        lease.release("b")
    assert lease.check() == "a"


@pytest.mark.parametrize("store", ["memory", "file"])
def test_bad_owner_and_ttl_are_refused_at_the_call(store, tmp_path):
    lease = InMemoryLease() if store == "memory" else FileLease(tmp_path / "l")
    with pytest.raises(TypeError):
        lease.acquire(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        lease.acquire("")
    with pytest.raises(ValueError):
        lease.acquire("a", ttl=0)
    with pytest.raises(TypeError):
        lease.release(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InMemoryLease(ttl=-1.0)
    with pytest.raises(TypeError):
        FileLease(3)  # type: ignore[arg-type]


def test_a_holding_with_a_ttl_expires_unless_renewed():
    clock = FakeClock()
    lease = InMemoryLease(ttl=10.0, clock=clock)
    lease.acquire("a")
    clock.now += 6.0
    lease.acquire("a")  # renewal: lives until +16
    clock.now += 6.0
    assert lease.check() == "a"
    with pytest.raises(LeaseError):
        lease.acquire("b")
    clock.now += 4.0
    assert lease.check() is None
    assert lease.acquire("b", ttl=1.0) is True
    with pytest.raises(LeaseError, match="held by 'b'"):
        lease.release("a")


def test_named_in_memory_leases_are_shared_in_the_process():
    first = InMemoryLease.named("test-named-shared")
    assert InMemoryLease.named("test-named-shared") is first
    assert InMemoryLease.named("test-named-other") is not first


def test_file_leases_on_one_path_see_one_holder(tmp_path):
    a, b = FileLease(tmp_path / "x.lease"), FileLease(tmp_path / "x.lease")
    assert a.name == "x.lease"
    a.acquire("node-a")
    assert b.check() == "node-a"
    with pytest.raises(LeaseError, match="node-a"):
        b.acquire("node-b")
    b.acquire("node-a")  # the same owner name is the same holder
    b.release("node-a")
    assert a.check() is None


def test_threads_contending_for_a_file_lease_get_exactly_one_holder(tmp_path):
    path = tmp_path / "contended"
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend(i: int) -> None:
        store = FileLease(path)
        barrier.wait()
        try:
            store.acquire(f"t{i}")
            winners.append(f"t{i}")
        except LeaseError:
            pass

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert len(winners) == 1
    assert FileLease(path).check() == winners[0]


def test_a_damaged_lease_file_reads_as_free(tmp_path):
    path = tmp_path / "damaged"
    path.write_bytes(b'{"owner": "a", "exp')
    lease = FileLease(path)
    assert lease.check() is None
    assert lease.acquire("b")
    assert lease.check() == "b"


def test_a_lease_file_from_another_boot_reads_as_free(tmp_path):
    path = tmp_path / "old-boot"
    path.write_text('{"owner": "a", "boot": "another-boot", "expires": 1e18}')
    assert FileLease(path).check() is None


# -- processes sharing a file lease -----------------------------------------------------------


def _start_holder(path: pathlib.Path, owner: str, mode: str, ttl: float):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(HOLDER), str(path), owner, mode, str(ttl)],
                            stdout=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=DEADLINE)


def test_a_killed_holder_keeps_the_file_lease_until_its_ttl_runs_out(tmp_path):
    path = tmp_path / "shared.lease"
    ttl = 3.0
    proc, lines = _start_holder(path, "child", "store", ttl)
    try:
        line = lines.get(timeout=30)
        assert line is not None and line.startswith("held "), line
        acquired_at = float(line.split()[1])
        _kill(proc)
        store = FileLease(path)
        assert store.check() == "child" or time.monotonic() >= acquired_at + ttl

        def taken() -> bool:
            try:
                return store.acquire("parent")
            except LeaseError:
                return False

        wait_until_blocking(taken, timeout=ttl + DEADLINE)
        # Not before the child's holding had expired.
        assert time.monotonic() >= acquired_at + ttl
        assert store.check() == "parent"
    finally:
        _kill(proc)


def test_a_heartbeat_keeps_a_file_lease_across_processes_until_the_holder_is_killed(tmp_path):
    path = tmp_path / "beating.lease"
    ttl = 3.0  # renewed every 0.6 s: a loaded machine's stalls stay well inside it
    proc, lines = _start_holder(path, "child", "heartbeat", ttl)
    try:
        line = lines.get(timeout=30)
        assert line is not None and line.startswith("held "), line
        store = FileLease(path)
        # Twice the TTL: only the child's renewals can keep it that long.
        until = time.monotonic() + 2 * ttl
        while time.monotonic() < until:
            with pytest.raises(LeaseError, match="child"):
                store.acquire("parent")
            time.sleep(0.05)
        _kill(proc)
        killed_at = time.monotonic()

        def taken() -> bool:
            try:
                return store.acquire("parent")
            except LeaseError:
                return False

        wait_until_blocking(taken, timeout=ttl + DEADLINE)
        assert time.monotonic() - killed_at < ttl + DEADLINE
    finally:
        _kill(proc)


# -- the asynchronous shape -----------------------------------------------------------------


def test_an_acquired_lease_is_held_until_released_and_refused_to_other_owners():
    store = InMemoryLease()
    a = Lease(store, LeaseSettings("l", "a", fast()))
    b = Lease(store, LeaseSettings("l", "b", fast()))

    async def scenario() -> None:
        assert await a.acquire() is True
        assert a.check_lease() and store.check() == "a"
        assert await b.acquire() is False
        assert not b.check_lease()
        assert await a.acquire() is True  # already held
        assert await a.release() is True
        assert not a.check_lease()
        assert await a.release() is False
        assert await b.acquire() is True

    asyncio.run(scenario())
    # Awaitables work from a later loop as well.
    assert asyncio.run(b.release()) is True
    assert store.check() is None


def test_acquire_nowait_answers_none_until_the_attempt_is_decided():
    store = InMemoryLease()
    a = Lease(store, LeaseSettings("l", "a", fast()))
    b = Lease(store, LeaseSettings("l", "b", fast()))
    assert a.acquire_nowait() is None  # started in the background
    wait_until_blocking(lambda: a.acquire_nowait() is not None)
    assert a.acquire_nowait() is True and a.check_lease()
    outcomes = []
    wait_until_blocking(lambda: outcomes.append(b.acquire_nowait()) or outcomes[-1] is not None)
    assert outcomes[0] is None and outcomes[-1] is False
    a.release_blocking()


def test_acquire_nowait_raises_what_the_attempt_raised_once(tmp_path):
    store = FileLease(tmp_path / "missing-dir" / "l")  # every operation fails
    lease = Lease(store, LeaseSettings("l", "a", fast()))
    assert lease.acquire_nowait() is None
    errors: list[BaseException] = []

    def decided() -> bool:
        try:
            return lease.acquire_nowait() is not None
        except FileNotFoundError as exc:
            errors.append(exc)
            return True

    wait_until_blocking(decided)
    assert len(errors) == 1
    assert lease.acquire_nowait() is None  # a new attempt


def test_the_heartbeat_renews_the_holding_beyond_its_ttl():
    store = InMemoryLease()
    lease = Lease(store, LeaseSettings("l", "a", fast(interval=0.05, timeout=1.5)))
    assert lease.acquire_blocking()
    try:
        until = time.monotonic() + 3.0  # twice the TTL
        while time.monotonic() < until:
            assert store.check() == "a"
            assert lease.check_lease()
            time.sleep(0.05)
    finally:
        lease.release_blocking()
    assert store.check() is None


def test_the_lost_lease_callback_runs_when_another_owner_took_the_expired_lease():
    clock = FakeClock()
    store = InMemoryLease(clock=clock)
    lost: queue.Queue = queue.Queue()
    lease = Lease(store, LeaseSettings("l", "a", fast(interval=0.05, timeout=30.0)))
    assert lease.acquire_blocking(lost.put)
    clock.now += 31.0  # the store lets the holding expire (its clock ran ahead) ...
    store.acquire("b")  # ... and another owner takes it
    reason = lost.get(timeout=DEADLINE)
    assert isinstance(reason, LeaseError) and "'b'" in str(reason)
    assert not lease.check_lease()
    assert lease.release_blocking() is False
    assert store.check() == "b"


def test_a_store_that_keeps_failing_loses_the_lease_after_the_heartbeat_timeout(tmp_path):
    directory = tmp_path / "leases"
    directory.mkdir()
    store = FileLease(directory / "l")
    lost: queue.Queue = queue.Queue()
    lease = Lease(store, LeaseSettings("l", "a", fast(interval=0.05, timeout=0.6)))
    assert lease.acquire_blocking(lost.put)
    (directory / "l").unlink()
    directory.rmdir()  # every renewal now fails with FileNotFoundError
    reason = lost.get(timeout=DEADLINE)
    assert isinstance(reason, LeaseTimeoutError)
    assert isinstance(reason.__cause__, FileNotFoundError)
    assert not lease.check_lease()


def test_an_operation_that_takes_too_long_is_a_lease_timeout_error(tmp_path):
    path = tmp_path / "stuck"
    store = FileLease(path)
    store.check()  # creates the file
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # every store operation now waits
        lease = Lease(store, LeaseSettings("l", "a", fast(operation=0.2)))
        with pytest.raises(LeaseTimeoutError, match="acquire"):
            lease.acquire_blocking()
        assert not lease.check_lease()
    finally:
        os.close(fd)


def test_a_renewal_in_flight_does_not_take_the_lease_back_after_a_release(tmp_path):
    renewing, gate = threading.Event(), threading.Event()

    class Gated(InMemoryLease):
        """Holds a renewal (an acquire by the heartbeat) at the gate."""

        def _take(self, owner, ttl):
            if threading.current_thread().name.startswith("atomr-lease-l") and \
                    not threading.current_thread().name.endswith("-acquire"):
                renewing.set()
                gate.wait(DEADLINE)
            return super()._take(owner, ttl)

    store = Gated()
    lease = Lease(store, LeaseSettings("l", "a", fast(interval=0.05, timeout=5.0,
                                                      operation=10.0)))
    assert lease.acquire_blocking()
    assert renewing.wait(DEADLINE)  # a renewal is in flight, held at the gate
    (heartbeat,) = [t for t in threading.enumerate() if t.name == "atomr-lease-l"]
    released: list[bool] = []
    releaser = threading.Thread(target=lambda: released.append(lease.release_blocking()))
    releaser.start()
    releaser.join(0.5)  # a release that does not wait for the renewal is done by now
    gate.set()
    releaser.join(DEADLINE)
    heartbeat.join(DEADLINE)  # the renewal is over and the heartbeat has stopped
    assert not heartbeat.is_alive()
    assert released == [True]
    assert store.check() is None


def test_lease_settings_are_checked():
    with pytest.raises(ValueError, match="below"):
        TimeoutSettings(heartbeat_interval=5.0, heartbeat_timeout=5.0)
    with pytest.raises(ValueError):
        TimeoutSettings(operation_timeout=0)
    with pytest.raises(ValueError):
        LeaseSettings("", "a")
    with pytest.raises(TypeError):
        LeaseSettings("l", "a", timeout_settings=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Lease(object(), LeaseSettings("l", "a"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Lease(InMemoryLease(), LeaseSettings("l", "a")).acquire_blocking(3)  # type: ignore


# -- the provider extension -----------------------------------------------------------------


def test_the_provider_builds_file_leases_from_config_and_releases_them_at_termination(tmp_path):
    config = Config.from_dict({"coordination": {"lease": {
        "implementation": "file", "directory": str(tmp_path),
        "heartbeat-interval": "50ms", "heartbeat-timeout": "2s"}}})
    one = ActorSystem.create_blocking("one", config)
    two = ActorSystem.create_blocking("two", config)
    try:
        provider = LEASE_PROVIDER.get(one)
        assert provider.implementation == "file"
        assert provider.timeout_settings.heartbeat_timeout == 2.0
        lease_one = provider.get_lease("sbr", "node-one")
        assert provider.get_lease("sbr", "node-one") is lease_one
        lease_two = LEASE_PROVIDER.get(two).get_lease("sbr", "node-two")
        assert lease_one.acquire_blocking()
        assert not lease_two.acquire_blocking()
        assert FileLease(tmp_path / "sbr.lease").check() == "node-one"
        one.terminate_blocking(DEADLINE)
        assert FileLease(tmp_path / "sbr.lease").check() is None
        assert lease_two.acquire_blocking()
    finally:
        one.terminate_blocking(DEADLINE)
        two.terminate_blocking(DEADLINE)


def test_the_default_provider_shares_in_memory_leases_between_systems():
    one = ActorSystem.create_blocking("one")
    two = ActorSystem.create_blocking("two")
    try:
        lease_one = LEASE_PROVIDER.get(one).get_lease("test-provider-default", "one")
        lease_two = LEASE_PROVIDER.get(two).get_lease("test-provider-default", "two")
        assert lease_one.acquire_blocking()
        assert not lease_two.acquire_blocking()
        assert lease_one.release_blocking()
        assert lease_two.acquire_blocking()
        assert lease_two.release_blocking()
    finally:
        one.terminate_blocking(DEADLINE)
        two.terminate_blocking(DEADLINE)


def test_a_bad_lease_config_fails_at_system_creation():
    with pytest.raises(Exception, match="implementation"):
        ActorSystem.create_blocking("bad", Config.from_dict(
            {"coordination": {"lease": {"implementation": "zookeeper"}}}))


# -- with the split brain resolver --------------------------------------------------------------


def test_two_sides_of_a_partition_settle_through_one_shared_lease():
    from atomr.cluster import SbrMember, SbrSettings, SplitBrainResolver

    def addr(i: int) -> str:
        return f"akka.tcp://sys@10.0.0.1:{2550 + i}"

    def members(reachable: set[int]) -> list[SbrMember]:
        return [SbrMember(addr(i), "up", i + 1, (), i in reachable, 100 + i) for i in range(5)]

    store = InMemoryLease()
    settings = SbrSettings("lease-majority", stable_after=1.0,
                           acquire_lease_delay_for_minority=2.0)
    sides = {}
    for name, me, reachable in (("majority", 0, {0, 1, 2}), ("minority", 3, {3, 4})):
        lease = Lease(store, LeaseSettings("sbr", addr(me), fast()))
        resolver = SplitBrainResolver(settings, lease=lease.acquire_nowait)
        resolver.update(addr(me), members(reachable), 0.0)
        sides[name] = (resolver, lease)
    decisions: dict = {}

    def settle(name: str, now: float, step: float) -> None:
        resolver = sides[name][0]
        deadline = time.monotonic() + DEADLINE
        while name not in decisions:
            assert time.monotonic() < deadline, f"{name} undecided at {now}"
            decision = resolver.tick(now)
            if decision is not None:
                decisions[name] = decision
            now += step
            time.sleep(0.005)  # the lease attempt runs on a thread of its own

    # The majority tries the lease as soon as the view is stable; the
    # minority waits acquire-lease-delay-for-minority longer, then loses it.
    settle("majority", 1.0, 0.0)
    settle("minority", 1.0, 0.1)
    assert decisions["majority"].kind == "down-unreachable"
    assert decisions["minority"].kind == "down-reachable"
    assert store.check() == addr(0)
    sides["majority"][1].release_blocking()
