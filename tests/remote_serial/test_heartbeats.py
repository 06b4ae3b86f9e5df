"""Heartbeats on a serial link: a quiet end sends heartbeats, and an end
that receives nothing at all for `idle_timeout` declares the link down (a
peer whose system hangs, or a line kept open but silent), while a quiet
but healthy link stays up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import tty
from typing import Iterator

import pytest

from atomr import ActorSystem
from atomr._native._core import STREAM_HEARTBEAT, _stream_handshake, _StreamDecoder
from atomr.remote_serial import RemoteSystem, SerialTransport

from _helpers import DEADLINE, wait_until
from ._common import TEXT, linked
from .test_two_processes import HERE, PEER, STARTUP_DEADLINE

# Short, so detection is quick; the deadlines below leave room for a loaded machine.
HEARTBEAT = 0.05
IDLE = 0.5


def test_heartbeat_settings_are_validated():
    t = SerialTransport("a", "/dev/ttyUSB0")
    assert (t.heartbeat_interval, t.idle_timeout) == (1.0, 10.0)
    t = SerialTransport("a", "/dev/ttyUSB0", heartbeat_interval=0.2, idle_timeout=1)
    assert (t.heartbeat_interval, t.idle_timeout) == (0.2, 1.0)
    for bad in ("1", None, True):
        with pytest.raises(TypeError, match="heartbeat_interval"):
            SerialTransport("a", "/dev/ttyUSB0", heartbeat_interval=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="idle_timeout"):
            SerialTransport("a", "/dev/ttyUSB0", idle_timeout=bad)  # type: ignore[arg-type]
    for bad_value in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="heartbeat_interval"):
            SerialTransport("a", "/dev/ttyUSB0", heartbeat_interval=bad_value)
        with pytest.raises(ValueError, match="idle_timeout"):
            SerialTransport("a", "/dev/ttyUSB0", idle_timeout=bad_value)
    with pytest.raises(ValueError, match="must exceed heartbeat_interval"):
        SerialTransport("a", "/dev/ttyUSB0", heartbeat_interval=2, idle_timeout=2)
    with pytest.raises(ValueError, match="must exceed heartbeat_interval"):
        SerialTransport.duplex_pair("a", "b", heartbeat_interval=5, idle_timeout=1)
    ta, tb = SerialTransport.duplex_pair("a", "b", heartbeat_interval=0.1, idle_timeout=0.3)
    try:
        assert ta.heartbeat_interval == tb.heartbeat_interval == 0.1
        assert ta.idle_timeout == tb.idle_timeout == 0.3
    finally:
        ta.close()
        tb.close()


@contextlib.contextmanager
def socket_line() -> Iterator[tuple[int, socket.socket]]:
    """``(fd for the transport, the other end)`` of a stream socket pair."""
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    right.setblocking(False)
    try:
        yield left.detach(), right
    finally:
        right.close()


@contextlib.contextmanager
def pty_line() -> Iterator[tuple[int, socket.socket]]:
    """``(pty master fd for the transport, the raw slave as a socket-like
    object with recv/sendall)``."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)

    class Slave:
        def recv(self, n: int) -> bytes:
            return os.read(slave, n)

        def sendall(self, data: bytes) -> None:
            os.write(slave, data)

    try:
        yield master, Slave()  # type: ignore[misc]
    finally:
        os.close(slave)


@pytest.mark.parametrize("line", [socket_line, pty_line], ids=["socket", "pty"])
async def test_a_peer_that_answers_once_then_stays_silent_is_detected(line, caplog):
    """The peer handshakes, then keeps its end open but never writes: this
    end sends heartbeats while it has nothing else to send, then declares
    the link down; later messages become dead letters."""
    caplog.set_level(logging.INFO, "atomr.remote_serial")
    a = await ActorSystem.create("a")
    try:
        with line() as (fd, peer):
            ta = SerialTransport("a", fd, peer="b", heartbeat_interval=HEARTBEAT,
                                 idle_timeout=IDLE)
            ra = await RemoteSystem.start_serial(a, ta)
            ra.register_bytes_codec(TEXT)
            peer.sendall(_stream_handshake("b", 42, "x", 0, True))
            await wait_until(lambda: ra.connected, message="the peer's handshake")
            # This end's heartbeats reach the silent peer.
            decoder = _StreamDecoder(65536)
            heartbeats: list = []

            def read_heartbeats() -> int:
                with contextlib.suppress(BlockingIOError):
                    heartbeats.extend(i for i in decoder.feed(peer.recv(65536))
                                      if i[0] == STREAM_HEARTBEAT)
                return len(heartbeats)

            await wait_until(lambda: read_heartbeats() >= 2, message="heartbeats")
            assert [h[1] for h in heartbeats[:2]] == [1, 2]
            await wait_until(lambda: not ra.connected and "nothing received" in caplog.text,
                             message="the silent peer detected")
            assert "lost: nothing received for" in caplog.text
            assert "idle_timeout 0.5 s" in caplog.text
            assert ra.stats()["heartbeats_sent"] >= 2
            dead: list = []
            a.subscribe_dead_letters(lambda m, s, r: dead.append(m))
            to_b = ra.actor_selection("akka.serial://b@x/user/inbox", TEXT)
            assert to_b is not None
            to_b.tell(b"too late")
            await wait_until(lambda: dead == [b"too late"])
    finally:
        await asyncio.wait_for(a.terminate(), DEADLINE)


def heartbeats_received(ra: RemoteSystem, rb: RemoteSystem) -> int:
    """Heartbeats received by both ends together. On a quiet link the end
    whose timer fires first sends one and the other only acknowledges it
    (its own timer then finds it sent something just now), so which end
    sends them depends on how the two timers happen to be spaced: a test
    may count them only in total."""
    return ra.stats()["heartbeats_received"] + rb.stats()["heartbeats_received"]


def heard_since(read: tuple[int, int], ra: RemoteSystem, rb: RemoteSystem) -> bool:
    """Both ends read bytes (heartbeats or their acknowledgements) since
    their ``bytes_read`` were `read`."""
    return ra.stats()["bytes_read"] > read[0] and rb.stats()["bytes_read"] > read[1]


@pytest.mark.parametrize("over", ["duplex", "pty"])
async def test_a_quiet_healthy_link_stays_up_well_past_the_idle_timeout(over, caplog):
    caplog.set_level(logging.INFO, "atomr.remote_serial")
    heartbeat, idle = 0.1, 1.0
    if over == "duplex":
        ta, tb = SerialTransport.duplex_pair("a", "b", heartbeat_interval=heartbeat,
                                             idle_timeout=idle)
        slave = None
    else:
        master, slave = os.openpty()
        ta = SerialTransport("a", master, peer="b", heartbeat_interval=heartbeat,
                             idle_timeout=idle)
        tb = SerialTransport("b", os.ttyname(slave), peer="a", heartbeat_interval=heartbeat,
                             idle_timeout=idle)
    try:
        async with linked(ta, tb) as (ra, rb, log_a, log_b):
            read = (ra.stats()["bytes_read"], rb.stats()["bytes_read"])
            start = time.monotonic()
            await wait_until(lambda: time.monotonic() - start > 4 * idle
                             and heartbeats_received(ra, rb) >= 5
                             and heard_since(read, ra, rb),
                             timeout=4 * idle + DEADLINE, message="heartbeats both ways")
            assert ra.connected and rb.connected
            assert "lost" not in caplog.text
            assert ra.stats()["heartbeats_sent"] + rb.stats()["heartbeats_sent"] >= 5
            to_b = ra.actor_selection(rb.local_address + "/user/inbox", TEXT)
            assert to_b is not None
            to_b.tell(b"still here")
            await wait_until(lambda: log_b == [b"still here"])
    finally:
        if slave is not None:
            os.close(slave)


async def test_a_stall_of_this_sides_own_loop_does_not_take_the_link_down(caplog):
    """Both ends share this test's loop: while it is blocked neither can read
    nor send, and the silence it measured then says nothing of the peer."""
    caplog.set_level(logging.INFO, "atomr.remote_serial")
    ta, tb = SerialTransport.duplex_pair("a", "b", heartbeat_interval=HEARTBEAT,
                                         idle_timeout=IDLE)
    async with linked(ta, tb) as (ra, rb, log_a, log_b):
        read = (ra.stats()["bytes_read"], rb.stats()["bytes_read"])
        await wait_until(lambda: heartbeats_received(ra, rb) >= 2 and heard_since(read, ra, rb))
        time.sleep(3 * IDLE)  # the stall under test, not a wait
        before = heartbeats_received(ra, rb)
        read = (ra.stats()["bytes_read"], rb.stats()["bytes_read"])
        await wait_until(lambda: heartbeats_received(ra, rb) >= before + 3
                         and heard_since(read, ra, rb), message="heartbeats after the stall")
        assert ra.connected and rb.connected
        assert "lost" not in caplog.text


async def test_a_peer_process_that_is_stopped_is_detected(caplog):
    """The child's system is frozen (SIGSTOP) with its tty open: this end
    hears nothing more and declares the link down."""
    caplog.set_level(logging.INFO, "atomr.remote_serial")
    master, slave = os.openpty()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
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
        transport = SerialTransport("parent", master, peer="child",
                                    heartbeat_interval=HEARTBEAT, idle_timeout=2.0)
        link = await RemoteSystem.start_serial(system, transport)
        await wait_until(lambda: link.connected, STARTUP_DEADLINE, "the child's handshake")
        # The child answers this end's heartbeats.
        await wait_until(lambda: link.stats()["bytes_read"] > 0
                         and link.stats()["heartbeats_sent"] >= 3, message=str(link.stats()))
        assert link.connected
        proc.send_signal(signal.SIGSTOP)
        await wait_until(lambda: not link.connected and "nothing received" in caplog.text,
                         message="the stopped child detected")
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
        with contextlib.suppress(Exception):
            proc.wait(DEADLINE)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        os.close(slave)
        await asyncio.wait_for(system.terminate(), DEADLINE)
