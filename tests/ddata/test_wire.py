"""The versioned wire format of atomr.ddata: round trips of every type, a
stable header, and malformed blobs that raise MalformedDataError (a
ValueError) -- never a crash."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomr._native import _core
from atomr.ddata import (Flag, GCounter, GSet, LwwRegister, LWWMap, ORMap, ORMultiMap, ORSet,
                         PNCounter, PNCounterMap, ReplicatedData)
from atomr.errors import AtomrError, MalformedDataError


def samples() -> list[ReplicatedData]:
    """One populated value of every type (with removals, so contexts are non-trivial)."""
    g = GCounter()
    g.increment("A", 3)
    g.increment("B", 2 ** 40)
    pn = PNCounter()
    pn.increment("A", 7)
    pn.decrement("B", 9)
    gs = GSet(["x", 1, b"\x00raw", (1, 2)])
    os_ = ORSet(["x", "y", "z"], node="A")
    os_.remove("y")
    other = ORSet(["w"], node="B")
    os_.merge_delta(other.delta())
    reg = LwwRegister(b"\x00\xffbytes", node="writer", timestamp=-5)
    f = Flag(True)
    om = ORMap.of_pn_counter(node="A")
    om.update("alice", lambda c: c.increment("A", 4))
    om.update("bob", lambda c: c.decrement("A", 1))
    om.remove("bob")
    lm = LWWMap(node="A")
    lm.put("k", b"v", timestamp=12)
    pm = PNCounterMap(node="A")
    pm.increment("k", 3)
    pm.decrement("j", 1)
    mm = ORMultiMap(node="A")
    mm.add("k", "x")
    mm.add("k", "y")
    mm.remove("k", "x")
    nested = ORMap.of_lww_map(node="A")
    nested.put("outer", lm)
    out = [g, pn, gs, os_, reg, f, om, lm, pm, mm, nested]
    for v in out:
        v.reset_delta()
    return out


SAMPLES = samples()
IDS = [type(v).__name__ + (f"-{v.value_type()}" if isinstance(v, ORMap) else "") for v in SAMPLES]


@pytest.mark.parametrize("value", SAMPLES, ids=IDS)
def test_every_type_round_trips(value):
    blob = value.to_bytes()
    back = type(value).from_bytes(blob)
    assert back == value
    assert back.to_bytes() == blob
    assert ReplicatedData.from_bytes(blob) == value


@pytest.mark.parametrize("cls", [GCounter, PNCounter, GSet, ORSet, LwwRegister, Flag, LWWMap,
                                 PNCounterMap, ORMultiMap])
def test_empty_values_round_trip(cls):
    value = cls()
    assert cls.from_bytes(value.to_bytes()) == value


def test_the_header_carries_magic_version_and_type():
    blob = GCounter().to_bytes()
    assert blob[:4] == b"ACRD"
    assert struct.unpack(">H", blob[4:6])[0] == _core.DDATA_WIRE_VERSION == 1
    assert blob[6] == _core.DDATA_TAGS["GCounter"]
    assert _core.ddata_peek_type(blob) == _core.DDATA_TAGS["GCounter"]


def test_a_blob_of_another_type_is_rejected_by_a_typed_from_bytes():
    with pytest.raises(MalformedDataError, match="GSet, not a GCounter"):
        GCounter.from_bytes(GSet().to_bytes())


def test_a_pending_delta_is_not_serialized():
    c = GCounter()
    c.increment("A", 1)
    assert GCounter.from_bytes(c.to_bytes()).delta() is None


@pytest.mark.parametrize("blob,match", [
    (b"", "shorter than the header"),
    (b"ACR", "shorter than the header"),
    (b"XXXX\x00\x01\x01\x01" + b"\x00" * 8, "bad magic"),
    (b"ACRD\x00\x09\x01\x01" + b"\x00" * 8, "unsupported format version 9"),
    (b"ACRD\x00\x01\x63\x01" + b"\x00" * 8, "unknown type tag 99"),
    (b"ACRD\x00\x01\x01\x07" + b"\x00" * 8, "byte-order"),
])
def test_malformed_headers_are_clear_errors(blob, match):
    with pytest.raises(MalformedDataError, match=match):
        ReplicatedData.from_bytes(blob)


def test_malformed_data_error_is_a_value_error_and_an_atomr_error():
    with pytest.raises(ValueError):
        ReplicatedData.from_bytes(b"junk")
    with pytest.raises(AtomrError):
        ReplicatedData.from_bytes(b"junk")


def test_a_huge_length_field_is_rejected_without_allocating():
    blob = GSet().to_bytes()
    huge = blob[:-8] + struct.pack("<Q", 2 ** 62)
    with pytest.raises(MalformedDataError, match="exceeds the blob"):
        GSet.from_bytes(huge)


def test_trailing_bytes_are_rejected():
    with pytest.raises(MalformedDataError, match="trailing"):
        Flag.from_bytes(Flag().to_bytes() + b"\x00")


def test_non_bytes_input_is_a_type_error():
    with pytest.raises(TypeError):
        GCounter.from_bytes("ACRD")


@pytest.mark.parametrize("value", SAMPLES, ids=IDS)
def test_every_truncation_is_a_malformed_data_error(value):
    blob = value.to_bytes()
    for n in range(len(blob)):
        with pytest.raises(MalformedDataError):
            ReplicatedData.from_bytes(blob[:n])


@pytest.mark.parametrize("value", SAMPLES, ids=IDS)
def test_corrupted_blobs_decode_to_valid_values_or_fail_cleanly(value):
    """Random byte flips after the header: whatever still decodes is a
    well-formed value that re-encodes and merges; the rest fails cleanly."""
    rng = random.Random(type(value).__name__)
    blob = bytearray(value.to_bytes())
    for _ in range(300):
        bad = bytearray(blob)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(8, len(bad))] = rng.randrange(256)
        try:
            back = ReplicatedData.from_bytes(bytes(bad))
        except MalformedDataError:
            continue
        again = ReplicatedData.from_bytes(back.to_bytes())
        assert again == back
        again.merge(back)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=96), st.integers(min_value=1, max_value=11), st.booleans())
def test_random_bytes_never_crash(junk, tag, with_header):
    blob = (b"ACRD\x00\x01" + bytes([tag, 1]) + junk) if with_header else junk
    try:
        value = ReplicatedData.from_bytes(blob)
    except MalformedDataError:
        return
    value.to_bytes()


def test_an_undecodable_element_encoding_is_a_malformed_data_error():
    s = GSet()
    s._n.gs_add(b"?what")           # not an encoding _encode makes
    with pytest.raises(MalformedDataError, match="unknown element encoding"):
        s.elements()
