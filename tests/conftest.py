"""Shared fixtures and helpers for atomr's pytest suite.

Waiting rule: no test sleeps and hopes. Anything asynchronous is observed by
polling a condition against a deadline (`wait_until` on an event loop,
`wait_until_blocking` on a plain thread). Deadlines are generous so the suite
passes on a loaded 2-core machine; a passing condition returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import sys
import time
from typing import Any, Callable

import pytest

from atomr import ActorSystem

#: Generous deadline for "eventually" conditions (actor stops, deliveries).
DEADLINE = 10.0
_POLL = 0.002


async def wait_until(pred: Callable[[], Any], timeout: float = DEADLINE,
                     message: str = "") -> Any:
    """Polls `pred` on the running loop until it is truthy; returns its value.

    `pred` may return an awaitable (e.g. ``lambda: ref.ask("state")``); it is
    awaited and its result tested. Yields to the loop between polls (so
    actors bound to this loop keep running). Fails the test when `timeout`
    seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"condition not met within {timeout}s{': ' + message if message else ''}")
        await asyncio.sleep(_POLL)


def wait_until_blocking(pred: Callable[[], Any], timeout: float = DEADLINE,
                        message: str = "") -> Any:
    """Thread-blocking twin of :func:`wait_until`, for code without a loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"condition not met within {timeout}s{': ' + message if message else ''}")
        time.sleep(_POLL)


@pytest.fixture(name="wait_until")
def _wait_until_fixture() -> Callable[..., Any]:
    return wait_until


@pytest.fixture(name="wait_until_blocking")
def _wait_until_blocking_fixture() -> Callable[..., Any]:
    return wait_until_blocking


@pytest.fixture
async def system():
    """An actor system named ``app`` bound to the test's own event loop."""
    sys_ = await ActorSystem.create("app")
    try:
        yield sys_
    finally:
        await asyncio.wait_for(sys_.terminate(), DEADLINE)


@pytest.fixture
def blocking_system():
    """An actor system named ``app`` running its own loop on a dedicated thread."""
    sys_ = ActorSystem.create_blocking("app")
    try:
        yield sys_
    finally:
        sys_.terminate_blocking(timeout=DEADLINE)


@pytest.fixture
def make_blocking_system():
    """Factory for extra blocking systems; every one is terminated afterwards."""
    made: list[ActorSystem] = []

    def make(name: str = "app", config=None) -> ActorSystem:
        s = ActorSystem.create_blocking(name, config)
        made.append(s)
        return s

    try:
        yield make
    finally:
        for s in made:
            s.terminate_blocking(timeout=DEADLINE)


def _live_children() -> dict[int, str]:
    """The command lines of this process's children that still run, by pid
    (zombies excluded: their exit is already known)."""
    me = os.getpid()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            # The fields after "(comm)": state, ppid, ...
            state, ppid = stat[stat.rindex(b")") + 2:].split()[:2]
            if int(ppid) != me or state == b"Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue  # gone meanwhile
        found[int(entry)] = cmdline[:200]
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that leaves a child process running fails (and the children
    are killed): every test kills the processes it starts. A moment is
    allowed for them to exit."""
    if not os.path.isdir("/proc"):
        return
    deadline = time.monotonic() + DEADLINE
    while (left := _live_children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not left:
        return
    lines = [f"{pid}: {cmdline}" for pid, cmdline in sorted(left.items())]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "child processes still running after the tests", red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        print("child processes still running after the tests:", *lines, sep="\n  ",
              file=sys.stderr)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
