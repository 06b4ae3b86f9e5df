"""Tests for the codec registry (atomr.codecs)."""

from __future__ import annotations

import json
import pickle
import threading
import warnings
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomr.codecs import (
    SYSTEM_MSGPACK_MANIFESTS,
    BuiltinJsonCodec,
    PyCodecRegistry,
    codec_roundtrip,
    manifest_of,
    new_system_registry,
    register_codec,
    use_json_codec,
    validate_manifest,
)
from atomr.errors import AtomrError


# -- message classes used by the tests ----------------------------------------


class Greeting:
    """A user message with the to_dict/from_dict shape of the API guide."""

    def __init__(self, text: str) -> None:
        self.text = text

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Greeting":
        return cls(text=d["text"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Greeting) and other.text == self.text


class Outer:
    class Inner:
        pass


class Point:
    """Picklable (module level) but not JSON- or msgpack-able."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (other.x, other.y) == (self.x, self.y)


GREETING = manifest_of(Greeting("x"))
POINT = manifest_of(Point(0, 0))


def greeting_encoder(obj: Greeting) -> bytes:
    return json.dumps(obj.to_dict()).encode()


def greeting_decoder(blob: bytes) -> Greeting:
    return Greeting.from_dict(json.loads(blob))


def ident(blob: bytes) -> bytes:
    return blob


# -- manifest_of ------------------------------------------------------------------


def test_manifest_of_builtins_and_user_classes() -> None:
    assert manifest_of({}) == "builtins.dict"
    assert manifest_of(None) == "builtins.NoneType"
    assert manifest_of(Greeting("x")) == f"{__name__}.Greeting"
    assert manifest_of(Outer.Inner()) == f"{__name__}.Outer.Inner"


# -- validate_manifest --------------------------------------------------------


@pytest.mark.parametrize("manifest", [
    "builtins.dict",
    "builtins.NoneType",
    f"{__name__}.Greeting",
    f"{__name__}.Outer.Inner",
    "collections.abc.Mapping",          # dotted module path
    "xml.etree.ElementTree.Element",    # deeper dotted module path
])
def test_strict_validation_accepts_real_classes(manifest: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # strict mode must not warn
        assert validate_manifest(manifest) is None
        assert validate_manifest(manifest, strict=True) is None


def test_strict_validation_accepts_manifest_of_any_module_level_class() -> None:
    for obj in (Greeting("x"), Outer.Inner(), 1, "s", b"b", 1.5, [], (), True):
        validate_manifest(manifest_of(obj))  # must not raise


@pytest.mark.parametrize("manifest", [
    "nosuchmodule.X",
    "nosuchmodule.sub.X",
    "builtins.NoSuchThing",
    f"{__name__}.Outer.Missing",
    f"{__name__}.NoSuchClass",
])
def test_strict_validation_rejects_unresolvable_names(manifest: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_manifest(manifest)
    assert manifest in str(info.value)


@pytest.mark.parametrize("manifest", ["nodot", "", "a..b", ".a", "a."])
@pytest.mark.parametrize("strict", [True, False])
def test_malformed_manifests_are_rejected_in_both_modes(manifest: str, strict: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            validate_manifest(manifest, strict=strict)


@pytest.mark.parametrize("bad", [None, 3, b"builtins.dict", ["builtins.dict"]])
def test_non_str_manifest_is_value_error(bad: Any) -> None:
    with pytest.raises(ValueError):
        validate_manifest(bad)


def test_module_whose_own_import_fails_is_reported(tmp_path, monkeypatch) -> None:
    (tmp_path / "atomr_test_broken_mod.py").write_text("import atomr_test_missing_dep\n"
                                                       "class X: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError) as info:
        validate_manifest("atomr_test_broken_mod.X")
    assert "atomr_test_broken_mod.X" in str(info.value)
    assert "atomr_test_missing_dep" in str(info.value)


def test_lax_validation_warns_with_the_manifest() -> None:
    with pytest.warns(UserWarning, match="not strictly validated") as record:
        assert validate_manifest("nosuchmodule.X", strict=False) is None
    messages = [str(w.message) for w in record]
    assert any("nosuchmodule.X" in m for m in messages)
    # The warning points at this file (the caller), not at atomr internals.
    assert all(w.filename == __file__ for w in record)


# -- registration -----------------------------------------------------------------


def test_register_and_roundtrip_user_codec() -> None:
    reg = PyCodecRegistry()
    reg.register("greeting", greeting_encoder, greeting_decoder, [GREETING])
    blob = reg.encode(GREETING, Greeting("hi"))
    assert isinstance(blob, bytes)
    assert json.loads(blob) == {"text": "hi"}
    assert reg.decode(GREETING, blob) == Greeting("hi")
    assert reg.roundtrip(GREETING, Greeting("hey")) == Greeting("hey")
    assert codec_roundtrip(reg, Greeting("yo")) == Greeting("yo")
    assert GREETING in reg
    assert reg.codec_for(GREETING) == "greeting"
    assert reg.manifests() == [GREETING]
    assert reg.names() == ["greeting"]
    assert len(reg) == 1


def test_register_does_not_validate_manifests() -> None:
    reg = PyCodecRegistry()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.register("x", ident, ident, ["nosuchmodule.X"])
    assert "nosuchmodule.X" in reg


def test_register_empty_manifests_is_value_error() -> None:
    reg = PyCodecRegistry()
    with pytest.raises(ValueError):
        reg.register("x", ident, ident, [])
    assert len(reg) == 0


@pytest.mark.parametrize("encoder,decoder", [(None, ident), (ident, "notcallable"), (1, 2)])
def test_register_non_callable_is_type_error(encoder: Any, decoder: Any) -> None:
    reg = PyCodecRegistry()
    with pytest.raises(TypeError):
        reg.register("x", encoder, decoder, ["a.B"])
    assert len(reg) == 0


def test_register_bare_string_manifests_is_type_error() -> None:
    reg = PyCodecRegistry()
    with pytest.raises(TypeError):
        reg.register("x", ident, ident, "builtins.dict")
    with pytest.raises(TypeError):
        reg.register("x", ident, ident, ["builtins.dict", 3])
    assert len(reg) == 0


def test_reregistration_without_force_fails_and_changes_nothing() -> None:
    reg = PyCodecRegistry()
    reg.register("first", ident, ident, ["a.A"])
    before = (reg.manifests(), reg.names(), reg.codec_for("a.A"))
    with pytest.raises(ValueError) as info:
        # "b.B" is new, but "a.A" collides: neither may be registered.
        reg.register("second", ident, ident, ["b.B", "a.A"])
    message = str(info.value)
    assert "a.A" in message and "first" in message and "force" in message
    assert (reg.manifests(), reg.names(), reg.codec_for("a.A")) == before
    assert "b.B" not in reg


def test_force_replaces_existing_registration() -> None:
    reg = PyCodecRegistry()
    reg.register("first", lambda o: b"1", ident, ["a.A"])
    reg.register("second", lambda o: b"2", ident, ["a.A"], force=True)
    assert reg.codec_for("a.A") == "second"
    assert reg.encode("a.A", object()) == b"2"
    assert reg.names() == ["second"]


def test_register_json_and_builtin_json_roundtrip() -> None:
    reg = PyCodecRegistry()
    reg.register_json(["builtins.dict"])
    assert reg.codec_for("builtins.dict") == "json"
    assert reg.encode("builtins.dict", {"a": [1, 2]}) == b'{"a":[1,2]}'
    assert reg.roundtrip("builtins.dict", {"a": [1, None, "é"]}) == {"a": [1, None, "é"]}
    with pytest.raises(ValueError, match="force"):
        reg.register_json(["builtins.dict"])


# -- defaults -----------------------------------------------------------------


def test_unknown_manifest_without_default_is_atomr_error() -> None:
    reg = PyCodecRegistry()
    with pytest.raises(AtomrError, match="no codec registered for manifest `a.Missing`"):
        reg.encode("a.Missing", {})
    with pytest.raises(AtomrError, match="no codec registered for manifest `a.Missing`"):
        reg.decode("a.Missing", b"{}")
    with pytest.raises(AtomrError, match="no codec registered for manifest"):
        codec_roundtrip(reg, Greeting("x"))
    assert reg.codec_for("a.Missing") is None


def test_json_default_handles_unregistered_manifests() -> None:
    reg = PyCodecRegistry()
    reg.register("greeting", greeting_encoder, greeting_decoder, [GREETING])
    reg.use_json_default()
    assert reg.roundtrip("any.Thing", {"k": [1, 2.5, None]}) == {"k": [1, 2.5, None]}
    assert codec_roundtrip(reg, [1, "two"]) == [1, "two"]
    # Explicit registrations still win over the default.
    assert codec_roundtrip(reg, Greeting("hi")) == Greeting("hi")
    # The default is not an explicit registration.
    assert "any.Thing" not in reg
    assert reg.manifests() == [GREETING]
    assert reg.names() == ["greeting"]
    assert reg.codec_for("any.Thing") == "json"
    assert reg.default_name == "json"
    reg.clear_default()
    assert reg.default_name is None
    with pytest.raises(AtomrError):
        reg.encode("any.Thing", {})


def test_set_default_custom_and_name() -> None:
    reg = PyCodecRegistry()
    reg.set_default(lambda o: repr(o).encode(), lambda b: b.decode())
    assert reg.codec_for("x.Y") == "default"
    assert reg.roundtrip("x.Y", 42) == "42"
    reg.set_default(lambda o: b"z", lambda b: b, name="zed")
    assert reg.codec_for("x.Y") == "zed"
    with pytest.raises(TypeError):
        reg.set_default(None, ident)
    assert reg.codec_for("x.Y") == "zed"


# -- encoder/decoder failures -------------------------------------------------------


def test_encoder_returning_str_is_atomr_error() -> None:
    reg = PyCodecRegistry()
    reg.register("bad", lambda o: "not bytes", ident, ["a.A"])
    with pytest.raises(AtomrError) as info:
        reg.encode("a.A", 1)
    assert "a.A" in str(info.value) and "bad" in str(info.value)


def test_encoder_returning_bytearray_or_memoryview_is_converted() -> None:
    reg = PyCodecRegistry()
    reg.register("ba", lambda o: bytearray(b"xy"), ident, ["a.A"])
    reg.register("mv", lambda o: memoryview(b"zw"), ident, ["a.B"])
    assert type(reg.encode("a.A", 1)) is bytes and reg.encode("a.A", 1) == b"xy"
    assert type(reg.encode("a.B", 1)) is bytes and reg.encode("a.B", 1) == b"zw"


def test_encoder_and_decoder_exceptions_are_wrapped() -> None:
    def boom_enc(obj: Any) -> bytes:
        raise KeyError("enc-broke")

    def boom_dec(blob: bytes) -> Any:
        raise ZeroDivisionError("dec-broke")

    reg = PyCodecRegistry()
    reg.register("boom", boom_enc, boom_dec, ["a.A"])
    with pytest.raises(AtomrError) as enc_info:
        reg.encode("a.A", 1)
    assert isinstance(enc_info.value.__cause__, KeyError)
    assert "a.A" in str(enc_info.value) and "boom" in str(enc_info.value)
    with pytest.raises(AtomrError) as dec_info:
        reg.decode("a.A", b"x")
    assert isinstance(dec_info.value.__cause__, ZeroDivisionError)
    assert "a.A" in str(dec_info.value) and "boom" in str(dec_info.value)


def test_json_codec_failures_are_atomr_errors() -> None:
    reg = PyCodecRegistry()
    reg.register_json(["a.A"])
    with pytest.raises(AtomrError):
        reg.encode("a.A", object())
    with pytest.raises(AtomrError):
        reg.decode("a.A", b"\xff not json")


def test_decoder_receives_bytes_for_bytes_like_blobs() -> None:
    seen: list[Any] = []
    reg = PyCodecRegistry()
    reg.register("spy", ident, lambda b: seen.append(b) or b, ["a.A"])
    reg.decode("a.A", bytearray(b"1"))
    reg.decode("a.A", memoryview(b"2"))
    assert seen == [b"1", b"2"] and all(type(b) is bytes for b in seen)
    with pytest.raises(TypeError):
        reg.decode("a.A", "str blob")


def test_encode_message_and_decode_message() -> None:
    reg = PyCodecRegistry()
    reg.register("greeting", greeting_encoder, greeting_decoder, [GREETING])
    manifest, blob = reg.encode_message(Greeting("hello"))
    assert manifest == GREETING
    assert isinstance(blob, bytes)
    assert reg.decode_message(manifest, blob) == Greeting("hello")


# -- msgpack --------------------------------------------------------------------


def test_system_registry_has_msgpack_for_plain_builtins() -> None:
    reg = new_system_registry()
    assert reg.manifests() == sorted(SYSTEM_MSGPACK_MANIFESTS)
    assert reg.names() == ["msgpack"]
    assert reg.default_name is None
    for value in ({"a": 1}, [1, "x"], "s", 7, 2.5, True, b"\x00\xff", None):
        assert manifest_of(value) in reg
        out = codec_roundtrip(reg, value)
        assert out == value and type(out) is type(value)
    assert codec_roundtrip(reg, (1, "a", b"b")) == (1, "a", b"b")
    # The bytes really are msgpack.
    assert msgpack.unpackb(reg.encode("builtins.dict", {"a": 1}), raw=False) == {"a": 1}


def test_system_registries_are_independent() -> None:
    a, b = new_system_registry(), new_system_registry()
    a.register_json([GREETING])
    assert GREETING in a and GREETING not in b


def test_system_registry_rejects_unregistered_classes() -> None:
    reg = new_system_registry()
    with pytest.raises(AtomrError, match="no codec registered for manifest"):
        codec_roundtrip(reg, Point(1, 2))


def test_register_msgpack() -> None:
    reg = PyCodecRegistry()
    reg.register_msgpack(["a.A"])
    assert reg.codec_for("a.A") == "msgpack"
    assert reg.roundtrip("a.A", {"b": b"\x01", "s": "\x01"}) == {"b": b"\x01", "s": "\x01"}
    with pytest.raises(AtomrError):
        reg.encode("a.A", 2 ** 70)  # does not fit msgpack's 64-bit ints
    with pytest.raises(ValueError, match="force"):
        reg.register_msgpack(["a.A"])


def test_missing_msgpack_package_is_a_clear_atomr_error(monkeypatch) -> None:
    import sys
    reg = new_system_registry()  # built before msgpack "disappears"
    monkeypatch.setitem(sys.modules, "msgpack", None)  # makes `import msgpack` fail
    with pytest.raises(AtomrError, match="msgpack"):
        PyCodecRegistry().register_msgpack(["a.A"])
    with pytest.raises(AtomrError, match="msgpack") as info:
        reg.encode("builtins.dict", {})
    assert "msgpack" in str(info.value.__cause__)
    # Building a system registry never needs the package.
    assert "builtins.dict" in new_system_registry()


# -- pickle ---------------------------------------------------------------------


def test_pickle_is_opt_in_and_warns() -> None:
    reg = PyCodecRegistry()
    with pytest.raises(AtomrError):
        reg.roundtrip(POINT, Point(1, 2))
    with pytest.warns(UserWarning, match="unsafe for untrusted peers") as record:
        reg.register_pickle([POINT])
    assert any(POINT in str(w.message) for w in record)
    assert reg.codec_for(POINT) == "pickle"
    assert reg.roundtrip(POINT, Point(1, 2)) == Point(1, 2)
    assert pickle.loads(reg.encode(POINT, Point(3, 4))) == Point(3, 4)
    # Only the opted-in manifest uses pickle.
    assert reg.codec_for("builtins.dict") is None


def test_pickle_is_never_a_default_or_fallback() -> None:
    for reg in (PyCodecRegistry(), new_system_registry()):
        assert "pickle" not in reg.names()
        assert reg.default_name is None
        with pytest.raises(AtomrError):
            codec_roundtrip(reg, Point(1, 2))
    json_default = PyCodecRegistry()
    json_default.use_json_default()
    with pytest.raises(AtomrError):  # JSON fails; nothing falls back to pickle
        codec_roundtrip(json_default, Point(1, 2))
    guarded = PyCodecRegistry()
    with pytest.raises(ValueError, match="register_pickle"):
        guarded.set_default(pickle.dumps, pickle.loads)
    assert guarded.default_name is None


def test_pickle_collision_does_not_register_or_warn() -> None:
    reg = PyCodecRegistry()
    reg.register_json([POINT])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="force"):
            reg.register_pickle([POINT])
    assert reg.codec_for(POINT) == "json"


# -- register_codec / use_json_codec (the ActorSystem operations) --------------------


def test_register_codec_user_class_like_the_guide() -> None:
    reg = new_system_registry()
    register_codec(reg, "json", encoder=greeting_encoder, decoder=greeting_decoder,
                   manifests=[GREETING])
    assert codec_roundtrip(reg, Greeting("hi")) == Greeting("hi")
    assert reg.codec_for(GREETING) == "json"
    assert reg.names() == ["json", "msgpack"]


def test_register_codec_strict_rejects_and_changes_nothing() -> None:
    reg = PyCodecRegistry()
    with pytest.raises(ValueError) as info:
        register_codec(reg, "c", ident, ident, manifests=[GREETING, "nosuchmodule.X"])
    assert "nosuchmodule.X" in str(info.value)
    assert len(reg) == 0 and GREETING not in reg


def test_register_codec_empty_and_malformed() -> None:
    reg = PyCodecRegistry()
    with pytest.raises(ValueError):
        register_codec(reg, "c", ident, ident, manifests=[])
    with pytest.raises(ValueError):
        register_codec(reg, "c", ident, ident, manifests=["nodot"], strict=False)
    assert len(reg) == 0


# `__main__.Local` also draws the unstable-manifest warning (tested elsewhere).
@pytest.mark.filterwarnings("ignore::atomr.codecs.UnstableManifestWarning")
def test_register_codec_lax_warns_per_manifest_and_registers() -> None:
    reg = PyCodecRegistry()
    with pytest.warns(UserWarning, match="not strictly validated") as record:
        register_codec(reg, "c", ident, ident, manifests=["__main__.Local", "x.Y"],
                       strict=False)
    text = " ".join(str(w.message) for w in record)
    assert "__main__.Local" in text and "x.Y" in text
    assert all(w.filename == __file__ for w in record)
    assert reg.manifests() == ["__main__.Local", "x.Y"]


def test_register_codec_collision_message_and_force() -> None:
    reg = new_system_registry()
    with pytest.raises(ValueError) as info:
        register_codec(reg, "json", ident, ident, manifests=["builtins.dict"])
    message = str(info.value)
    assert "builtins.dict" in message and "msgpack" in message and "force" in message
    assert reg.codec_for("builtins.dict") == "msgpack"
    register_codec(reg, "raw", ident, ident, manifests=["builtins.dict"], force=True)
    assert reg.codec_for("builtins.dict") == "raw"


def test_register_codec_collision_checked_before_lax_warnings() -> None:
    reg = PyCodecRegistry()
    reg.register("c", ident, ident, ["x.Y"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="force"):
            register_codec(reg, "d", ident, ident, manifests=["x.Y"], strict=False)
    assert reg.codec_for("x.Y") == "c"


def test_use_json_codec_manifests_and_default() -> None:
    reg = new_system_registry()
    use_json_codec(reg, manifests=[GREETING])
    assert reg.codec_for(GREETING) == "json"
    assert reg.default_name is None
    use_json_codec(reg, default=True)
    assert reg.default_name == "json"
    assert codec_roundtrip(reg, {"still": "msgpack"}) == {"still": "msgpack"}
    assert reg.codec_for("builtins.dict") == "msgpack"
    assert reg.codec_for("some.Unregistered") == "json"


def test_use_json_codec_rules() -> None:
    reg = new_system_registry()
    with pytest.raises(ValueError):
        use_json_codec(reg)  # nothing to do
    with pytest.raises(ValueError) as info:
        use_json_codec(reg, manifests=["builtins.dict"], default=True)
    assert "msgpack" in str(info.value) and "force" in str(info.value)
    assert reg.default_name is None  # nothing changed, default included
    with pytest.raises(ValueError):
        use_json_codec(reg, manifests=["nosuchmodule.X"])
    assert "nosuchmodule.X" not in reg
    with pytest.warns(UserWarning, match="nosuchmodule.X"):
        use_json_codec(reg, manifests=["nosuchmodule.X"], strict=False)
    assert reg.codec_for("nosuchmodule.X") == "json"
    use_json_codec(reg, manifests=["builtins.dict"], force=True)
    assert reg.codec_for("builtins.dict") == "json"


# -- BuiltinJsonCodec -------------------------------------------------------------


def test_builtin_json_codec_validates_and_passes_through() -> None:
    codec = BuiltinJsonCodec()
    assert codec.id() == "json"
    payload = '{"a":[1,"é"]}'.encode()
    assert codec.encode("m.X", payload) == payload
    assert codec.decode("m.X", payload) == payload
    assert codec.decode("m.X", bytearray(payload)) == payload
    for bad in (b"{not json", b"\xff\xfe", b""):
        with pytest.raises(AtomrError) as info:
            codec.encode("m.X", bad)
        assert "m.X" in str(info.value)
        with pytest.raises(AtomrError):
            codec.decode("m.X", bad)
    with pytest.raises(TypeError):
        codec.encode("m.X", "a str")


# -- introspection and threads -------------------------------------------------------


def test_contains_len_repr_and_sorting() -> None:
    reg = PyCodecRegistry()
    reg.register("zeta", ident, ident, ["z.Z", "a.A"])
    reg.register_json(["m.M"])
    reg.use_json_default()
    assert reg.manifests() == ["a.A", "m.M", "z.Z"]
    assert reg.names() == ["json", "zeta"]
    assert len(reg) == 3
    assert "a.A" in reg and "q.Q" not in reg and 3 not in reg
    text = repr(reg)
    assert "PyCodecRegistry" in text and "3" in text and "json" in text


def test_concurrent_registrations_and_lookups() -> None:
    reg = PyCodecRegistry()
    reg.register_json(["base.M"])
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def writer(i: int) -> None:
        start.wait()
        for j in range(200):
            reg.register(f"w{i}", ident, ident, [f"w{i}.M{j}"])

    def reader() -> None:
        start.wait()
        try:
            for _ in range(2000):
                assert reg.roundtrip("base.M", {"k": 1}) == {"k": 1}
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(reg) == 1 + 8 * 200
    assert reg.names() == sorted(["json"] + [f"w{i}" for i in range(8)])


def test_concurrent_collisions_have_exactly_one_winner() -> None:
    reg = PyCodecRegistry()
    winners: list[str] = []
    start = threading.Barrier(8)

    def contender(i: int) -> None:
        start.wait()
        try:
            reg.register(f"c{i}", ident, ident, ["shared.M"])
            winners.append(f"c{i}")
        except ValueError:
            pass

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert reg.codec_for("shared.M") == winners[0]


def test_collision_is_rechecked_when_committing(monkeypatch) -> None:
    # Simulates another thread registering the same manifest between the
    # argument checks and the commit: the late registration must still fail.
    original = PyCodecRegistry._prepare

    def racing_prepare(self: PyCodecRegistry, name: Any, *args: Any) -> list[str]:
        result = original(self, name, *args)
        if name == "late":
            self.register("early", ident, ident, ["shared.M"])
        return result

    monkeypatch.setattr(PyCodecRegistry, "_prepare", racing_prepare)
    reg = PyCodecRegistry()
    with pytest.raises(ValueError, match="early"):
        reg.register("late", ident, ident, ["shared.M"])
    assert reg.codec_for("shared.M") == "early"


# -- properties ------------------------------------------------------------------------


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_json_roundtrip_property(value: Any) -> None:
    reg = PyCodecRegistry()
    reg.use_json_default()
    assert reg.roundtrip(manifest_of(value), value) == value
    blob = reg.encode(manifest_of(value), value)
    assert BuiltinJsonCodec().decode(manifest_of(value), blob) == blob


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_msgpack_roundtrip_property(value: Any) -> None:
    reg = new_system_registry()
    out = codec_roundtrip(reg, value)
    assert out == value
    assert type(out) is type(value)
