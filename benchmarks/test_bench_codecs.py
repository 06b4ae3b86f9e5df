"""Codec benchmarks: the registry's built-in JSON and msgpack codecs and the
dataclass codec, raced against the code they replaced and against msgspec.

Each operation encodes (or decodes) one event through the codec, on a mix of
payloads: a small event dict (``{"type": ..., "amount": ..., ...}``) and an
order with 20 nested lines, alternating. Implementations:

* ``atomr``: ``PyCodecRegistry.encode`` / ``decode`` with the built-in codec
  (JSON decodes through msgspec when it is installed, falling back to
  ``json.loads`` for what msgspec refuses; JSON encodes with ``json.dumps``).
* ``json-stdlib``: the JSON codec before (``json.dumps(obj, separators=...)``,
  ``json.loads``), called through the same registry.
* ``msgpack-lib``: ``msgpack.packb`` / ``unpackb``, the msgpack codec, called
  directly (no registry) -- what the built-in msgpack codec does per call.
* ``msgspec``: ``msgspec.json`` / ``msgspec.msgpack`` called directly: the
  fast path the codecs were evaluated against. Not adopted for JSON encoding
  (it writes NaN and Infinity as null and accepts types json refuses) nor
  for msgpack (it accepts datetimes, sets, dataclasses and non-str map keys
  that msgpack refuses), so the codecs' results would change.
* dataclass scenario: ``atomr`` is ``register_dataclass``; ``asdict-json``
  is the hand-written ``json.dumps(dataclasses.asdict(e))`` /
  ``Cls(**json.loads(b))`` (flat events only); ``msgspec`` and ``pydantic``
  their own typed JSON codecs.

Run: ``tox -e bench`` or ``python3 -m pytest benchmarks/test_bench_codecs.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import pytest

from atomr.codecs import PyCodecRegistry, class_manifest, new_system_registry

ROUNDS = 7
OPS = {"atomr": 20_000, "json-stdlib": 5_000, "msgpack-lib": 20_000, "msgspec": 50_000,
       "asdict-json": 10_000, "pydantic": 20_000}

SMALL = {"type": "Deposited", "account": "alice", "amount": 125, "note": "salary"}
MEDIUM = {"type": "OrderPlaced", "id": 981, "tags": ["web", "eu"], "note": "ünïcode",
          "lines": [{"sku": f"sku-{i}", "qty": i, "price": i * 1.25} for i in range(20)]}
PAYLOADS = [SMALL, MEDIUM]


class Kind(enum.Enum):
    CREDIT = "credit"
    DEBIT = "debit"


@dataclasses.dataclass
class Moved:
    account: str
    amount: int
    kind: Kind
    at: datetime.datetime
    note: Optional[str] = None


EVENT = Moved("alice", 125, Kind.CREDIT,
              datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc), "salary")


def _json_stdlib_registry() -> PyCodecRegistry:
    registry = PyCodecRegistry()
    registry.register("json", lambda o: json.dumps(o, separators=(",", ":")).encode("utf-8"),
                      lambda b: json.loads(b.decode("utf-8")), ["builtins.dict"])
    return registry


def _json_pair(impl: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    if impl == "msgspec":
        msgspec = pytest.importorskip("msgspec")
        return msgspec.json.encode, msgspec.json.decode
    if impl == "atomr":
        registry = PyCodecRegistry()
        registry.register_json(["builtins.dict"])
    else:
        registry = _json_stdlib_registry()
    return (lambda o: registry.encode("builtins.dict", o),
            lambda b: registry.decode("builtins.dict", b))


def _msgpack_pair(impl: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    if impl == "msgspec":
        msgspec = pytest.importorskip("msgspec")
        return msgspec.msgpack.encode, msgspec.msgpack.decode
    if impl == "atomr":
        registry = new_system_registry()
        return (lambda o: registry.encode("builtins.dict", o),
                lambda b: registry.decode("builtins.dict", b))
    import msgpack

    return (lambda o: msgpack.packb(o, use_bin_type=True),
            lambda b: msgpack.unpackb(b, raw=False))


def _dataclass_pair(impl: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any], Any]:
    if impl == "atomr":
        registry = PyCodecRegistry()
        registry.register_dataclass(Moved)
        m = class_manifest(Moved)
        return (lambda o: registry.encode(m, o), lambda b: registry.decode(m, b), EVENT)
    if impl == "asdict-json":
        def encode(o: Moved) -> bytes:
            d = dataclasses.asdict(o)
            d["kind"], d["at"] = o.kind.value, o.at.isoformat()
            return json.dumps(d, separators=(",", ":")).encode()

        def decode(b: bytes) -> Moved:
            d = json.loads(b)
            d["kind"], d["at"] = Kind(d["kind"]), datetime.datetime.fromisoformat(d["at"])
            return Moved(**d)

        return encode, decode, EVENT
    if impl == "msgspec":
        msgspec = pytest.importorskip("msgspec")
        return msgspec.json.encode, msgspec.json.Decoder(Moved).decode, EVENT
    pydantic = pytest.importorskip("pydantic")

    class MovedModel(pydantic.BaseModel):
        account: str
        amount: int
        kind: Kind
        at: datetime.datetime
        note: Optional[str] = None

    adapter = pydantic.TypeAdapter(MovedModel)
    return adapter.dump_json, adapter.validate_json, MovedModel(**dataclasses.asdict(EVENT))


@contextmanager
def rounds(encode: Callable[[Any], bytes], decode: Callable[[bytes], Any], values: list,
           direction: str, ops: int) -> Iterator[tuple[Callable[[], None], None]]:
    blobs = [encode(v) for v in values]
    for value, blob in zip(values, blobs):
        assert decode(blob) == value  # every implementation round-trips the payloads
    n = len(values)

    def run_encode() -> None:
        for i in range(ops):
            encode(values[i % n])

    def run_decode() -> None:
        for i in range(ops):
            decode(blobs[i % n])

    yield (run_encode if direction == "encode" else run_decode), None


@pytest.mark.parametrize("direction", ["encode", "decode"])
@pytest.mark.parametrize("impl", ["atomr", "json-stdlib", "msgspec"])
def test_json_codec(race, impl, direction):
    """The built-in JSON codec on event dicts."""
    encode, decode = _json_pair(impl)
    ops = OPS[impl]
    race(f"codec-json-{direction}", impl, ops, ROUNDS,
         lambda n: rounds(encode, decode, PAYLOADS, direction, n))


@pytest.mark.parametrize("direction", ["encode", "decode"])
@pytest.mark.parametrize("impl", ["atomr", "msgpack-lib", "msgspec"])
def test_msgpack_codec(race, impl, direction):
    """The built-in msgpack codec (the system registry's) on event dicts."""
    encode, decode = _msgpack_pair(impl)
    ops = OPS[impl]
    race(f"codec-msgpack-{direction}", impl, ops, ROUNDS,
         lambda n: rounds(encode, decode, PAYLOADS, direction, n))


@pytest.mark.parametrize("direction", ["encode", "decode"])
@pytest.mark.parametrize("impl", ["atomr", "asdict-json", "msgspec", "pydantic"])
def test_dataclass_codec(race, impl, direction):
    """A dataclass event with an enum, an aware datetime and an Optional."""
    encode, decode, value = _dataclass_pair(impl)
    ops = OPS[impl]
    race(f"codec-dataclass-{direction}", impl, ops, ROUNDS,
         lambda n: rounds(encode, decode, [value], direction, n))
