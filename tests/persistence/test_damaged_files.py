"""Damaged LMDB files (a journal, a ddata store) give a clean error, never a signal.

Each damaged copy is opened and read in a subprocess (``_damaged_open.py``),
so a SIGBUS or SIGSEGV shows as the child's death instead of the test run's.
"""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import subprocess
import sys

import pytest

from atomr.ddata.lmdb import LmdbDurableStore
from atomr.persistence import LmdbJournal

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _damaged_open import payload  # noqa: E402

HERE = pathlib.Path(__file__).parent
SCRIPT = HERE / "_damaged_open.py"
PAGE = 4096
EVENTS = 300


def _make_journal(path: pathlib.Path) -> pathlib.Path:
    journal = LmdbJournal(path, map_size=1 << 20)
    for seq in range(1, EVENTS + 1):
        journal.write("damaged", seq, payload(seq))
    del journal
    return path / "data.mdb"


def _make_store(path: pathlib.Path) -> pathlib.Path:
    with LmdbDurableStore(path, map_size=1 << 20) as store:
        for i in range(EVENTS):
            store.persist(f"key-{i}", os.urandom(5000 if i % 50 == 0 else 100))
    return path


def _damages(size: int, rng: random.Random):
    """(name, function(bytes) -> bytes) pairs damaging a file of `size` bytes."""
    pages = size // PAGE
    for cut in (0, 1, 100, PAGE - 1, PAGE, PAGE + 200, 2 * PAGE, 3 * PAGE + 7, size // 2,
                size - PAGE, size - 1):
        yield f"truncated-to-{cut}", lambda b, cut=cut: b[:cut]
    for _ in range(12):
        page = rng.randrange(pages)
        garbage = rng.randbytes(PAGE)
        yield f"garbage-page-{page}", (
            lambda b, page=page, g=garbage: b[:page * PAGE] + g + b[(page + 1) * PAGE:])
    for _ in range(6):
        at = rng.randrange(2 * PAGE, size - 8)
        yield f"garbage-8-bytes-at-{at}", (
            lambda b, at=at: b[:at] + rng.randbytes(8) + b[at + 8:])
    for _ in range(40):
        at = rng.randrange(2 * PAGE, size)
        bit = 1 << rng.randrange(8)
        yield f"bit-flip-at-{at}", (
            lambda b, at=at, bit=bit: b[:at] + bytes([b[at] ^ bit]) + b[at + 1:])
    yield "empty", lambda b: b""


def _open_damaged(kind: str, target: pathlib.Path) -> str:
    env = dict(os.environ)
    root = str(SCRIPT.parent.parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(SCRIPT), kind, str(target)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    line = proc.stdout.strip()
    assert line.startswith(("ok ", "error ")), (line, proc.stderr)
    if kind == "journal" and line.startswith("ok "):
        assert line == f"ok {EVENTS}", line
    return line


@pytest.mark.parametrize("kind", ["journal", "ddata"])
def test_damaged_lmdb_files_give_an_error_not_a_signal(tmp_path, kind):
    original = tmp_path / "original"
    data = _make_journal(original) if kind == "journal" else _make_store(original)
    pristine = data.read_bytes()
    rng = random.Random(0xDA7A)
    errors = []
    for n, (name, damage) in enumerate(_damages(len(pristine), rng)):
        copy = tmp_path / f"copy-{n}"
        if kind == "journal":
            copy.mkdir()
            (copy / "data.mdb").write_bytes(damage(pristine))
            target = copy
        else:
            copy.write_bytes(damage(pristine))
            target = copy
        line = _open_damaged(kind, target)
        if line.startswith("error "):
            errors.append(name)
        if name.startswith("truncated") or name == "empty":
            # Lost pages are always noticed.
            assert line.startswith("error "), (name, line)
        if kind == "journal":
            shutil.rmtree(copy)
        else:
            copy.unlink()
    assert errors
