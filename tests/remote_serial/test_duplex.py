"""atomr.remote_serial between two systems of this process over an
in-memory duplex pair: delivery both ways, order, limits, selection,
binding and shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import pytest

import atomr
from atomr import ActorSystem, FrameTooLargeError
from atomr.remote_serial import (
    SERIAL_SCHEME,
    RemoteActorRef,
    RemoteSystem,
    SerialTransport,
    decode_json,
    encode_json,
)

from _helpers import DEADLINE, wait_until
from ._common import TEXT, linked, recorder


def test_remote_serial_is_an_attribute_of_the_package():
    assert "remote_serial" in atomr.__all__
    assert atomr.remote_serial.RemoteSystem is RemoteSystem
    assert RemoteSystem.__module__ == "atomr.remote_serial"


async def test_bytes_reach_the_exposed_actor_both_ways():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    async with linked(ta, tb) as (ra, rb, log_a, log_b):
        assert ra.local_address == f"{SERIAL_SCHEME}://a@duplex-a"
        assert ra.peer_address == f"{SERIAL_SCHEME}://b@duplex-b"
        assert rb.peer_uid == ra.uid and ra.peer_uid == rb.uid
        to_b = ra.actor_selection("akka.serial://b@duplex-b/user/inbox", TEXT)
        to_a = rb.actor_selection("akka.serial://a@duplex-a/user/inbox", TEXT)
        assert isinstance(to_b, RemoteActorRef) and to_a is not None
        assert to_b.path == "akka.serial://b@duplex-b/user/inbox"
        to_b.tell(b"hello b")
        to_a.tell(bytearray(b"hello a"))
        await wait_until(lambda: log_a and log_b)
        assert log_b == [b"hello b"] and type(log_b[0]) is bytes
        assert log_a == [b"hello a"]


async def test_many_messages_arrive_in_order_through_a_small_buffer():
    # 8 KiB of kernel buffer: the writer must queue and resume on writable.
    ta, tb = SerialTransport.duplex_pair("a", "b", buffer=4096, max_frame=4096)
    async with linked(ta, tb) as (ra, rb, _, log_b):
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        payloads = [f"{i:05d}".encode() * 20 for i in range(3000)]
        for p in payloads:
            to_b.tell(p)
        await wait_until(lambda: len(log_b) == len(payloads), message=f"{len(log_b)} arrived")
        assert log_b == payloads
        assert ra.stats()["envelopes_sent"] == 3000
        assert rb.stats()["envelopes_received"] == 3000
        assert rb.stats()["decode_errors"] == 0


async def test_tells_from_another_thread_arrive_in_order():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    async with linked(ta, tb) as (ra, _, _, log_b):
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        worker = threading.Thread(target=lambda: [to_b.tell(b"%d" % i) for i in range(500)])
        worker.start()
        await asyncio.get_running_loop().run_in_executor(None, worker.join)
        await wait_until(lambda: len(log_b) == 500)
        assert log_b == [b"%d" % i for i in range(500)]


async def test_the_maximum_frame_size_is_enforced_at_the_call_site():
    ta, tb = SerialTransport.duplex_pair("a", "b", max_frame=2048)
    async with linked(ta, tb) as (ra, _, _, log_b):
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        with pytest.raises(FrameTooLargeError):
            to_b.tell(b"x" * 2048)
        with pytest.raises(ValueError):  # FrameTooLargeError is a ValueError
            to_b.tell(b"x" * 100_000)
        to_b.tell(b"x" * 1900)  # fits (with the envelope's own bytes)
        await wait_until(lambda: log_b)
        assert log_b == [b"x" * 1900]


async def test_a_frame_over_the_receivers_limit_is_refused_and_the_link_recovers(caplog):
    a_end, b_end = SerialTransport.duplex_pair("a", "b", max_frame=1024)
    big_fd = os.dup(a_end.device)  # type: ignore[arg-type]
    a_end.close()
    # The sender allows 64 KiB, the receiver 1 KiB.
    ta = SerialTransport("a", big_fd, max_frame_size=65536, peer="b")
    caplog.set_level(logging.WARNING, "atomr.remote_serial")
    async with linked(ta, b_end) as (ra, rb, _, log_b):
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        to_b.tell(b"y" * 5000)
        await wait_until(lambda: rb.stats()["decode_errors"] == 1)
        assert "exceeds the maximum frame size of 1024" in caplog.text
        # b re-handshook; once a has answered, b hears a again.
        await wait_until(lambda: rb.stats()["handshakes_received"] >= 2)
        to_b.tell(b"after")
        await wait_until(lambda: log_b)
        assert log_b == [b"after"]


async def test_expose_actor_delivers_only_its_manifests_and_paths():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    async with linked(ta, tb) as (ra, rb, _, log_b):
        ra.register_bytes_codec("other")
        rb.register_bytes_codec("other")
        dead: list = []
        rb.system.subscribe_dead_letters(lambda m, s, r: dead.append((m, r)))
        wrong_manifest = ra.actor_selection("akka://b/user/inbox", "other")
        nobody = ra.actor_selection("akka://b/user/nobody", TEXT)
        assert wrong_manifest is not None and nobody is not None
        wrong_manifest.tell(b"1")
        nobody.tell(b"2")
        await wait_until(lambda: len(dead) == 2, message=str(dead))
        assert sorted(dead) == [(b"1", "akka://b/user/inbox"), (b"2", "akka://b/user/nobody")]
        assert log_b == []
        # Exposing a second manifest for the same actor keeps the first.
        inbox = rb.system.top_level("inbox")
        assert inbox is not None
        rb.expose_actor(inbox, "other")
        wrong_manifest.tell(b"3")
        ra.actor_selection("akka://b/user/inbox", TEXT).tell(b"4")  # type: ignore[union-attr]
        await wait_until(lambda: len(log_b) == 2)
        assert log_b == [b"3", b"4"]


async def test_actor_selection_answers_none_for_a_system_that_is_not_the_peer():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    async with linked(ta, tb) as (ra, _, _, _):
        assert ra.actor_selection("akka.serial://c@duplex-b/user/inbox", TEXT) is None
        assert ra.actor_selection("akka.serial://a@duplex-a/user/inbox", TEXT) is None
        assert ra.actor_selection("akka://b/user/inbox", TEXT) is not None


async def test_bad_arguments_fail_at_the_call_site():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    async with linked(ta, tb) as (ra, _, _, _):
        with pytest.raises(ValueError, match="not registered"):
            ra.actor_selection("akka://b/user/inbox", "unknown")
        with pytest.raises(ValueError, match="no address|not an actor path"):
            ra.actor_selection("/user/inbox", TEXT)
        with pytest.raises(ValueError):
            ra.actor_selection("akka://b", TEXT)
        with pytest.raises(TypeError):
            ra.actor_selection(42, TEXT)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ra.register_bytes_codec(b"m")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            ra.register_bytes_codec("")
        with pytest.raises(TypeError):
            ra.expose_actor("inbox", TEXT)  # type: ignore[arg-type]
        ref = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert ref is not None
        for bad in ("text", {"a": 1}, 7, None):
            with pytest.raises(TypeError, match="carries bytes"):
                ref.tell(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SerialTransport("a", 3.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SerialTransport("a", "/dev/ttyUSB0", baud=12345)
    with pytest.raises(ValueError):
        SerialTransport("a", "/dev/ttyUSB0", max_frame_size=100)
    with pytest.raises(ValueError):
        SerialTransport("a/b", "/dev/ttyUSB0")
    with pytest.raises(ValueError):
        SerialTransport("", "/dev/ttyUSB0")
    with pytest.raises(ValueError):
        SerialTransport.duplex_pair("a", "a")
    with pytest.raises(ValueError):
        SerialTransport.duplex_pair("a", "b", buffer=0)
    with pytest.raises(ValueError):
        SerialTransport.duplex_pair("a", "b", max_frame=1 << 31)
    with pytest.raises(TypeError):
        RemoteSystem()


async def test_a_transport_binds_once():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    a = await ActorSystem.create("a")
    other = await ActorSystem.create("b")
    try:
        with pytest.raises(ValueError, match="is for system 'b'"):
            RemoteSystem.start_serial(a, tb)
        with pytest.raises(TypeError):
            RemoteSystem.start_serial("a", ta)  # type: ignore[arg-type]
        ra = await RemoteSystem.start_serial(a, ta)
        assert ta.bound
        with pytest.raises(RuntimeError, match="binds once"):
            RemoteSystem.start_serial(a, ta)
        await ra.shutdown()
        with pytest.raises(RuntimeError, match="binds once"):
            RemoteSystem.start_serial(a, ta)
    finally:
        tb.close()
        await asyncio.wait_for(a.terminate(), DEADLINE)
        await asyncio.wait_for(other.terminate(), DEADLINE)


async def test_messages_told_before_the_peer_starts_wait_for_its_handshake():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    a = await ActorSystem.create("a")
    b = await ActorSystem.create("b")
    try:
        ra = await RemoteSystem.start_serial(a, ta)
        ra.register_bytes_codec(TEXT)
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None and not ra.connected
        for i in range(10):
            to_b.tell(b"early %d" % i)
        rb = await RemoteSystem.start_serial(b, tb)
        rb.register_bytes_codec(TEXT)
        inbox, log = await recorder(b, "inbox")
        rb.expose_actor(inbox, TEXT)
        await wait_until(lambda: len(log) == 10)
        assert log == [b"early %d" % i for i in range(10)]
    finally:
        await asyncio.wait_for(a.terminate(), DEADLINE)
        await asyncio.wait_for(b.terminate(), DEADLINE)


async def test_a_full_outbound_buffer_turns_messages_into_dead_letters(caplog):
    left, right = SerialTransport.duplex_pair("a", "b")
    fd = os.dup(left.device)  # type: ignore[arg-type]
    left.close()
    ta = SerialTransport("a", fd, max_frame_size=4096, outbound_buffer_size=4096, peer="b")
    a = await ActorSystem.create("a")
    try:
        ra = await RemoteSystem.start_serial(a, ta)
        ra.register_bytes_codec(TEXT)
        dead: list = []
        a.subscribe_dead_letters(lambda m, s, r: dead.append((m, r)))
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        caplog.set_level(logging.WARNING, "atomr.remote_serial")
        for _ in range(10):  # b never answers: they wait, up to 4 KiB
            to_b.tell(b"z" * 1000)
        await wait_until(lambda: len(dead) >= 7)
        assert 0 < ra.outbound_buffered <= 4096
        assert "outbound buffer full" in caplog.text
        assert ra.stats()["envelopes_dropped"] == len(dead)
    finally:
        right.close()
        await asyncio.wait_for(a.terminate(), DEADLINE)


async def test_shutdown_closes_the_link_and_tells_the_peer():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    async with linked(ta, tb) as (ra, rb, _, log_b):
        to_b = ra.actor_selection("akka://b/user/inbox", TEXT)
        assert to_b is not None
        for i in range(200):
            to_b.tell(b"%d" % i)
        await ra.shutdown()
        await ra.shutdown()  # idempotent
        assert not ra.connected
        await wait_until(lambda: not rb.connected, message="b saw the close frame")
        await wait_until(lambda: len(log_b) == 200)
        dead: list = []
        ra.system.subscribe_dead_letters(lambda m, s, r: dead.append((m, r)))
        to_b.tell(b"after shutdown")
        await wait_until(lambda: dead)
        assert dead == [(b"after shutdown", "akka://b/user/inbox")]


def test_shutdown_blocking_from_another_thread(wait_until_blocking):
    ta, tb = SerialTransport.duplex_pair("a", "b")
    a = ActorSystem.create_blocking("a")
    b = ActorSystem.create_blocking("b")
    try:
        ra = asyncio.run(_start(a, ta))
        rb = asyncio.run(_start(b, tb))
        wait_until_blocking(lambda: ra.connected and rb.connected)
        ra.shutdown_blocking(DEADLINE)
        ra.shutdown_blocking(DEADLINE)
        wait_until_blocking(lambda: not rb.connected)
        asyncio.run(_wait(rb.shutdown()))  # awaited on a loop of this thread
        with pytest.raises(OSError):
            os.fstat(tb.device)  # type: ignore[arg-type]  # the link closed its descriptor
    finally:
        a.terminate_blocking(DEADLINE)
        b.terminate_blocking(DEADLINE)


async def _start(system: ActorSystem, transport: SerialTransport) -> RemoteSystem:
    return await RemoteSystem.start_serial(system, transport)


async def _wait(awaitable):
    return await awaitable


async def test_terminating_the_system_closes_its_link():
    ta, tb = SerialTransport.duplex_pair("a", "b")
    async with linked(ta, tb) as (ra, rb, _, _):
        await asyncio.wait_for(ra.system.terminate(), DEADLINE)
        await wait_until(lambda: not rb.connected)
        await asyncio.wait_for(ra.shutdown(), DEADLINE)  # already closed: resolves at once


def test_json_helpers_round_trip_and_reject_bad_input():
    value = {"id": 7, "name": "probe ü", "xs": [1.5, None, True]}
    blob = encode_json(value)
    assert isinstance(blob, bytes)
    assert decode_json(blob) == value
    assert decode_json(bytearray(blob)) == value
    assert decode_json(memoryview(blob)) == value
    with pytest.raises(TypeError):
        encode_json(object())
    with pytest.raises(ValueError):
        encode_json(float("nan"))
    with pytest.raises(TypeError):
        decode_json("{}")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        decode_json(b"{not json")
    with pytest.raises(ValueError):
        decode_json(b"\xff\xfe")
