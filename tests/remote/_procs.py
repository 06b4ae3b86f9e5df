"""Peer processes of the remoting tests, both halves.

The test side: :func:`launched` starts a script of this folder in a Python
process of its own, waits for the first line it prints (its readiness line,
mostly its address) and always ends the process on exit.

The peer side: :func:`run_peer` is the ``main`` of a peer script: one actor
system with remoting, the script's actors, the address printed as the first
line of stdout, and an end when stdin closes (the test ended or died), when
an actor sets ``done``, or when the lifetime passes.

Peer scripts run with this folder as ``sys.path[0]`` and import it as
``_procs``; it imports nothing from the test suite.
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
from typing import IO, Any, Callable, Iterator, Optional, Union

from atomr import ActorSystem, Config
from atomr.remote import Remote

HERE = pathlib.Path(__file__).resolve().parent
#: Generous: a Python process starting on a loaded 2-core machine.
STARTUP_DEADLINE = 60.0
#: How long a peer may take to end once told to.
STOP_DEADLINE = 60.0


class Peer:
    """A running peer process; its stdout lines (stripped) go to
    :attr:`lines` (``None`` last) unless `on_line` takes them."""

    def __init__(self, proc: subprocess.Popen,
                 on_line: Optional[Callable[[str], bool]] = None) -> None:
        self.proc = proc
        self.lines: queue.Queue = queue.Queue()
        self._on_line = on_line

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if self._on_line is None or not self._on_line(line):
                self.lines.put(line)
        self.lines.put(None)

    def next_line(self, timeout: float = STARTUP_DEADLINE) -> Optional[str]:
        """The next line not taken by `on_line`; None when stdout ended or
        nothing came within `timeout`."""
        try:
            line: Optional[str] = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        return line

    def command(self, line: str) -> None:
        """Writes `line` to the peer's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


@contextlib.contextmanager
def launched(script: Union[str, pathlib.Path], *args: Any,
             stderr: Union[int, IO[str], None] = subprocess.PIPE,
             on_line: Optional[Callable[[str], bool]] = None,
             kill_at_exit: bool = False,
             failure_detail: Optional[Callable[[], str]] = None) -> Iterator[tuple[Peer, str]]:
    """Starts `script` (a path, or a name in this folder) with `args` and
    this checkout first on ``PYTHONPATH``; yields the peer with its first
    stdout line.

    Raises AssertionError with the peer's stderr (`stderr` is
    ``subprocess.PIPE``) or ``failure_detail()`` when no line comes within
    :data:`STARTUP_DEADLINE`. On exit the process is always gone: killed
    (`kill_at_exit`) or told to end by its stdin closing and killed if it
    lingers; its reader thread is joined and its pipes closed.
    """
    path = pathlib.Path(script) if os.sep in str(script) else HERE / script
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(path), *map(str, args)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                            text=True, env=env)
    peer = Peer(proc, on_line)
    reader = threading.Thread(target=peer._read, daemon=True)
    reader.start()
    try:
        first = peer.next_line()
        if not first:
            proc.kill()
            err = proc.communicate(timeout=STOP_DEADLINE)[1] or ""
            if failure_detail is not None:
                err += failure_detail()
            raise AssertionError(f"{path.name} did not report it is ready; stderr:\n{err}")
        yield peer, first
    finally:
        if proc.poll() is None:
            if kill_at_exit:
                proc.kill()
            else:
                assert proc.stdin is not None
                with contextlib.suppress(OSError):
                    proc.stdin.close()
                try:
                    proc.wait(timeout=STOP_DEADLINE)
                except subprocess.TimeoutExpired:
                    proc.kill()
        proc.wait(timeout=STOP_DEADLINE)
        reader.join(timeout=STOP_DEADLINE)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def run_peer(name: str, remote: dict, actors: Callable[[ActorSystem, asyncio.Event], None], *,
             lifetime: float = 60.0, print_uid: bool = False) -> None:
    """Runs system `name` with the ``remote`` settings `remote` until stdin
    closes, ``done`` is set or `lifetime` (seconds) passes. ``actors(system,
    done)`` starts the script's actors; then the address (and with
    `print_uid` the transport's UID) is printed as the first line of stdout.
    """
    asyncio.run(_serve(name, remote, actors, lifetime, print_uid))


async def _serve(name: str, remote: dict, actors: Callable[[ActorSystem, asyncio.Event], None],
                 lifetime: float, print_uid: bool) -> None:
    system = await ActorSystem.create(name, Config.from_dict({"remote": remote}))
    extension = Remote.get(system)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    actors(system, done)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    if print_uid:
        print(system.address, extension.uid, flush=True)
    else:
        print(system.address, flush=True)
    try:
        await asyncio.wait_for(done.wait(), lifetime)
    finally:
        await asyncio.wait_for(system.terminate(), 10.0)
