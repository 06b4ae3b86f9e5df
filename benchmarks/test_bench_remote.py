"""Remote benchmarks: atomr's TCP remoting raced against a pure-asyncio TCP
actor (asyncio streams + msgpack, remote_baseline.py), two real OS processes
on loopback.

The receiver runs in a subprocess (remote_receiver.py, one per benchmark,
always ended on exit); the sender is this process. Scenarios:

* ``remote-tell``: one-way tells of a small msgpack message (``{"n": i}``)
  to the receiver's counter; the round ends when the counter answers an ask
  sent after the last tell with its running count (the receiver has handled
  every tell of the round), and the count is checked.
* ``remote-ask-seq``: sequential asks of the receiver's echo, each awaited
  before the next; p50 and p99 of the ask latency (send to answer, over the
  timed rounds) are its other figures.
* ``remote-ask-seq`` / ``atomr-blocking``: the same asks from a plain
  thread with ``ask_blocking`` (the sender's system runs its own loop on a
  thread of its own, ``ActorSystem.create_blocking``): the answer goes from
  the transport's io thread straight to the asking thread.
* ``remote-ask-100``: asks of the echo in waves of 100 in flight at once
  (``asyncio.gather`` of 100 asks, then the next 100).

Also raced: Ray actors (remote_ray.py; ``ray.init(num_cpus=2)`` on this
machine, the actors in Ray worker processes): ``tell`` calls without
waiting then one awaited call; ``await actor.echo.remote(i)`` one at a time
and 100 at a time. The Ray rows skip with the reason when Ray is not
installed or cannot start.

Run: ``python3 -m pytest benchmarks/test_bench_remote.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import queue
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest

import atomr
from atomr import ActorSystem, Config
from atomr.remote import Remote
from remote_baseline import AsyncioTcpClient
from remote_ray import RayUnavailable, ray_actors

HERE = pathlib.Path(__file__).resolve().parent
RECEIVER = HERE / "remote_receiver.py"
IMPLEMENTATIONS = ("atomr", "asyncio", "ray")
SIZES = {
    "remote-tell": {"atomr": 100_000, "asyncio": 100_000, "ray": 2_000},
    "remote-ask-seq": {"atomr": 2_000, "asyncio": 5_000, "ray": 500},
    "remote-ask-100": {"atomr": 10_000, "asyncio": 20_000, "ray": 1_000},
}
ROUNDS = 5
WAVE = 100
WAIT = 60.0  # seconds any single wait may take before the round fails
STARTUP = 60.0  # a Python process starting on a loaded 2-core machine


@contextlib.contextmanager
def receiver(flavour: str) -> Iterator[str]:
    """Starts remote_receiver.py `flavour`; yields the line it printed (an
    address or a port). The process is always gone on exit: stdin closed,
    then killed if it lingers."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(atomr.__file__))  # the same atomr as ours
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, str(HERE), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, str(RECEIVER), flavour], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    errors: list[str] = []

    def read_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    def read_err() -> None:
        assert proc.stderr is not None
        errors.extend(proc.stderr)

    readers = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=read_err, daemon=True)]
    for thread in readers:
        thread.start()
    try:
        try:
            first = lines.get(timeout=STARTUP)
        except queue.Empty:
            first = None
        if not first:
            raise AssertionError(f"the {flavour} receiver did not start; stderr:\n"
                                 + "".join(errors))
        yield first
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=WAIT)
        for thread in readers:
            thread.join(timeout=WAIT)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@contextlib.contextmanager
def atomr_sender(actor: str) -> Iterator[tuple[asyncio.Runner, object]]:
    """A receiver process and, here, a system with remoting on a loop;
    yields the loop's runner and a remote ref to the receiver's `actor`."""
    with receiver("atomr") as address, asyncio.Runner() as runner:
        # Room for a whole round of tells: the benchmark measures the wire,
        # not the drops of a full queue.
        config = Config.from_dict({"remote": {"outbound-queue-size": 1_000_000}})
        system = runner.run(ActorSystem.create("sender", config))
        try:
            Remote.get(system)
            ref = system.actor_selection(f"{address}/user/{actor}")
            assert runner.run(ref.ask(None if actor == "counter" else 0, timeout=WAIT)) is not None
            yield runner, ref
        finally:
            runner.run(system.terminate())
            assert system.is_terminated


@contextlib.contextmanager
def asyncio_sender() -> Iterator[tuple[asyncio.Runner, AsyncioTcpClient]]:
    """A baseline receiver process and a client connected to it."""
    with receiver("asyncio") as port, asyncio.Runner() as runner:
        client = runner.run(AsyncioTcpClient.connect("127.0.0.1", int(port)))
        try:
            yield runner, client
        finally:
            runner.run(client.close())


@contextlib.contextmanager
def ray_sender() -> Iterator[tuple[asyncio.Runner, object, object]]:
    """A local Ray instance's counter and echo actors and a loop here;
    skips the benchmark with the reason when Ray cannot run."""
    try:
        actors = ray_actors()
        counter, echo = actors.__enter__()
    except RayUnavailable as exc:
        pytest.skip(str(exc))
    try:
        with asyncio.Runner() as runner:
            yield runner, counter, echo
    finally:
        actors.__exit__(None, None, None)


def _checked_delta(expected: int):
    """A check that successive running counts grow by exactly `expected`."""
    last: list = [None]

    def check(count: int) -> None:
        if last[0] is not None:
            assert count - last[0] == expected, (count, last[0], expected)
        last[0] = count

    return check


# ---------------------------------------------------------------------------
# 1. one-way tell


@contextlib.contextmanager
def _tell_atomr(n: int):
    with atomr_sender("counter") as (runner, ref):
        check = _checked_delta(n + 1)

        async def one_round():
            tell = ref.tell
            for i in range(n):
                tell({"n": i})
            return await ref.ask(None, timeout=WAIT)

        yield (lambda: check(runner.run(one_round()))), None


@contextlib.contextmanager
def _tell_asyncio(n: int):
    with asyncio_sender() as (runner, client):
        check = _checked_delta(n + 1)

        async def one_round():
            tell = client.tell
            for i in range(n):
                tell("counter", {"n": i})
            fut = client.ask("counter", None)
            await client.drain()
            return await asyncio.wait_for(fut, WAIT)

        yield (lambda: check(runner.run(one_round()))), None


@contextlib.contextmanager
def _tell_ray(n: int):
    with ray_sender() as (runner, counter, _):
        check = _checked_delta(n + 1)

        async def one_round():
            tell = counter.tell.remote
            for i in range(n):
                tell({"n": i})
            return await counter.count.remote()

        yield (lambda: check(runner.run(one_round()))), None


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_remote_tell(race, impl):
    """One-way tells of a small msgpack message to a counter in another
    process; the rate counts a round's tells up to the counter's answer to
    the ask sent after the last one."""
    factory = {"atomr": _tell_atomr, "asyncio": _tell_asyncio, "ray": _tell_ray}[impl]
    race("remote-tell", impl, SIZES["remote-tell"][impl], ROUNDS, factory)


# ---------------------------------------------------------------------------
# 2. sequential asks, with their latency


def _percentile(values: "list[float]", q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def _ask_seq(n: int, impl: str, latencies: "list[list[float]]"):
    clock = time.perf_counter

    def rounds(runner, ask):
        async def one_round():
            lat: list[float] = []
            for i in range(n):
                start = clock()
                got = await ask(i)
                lat.append(clock() - start)
                assert got == i, (got, i)
            latencies.append(lat)

        return lambda: runner.run(one_round())

    if impl == "atomr":
        with atomr_sender("echo") as (runner, ref):
            yield rounds(runner, lambda m: ref.ask(m, timeout=WAIT)), None
    elif impl == "ray":
        with ray_sender() as (runner, _, echo):
            yield rounds(runner, lambda m: asyncio.wait_for(_awaited(echo.echo.remote(m)),
                                                            WAIT)), None
    else:
        with asyncio_sender() as (runner, client):
            yield rounds(runner, lambda m: asyncio.wait_for(client.ask("echo", m), WAIT)), None


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_remote_ask_sequential(race, impl):
    """Asks of an echo in another process, each awaited before the next.
    Other figures: p50 and p99 of the ask latency (from the ask to its
    answer in the asker's loop) over the timed rounds."""
    latencies: list[list[float]] = []
    race("remote-ask-seq", impl, SIZES["remote-ask-seq"][impl], ROUNDS,
         lambda n: _ask_seq(n, impl, latencies))
    timed = [x for lat in latencies[race.warmup_rounds:] for x in lat]
    if timed:
        race.note("p50 ask latency", _percentile(timed, 0.50) * 1e6, "us")
        race.note("p99 ask latency", _percentile(timed, 0.99) * 1e6, "us")


@contextlib.contextmanager
def _ask_seq_blocking(n: int, latencies: "list[list[float]]"):
    clock = time.perf_counter
    with receiver("atomr") as address:
        system = ActorSystem.create_blocking("sender")
        try:
            Remote.get(system)
            ref = system.actor_selection(f"{address}/user/echo")
            assert ref.ask_blocking(0, timeout=WAIT) == 0
            ask = ref.ask_blocking

            def one_round():
                lat: list[float] = []
                for i in range(n):
                    start = clock()
                    got = ask(i, timeout=WAIT)
                    lat.append(clock() - start)
                    assert got == i, (got, i)
                latencies.append(lat)

            yield one_round, None
        finally:
            system.terminate_blocking(timeout=WAIT)


@pytest.mark.parametrize("impl", ["atomr-blocking"])
def test_remote_ask_sequential_blocking(race, impl):
    """Sequential asks of the echo with ``ask_blocking`` from this (plain)
    thread; p50 and p99 of the ask latency as for the awaited asks."""
    latencies: list[list[float]] = []
    race("remote-ask-seq", impl, SIZES["remote-ask-seq"]["atomr"], ROUNDS,
         lambda n: _ask_seq_blocking(n, latencies))
    timed = [x for lat in latencies[race.warmup_rounds:] for x in lat]
    if timed:
        race.note("p50 ask latency", _percentile(timed, 0.50) * 1e6, "us")
        race.note("p99 ask latency", _percentile(timed, 0.99) * 1e6, "us")


# ---------------------------------------------------------------------------
# 3. 100 asks in flight


@contextlib.contextmanager
def _ask_wave(n: int, impl: str):
    assert n % WAVE == 0

    def rounds(runner, ask):
        async def one_round():
            for base in range(0, n, WAVE):
                got = await asyncio.gather(*[ask(base + j) for j in range(WAVE)])
                assert got[0] == base and got[-1] == base + WAVE - 1, (got[0], got[-1], base)

        return lambda: runner.run(one_round())

    if impl == "atomr":
        with atomr_sender("echo") as (runner, ref):
            yield rounds(runner, lambda m: ref.ask(m, timeout=WAIT)), None
    elif impl == "ray":
        with ray_sender() as (runner, _, echo):
            yield rounds(runner, lambda m: asyncio.wait_for(_awaited(echo.echo.remote(m)),
                                                            WAIT)), None
    else:
        with asyncio_sender() as (runner, client):
            yield rounds(runner, lambda m: asyncio.wait_for(client.ask("echo", m), WAIT)), None


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_remote_ask_in_flight(race, impl):
    """Asks of an echo in another process, in waves of 100 in flight (the
    next wave is sent when the whole previous one was answered)."""
    race("remote-ask-100", impl, SIZES["remote-ask-100"][impl], ROUNDS,
         lambda n: _ask_wave(n, impl))


async def _awaited(ref):
    """Awaits a Ray object ref (a coroutine for asyncio.wait_for)."""
    return await ref
