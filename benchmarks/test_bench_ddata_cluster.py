"""Distributed data between three OS processes over TCP on loopback.

* ``ddata-majority-update``: sequential GCounter updates on one node with
  ``WriteConsistency.majority`` (each waits for another node's ack), raced
  against the same updates with ``local`` consistency on the same cluster.
* ``ddata-ormap-converge``: one node puts 10K keys into an ORMap (100 per
  update); the round ends when both other nodes hold all 10K keys. Raced:
  dissemination by deltas (the default) against full states
  (``distributed-data.delta-crdt.enabled = false``).

The nodes are ``tests/ddata/_ddata_node.py`` processes.
Run: ``python3 -m pytest benchmarks/test_bench_ddata_cluster.py``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pathlib
import queue
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

import pytest

import atomr

NODE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "ddata" / "_ddata_node.py"
WAIT = 120.0
ROUNDS = 5
UPDATES = {"majority": 300, "local": 300}
ORMAP_KEYS = 10_000


class _Node:
    def __init__(self, name: str, *opts: str) -> None:
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(atomr.__file__))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, str(NODE), name, *opts],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.address = self.next()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next(self) -> str:
        line = self.lines.get(timeout=WAIT)
        assert line is not None and not line.startswith("error"), line
        return line

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.next()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@contextlib.contextmanager
def _cluster(*opts: str) -> Iterator[list[_Node]]:
    nodes: list[_Node] = []
    try:
        for name in ("ba", "bb", "bc"):
            nodes.append(_Node(name, *opts))
        for node in nodes:
            assert node.ask(f"join {nodes[0].address}") == "joined"
        deadline = time.monotonic() + WAIT
        while not all(n.ask("size") == "size 3" for n in nodes):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield nodes
    finally:
        for node in nodes:
            node.close()


@contextlib.contextmanager
def _updates(n: int, level: str) -> Iterator[Any]:
    with _cluster() as nodes:
        def one_round() -> None:
            rate = nodes[0].ask(f"bench {n} {level}")
            assert rate.startswith("bench ")

        yield one_round, None


@pytest.mark.parametrize("impl", ["majority", "local"])
def test_ddata_majority_update(race, impl):
    """Sequential updates of one key on one of three processes."""
    race("ddata-majority-update", impl, UPDATES[impl], ROUNDS,
         lambda n: _updates(n, impl))


@contextlib.contextmanager
def _converge(n: int, impl: str) -> Iterator[Any]:
    opts = () if impl == "deltas" else ("no-deltas",)
    keys = itertools.count()
    with _cluster(*opts) as nodes:
        def one_round() -> None:
            key = f"map{next(keys)}"
            assert nodes[0].ask(f"ormap {key} {n}") == "ormap"
            deadline = time.monotonic() + WAIT
            while not all(node.ask(f"ormap-size {key}") == f"ormap-size {n}"
                          for node in nodes[1:]):
                assert time.monotonic() < deadline, "the ORMap did not converge"
                time.sleep(0.01)

        yield one_round, None


@pytest.mark.parametrize("impl", ["deltas", "full-state"])
def test_ddata_ormap_converge(race, impl):
    """10K ORMap key changes on one node until both others hold them all."""
    race("ddata-ormap-converge", impl, ORMAP_KEYS, 3, lambda n: _converge(n, impl))
