"""The codec registry as wired into an ActorSystem (the registry itself is
covered by test_codecs.py): ``system.codecs``, ``register_codec``,
``use_json_codec`` and ``codec_roundtrip``."""

from __future__ import annotations

import json

import pytest

from atomr import AtomrError
from atomr.system import PyCodecRegistry, manifest_of

from _helpers import running_system


@pytest.fixture
async def system():
    async with running_system("codecs") as s:
        yield s


class Greeting:
    def __init__(self, text):
        self.text = text

    def to_dict(self):
        return {"text": self.text}

    @classmethod
    def from_dict(cls, d):
        return cls(d["text"])

    def __eq__(self, other):
        return isinstance(other, Greeting) and other.text == self.text


class Payload(dict):
    """A dict subclass: JSON-encodable, but with its own manifest."""


GREETING = manifest_of(Greeting("x"))


def greeting_codec():
    return dict(
        encoder=lambda g: json.dumps(g.to_dict()).encode(),
        decoder=lambda blob: Greeting.from_dict(json.loads(blob)),
    )


async def test_a_new_system_roundtrips_plain_builtin_values_with_msgpack(system):
    assert system.codecs.codec_for("builtins.dict") == "msgpack"
    value = {"a": [1, 2.5, "x", None, True, b"raw"]}
    out = system.codec_roundtrip(value)
    assert out == value and out is not value
    assert system.codec_roundtrip((1, "two")) == (1, "two")
    assert system.codec_roundtrip("text") == "text"


async def test_a_new_system_has_no_default_codec(system):
    with pytest.raises(AtomrError) as info:
        system.codec_roundtrip(Greeting("hi"))
    assert f"no codec registered for manifest `{GREETING}`" in str(info.value)
    assert system.codecs.default_name is None


async def test_register_codec_makes_the_manifest_roundtrip(system):
    system.register_codec("greeting-json", manifests=[GREETING], **greeting_codec())
    out = system.codec_roundtrip(Greeting("hi"))
    assert out == Greeting("hi") and out is not Greeting("hi")
    assert GREETING in system.codecs
    assert system.codecs.codec_for(GREETING) == "greeting-json"


async def test_register_codec_collision_needs_force(system):
    system.register_codec("first", manifests=[GREETING], **greeting_codec())
    with pytest.raises(ValueError) as info:
        system.register_codec("second", manifests=[GREETING], **greeting_codec())
    text = str(info.value)
    assert GREETING in text and "first" in text and "force" in text
    assert system.codecs.codec_for(GREETING) == "first"
    system.register_codec("second", manifests=[GREETING], force=True, **greeting_codec())
    assert system.codecs.codec_for(GREETING) == "second"


async def test_register_codec_with_no_manifests_is_a_value_error(system):
    with pytest.raises(ValueError):
        system.register_codec("x", manifests=[], **greeting_codec())


async def test_a_failed_registration_changes_nothing(system):
    before = system.codecs.manifests()
    with pytest.raises(ValueError):
        system.register_codec("x", manifests=[GREETING, "no_such_module_here.Thing"],
                              **greeting_codec())
    assert system.codecs.manifests() == before
    assert GREETING not in system.codecs


async def test_strict_registration_rejects_unresolvable_manifests(system):
    with pytest.raises(ValueError):
        system.register_codec("x", manifests=[f"{__name__}.NoSuchClass"], **greeting_codec())
    with pytest.raises(ValueError):
        system.register_codec("x", manifests=["nodot"], **greeting_codec())


async def test_lax_registration_warns_naming_the_manifest(system):
    class Local:
        pass

    manifest = manifest_of(Local())
    with pytest.warns(UserWarning, match="not strictly validated") as record:
        system.register_codec("local", encoder=lambda o: b"{}", decoder=lambda b: Local(),
                              manifests=[manifest], strict=False)
    assert any(manifest in str(w.message) for w in record)
    assert isinstance(system.codec_roundtrip(Local()), Local)


async def test_use_json_codec_for_listed_manifests(system):
    manifest = manifest_of(Payload())
    system.use_json_codec([manifest])
    assert system.codecs.codec_for(manifest) == "json"
    assert system.codec_roundtrip(Payload(a=1)) == {"a": 1}
    with pytest.raises(AtomrError):
        system.codec_roundtrip(Greeting("still unregistered"))


async def test_use_json_codec_as_default_handles_every_unregistered_manifest(system):
    system.use_json_codec(default=True)
    assert system.codecs.default_name == "json"
    assert system.codec_roundtrip(Payload(k=[1, 2])) == {"k": [1, 2]}
    assert manifest_of(Payload()) not in system.codecs  # the default is not a registration
    # Explicit registrations still win over the default.
    assert system.codecs.codec_for("builtins.dict") == "msgpack"
    with pytest.raises(AtomrError):
        system.codec_roundtrip(Greeting("not JSON-serialisable"))


async def test_use_json_codec_needs_manifests_or_default(system):
    with pytest.raises(ValueError):
        system.use_json_codec()


async def test_codecs_is_a_live_view_of_the_system_registry(system):
    registry = system.codecs
    assert isinstance(registry, PyCodecRegistry)
    assert system.codecs is registry
    registry.register("greeting-json", manifests=[GREETING], **greeting_codec())
    assert system.codec_roundtrip(Greeting("via the view")) == Greeting("via the view")


async def test_each_system_has_its_own_registry():
    async with running_system("a") as a, running_system("b") as b:
        a.register_codec("greeting-json", manifests=[GREETING], **greeting_codec())
        assert a.codec_roundtrip(Greeting("a")) == Greeting("a")
        with pytest.raises(AtomrError):
            b.codec_roundtrip(Greeting("b"))
        assert a.codecs is not b.codecs


async def test_encoder_failures_surface_as_atomr_errors(system):
    system.register_codec("broken", encoder=lambda g: "not bytes",
                          decoder=lambda b: None, manifests=[GREETING])
    with pytest.raises(AtomrError):
        system.codec_roundtrip(Greeting("x"))
