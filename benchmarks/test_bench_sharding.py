"""Cluster sharding benchmarks: three actor systems in three OS processes
over TCP on loopback (this process is the first node; sharding_node.py
runs the other two).

* ``sharding-tell-10k``: one-way tells to 10,000 entities (ids ``e0`` ...
  ``e9999``, 30 shards spread 10/10/10 over the three nodes) through this
  node's shard region; the round ends when the three processes' counters
  add up to every message sent so far. Raced against ``direct``: the same
  messages told straight to a counter actor on the node of the same third
  (local for one third, remote tells for the others), i.e. plain remoting
  without sharding.
* ``sharding-rebalance``: two nodes hold the 30 shards (15/15); a third
  process joins (untimed), then the round times its region's start until
  the coordinator's rebalancing has moved the shards to 10/10/10. The
  third node leaves again before the next round.
* ``sharding-graceful-leave``: three nodes hold the 30 shards (10/10/10)
  with 3,000 started entities; the round times a graceful leave of the
  third (its region shuts down and its node leaves the cluster) until
  the other two hold its shards (15/15): each of its shards handed off,
  its entities stopped after their last message, the shard allocated
  again. A new third node joins before the next round (untimed).

Run: ``python3 -m pytest benchmarks/test_bench_sharding.py``.
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
from typing import Iterator, Optional

import atomr
import sharding_node

HERE = pathlib.Path(__file__).resolve().parent
NODE = HERE / "sharding_node.py"
ENTITIES = 10_000
PER_ENTITY = 10
ROUNDS = 3
WAIT = 120.0
STARTUP = 60.0


class _Process:
    """A sharding_node.py process, always ended by :meth:`close`."""

    def __init__(self, name: str) -> None:
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(atomr.__file__))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, str(HERE),
                                                        env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, str(NODE), name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.address = self._line(STARTUP)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _line(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(f"sharding node {self.proc.args[-1]} did not answer")
        return line

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line(WAIT)

    def shards(self) -> int:
        return int(self.command("shards").split()[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
        self.reader.join(WAIT)
        for stream in (self.proc.stdout, self.proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _wait(cond, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {WAIT} s")
        time.sleep(0.01)


@contextlib.contextmanager
def _cluster(nodes: int) -> Iterator[tuple[object, object, list[_Process]]]:
    """This process's node (seed) and `nodes - 1` more, all with a region;
    yields (system, region, processes)."""
    system, cluster = sharding_node.start("bench-a")
    procs: list[_Process] = []
    try:
        asyncio.run(cluster.join_seed_nodes([cluster.self_address], timeout=60.0))
        region = sharding_node.start_region(system)
        for i in range(nodes - 1):
            proc = _Process(f"bench-{'bc'[i]}")
            procs.append(proc)
            assert proc.command(f"join {cluster.self_address}") == "ok"
            assert proc.command("region") == "ok"
        yield system, region, procs
    finally:
        for proc in procs:
            proc.close()
        system.terminate_blocking(30.0)


def _total(system, procs: list[_Process]) -> int:
    with sharding_node._lock:
        total = sharding_node._total[0]

    async def remote() -> int:
        asks = [system.actor_selection(f"{p.address}/user/count").ask(None, timeout=WAIT)
                for p in procs]
        return sum(await asyncio.gather(*asks))

    return total + asyncio.run(remote())


@contextlib.contextmanager
def _tell(impl: str, n: int):
    with _cluster(3) as (system, region, procs):
        # spread the 30 shards 10/10/10 before timing anything
        for e in range(30):
            region.tell({"e": f"e{e}", "n": -1})
        _wait(lambda: [region.shard_count()] + [p.shards() for p in procs] == [10, 10, 10],
              "shards spread 10/10/10")
        ids = [f"e{e}" for e in range(ENTITIES)]
        targets: list = []
        if impl == "direct":
            # each entity started, then addressed by its path on its host
            for e in ids:
                region.tell({"e": e, "n": -1})
            hosts = {s: "" for s in region.shard_ids()}
            for p in procs:
                line = p.command("shard_ids")
                hosts.update({s: p.address for s in line.split()[1].split(",")})
            targets = [system.actor_selection(f"{hosts[str(e % 30)]}/user/bench-e{e}")
                       if hosts[str(e % 30)] else system.actor_selection(f"/user/bench-e{e}")
                       for e in range(ENTITIES)]
            assert all(t is not None for t in targets)
        expected = [0]
        deadline = time.monotonic() + WAIT
        while expected[0] != _total(system, procs):
            expected[0] = _total(system, procs)
            assert time.monotonic() < deadline
            time.sleep(0.2)

        def one_round() -> None:
            if impl == "atomr":
                tell = region.tell
                for i in range(n):
                    tell({"e": ids[i % ENTITIES], "n": i})
            else:
                for i in range(n):
                    targets[i % ENTITIES].tell({"e": ids[i % ENTITIES], "n": i})
            expected[0] += n
            deadline = time.monotonic() + WAIT
            while _total(system, procs) != expected[0]:
                assert time.monotonic() < deadline, "messages missing"
                time.sleep(0.005)

        yield one_round, None


def test_sharding_tell_10k_atomr(race):
    race("sharding-tell-10k", "atomr", ENTITIES * PER_ENTITY, ROUNDS,
         lambda n: _tell("atomr", n))


def test_sharding_tell_10k_direct(race):
    race("sharding-tell-10k", "direct", ENTITIES * PER_ENTITY, ROUNDS,
         lambda n: _tell("direct", n))


@contextlib.contextmanager
def _rebalance(n: int):
    with _cluster(2) as (system, region, procs):
        for e in range(30):
            region.tell({"e": f"e{e}", "n": -1})
        _wait(lambda: [region.shard_count(), procs[0].shards()] == [15, 15],
              "shards spread 15/15")
        joiner: list[Optional[_Process]] = [None]
        address = sharding_node.Cluster.get(system).self_address

        def setup() -> None:
            old = joiner[0]
            if old is not None:
                assert old.command("leave") == "ok"
                old.close()
                procs.remove(old)
                # its shards are allocated again on their next message
                for e in range(30):
                    region.tell({"e": f"e{e}", "n": -1})
                _wait(lambda: [region.shard_count(), procs[0].shards()] == [15, 15],
                      "shards back to 15/15")
            proc = joiner[0] = _Process("bench-j")
            procs.append(proc)
            assert proc.command(f"join {address}") == "ok"

        def one_round() -> None:
            proc = joiner[0]
            assert proc is not None
            assert proc.command("region") == "ok"
            deadline = time.monotonic() + WAIT
            while [region.shard_count(), procs[0].shards(), proc.shards()] != [10, 10, 10]:
                assert time.monotonic() < deadline, "no rebalance"
                time.sleep(0.01)

        yield one_round, setup


def test_sharding_rebalance_after_join(race):
    race("sharding-rebalance", "atomr", 1, ROUNDS, _rebalance)


@contextlib.contextmanager
def _graceful_leave(n: int):
    with _cluster(2) as (system, region, procs):
        address = sharding_node.Cluster.get(system).self_address
        leaver: list[Optional[_Process]] = [None]

        def setup() -> None:
            old = leaver[0]
            if old is not None:
                old.close()
                procs.remove(old)
            proc = leaver[0] = _Process("bench-l")
            procs.append(proc)
            assert proc.command(f"join {address}") == "ok"
            assert proc.command("region") == "ok"
            for e in range(3_000):
                region.tell({"e": f"e{e}", "n": -1})
            _wait(lambda: [region.shard_count(), procs[0].shards(), proc.shards()] ==
                  [10, 10, 10], "shards spread 10/10/10")

        def one_round() -> None:
            proc = leaver[0]
            assert proc is not None and proc.proc.stdin is not None
            proc.proc.stdin.write("leave\n")
            proc.proc.stdin.flush()
            deadline = time.monotonic() + WAIT
            while [region.shard_count(), procs[0].shards()] != [15, 15]:
                assert time.monotonic() < deadline, "no hand-off"
                time.sleep(0.01)
            assert proc._line(WAIT) == "ok"

        yield one_round, setup


def test_sharding_graceful_leave(race):
    race("sharding-graceful-leave", "atomr", 1, ROUNDS, _graceful_leave)
