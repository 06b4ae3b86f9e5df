"""atomr.errors: the exception hierarchy and the call sites that raise each
error (names, timeouts, closed systems)."""

from __future__ import annotations

import asyncio
import threading

import pytest

import atomr
from atomr import (
    Actor,
    ActorNameTakenError,
    ActorSystem,
    ActorSystemError,
    ActorSystemTerminatedError,
    ActorTerminatedError,
    AskError,
    AskTimeoutError,
    AtomrError,
    InterpreterCompatError,
    InterpreterOverloaded,
    InvalidActorNameError,
    SpawnError,
    errors,
    props,
)
from atomr._native import _core


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


# -- hierarchy ------------------------------------------------------------------


@pytest.mark.parametrize("cls, bases", [
    (AtomrError, (Exception,)),
    (ActorSystemError, (AtomrError,)),
    (ActorSystemTerminatedError, (ActorSystemError, AtomrError)),
    (SpawnError, (AtomrError,)),
    (InvalidActorNameError, (ValueError, SpawnError, AtomrError)),
    (ActorNameTakenError, (ValueError, RuntimeError, SpawnError, AtomrError)),
    (AskError, (AtomrError,)),
    (AskTimeoutError, (TimeoutError, AskError, AtomrError)),
    (ActorTerminatedError, (AskError, AtomrError)),
    (InterpreterOverloaded, (AtomrError,)),
    (InterpreterCompatError, (AtomrError,)),
])
def test_error_classes_inherit_from_the_builtins_they_specialise(cls, bases):
    for base in bases:
        assert issubclass(cls, base), f"{cls.__name__} is not a {base.__name__}"


def test_every_error_is_exported_at_top_level_and_in_errors_module():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert isinstance(cls, type) and issubclass(cls, AtomrError)
        assert getattr(atomr, name) is cls
        assert name in atomr.__all__


def test_errors_can_be_raised_and_caught_as_atomr_error():
    with pytest.raises(AtomrError, match="msg"):
        raise AskTimeoutError("msg")


# -- actor names ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "$reserved", "a/b", "with space", "tab\there", "a#b",
                                 "x" * 256])
async def test_invalid_actor_name_raises_invalid_actor_name_error(system, bad):
    with pytest.raises(InvalidActorNameError) as info:
        system.actor_of(props(Echo), bad)
    assert isinstance(info.value, ValueError)
    if bad and len(bad) < 32:
        assert bad in str(info.value)
    assert system.top_level(bad) is None


@pytest.mark.parametrize("bad", [42, b"bytes", ("t",)])
async def test_non_string_actor_name_is_a_type_error(system, bad):
    with pytest.raises(TypeError):
        system.actor_of(props(Echo), bad)


@pytest.mark.parametrize("good", ["a", "worker-1", "under_score", "dots.ok", "Mixed123",
                                  "%20escaped", "x" * 255])
async def test_valid_actor_names_are_accepted(system, good):
    ref = system.actor_of(props(Echo), good)
    assert ref.path == f"akka://app/user/{good}"
    assert await ref.ask("ok") == "ok"


async def test_duplicate_live_actor_name_raises_actor_name_taken_error(system):
    first = system.actor_of(props(Echo), "dup")
    with pytest.raises(ActorNameTakenError) as info:
        system.actor_of(props(Echo), "dup")
    assert isinstance(info.value, ValueError)
    assert "dup" in str(info.value)
    # The live actor is untouched.
    assert await first.ask("first") == "first"


async def test_name_stays_taken_until_the_actor_has_fully_terminated(system, wait_until):
    release = asyncio.Event()
    entered = asyncio.Event()

    class Busy(Actor):
        async def handle(self, ctx, msg):
            entered.set()
            await release.wait()
            return msg

    first = system.actor_of(props(Busy), "dup")
    reply = asyncio.ensure_future(first.ask(1, timeout=10))
    await asyncio.wait_for(entered.wait(), 10)
    first.stop()
    # Stopping has been requested but the actor is still finishing its
    # message: the name stays reserved.
    with pytest.raises(ActorNameTakenError):
        system.actor_of(props(Echo), "dup")
    release.set()
    assert await reply == 1
    await wait_until(first.is_terminated)
    second = system.actor_of(props(Echo), "dup")
    assert second != first
    assert await second.ask(2) == 2


def test_duplicate_name_from_another_thread_raises(blocking_system):
    blocking_system.actor_of(props(Echo), "dup")
    with pytest.raises(ActorNameTakenError, match="dup"):
        blocking_system.actor_of(props(Echo), "dup")


def test_name_is_reusable_after_termination_in_blocking_system(blocking_system,
                                                               wait_until_blocking):
    first = blocking_system.actor_of(props(Echo), "dup")
    assert first.ask_blocking(1, 5.0) == 1
    first.stop()
    wait_until_blocking(first.is_terminated)

    def respawn():
        try:
            return blocking_system.actor_of(props(Echo), "dup")
        except ActorNameTakenError:
            return None  # the parent may not have processed the stop yet

    second = wait_until_blocking(respawn)
    assert second.ask_blocking(2, 5.0) == 2


async def test_actor_of_with_non_props_is_a_type_error(system):
    with pytest.raises(TypeError):
        system.actor_of(Echo, "e")


# -- system names ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "bad name", "a/b", "$x", "-lead", "dot.ted", "x" * 256])
async def test_invalid_system_name_is_a_value_error(bad):
    with pytest.raises(ValueError):
        await ActorSystem.create(bad)


@pytest.mark.parametrize("bad", ["", "bad name", "a/b"])
def test_invalid_blocking_system_name_is_a_value_error_and_leaves_no_thread(bad):
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(ValueError):
        ActorSystem.create_blocking(bad)

    leftovers = [t for t in threading.enumerate()
                 if t.ident not in before and t.name.startswith("atomr")]
    for t in leftovers:
        t.join(10)
    assert not any(t.is_alive() for t in leftovers)


@pytest.mark.parametrize("bad", [None, 7, b"app"])
async def test_non_string_system_name_is_a_type_error(bad):
    with pytest.raises(TypeError):
        await ActorSystem.create(bad)
    with pytest.raises(TypeError):
        ActorSystem.create_blocking(bad)


@pytest.mark.parametrize("good", ["app", "my-system", "sys_2", "0start"])
def test_valid_system_names_are_accepted(make_blocking_system, good):
    s = make_blocking_system(good)
    assert s.name == good
    assert s.actor_of(props(Echo), "e").path == f"akka://{good}/user/e"


# -- closed system ------------------------------------------------------------------------


async def test_calls_on_a_terminated_system_raise_actor_system_terminated_error():
    s = await ActorSystem.create("closed")
    await asyncio.wait_for(s.terminate(), 10)
    with pytest.raises(ActorSystemTerminatedError) as info:
        s.actor_of(props(Echo), "late")
    assert isinstance(info.value, AtomrError)
    assert "closed" in str(info.value)


# -- timeouts -----------------------------------------------------------------------------


async def test_ask_timeout_error_is_a_timeout_error_and_names_the_target(system):
    release = asyncio.Event()

    class Stall(Actor):
        async def handle(self, ctx, msg):
            await release.wait()

    ref = system.actor_of(props(Stall), "stall")
    try:
        with pytest.raises(TimeoutError) as info:
            await ref.ask("x", timeout=0.05)
        assert isinstance(info.value, AskTimeoutError)
        assert "akka://app/user/stall" in str(info.value)
    finally:
        release.set()


@pytest.mark.parametrize("bad", [0, -1, -0.001, float("nan"), float("-inf")])
async def test_invalid_timeout_values_are_value_errors(system, bad):
    ref = system.actor_of(props(Echo), "e")
    with pytest.raises(ValueError):
        ref.ask("x", timeout=bad)


@pytest.mark.parametrize("bad", ["1.0", [1.0], True])
async def test_non_number_timeouts_are_type_errors(system, bad):
    ref = system.actor_of(props(Echo), "e")
    with pytest.raises(TypeError):
        ref.ask("x", timeout=bad)


async def test_handler_exception_keeps_its_type_and_message_across_the_ask(system):
    class CustomError(Exception):
        def __init__(self, code):
            super().__init__(f"code {code}")
            self.code = code

    class Raiser(Actor):
        def handle(self, ctx, msg):
            raise CustomError(msg)

    ref = system.actor_of(props(Raiser), "raiser")
    with pytest.raises(CustomError) as info:
        await ref.ask(418)
    assert info.value.code == 418
    assert not isinstance(info.value, AtomrError)


# -- native error codes: one table from (component, code) to class ------------------


def test_every_native_error_code_surfaces_as_its_python_class():
    classes = errors._native_error_classes()
    codes = _core._native_error_codes()
    assert codes, "the native module declares no error codes"
    for name, (component, code) in codes.items():
        assert name in classes, f"no class in atomr.errors claims native code {name}"
        with pytest.raises(BaseException) as info:
            _core._raise_native_error(component, code, f"failure {name}")
        assert type(info.value) is classes[name]
        assert str(info.value) == f"failure {name}"


def test_every_code_a_class_names_is_defined_by_a_native_component():
    codes = _core._native_error_codes()
    for name in errors._native_error_classes():
        assert name in codes, f"atomr.errors names {name}, which no C++ component defines"


def test_each_native_code_is_claimed_once_and_not_inherited():
    claims = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        for code in cls.__dict__.get("native_codes", ()):
            assert code not in claims, f"{code} claimed by {claims[code]} and {name}"
            claims[code] = name
    # A subclass without its own declaration claims nothing.
    assert "native_codes" not in SpawnError.__dict__
    assert ("core", "generic") in AtomrError.__dict__["native_codes"]


@pytest.mark.parametrize("name, cls", [
    (("core", "invalid_actor_name"), InvalidActorNameError),
    (("core", "actor_name_taken"), ActorNameTakenError),
    (("core", "system_terminated"), ActorSystemTerminatedError),
    (("core", "invalid_argument"), ValueError),
    (("persistence", "generic"), errors.JournalError),
    (("ddata", "malformed_data"), errors.MalformedDataError),
    (("ddata", "generic"), errors.DurableStoreError),
    (("remote", "generic"), errors.RemoteError),
    (("remote", "bind_failed"), errors.RemoteTransportError),
    (("remote", "transport_stopped"), errors.RemoteTransportError),
    (("remote", "invalid_address"), errors.InvalidRemoteAddressError),
    (("remote", "frame_too_large"), errors.FrameTooLargeError),
    (("remote", "malformed_frame"), errors.MalformedFrameError),
    (("remote", "unsupported_version"), errors.MalformedFrameError),
    (("remote", "invalid_config"), ValueError),
])
def test_native_codes_map_onto_the_classes_they_always_did(name, cls):
    component, code = _core._native_error_codes()[name]
    with pytest.raises(cls, match="boom"):
        _core._raise_native_error(component, code, "boom")


def test_an_atomr_code_no_class_claims_is_an_atomr_error():
    with pytest.raises(AtomrError, match="unclaimed") as info:
        _core._raise_native_error(99, 12345, "unclaimed")
    assert type(info.value) is AtomrError


def test_a_new_component_maps_its_codes_without_any_edit_to_core(monkeypatch):
    # What a new C++ component (say component 98) does: its part of the
    # native module declares its errc members, atomr.errors gets a class
    # naming one, and the translator picks it up by table.
    class LinkLostError(AtomrError):
        native_codes = (("future_part", "link_lost"),)

    monkeypatch.setattr(_core, "_NATIVE_CODES", dict(_core._NATIVE_CODES))
    monkeypatch.setattr(_core, "_ERROR_TABLE", dict(_core._ERROR_TABLE))
    with pytest.raises(AtomrError) as before:
        _core._raise_native_error(98, 1, "peer gone")
    assert type(before.value) is AtomrError
    _core._declare_native_codes("future_part", 98, {"link_lost": 1})
    _core._add_error_classes({("future_part", "link_lost"): LinkLostError})
    with pytest.raises(LinkLostError, match="peer gone"):
        _core._raise_native_error(98, 1, "peer gone")
    # The core's codes are untouched.
    with pytest.raises(InvalidActorNameError):
        _core._raise_native_error(*_core._native_error_codes()[("core", "invalid_actor_name")],
                                  "bad")


def test_a_class_for_a_code_no_component_defines_is_refused():
    with pytest.raises(LookupError, match="nowhere"):
        _core._add_error_classes({("nowhere", "generic"): AtomrError})
