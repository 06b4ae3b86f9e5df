"""Codecs for typed Python classes: dataclasses (built in), msgspec Structs
and pydantic models (when those packages are installed).

The dataclass codec is driven by the field annotations, read once when the
class is registered: each annotation is compiled into an ``encode(value) ->
JSON value`` and ``decode(JSON value) -> value`` pair, so decoding rebuilds
nested dataclasses, enums, datetimes, tuples and the rest, and an annotation
the codec cannot handle fails at registration, not at the first message.

Wire format (UTF-8 JSON, compact): a dataclass is an object of its ``init``
fields; an enum is its value; datetime, date and time are ISO 8601 strings;
a timedelta is an integer number of microseconds; bytes are base64; Decimal
and UUID are strings; tuples, lists, sets and frozensets are arrays (sets
sorted when their items allow it, so equal sets encode alike); dict keys are
strings (int, enum, UUID, date and datetime keys are converted back).
Decoding ignores unknown keys and leaves missing ones to the field
defaults, so adding a field with a default or removing one keeps old data
readable.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import importlib
import json
import types
import typing
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Optional, Union

from atomr.codecs import _refs
from atomr.errors import AtomrError

__all__ = ["dataclass_codec", "msgspec_codec", "pydantic_codec", "classes_of"]

# A converter: value -> value; None means "unchanged" (saves a call per value).
_Conv = Optional[Callable[[Any], Any]]

_JSON_SCALARS = (str, int, float, bool, type(None))

def _dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":")).encode("utf-8")
    except TypeError:  # perhaps actor refs in untyped fields: retry with the hook
        return json.dumps(value, separators=(",", ":"),
                          default=_refs.json_default).encode("utf-8")


def classes_of(classes: Any, what: str) -> list[type]:
    """`classes` as a non-empty list of classes (a single class is accepted)."""
    if isinstance(classes, type):
        return [classes]
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        raise TypeError(f"{what} needs a class or a list of classes, not "
                        f"{type(classes).__name__} {classes!r}")
    result = list(classes)
    if not result:
        raise ValueError(f"{what} needs at least one class")
    for cls in result:
        if not isinstance(cls, type):
            raise TypeError(f"{what} needs classes, not {type(cls).__name__} {cls!r}")
    return result


# -- the dataclass codec ---------------------------------------------------------------


class _Unsupported(TypeError):
    """An annotation the dataclass codec cannot handle (names the field)."""


def _kind(hint: Any) -> Optional[str]:
    """The JSON kind a compiled `hint` produces, for telling union members
    apart on decoding: ``str``, ``int``, ``float``, ``bool``, ``null``,
    ``array``, ``object``, or None when it can be anything."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _kind(typing.get_args(hint)[0])
    if origin is not None:
        if origin in (list, tuple, set, frozenset):
            return "array"
        if origin is dict:
            return "object"
        if origin is typing.Literal:
            kinds = {_kind(type(v)) for v in typing.get_args(hint)}
            return kinds.pop() if len(kinds) == 1 else None
        return None
    if hint is type(None) or hint is None:
        return "null"
    if not isinstance(hint, type):
        return None
    if issubclass(hint, enum.Enum):
        kinds = {_kind(type(m.value)) for m in hint}
        return kinds.pop() if len(kinds) == 1 else None
    if hint is bool:
        return "bool"
    if issubclass(hint, (str, bytes, datetime.date, datetime.time, decimal.Decimal, uuid.UUID)):
        return "str"
    if issubclass(hint, (int, datetime.timedelta)):
        return "int"
    if hint is float:
        return "float"
    if issubclass(hint, (list, tuple, set, frozenset)):
        return "array"
    if issubclass(hint, dict) or dataclasses.is_dataclass(hint):
        return "object"
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    t = type(value)
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is float:
        return "float"
    if t is str:
        return "str"
    if t is list:
        return "array"
    return "object"


def _or_none(conv: _Conv) -> _Conv:
    """`conv` for an ``Optional`` value: None stays None."""
    if conv is None:
        return None
    convert = conv
    return lambda value: None if value is None else convert(value)


def _seq(conv: _Conv, build: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if conv is None:
        return build
    return lambda value: build([conv(item) for item in value])


def _sorted_if_possible(items: list) -> list:
    try:
        return sorted(items)
    except TypeError:
        return items


class _Compiler:
    """Compiles annotations into converter pairs; dataclasses are compiled
    once each (recursive ones refer to themselves through their plan)."""

    def __init__(self) -> None:
        self._plans: dict[type, _DataclassPlan] = {}

    def compile(self, hint: Any, where: str) -> tuple[_Conv, _Conv]:
        """``(encode, decode)`` for a value annotated `hint`."""
        if hint is Any or hint is object:
            return None, None
        if isinstance(hint, typing.NewType):
            return self.compile(hint.__supertype__, where)
        if isinstance(hint, typing.TypeVar):
            if hint.__bound__ is not None:
                return self.compile(hint.__bound__, where)
            return None, None
        if _refs.is_ref_type(hint):
            return _refs.ref_to_path, _refs.ref_from_path  # an actor ref: its path
        if _is_ref_union(hint):
            return _or_none(_refs.ref_to_path), _or_none(_refs.ref_from_path)
        origin = typing.get_origin(hint)
        if origin is not None:
            return self._compile_generic(hint, origin, where)
        if hint is None or hint is type(None):
            return None, None
        if not isinstance(hint, type):
            raise _Unsupported(f"{where}: annotation {hint!r} is not supported")
        if dataclasses.is_dataclass(hint):
            plan = self.plan(hint)
            return plan.encode, plan.decode
        if issubclass(hint, enum.Enum):
            return self._compile_enum(hint, where)
        if hint is bool or hint is str or hint is int:
            return None, None
        if hint is float:
            return None, float
        if hint is datetime.datetime:
            return datetime.datetime.isoformat, datetime.datetime.fromisoformat
        if hint is datetime.date:
            return datetime.date.isoformat, datetime.date.fromisoformat
        if hint is datetime.time:
            return datetime.time.isoformat, datetime.time.fromisoformat
        if hint is datetime.timedelta:
            unit = datetime.timedelta(microseconds=1)
            return (lambda td: td // unit), (lambda n: datetime.timedelta(microseconds=n))
        if hint is bytes or hint is bytearray:
            build = hint
            return ((lambda b: base64.b64encode(b).decode("ascii")),
                    (lambda s: build(base64.b64decode(s, validate=True))))
        if hint is decimal.Decimal:
            return str, decimal.Decimal
        if hint is uuid.UUID:
            return str, uuid.UUID
        if hint in (list, tuple, set, frozenset, dict):
            return self._compile_generic(hint, hint, where)
        raise _Unsupported(f"{where}: type `{hint.__module__}.{hint.__qualname__}` is not "
                           f"supported by the dataclass codec (fields may be dataclasses, "
                           f"enums, str, int, float, bool, None, bytes, datetime, date, time, "
                           f"timedelta, Decimal, UUID, and lists, tuples, sets, dicts and "
                           f"unions of them)")

    def _compile_enum(self, hint: type, where: str) -> tuple[_Conv, _Conv]:
        members: Iterable[Any] = hint  # type: ignore[assignment]
        for member in members:
            if not isinstance(member.value, _JSON_SCALARS):
                raise _Unsupported(f"{where}: enum `{hint.__qualname__}` has a member whose "
                                   f"value is a {type(member.value).__name__}; the dataclass "
                                   f"codec stores enums by value, which must be a str, int, "
                                   f"float, bool or None")
        return (lambda member: member.value), hint

    def _compile_generic(self, hint: Any, origin: Any, where: str) -> tuple[_Conv, _Conv]:
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            return self.compile(args[0], where)
        if origin is typing.Literal:
            return None, None
        if origin is typing.ClassVar or origin is typing.Final:
            return self.compile(args[0] if args else Any, where)
        if origin is Union or origin is types.UnionType:
            return self._compile_union(args, where)
        if origin is list:
            enc, dec = self.compile(args[0] if args else Any, f"{where}[]")
            return (None if enc is None else _seq(enc, list)), \
                (None if dec is None else _seq(dec, list))
        if origin in (set, frozenset):
            enc, dec = self.compile(args[0] if args else Any, f"{where}[]")
            build = origin
            return (lambda s: _sorted_if_possible([v if enc is None else enc(v) for v in s])), \
                _seq(dec, build)
        if origin is tuple:
            if not args or (len(args) == 2 and args[1] is Ellipsis):
                enc, dec = self.compile(args[0] if args else Any, f"{where}[]")
                return (None if enc is None else _seq(enc, list)), _seq(dec, tuple)
            if args == ((),):  # tuple[()]
                return list, tuple
            convs = [self.compile(a, f"{where}[{i}]") for i, a in enumerate(args)]
            encs = [e for e, _ in convs]
            decs = [d for _, d in convs]
            size = len(args)

            def enc_fixed(value: Any) -> list:
                return [v if e is None else e(v) for e, v in zip(encs, value, strict=True)]

            def dec_fixed(value: Any) -> tuple:
                if len(value) != size:
                    raise ValueError(f"{where}: expected {size} items, got {len(value)}")
                return tuple(v if d is None else d(v) for d, v in zip(decs, value))

            return enc_fixed, dec_fixed
        if origin is dict:
            key_hint = args[0] if args else Any
            key_enc, key_dec = self._compile_key(key_hint, where)
            val_enc, val_dec = self.compile(args[1] if len(args) > 1 else Any, f"{where}{{}}")

            def enc_dict(value: Any) -> dict:
                return {k if key_enc is None else key_enc(k): v if val_enc is None else val_enc(v)
                        for k, v in value.items()}

            def dec_dict(value: Any) -> dict:
                return {k if key_dec is None else key_dec(k): v if val_dec is None else val_dec(v)
                        for k, v in value.items()}

            return enc_dict, dec_dict
        raise _Unsupported(f"{where}: annotation {hint!r} is not supported by the dataclass "
                           f"codec")

    def _compile_key(self, hint: Any, where: str) -> tuple[_Conv, _Conv]:
        if hint is Any or hint is str:
            return None, None
        if hint is int:
            return str, int
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            kind = _kind(hint)
            if kind == "str":
                return (lambda m: m.value), hint
            if kind == "int":
                return (lambda m: str(m.value)), (lambda k: hint(int(k)))
        if hint is uuid.UUID:
            return str, uuid.UUID
        if hint is datetime.datetime:
            return datetime.datetime.isoformat, datetime.datetime.fromisoformat
        if hint is datetime.date:
            return datetime.date.isoformat, datetime.date.fromisoformat
        raise _Unsupported(f"{where}: dict keys of type {hint!r} are not supported (JSON keys "
                           f"are strings: use str, int, a str or int enum, UUID, date or "
                           f"datetime)")

    def _compile_union(self, args: tuple, where: str) -> tuple[_Conv, _Conv]:
        members = [a for a in args if a is not type(None)]
        optional = len(members) < len(args)
        if len(members) == 1:
            enc, dec = self.compile(members[0], where)
            if not optional:
                return enc, dec
            return _or_none(enc), _or_none(dec)
        convs = [self.compile(m, where) for m in members]
        if all(e is None and d is None for e, d in convs):
            return None, None
        # Several members: decoding picks the member by the JSON kind of the
        # value, so the kinds must differ (int may also stand for a float).
        by_kind: dict[str, tuple[Any, _Conv]] = {}
        for member, (enc, dec) in zip(members, convs):
            kind = _kind(member)
            if kind is None or kind in by_kind:
                raise _Unsupported(
                    f"{where}: union {' | '.join(_name(m) for m in args)} cannot be decoded "
                    f"unambiguously (its members must be stored as different JSON kinds: "
                    f"string, integer, float, bool, array, object)")
            by_kind[kind] = (member, dec)
        if "float" in by_kind and "int" not in by_kind:
            by_kind["int"] = by_kind["float"]
        encoders = [(m, e) for m, (e, _) in zip(members, convs)]

        def enc_union(value: Any) -> Any:
            if value is None:
                return None
            for member, enc in encoders:
                check = typing.get_origin(member) or member
                if isinstance(check, type) and isinstance(value, check):
                    return value if enc is None else enc(value)
            return value

        def dec_union(value: Any) -> Any:
            if value is None:
                return None
            entry = by_kind.get(_json_kind(value))
            if entry is None or entry[1] is None:
                return value
            return entry[1](value)

        return enc_union, dec_union

    def plan(self, cls: type) -> "_DataclassPlan":
        plan = self._plans.get(cls)
        if plan is None:
            plan = self._plans[cls] = _DataclassPlan(cls)
            plan.compile(self)
        return plan


def _is_ref_union(hint: Any) -> bool:
    """``ActorRef | RemoteActorRef`` (optionally ``| None``): one ref field."""
    if typing.get_origin(hint) not in (Union, types.UnionType):
        return False
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    return len(members) > 1 and all(_refs.is_ref_type(m) for m in members)


def _name(hint: Any) -> str:
    return hint.__qualname__ if isinstance(hint, type) else repr(hint)


class _DataclassPlan:
    """How one dataclass is encoded and decoded."""

    __slots__ = ("cls", "fields", "__weakref__")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.fields: list[tuple[str, _Conv, _Conv]] = []

    def compile(self, compiler: _Compiler) -> None:
        cls = self.cls
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as exc:
            raise TypeError(f"cannot read the annotations of dataclass `{cls.__qualname__}`: "
                            f"{type(exc).__name__}: {exc} (names in annotations must be "
                            f"importable from the class's module)") from exc
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            enc, dec = compiler.compile(hints.get(f.name, Any), f"{cls.__qualname__}.{f.name}")
            self.fields.append((f.name, enc, dec))

    def encode(self, obj: Any) -> dict:
        out = {}
        for name, enc, _ in self.fields:
            value = getattr(obj, name)
            out[name] = value if enc is None else enc(value)
        return out

    def decode(self, data: Any) -> Any:
        if type(data) is not dict:
            raise ValueError(f"expected a JSON object for `{self.cls.__qualname__}`, got "
                             f"{type(data).__name__}")
        kwargs = {}
        for name, _, dec in self.fields:
            if name in data:
                value = data[name]
                kwargs[name] = value if dec is None else dec(value)
        return self.cls(**kwargs)


def dataclass_codec(cls: type) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """``(encoder, decoder)`` of the dataclass codec for `cls`.

    Raises:
        TypeError: `cls` is not a dataclass, or a field's annotation is not
            supported (the message names the field).
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"the dataclass codec needs a dataclass, not {cls!r}")
    try:
        plan = _Compiler().plan(cls)
    except _Unsupported as exc:
        raise TypeError(str(exc)) from None
    encode_plan, decode_plan = plan.encode, plan.decode
    from atomr.codecs import _json_decode as loads  # noqa: PLC0415 - the registry's JSON path

    def encode(obj: Any) -> bytes:
        return _dumps(encode_plan(obj))

    def decode(blob: bytes) -> Any:
        return decode_plan(loads(blob))

    return encode, decode


# -- msgspec and pydantic --------------------------------------------------------------


def _load(package: str) -> types.ModuleType:
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise AtomrError(f"this codec needs the `{package}` package, which is not installed "
                         f"(pip install {package})") from exc


def msgspec_codec(cls: type, fmt: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """``(encoder, decoder)`` of msgspec's `fmt` (``"json"`` or ``"msgpack"``)
    codec for `cls` (a ``msgspec.Struct``, a dataclass or an attrs class).

    Raises:
        AtomrError: msgspec is not installed.
        TypeError: msgspec cannot decode `cls`.
        ValueError: `fmt` is neither ``"json"`` nor ``"msgpack"``.
    """
    if fmt not in ("json", "msgpack"):
        raise ValueError(f"format must be \"json\" or \"msgpack\", not {fmt!r}")
    msgspec = _load("msgspec")
    if not (issubclass(cls, msgspec.Struct) or dataclasses.is_dataclass(cls)
            or hasattr(cls, "__attrs_attrs__")):
        raise TypeError(f"msgspec cannot decode `{cls.__qualname__}`: register_msgspec() "
                        f"takes msgspec Structs, dataclasses and attrs classes")
    module = msgspec.json if fmt == "json" else msgspec.msgpack
    try:  # the hooks carry actor refs as their paths (atomr.codecs._refs)
        decoder = module.Decoder(cls, dec_hook=_refs.msgspec_dec_hook)
    except TypeError as exc:
        raise TypeError(f"msgspec cannot decode `{cls.__qualname__}`: {exc}") from None
    return module.Encoder(enc_hook=_refs.msgspec_enc_hook).encode, decoder.decode


def pydantic_codec(cls: type) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """``(encoder, decoder)`` of the pydantic JSON codec for model `cls`.

    Raises:
        AtomrError: pydantic (2 or later) is not installed.
        TypeError: `cls` is not a pydantic model.
    """
    pydantic = _load("pydantic")
    base = getattr(pydantic, "BaseModel", None)
    if base is None or not hasattr(pydantic, "TypeAdapter"):
        raise AtomrError("the pydantic codec needs pydantic 2 or later")
    if not issubclass(cls, base):
        raise TypeError(f"the pydantic codec needs a pydantic model (a BaseModel subclass), "
                        f"not `{cls.__qualname__}`")
    adapter = pydantic.TypeAdapter(cls)
    return adapter.dump_json, adapter.validate_json
