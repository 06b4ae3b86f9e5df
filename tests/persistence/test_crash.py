"""Crash safety of the LMDB and PostgreSQL journals: a writer process is
killed with SIGKILL at random points, many times; every event it saw
acknowledged must be recovered, in order, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import os
import pathlib
import queue
import random
import signal
import subprocess
import sys
import threading
import time

from atomr.codecs import new_system_registry
from atomr.persistence import LmdbJournal

HERE = pathlib.Path(__file__).resolve().parent
WRITER = HERE / "_crash_writer.py"
KILLS = 40
LINE_DEADLINE = 30.0


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)  # end of output


def _start(path, seed: int) -> tuple[subprocess.Popen, queue.Queue]:
    env = dict(os.environ)
    root = str(HERE.parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    return proc, lines


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=LINE_DEADLINE)


def _drain(lines: queue.Queue) -> list[str]:
    """Every line the (dead) writer printed that was not read yet."""
    out = []
    while True:
        line = lines.get(timeout=LINE_DEADLINE)
        if line is None:
            return out
        out.append(line)


def test_acknowledged_events_survive_sigkill_at_random_points(tmp_path):
    path = tmp_path / "journal"
    acked = _kill_writers(path, KILLS)
    _check_recovered(LmdbJournal(path).replay_events("crash-writer"), acked)


def test_acknowledged_events_survive_sigkill_on_postgres(postgres_cluster):
    from atomr.persistence.postgres import PostgresJournal, migrate
    postgres_cluster.psql("CREATE DATABASE crash")
    dsn = postgres_cluster.dsn("crash")
    try:
        asyncio.run(migrate(dsn))
        acked = _kill_writers(dsn, KILLS)
        journal = PostgresJournal(dsn)
        try:
            _check_recovered(journal.replay_events("crash-writer"), acked)
        finally:
            journal.close()
    finally:
        postgres_cluster.psql("DROP DATABASE crash WITH (FORCE)")


def _kill_writers(path, kills: int) -> int:
    """Runs and kills `kills` writers on the journal at `path`; returns the
    highest sequence number any of them saw acknowledged."""
    rng = random.Random(0xA70B)
    acked = 0  # the highest sequence number any writer saw acknowledged
    recoveries = []
    for round_no in range(kills):
        proc, lines = _start(path, rng.randrange(1 << 30))
        early = round_no % 3 == 0  # a third of the kills land during start-up or recovery
        printed: list[str] = []
        try:
            if early:
                time.sleep(rng.uniform(0.0, 0.4))
            else:
                first = lines.get(timeout=LINE_DEADLINE)
                assert first is not None, proc.stderr.read()
                printed.append(first)
                # Kill after a random number of acknowledgements, at a random moment.
                target = rng.randint(0, 60)
                deadline = time.monotonic() + LINE_DEADLINE
                while len(printed) <= target and time.monotonic() < deadline:
                    line = lines.get(timeout=LINE_DEADLINE)
                    assert line is not None, proc.stderr.read()
                    printed.append(line)
                time.sleep(rng.uniform(0.0, 0.01))
        finally:
            _kill(proc)
        printed += _drain(lines)
        assert "recovery-failed" not in printed, proc.stderr.read()
        acks = [int(line) for line in printed if line.isdigit()]
        for line in printed:
            if line.startswith("recovered "):
                recovered = int(line.split()[1])
                # Everything acknowledged before this run was recovered.
                assert recovered >= acked, (round_no, recovered, acked)
                recoveries.append(recovered)
        # Acknowledgements only move forward, across runs too.
        assert acks == sorted(set(acks)), acks
        if acks:
            assert acks[0] > acked
            acked = acks[-1]

    assert len(recoveries) >= kills // 2
    assert acked > 0
    return acked


def _check_recovered(events: list, acked: int) -> None:
    numbers = [seq for seq, *_ in events]
    assert numbers == list(range(1, len(numbers) + 1)), "a gap or a duplicate"
    assert len(numbers) >= acked, f"acknowledged {acked}, recovered {len(numbers)}"
    codecs = new_system_registry()
    for seq, payload, manifest, _ in events:
        assert codecs.decode(manifest, payload) == {"seq": seq}
