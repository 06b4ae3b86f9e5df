"""A serial link between two OS processes over a pty pair: this process
holds the master, a child process (_serial_peer.py) opens the slave tty by
its path, and JSON messages make the round trip."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import subprocess
import sys

from atomr import ActorSystem
from atomr.remote_serial import RemoteSystem, SerialTransport, decode_json, encode_json

from _helpers import DEADLINE, wait_until
from ._common import recorder

HERE = pathlib.Path(__file__).resolve().parent
PEER = HERE / "_serial_peer.py"
#: Generous: a Python process starting on a loaded 2-core machine.
STARTUP_DEADLINE = 60.0


async def test_json_round_trips_with_a_child_process_over_a_pty():
    master, slave = os.openpty()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    # The slave stays open here until the child is gone: a pty master reads
    # EIO while no one holds its slave.
    proc = subprocess.Popen([sys.executable, str(PEER), os.ttyname(slave)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    system = await ActorSystem.create("parent")
    transport = None
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline),
            STARTUP_DEADLINE)
        assert line.strip() == b"ready", (line, proc.stderr.read() if proc.poll() else "")
        transport = SerialTransport("parent", master, peer="child")
        link = await RemoteSystem.start_serial(system, transport)
        link.register_bytes_codec("json")
        inbox, log = await recorder(system, "inbox")
        link.expose_actor(inbox, "json")
        await wait_until(lambda: link.connected, STARTUP_DEADLINE, "the child's handshake")
        assert link.peer_address == f"akka.serial://child@{os.ttyname(slave)[5:].replace('/', '.')}"
        echo = link.actor_selection("akka.serial://child@pty/user/echo", "json")
        assert echo is not None
        values = [{"n": i, "text": "ü" * (i % 7)} for i in range(300)]
        for value in values:
            echo.tell(encode_json(value))
        await wait_until(lambda: len(log) == len(values), message=f"{len(log)} answers")
        answers = [decode_json(m) for m in log]
        assert [a["echo"] for a in answers] == values
        assert {a["pid"] for a in answers} == {proc.pid}
        # The child shuts its link down when its stdin closes: its close
        # frame reaches this side, and the process exits cleanly.
        assert proc.stdin is not None
        proc.stdin.close()
        await wait_until(lambda: not link.connected, message="the child's close frame")
        rc = await asyncio.get_running_loop().run_in_executor(None, proc.wait, DEADLINE)
        assert rc == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(DEADLINE)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        await asyncio.wait_for(system.terminate(), DEADLINE)
        if transport is None:
            os.close(master)
        elif not transport.bound:
            transport.close()
        os.close(slave)
