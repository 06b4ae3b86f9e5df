"""The native framing of atomr.remote_serial: the C++ stream decoder and
encoders as the link uses them (atomr._native._core)."""

from __future__ import annotations

import os

import pytest

from atomr import FrameTooLargeError, MalformedFrameError
from atomr._native._core import (
    STREAM_CLOSE,
    STREAM_ENVELOPE,
    STREAM_ERROR,
    STREAM_HANDSHAKE,
    STREAM_HANDSHAKE_ACK,
    STREAM_HEARTBEAT,
    STREAM_HEARTBEAT_ACK,
    _EnvelopeEncoder,
    _stream_close,
    _stream_envelope,
    _stream_handshake,
    _stream_heartbeat,
    _StreamDecoder,
)


def test_the_envelope_encoder_writes_the_same_frames_as_the_cpp_encoder():
    enc = _EnvelopeEncoder("akka.serial://b@ttyUSB0/user/x", "json", 4096)
    for payload in (b"", b"x", os.urandom(3000)):
        assert enc.encode(payload) == _stream_envelope(
            "akka.serial://b@ttyUSB0/user/x", "json", payload, None, None, 4096)
    with pytest.raises(FrameTooLargeError):
        enc.encode(b"y" * 4096)
    with pytest.raises(TypeError):
        enc.encode("text")  # type: ignore[arg-type]
    assert enc.encode(b"ok") == _stream_envelope("akka.serial://b@ttyUSB0/user/x", "json",
                                                 b"ok", max_frame_size=4096)


def test_the_decoder_hunts_decodes_in_pieces_and_reports_errors():
    d = _StreamDecoder(4096)
    assert d.hunting and d.max_frame_size == 4096
    stream = (b"noise" + _stream_handshake("a", 7, "ttyUSB0") +
              _stream_envelope("/user/p", "m1", b"1") + _stream_envelope("/user/q", "m2", b"2") +
              _stream_envelope("/user/p", "m1", b"3") + _stream_heartbeat(5) +
              _stream_heartbeat(6, True) + _stream_handshake("a", 7, "ttyUSB0", ack=True) +
              _stream_close("shutdown", "bye"))
    items = []
    for i in range(len(stream)):
        items += d.feed(stream[i:i + 1])
    assert items == [
        (STREAM_HANDSHAKE, "a", 7, "ttyUSB0", 0, 1),
        (STREAM_ENVELOPE, "/user/p", None, "m1", b"1", None),
        (STREAM_ENVELOPE, "/user/q", None, "m2", b"2", None),
        (STREAM_ENVELOPE, "/user/p", None, "m1", b"3", None),
        (STREAM_HEARTBEAT, 5),
        (STREAM_HEARTBEAT_ACK, 6),
        (STREAM_HANDSHAKE_ACK, "a", 7, "ttyUSB0", 0, 1),
        (STREAM_CLOSE, "shutdown", "bye"),
    ]
    assert d.bytes_discarded == len(b"noise") and d.buffered == 0
    bad = bytearray(_stream_envelope("/user/p", "m1", b"4"))
    bad[5] = 42  # unknown kind
    out = d.feed(bytes(bad) + _stream_envelope("/user/p", "m1", b"lost"))
    assert [x[0] for x in out] == [STREAM_ERROR]
    assert out[0][2] == "malformed_frame" and "unknown frame kind 42" in out[0][1]
    assert d.hunting
    out = d.feed(_stream_handshake("a", 8, "ttyUSB0", ack=True) +
                 _stream_envelope("/user/p", "m1", b"5"))
    assert [x[0] for x in out] == [STREAM_HANDSHAKE_ACK, STREAM_ENVELOPE]
    assert not d.hunting
    d.feed(_stream_envelope("/user/p", "m1", b"partial")[:9])
    assert d.buffered == 9
    d.resync()
    assert d.hunting and d.buffered == 0


def test_bad_arguments_of_the_native_framing():
    with pytest.raises(ValueError):
        _StreamDecoder(10)
    with pytest.raises(ValueError):
        _stream_close("no such reason")
    with pytest.raises(ValueError):
        _stream_handshake("a", 1, "h", port=70000)
    with pytest.raises(MalformedFrameError, match="1 to 255 bytes"):
        _stream_handshake("a" * 256, 1, "h")
    with pytest.raises(TypeError):
        _StreamDecoder(4096).feed("text")  # type: ignore[arg-type]
