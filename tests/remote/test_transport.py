"""The native binding of the TCP transport (atomr._native._core._RemoteTransport):
settings validation, error classes at the call site, and what `drain`
hands to the loop thread."""

from __future__ import annotations

import select
import time

import pytest

from atomr import FrameTooLargeError, InvalidRemoteAddressError, RemoteTransportError
from atomr._native import _core

from _helpers import DEADLINE


def drain_until(transport, pred) -> list:
    """Drains `transport` (waiting on its fd) until `pred(items)` holds."""
    items: list = []
    end = time.monotonic() + DEADLINE
    while not pred(items):
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"condition not met within {DEADLINE}s; drained {items}")
        select.select([transport.fd], [], [], left)
        items += transport.drain()
    return items


@pytest.fixture
def pair():
    a = _core._RemoteTransport("a")
    b = _core._RemoteTransport("b")
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_an_envelope_arrives_with_its_fields(pair):
    a, b = pair
    assert a.port > 0 and a.address == f"127.0.0.1:{a.port}" and a.uid != b.uid
    assert a.send(b.address, "akka.tcp://b@x/user/inbox", "builtins.str", b"\x00payload",
                  sender="akka.tcp://a@y/user/me", correlation_id=7)
    items = drain_until(b, lambda items: any(i[0] == _core.REMOTE_ENVELOPE for i in items))
    envelope = next(i for i in items if i[0] == _core.REMOTE_ENVELOPE)
    assert envelope == (_core.REMOTE_ENVELOPE, a.address, a.uid, "akka.tcp://b@x/user/inbox",
                        "akka.tcp://a@y/user/me", "builtins.str", b"\x00payload", 7)
    assert (_core.REMOTE_EVENT, "associated", a.address, a.uid, "inbound", "a") in items


def test_stop_reports_what_was_still_queued_as_dropped():
    a = _core._RemoteTransport("a")
    a.start()
    # Port 1 on loopback refuses connections: the envelope waits in the queue.
    assert a.send("127.0.0.1:1", "akka.tcp://x@127.0.0.1:1/user/y", "m.M", b"data")
    a.stop()
    dropped = [i for i in a.drain() if i[0] == _core.REMOTE_DROPPED]
    assert dropped == [(_core.REMOTE_DROPPED, "127.0.0.1:1", "akka.tcp://x@127.0.0.1:1/user/y",
                        "m.M", b"data", "transport stopped")]


def test_errors_surface_as_the_remote_error_classes(pair):
    a, b = pair
    with pytest.raises(InvalidRemoteAddressError):
        a.send("not an address", "r", "m", b"")
    with pytest.raises(InvalidRemoteAddressError):
        a.send(a.address, "r", "m", b"")  # its own address
    with pytest.raises(FrameTooLargeError):
        a.send(b.address, "r", "m", b"x" * (4 << 20))
    idle = _core._RemoteTransport("idle")
    with pytest.raises(RemoteTransportError):
        idle.send(b.address, "r", "m", b"")
    with pytest.raises(RemoteTransportError):
        _core._RemoteTransport("again", port=a.port).start()


@pytest.mark.parametrize("kwargs, error", [
    ({"max_frame_size": 10}, ValueError),
    ({"outbound_queue_limit": 0}, ValueError),
    ({"heartbeat_interval": 0.0}, ValueError),
    ({"port": 70000}, ValueError),
    ({"host": "localhost"}, InvalidRemoteAddressError),
    ({"cookie": 5}, TypeError),
])
def test_bad_settings_are_refused_at_construction(kwargs, error):
    with pytest.raises(error):
        _core._RemoteTransport("a", **kwargs)


def test_start_twice_is_an_error(pair):
    a, _ = pair
    with pytest.raises(RuntimeError, match="already started"):
        a.start()
    a.stop()
    a.stop()  # idempotent
