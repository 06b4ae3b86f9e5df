"""The codecs for typed classes: dataclasses (built in), msgspec Structs and
pydantic models (skipped when the package is not installed), and the JSON
codec's msgspec decoding fast path."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import sys
import uuid
from typing import Any, NewType, Optional, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import atomr.codecs
from atomr.codecs import PyCodecRegistry, class_manifest, manifest
from atomr.errors import AtomrError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


AccountId = NewType("AccountId", str)


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    qty: int
    price: decimal.Decimal


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    account: AccountId
    at: datetime.datetime
    day: datetime.date
    cutoff: datetime.time
    wait: datetime.timedelta
    color: Color
    level: Level
    lines: tuple[Line, ...]
    pair: tuple[int, str]
    tags: frozenset[str]
    seen: set[int]
    by_day: dict[datetime.date, float]
    by_level: dict[Level, list[Color]]
    by_color: dict[Color, int]
    counts: dict[int, str]
    blob: bytes
    ratio: float
    note: Optional[str] = None
    either: Union[int, str] = 0
    when: datetime.datetime | int | None = None
    extra: Any = None
    parent: Optional[Order] = None


def an_order(**changes: Any) -> Order:
    order = Order(
        id=uuid.UUID("12345678-1234-5678-1234-567812345678"), account=AccountId("alice"),
        at=datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc),
        day=datetime.date(2024, 5, 6), cutoff=datetime.time(17, 30),
        wait=datetime.timedelta(days=2, microseconds=7), color=Color.RED, level=Level.HIGH,
        lines=(Line("a", 1, decimal.Decimal("1.10")), Line("b", 2, decimal.Decimal("0.3"))),
        pair=(3, "x"), tags=frozenset({"b", "a"}), seen={3, 1},
        by_day={datetime.date(2024, 1, 2): 1.5}, by_level={Level.LOW: [Color.BLUE]},
        by_color={Color.BLUE: 4}, counts={7: "seven"}, blob=b"\x00\xff", ratio=2.0,
        when=datetime.datetime(2020, 1, 1), extra={"free": [1, "form"]})
    return dataclasses.replace(order, **changes)


@manifest("shop.typed.Renamed")
@dataclasses.dataclass(slots=True, kw_only=True)
class Renamed:
    name: str
    total: int = 0
    derived: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        self.derived = self.total * 2


def registry_for(*classes: type) -> PyCodecRegistry:
    registry = PyCodecRegistry()
    registry.register_dataclass(list(classes))
    return registry


# -- dataclasses -------------------------------------------------------------------------


def test_a_nested_dataclass_round_trips_with_its_exact_types():
    registry = registry_for(Order)
    order = an_order(parent=an_order(either="s", when=5, note="n", parent=None))
    m, blob = registry.encode_message(order)
    assert m == f"{__name__}.Order" and registry.codec_for(m) == "dataclass"
    back = registry.decode_message(m, blob)
    assert back == order
    assert type(back.lines) is tuple and type(back.lines[0]) is Line
    assert type(back.tags) is frozenset and type(back.seen) is set
    assert back.level is Level.HIGH and back.color is Color.RED
    assert back.at.tzinfo is datetime.timezone.utc and type(back.ratio) is float
    assert back.parent.either == "s" and back.parent.when == 5
    assert list(back.by_level) == [Level.LOW] and back.by_level[Level.LOW] == [Color.BLUE]


def test_the_wire_format_is_readable_json():
    registry = registry_for(Order)
    data = json.loads(registry.encode(class_manifest(Order), an_order()))
    assert data["color"] == "red" and data["level"] == 2
    assert data["at"] == "2024-05-06T07:08:09.123456+00:00"
    assert data["wait"] == 2 * 86_400_000_000 + 7
    assert data["lines"][0] == {"sku": "a", "qty": 1, "price": "1.10"}
    assert data["tags"] == ["a", "b"] and data["seen"] == [1, 3]
    assert data["by_day"] == {"2024-01-02": 1.5} and data["counts"] == {"7": "seven"}
    assert data["blob"] == "AP8=" and data["parent"] is None


def test_stable_names_slots_kw_only_and_init_false_fields():
    registry = registry_for(Renamed)
    m, blob = registry.encode_message(Renamed(name="n", total=4))
    assert m == "shop.typed.Renamed" and json.loads(blob) == {"name": "n", "total": 4}
    back = registry.decode_message(m, blob)
    assert back == Renamed(name="n", total=4) and back.derived == 8


def test_old_data_stays_readable_when_fields_come_and_go():
    registry = registry_for(Renamed)
    assert registry.decode("shop.typed.Renamed", b'{"name":"x"}') == Renamed(name="x")
    assert registry.decode("shop.typed.Renamed", b'{"name":"x","gone":1}') == Renamed(name="x")
    with pytest.raises(AtomrError, match="failed to decode manifest `shop.typed.Renamed`"):
        registry.decode("shop.typed.Renamed", b'{"total":1}')  # `name` has no default
    with pytest.raises(AtomrError, match="expected a JSON object"):
        registry.decode("shop.typed.Renamed", b"[1]")


@dataclasses.dataclass
class Unsupported:
    value: complex


@dataclasses.dataclass
class TwoClassesInAUnion:
    value: Union[Line, Renamed]


@dataclasses.dataclass
class TupleKeys:
    value: dict[tuple[int, int], int]


class Shape(enum.Enum):
    SQUARE = (1, 1)


@dataclasses.dataclass
class TupleEnum:
    shape: Shape


def test_bad_classes_fail_at_registration_and_name_the_field():
    registry = PyCodecRegistry()
    with pytest.raises(TypeError, match="needs a dataclass"):
        registry.register_dataclass(Color)
    with pytest.raises(TypeError, match="needs classes"):
        registry.register_dataclass([an_order()])
    with pytest.raises(ValueError, match="at least one"):
        registry.register_dataclass([])
    with pytest.raises(TypeError, match=r"Unsupported\.value: type `builtins.complex`"):
        registry.register_dataclass(Unsupported)
    with pytest.raises(TypeError, match="cannot be decoded unambiguously"):
        registry.register_dataclass(TwoClassesInAUnion)
    with pytest.raises(TypeError, match="dict keys"):
        registry.register_dataclass(TupleKeys)
    with pytest.raises(TypeError, match="stores enums by value"):
        registry.register_dataclass(TupleEnum)

    @dataclasses.dataclass
    class Local:
        other: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="cannot read the annotations of dataclass `.*Local`"):
        registry.register_dataclass(Local)
    # All or nothing: a bad class in the list registers none of them.
    with pytest.raises(TypeError):
        registry.register_dataclass([Line, Unsupported])
    assert len(registry) == 0
    registry.register_dataclass(Line)
    with pytest.raises(ValueError, match="already has codec"):
        registry.register_dataclass(Line)
    registry.register_dataclass(Line, force=True)


def test_the_json_codec_points_at_the_dataclass_codec():
    registry = PyCodecRegistry()
    registry.use_json_default()
    with pytest.raises(AtomrError, match=r"register_dataclass\(Line\)"):
        registry.encode_message(Line("a", 1, decimal.Decimal(1)))


@dataclasses.dataclass
class Node:
    label: str
    children: list[Node] = dataclasses.field(default_factory=list)
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    stamp: Optional[datetime.datetime] = None


def nodes(depth: int = 3) -> st.SearchStrategy[Node]:
    leaf = st.builds(Node, label=st.text(max_size=8),
                     weights=st.dictionaries(st.text(max_size=4),
                                             st.floats(allow_nan=False), max_size=3),
                     stamp=st.none() | st.datetimes(timezones=st.none() | st.timezones()))
    return st.recursive(leaf, lambda kids: st.builds(
        Node, label=st.text(max_size=8), children=st.lists(kids, max_size=3)), max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(nodes())
def test_recursive_dataclasses_round_trip(node: Node):
    registry = registry_for(Node)
    assert registry.roundtrip(class_manifest(Node), node) == node


# -- the JSON fast path ------------------------------------------------------------------------


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_json_codec_decodes_exactly_as_json_loads(value: Any):
    blob = json.dumps(value, separators=(",", ":")).encode()
    assert atomr.codecs._json_encode(value) == blob
    assert same(atomr.codecs._json_decode(blob), json.loads(blob))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=24) | json_values.map(lambda v: json.dumps(v).encode()[:-1]))
def test_the_json_codec_accepts_and_refuses_what_json_loads_does(blob: bytes):
    try:
        expected: Any = ("ok", json.loads(blob.decode("utf-8")))
    except (ValueError, RecursionError) as exc:
        expected = ("error", type(exc))
    try:
        got: Any = ("ok", atomr.codecs._json_decode(blob))
    except (ValueError, RecursionError) as exc:
        got = ("error", type(exc))
    assert expected[0] == got[0]
    assert same(expected[1], got[1]) if expected[0] == "ok" else expected[1] is got[1]


def test_json_keeps_nan_and_infinity_and_works_without_msgspec(monkeypatch):
    assert math.isnan(atomr.codecs._json_decode(b"NaN"))
    assert atomr.codecs._json_decode(b"[Infinity]") == [math.inf]
    monkeypatch.setattr(atomr.codecs, "_fast_json_loads", None)
    monkeypatch.setitem(sys.modules, "msgspec", None)  # `import msgspec` fails
    assert atomr.codecs._json_decode(b'{"a":[1,2.5]}') == {"a": [1, 2.5]}
    assert atomr.codecs._fast_json_loads is atomr.codecs._no_fast_json
    with pytest.raises(json.JSONDecodeError):
        atomr.codecs._json_decode(b"{")


# -- msgspec and pydantic -------------------------------------------------------------------


def test_missing_packages_give_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "msgspec", None)
    monkeypatch.setitem(sys.modules, "pydantic", None)
    registry = PyCodecRegistry()
    with pytest.raises(AtomrError, match="pip install msgspec"):
        registry.register_msgspec(Line)
    with pytest.raises(AtomrError, match="pip install pydantic"):
        registry.register_pydantic(Line)
    assert len(registry) == 0


def test_msgspec_structs_round_trip_in_both_formats():
    msgspec = pytest.importorskip("msgspec")

    class Item(msgspec.Struct, frozen=True):
        sku: str
        at: datetime.datetime
        color: Color
        sizes: tuple[int, ...] = ()

    item = Item("a", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), Color.BLUE,
                (1, 2))
    for fmt in ("json", "msgpack"):
        registry = PyCodecRegistry()
        registry.register_msgspec(Item, format=fmt)
        m, blob = registry.encode_message(item)
        assert registry.codec_for(m) == f"msgspec-{fmt}"
        assert registry.decode_message(m, blob) == item
    registry = PyCodecRegistry()
    registry.register_msgspec([Item, Line])  # a dataclass works too
    assert registry.roundtrip(class_manifest(Line), Line("b", 2, decimal.Decimal("1.5"))) \
        == Line("b", 2, decimal.Decimal("1.5"))
    with pytest.raises(AtomrError, match="failed to decode"):
        registry.decode(class_manifest(Item), b'{"sku":1}')  # validated
    with pytest.raises(ValueError, match="format"):
        registry.register_msgspec(Item, format="yaml")
    with pytest.raises(TypeError, match="msgspec cannot decode"):
        registry.register_msgspec(type("Plain", (), {}))


def test_pydantic_models_round_trip():
    pydantic = pytest.importorskip("pydantic")

    class Address(pydantic.BaseModel):
        city: str

    class Customer(pydantic.BaseModel):
        name: str
        since: datetime.datetime
        level: Level
        address: Address
        tags: tuple[str, ...] = ()

    customer = Customer(name="c", since=datetime.datetime(2024, 1, 1), level=Level.LOW,
                        address=Address(city="Oslo"), tags=("x",))
    registry = PyCodecRegistry()
    registry.register_pydantic(Customer)
    m, blob = registry.encode_message(customer)
    assert registry.codec_for(m) == "pydantic"
    assert registry.decode_message(m, blob) == customer
    with pytest.raises(AtomrError, match="failed to decode"):
        registry.decode(m, b'{"name":"c"}')
    with pytest.raises(TypeError, match="pydantic model"):
        registry.register_pydantic(Line)
