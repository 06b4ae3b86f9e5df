"""from_bytes rejects element encodings ``atomr.ddata`` never writes.

Set elements and map keys travel as canonical encodings (equal values, equal
bytes). A blob from a peer that holds any other encoding (``i01`` for 1, bad
UTF-8, nesting too deep) is malformed at decode, so a set can never show one
value twice and ``elements()`` never fails later.
"""

from __future__ import annotations

import struct

import pytest

from atomr.ddata import GSet, ORMultiMap, ORSet, ReplicatedData
from atomr.ddata._wire import _decode, _encode
from atomr.errors import MalformedDataError

_U64 = struct.Struct("<Q")


def _gset_blob(elements: list[bytes]) -> bytes:
    """A GSet blob holding exactly `elements` (sorted), however encoded."""
    header = GSet().to_bytes()[:8]  # magic, version, type tag, byte-order marker
    body = _U64.pack(len(elements)) + b"".join(
        _U64.pack(len(e)) + e for e in sorted(elements))
    return header + body


def _nested(depth: int) -> bytes:
    e = b"i1"
    for _ in range(depth):
        e = b"t" + struct.pack(">I", len(e)) + e
    return e


def test_a_crafted_blob_of_canonical_elements_decodes():
    s = GSet.from_bytes(_gset_blob([b"i1", b"i-5", b"i0", b"sx", b"T", b"n", _nested(5)]))
    assert sorted(map(repr, s.elements())) == sorted(
        map(repr, [1, -5, 0, "x", True, None, (((((1,),),),),)]))


@pytest.mark.parametrize("element", [
    b"i01", b"i+1", b"i1_0", b"i 1", b"i-0", b"i", b"i1.0", b"i\xd9\xa1",
    b"s\xff", b"s\xc0\x80", b"s\xf4\x90\x80\x80",
    b"Tx", b"n\x00", b"f\x80\x00\x00\x00\x00\x00\x00\x00", b"f\x7f\xf8\x00\x00\x00\x00\x00\x01",
    b"f\x00", b"t\x00\x00\x00\x05i1", b"z\x00\x00\x00\x02i2\x00\x00\x00\x02i1",
    b"z\x00\x00\x00\x02i1\x00\x00\x00\x02i1", b"c\x00payload", b"", b"?",
    _nested(40),
], ids=repr)
def test_a_non_canonical_element_is_malformed_at_decode(element):
    with pytest.raises(MalformedDataError):
        GSet.from_bytes(_gset_blob([b"i1", element]) if element != b"i1" else b"")
    with pytest.raises(MalformedDataError):
        _decode(element, None)  # type: ignore[arg-type]


def test_non_canonical_ints_never_show_one_value_three_times():
    with pytest.raises(MalformedDataError):
        GSet.from_bytes(_gset_blob([b"i1", b"i01", b"i+1"]))
    with pytest.raises(MalformedDataError):
        ReplicatedData.from_bytes(_gset_blob([b"i1_0", b"i10"]))


def test_keys_of_maps_sets_and_multimaps_are_checked_too():
    s = ORSet(node="a")
    s.add("x")
    blob = s.to_bytes()
    assert b"sx" in blob
    with pytest.raises(MalformedDataError):
        ORSet.from_bytes(blob.replace(b"\x02\x00\x00\x00\x00\x00\x00\x00sx",
                                      b"\x02\x00\x00\x00\x00\x00\x00\x00s\xff"))
    m = ORMultiMap(node="a")
    m.add("k", 1)
    blob = m.to_bytes()
    assert b"i1" in blob
    with pytest.raises(MalformedDataError):
        ORMultiMap.from_bytes(blob.replace(b"i1", b"i+"))


def test_every_value_encode_writes_decodes_back_equal():
    values = [0, -1, 10**100, "", "é\ud800", b"\x00", True, False, None, 0.0, -0.0,
              float("nan"), 1.5, (1, ("a", b"b")), frozenset({1, "1", (2,)})]
    for v in values:
        blob = _encode(v, None)  # type: ignore[arg-type]
        back = _decode(blob, None)  # type: ignore[arg-type]
        assert _encode(back, None) == blob  # type: ignore[arg-type]
    s = GSet()
    for v in values:
        s.add(v)
    distinct = {_encode(v, None) for v in values}  # type: ignore[arg-type]
    assert len(GSet.from_bytes(s.to_bytes()).elements()) == len(distinct)
