"""Stable manifests: the @manifest decorator and ``__atomr_manifest__``,
registry aliases for data stored under old names, and the warning for
manifests of classes defined in ``__main__``."""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest

import atomr.codecs
from atomr.codecs import (
    PyCodecRegistry,
    UnstableManifestWarning,
    class_manifest,
    manifest,
    manifest_of,
    register_codec,
    validate_manifest,
)
from atomr.errors import AtomrError


@manifest("bank.test.Deposited")
@dataclasses.dataclass
class Deposited:
    amount: int


class Withdrawn:
    __atomr_manifest__ = "bank.test.Withdrawn"


class SpecialWithdrawn(Withdrawn):
    pass


def encode(obj) -> bytes:
    return json.dumps(obj.amount).encode()


def decode(blob: bytes) -> Deposited:
    return Deposited(json.loads(blob))


def main_class(name: str) -> type:
    """A class as a script run as the program defines it."""
    return type(name, (), {"__module__": "__main__"})


def test_a_decorated_class_has_its_stable_manifest():
    assert manifest_of(Deposited(1)) == "bank.test.Deposited"
    assert class_manifest(Deposited) == "bank.test.Deposited"
    assert Deposited.__atomr_manifest__ == "bank.test.Deposited"
    assert atomr.codecs.manifest is manifest


def test_the_class_attribute_is_honoured_and_not_inherited():
    assert manifest_of(Withdrawn()) == "bank.test.Withdrawn"
    assert manifest_of(SpecialWithdrawn()) == f"{__name__}.SpecialWithdrawn"
    assert manifest_of({}) == "builtins.dict"
    bad = type("Bad", (), {"__atomr_manifest__": 42})
    with pytest.raises(TypeError, match="__atomr_manifest__ must be a str"):
        manifest_of(bad())
    with pytest.raises(TypeError, match="needs a class"):
        class_manifest(Deposited(1))  # type: ignore[arg-type]


def test_the_decorator_checks_the_name_and_refuses_a_second_class():
    with pytest.raises(ValueError, match="module.qualname"):
        manifest("nodot")
    with pytest.raises(ValueError, match="__main__"):
        manifest("__main__.Deposited")
    with pytest.raises(ValueError, match="already names class"):
        @manifest("bank.test.Deposited")
        class Other:
            pass
    with pytest.raises(TypeError, match="decorates classes"):
        manifest("bank.test.Fn")(lambda: None)  # type: ignore[arg-type]

    # The same class defined again (a script also imported as a module): fine.
    again = manifest("bank.test.Deposited")(type("Deposited", (), {"__module__": "__main__"}))
    assert manifest_of(again()) == "bank.test.Deposited"
    manifest("bank.test.Deposited")(Deposited)


def test_strict_validation_accepts_a_decorated_name_without_importing_it():
    validate_manifest("bank.test.Deposited")  # no module `bank` exists
    with pytest.raises(ValueError, match="no importable module"):
        validate_manifest("bank.test.NotNamed")
    reg = PyCodecRegistry()
    register_codec(reg, "amount", encode, decode, ["bank.test.Deposited"])
    assert reg.decode_message(*reg.encode_message(Deposited(7))) == Deposited(7)


def test_an_alias_decodes_data_stored_under_an_old_manifest():
    reg = PyCodecRegistry()
    with pytest.raises(ValueError, match="no codec registered"):
        reg.register_alias("old.Deposited", "bank.test.Deposited")
    reg.register("amount", encode, decode, ["bank.test.Deposited"])
    reg.register_alias("old.Deposited", "bank.test.Deposited")
    assert reg.decode("old.Deposited", b"5") == Deposited(5)
    assert reg.codec_for("old.Deposited") == "amount"
    assert reg.aliases() == {"old.Deposited": "bank.test.Deposited"}
    assert "old.Deposited" not in reg and reg.manifests() == ["bank.test.Deposited"]
    # The alias follows the target's registration when it is replaced.
    reg.register("other", encode, lambda b: ("other", b), ["bank.test.Deposited"], force=True)
    assert reg.decode("old.Deposited", b"5") == ("other", b"5")
    with pytest.raises(ValueError, match="alias of"):
        reg.register("x", encode, decode, ["old.Deposited"])
    with pytest.raises(ValueError, match="already has codec"):
        reg.register_alias("bank.test.Deposited", "old.Deposited")
    with pytest.raises(ValueError, match="itself"):
        reg.register_alias("a.B", "a.B")
    with pytest.raises(TypeError):
        reg.register_alias(1, "bank.test.Deposited")  # type: ignore[arg-type]
    # Registering the alias's manifest with force replaces the alias.
    reg.register("x", encode, decode, ["old.Deposited"], force=True)
    assert reg.aliases() == {} and reg.decode("old.Deposited", b"1") == Deposited(1)


def test_encoding_a_main_class_warns_once_per_manifest():
    cls = main_class("ManifestTestEncoded")
    reg = PyCodecRegistry()
    reg.set_default(lambda o: b"x", lambda b: cls())
    with pytest.warns(UnstableManifestWarning, match="@atomr.codecs.manifest") as record:
        reg.encode_message(cls())
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.encode_message(cls())  # once per manifest


def test_registering_a_main_manifest_warns():
    with pytest.warns(UnstableManifestWarning, match="__main__.ManifestTestRegistered"):
        PyCodecRegistry().register("c", encode, decode, ["__main__.ManifestTestRegistered"])


def test_a_missing_main_codec_error_says_how_to_fix_it():
    reg = PyCodecRegistry()
    with pytest.raises(AtomrError, match="register_alias") as info:
        reg.decode("__main__.ManifestTestMissing", b"{}")
    assert "no codec registered for manifest `__main__.ManifestTestMissing`" in str(info.value)
    with pytest.raises(AtomrError) as info:
        reg.decode("app.Missing", b"{}")
    assert "__main__" not in str(info.value)
