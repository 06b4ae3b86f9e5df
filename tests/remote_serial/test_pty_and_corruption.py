"""atomr.remote_serial over real ttys (pty pairs) and over a stream that
corrupts, loses and injects bytes: the link refuses bad frames, logs them,
resynchronises on the next handshake and keeps the process up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import termios
from typing import Callable, Iterator, Optional

import pytest

from atomr import ActorSystem
from atomr.remote_serial import RemoteSystem, SerialTransport

from _helpers import DEADLINE, wait_until
from ._common import TEXT, linked, recorder


@contextlib.contextmanager
def pty_pair() -> Iterator[tuple[int, str, int]]:
    """``(master fd, slave path, slave fd)``; the slave fd is closed on
    exit (the master belongs to the transport that takes it)."""
    master, slave = os.openpty()
    try:
        yield master, os.ttyname(slave), slave
    finally:
        os.close(slave)


async def test_two_systems_talk_over_a_pty_pair():
    with pty_pair() as (master, slave_path, _):
        ta = SerialTransport("a", master, peer="b")
        tb = SerialTransport("b", slave_path, baud=921600, peer="a")
        async with linked(ta, tb) as (ra, rb, log_a, log_b):
            label = slave_path[len("/dev/"):].replace("/", ".")  # pts.N
            assert tb.label == label
            assert rb.local_address == f"akka.serial://b@{label}"
            assert ra.peer_address == f"akka.serial://b@{label}"
            # The slave end was put in raw mode at the baud rate asked for.
            attrs = termios.tcgetattr(rb.transport._fd)  # type: ignore[arg-type]
            assert attrs[4] == termios.B921600
            assert not attrs[3] & (termios.ICANON | termios.ECHO)
            to_b = ra.actor_selection(f"akka.serial://b@{label}/user/inbox", TEXT)
            to_a = rb.actor_selection("akka.serial://a@pty/user/inbox", TEXT)
            assert to_b is not None and to_a is not None
            # Every byte value crosses unchanged (no line discipline at work),
            # and more than a pty's buffer is in flight at once.
            payloads = [bytes(range(256)) * 4 + b"%d" % i for i in range(200)]
            for p in payloads:
                to_b.tell(p)
                to_a.tell(p[::-1])
            await wait_until(lambda: len(log_b) == 200 and len(log_a) == 200,
                             message=f"{len(log_a)}, {len(log_b)}")
            assert log_b == payloads
            assert log_a == [p[::-1] for p in payloads]
            assert ra.stats()["decode_errors"] == rb.stats()["decode_errors"] == 0


async def test_garbage_written_into_a_pty_line_is_skipped(caplog):
    caplog.set_level(logging.WARNING, "atomr.remote_serial")
    with pty_pair() as (master, slave_path, _):
        ta = SerialTransport("a", master, peer="b")
        tb = SerialTransport("b", slave_path, peer="a")
        async with linked(ta, tb) as (ra, rb, log_a, _):
            to_a = rb.actor_selection("akka://a/user/inbox", TEXT)
            assert to_a is not None
            noise = os.open(slave_path, os.O_WRONLY | os.O_NOCTTY)
            try:
                errors = 0
                for round_ in range(5):
                    before = ra.stats()["handshakes_received"]
                    os.write(noise, b"\x07\x00\x00\x00\x09\x03noise" + os.urandom(64))
                    await wait_until(lambda: ra.stats()["decode_errors"] > errors)
                    errors = ra.stats()["decode_errors"]
                    # a asked b for a handshake; its answer resynchronises a.
                    await wait_until(lambda: ra.stats()["handshakes_received"] > before)
                    assert not ra.resynchronising
                    to_a.tell(b"after %d" % round_)
                    await wait_until(lambda: log_a and log_a[-1] == b"after %d" % round_)
            finally:
                os.close(noise)
            assert log_a == [b"after %d" % i for i in range(5)]
            assert "unsupported wire format version 9" in caplog.text


class Relay:
    """Moves bytes between two socket pairs on the running loop, passing
    each chunk from a to b through `mangle` (which may change it)."""

    def __init__(self) -> None:
        self.a_end, self._a = socket.socketpair()
        self.b_end, self._b = socket.socketpair()
        for s in (self._a, self._b):
            s.setblocking(False)
        self.mangle: Optional[Callable[[bytes], bytes]] = None
        self.from_a = 0  # bytes read from a
        self.to_b = 0  # bytes written towards b (injections included)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._a.fileno(), self._pump, self._a, self._b, True)
        self._loop.add_reader(self._b.fileno(), self._pump, self._b, self._a, False)

    def _pump(self, src: socket.socket, dst: socket.socket, a_to_b: bool) -> None:
        try:
            data = src.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self.close()
            return
        if a_to_b:
            self.from_a += len(data)
            if self.mangle is not None:
                data = self.mangle(data)
            self.to_b += len(data)
        dst.setblocking(True)  # test traffic is small; keep it simple and lossless
        try:
            dst.sendall(data)
        finally:
            dst.setblocking(False)

    def inject(self, data: bytes) -> None:
        """Writes `data` into the stream towards b."""
        self.to_b += len(data)
        self._b.setblocking(True)
        try:
            self._b.sendall(data)
        finally:
            self._b.setblocking(False)

    def close(self) -> None:
        for s in (self._a, self._b):
            with contextlib.suppress(Exception):
                self._loop.remove_reader(s.fileno())
            s.close()


@contextlib.asynccontextmanager
async def relayed():
    relay = Relay()
    ta = SerialTransport("a", relay.a_end.detach(), max_frame_size=4096, peer="b")
    tb = SerialTransport("b", relay.b_end.detach(), max_frame_size=4096, peer="a")
    try:
        async with linked(ta, tb) as links:
            yield relay, links
    finally:
        relay.close()


async def test_a_corrupted_frame_is_logged_and_the_link_resynchronises(caplog):
    caplog.set_level(logging.WARNING, "atomr.remote_serial")
    async with relayed() as (relay, (ra, rb, _, log_b)):
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        to_b.tell(b"first")
        await wait_until(lambda: log_b == [b"first"])

        def bad_version(chunk: bytes) -> bytes:
            relay.mangle = None
            return chunk[:4] + b"\x63" + chunk[5:]

        before = rb.stats()["handshakes_received"]
        relay.mangle = bad_version
        to_b.tell(b"corrupted")
        await wait_until(lambda: rb.stats()["decode_errors"] == 1)
        await wait_until(lambda: rb.stats()["handshakes_received"] > before)
        to_b.tell(b"second")
        await wait_until(lambda: log_b[-1:] == [b"second"])
        assert log_b == [b"first", b"second"]
        assert "serial link duplex" not in caplog.text  # relayed: labels are fdN
        assert "unsupported wire format version 99" in caplog.text
        assert "dropping bytes until the peer's next handshake" in caplog.text


async def test_random_corruption_never_crashes_and_the_link_recovers():
    rng = random.Random(20261207)
    async with relayed() as (relay, (ra, rb, _, log_b)):
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None

        def mangle(chunk: bytes) -> bytes:
            data = bytearray(chunk)
            for _ in range(rng.randint(1, 3)):
                action = rng.randrange(3)
                at = rng.randrange(len(data)) if data else 0
                if action == 0 and data:
                    data[at] = rng.randrange(256)
                elif action == 1 and data:
                    del data[at:at + rng.randint(1, 8)]
                else:
                    data[at:at] = os.urandom(rng.randint(1, 16))
            return bytes(data)

        relay.mangle = mangle
        for i in range(300):  # a storm of damaged traffic and garbage
            to_b.tell(b"storm %d " % i + os.urandom(rng.randrange(200)))
            if i % 10 == 0:
                relay.inject(os.urandom(rng.randint(1, 300)))
            if i % 50 == 0:
                await asyncio.sleep(0)
        await wait_until(lambda: rb.stats()["decode_errors"] > 0)
        relay.mangle = None
        # Every damaged byte has reached b once a's writes have all passed
        # the relay and b has read all the relay sent; b then ends its hunt
        # with a's answer to its repeated handshakes.
        await wait_until(lambda: relay.from_a == ra.stats()["bytes_written"]
                         and rb.stats()["bytes_read"] == relay.to_b)
        await wait_until(lambda: not rb.resynchronising)
        count = len(log_b)
        for i in range(20):
            to_b.tell(b"calm %d" % i)
        await wait_until(lambda: len(log_b) == count + 20)
        assert log_b[count:] == [b"calm %d" % i for i in range(20)]
        # Whatever got through the storm was a whole, valid payload.
        assert all(m.startswith(b"storm ") for m in log_b[:count])


async def test_a_handshake_from_an_unexpected_system_is_refused(caplog):
    caplog.set_level(logging.INFO, "atomr.remote_serial")
    left, right = socket.socketpair()
    tb = SerialTransport("b", left.detach(), peer="a")
    tc = SerialTransport("c", right.detach())
    b = await ActorSystem.create("b")
    c = await ActorSystem.create("c")
    try:
        rb = await RemoteSystem.start_serial(b, tb)
        rc = await RemoteSystem.start_serial(c, tc)
        await wait_until(lambda: "system 'c' where 'a' was expected" in caplog.text)
        await wait_until(lambda: "closed the link (handshake_refused" in caplog.text)
        assert not rb.connected
        rb.register_bytes_codec(TEXT)
        assert rb.actor_selection("akka://c/user/x", TEXT) is None
        assert not rc.connected  # c heard b's refusal after b's own handshake
    finally:
        await asyncio.wait_for(b.terminate(), DEADLINE)
        await asyncio.wait_for(c.terminate(), DEADLINE)


async def test_a_peer_that_goes_away_turns_messages_into_dead_letters(caplog):
    caplog.set_level(logging.WARNING, "atomr.remote_serial")
    ta, tb = SerialTransport.duplex_pair("a", "b")
    a = await ActorSystem.create("a")
    try:
        ra = await RemoteSystem.start_serial(a, ta)
        ra.register_bytes_codec(TEXT)
        tb.close()  # the other end vanishes (a USB cable pulled)
        await wait_until(lambda: "duplex-a lost: " in caplog.text)  # EOF or reset
        dead: list = []
        a.subscribe_dead_letters(lambda m, s, r: dead.append(m))
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        to_b.tell(b"nobody listens")
        await wait_until(lambda: dead == [b"nobody listens"])
    finally:
        await asyncio.wait_for(a.terminate(), DEADLINE)


def test_list_devices_returns_path_and_description_pairs():
    devices = SerialTransport.list_devices()
    assert isinstance(devices, list)
    for entry in devices:
        assert isinstance(entry, tuple) and len(entry) == 2
        assert all(isinstance(x, str) and x for x in entry)
        assert entry[0].startswith("/dev/")


def test_list_devices_reads_sysfs(tmp_path):
    from atomr.remote_serial._devices import _list_devices

    sys_class, dev, devices = tmp_path / "class", tmp_path / "dev", tmp_path / "devices"
    for d in (sys_class, dev):
        d.mkdir()
    # A USB adapter: tty -> interface -> usb device with product/manufacturer.
    usb = devices / "usb1" / "1-1"
    iface = usb / "1-1:1.0"
    iface.mkdir(parents=True)
    (usb / "product").write_text("FT232R USB UART\n")
    (usb / "manufacturer").write_text("FTDI\n")
    # A UART placeholder on the platform bus, and a virtual tty.
    platform = devices / "platform" / "serial8250"
    platform.mkdir(parents=True)
    (devices / "bus" / "platform").mkdir(parents=True)
    (platform / "subsystem").symlink_to(devices / "bus" / "platform")
    for name, target in (("ttyUSB0", iface), ("ttyS3", platform), ("tty1", None),
                         ("ttyACM0", None)):
        (sys_class / name).mkdir()
        (dev / name).write_text("")
        if target is not None:
            (sys_class / name / "device").symlink_to(target)
    assert _list_devices(str(sys_class), str(dev)) == [
        (str(dev / "ttyUSB0"), "FTDI FT232R USB UART")]
    assert _list_devices(str(tmp_path / "missing"), str(dev)) == []


async def test_a_device_that_cannot_be_opened_fails_at_start():
    a = await ActorSystem.create("a")
    try:
        t = SerialTransport("a", "/nonexistent/ttyUSB9")
        with pytest.raises(FileNotFoundError):
            RemoteSystem.start_serial(a, t)
        assert not t.bound  # nothing was bound: it may be retried
    finally:
        await asyncio.wait_for(a.terminate(), DEADLINE)


async def test_frames_behind_a_refused_handshake_are_not_delivered():
    from atomr._native._core import _stream_envelope, _stream_handshake

    left, right = socket.socketpair()
    tb = SerialTransport("b", left.detach(), peer="a")
    b = await ActorSystem.create("b")
    try:
        rb = await RemoteSystem.start_serial(b, tb)
        rb.register_bytes_codec(TEXT)
        inbox, log = await recorder(b, "inbox")
        rb.expose_actor(inbox, TEXT)
        # An intruder's handshake and envelope arrive in one read.
        right.sendall(_stream_handshake("c", 5, "x") +
                      _stream_envelope("akka://b/user/inbox", TEXT, b"intruder"))
        await wait_until(lambda: rb.stats()["envelopes_dropped"] == 1)
        assert not rb.connected and log == []
        right.sendall(_stream_handshake("a", 6, "x") +
                      _stream_envelope("akka://b/user/inbox", TEXT, b"welcome"))
        await wait_until(lambda: log == [b"welcome"])
        assert rb.connected and rb.peer_uid == 6
    finally:
        right.close()
        await asyncio.wait_for(b.terminate(), DEADLINE)
