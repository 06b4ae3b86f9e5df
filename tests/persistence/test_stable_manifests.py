"""Manifests that survive moving a class out of a script: stable names,
aliases for data stored under ``__main__`` manifests, the warning when one
is stored, and recovery failures that reach the asker with their cause."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from _helpers import wait_until
from atomr import props
from atomr.codecs import UnstableManifestWarning
from atomr.errors import ActorTerminatedError, AtomrError
from atomr.persistence import Effect, EventSourcedActor, InMemoryJournal, LmdbJournal

HERE = pathlib.Path(__file__).resolve().parent


def load_script_as_module(monkeypatch):
    spec = importlib.util.spec_from_file_location("bank_script_as_module",
                                                  HERE / "_bank_script.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


async def test_a_script_and_the_same_file_imported_agree_on_the_manifest(system, tmp_path,
                                                                         monkeypatch):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, str(HERE / "_bank_script.py"), str(tmp_path / "db")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "12"]
    bank = load_script_as_module(monkeypatch)
    bank.register_codecs(system)
    journal = LmdbJournal(tmp_path / "db")
    ref = system.actor_of(props(bank.Account, factory=lambda: bank.Account(journal=journal)))
    assert await ref.ask("balance") == 12
    assert await ref.ask(3) == 15
    assert {m for _, _, m, _ in journal.replay_events("script-account")} == {
        "bank.script.Deposited"}


class Account(EventSourcedActor):
    persistent_id = "manifest-account"

    def initial_state(self):
        return 0

    def command_handler(self, state, ctx, cmd):
        if cmd == "balance":
            return Effect.reply_message(state)
        if cmd == "crash":
            raise RuntimeError("crash")
        return Effect.persist(cmd).then_reply(lambda s: s)

    def event_handler(self, state, event, recovery_mode=False):
        return state + (event if isinstance(event, int) else event["amount"])


def spawn(system, journal, name="account"):
    return system.actor_of(props(Account, factory=lambda: Account(journal=journal)), name)


def amount_codec(blob: bytes) -> dict:
    value = json.loads(blob)
    if value < 0:
        raise ValueError(f"negative amount {value}")
    return {"amount": value}


async def test_events_stored_under_a_main_manifest_recover_through_an_alias(system):
    journal = InMemoryJournal()
    journal.write_event("manifest-account", 1, b"5", "__main__.Deposited")
    journal.write_event("manifest-account", 2, b"7", "bank.alias.Deposited")
    system.codecs.register("amount", lambda e: json.dumps(e["amount"]).encode(),
                           amount_codec, ["bank.alias.Deposited"])
    system.codecs.register_alias("__main__.Deposited", "bank.alias.Deposited")
    assert await spawn(system, journal).ask("balance") == 12


async def test_a_missing_codec_reaches_the_asker_with_the_event_and_the_fix(system):
    journal = InMemoryJournal()
    journal.write_event("manifest-account", 1, system.codecs.encode("builtins.int", 4),
                        "builtins.int")
    journal.write_event("manifest-account", 2, b"5", "__main__.Deposited")
    ref = spawn(system, journal)
    with pytest.raises(ActorTerminatedError) as info:
        await ref.ask("balance")
    text = str(info.value)
    assert "cannot recover `manifest-account`: event 2 does not decode" in text
    assert "no codec registered for manifest `__main__.Deposited`" in text
    cause = info.value.__cause__
    assert isinstance(cause, AtomrError) and "@atomr.codecs.manifest" in str(cause)
    assert "register_alias" in str(cause)


async def test_a_failing_decoder_reaches_the_asker_after_a_restart(system):
    journal = InMemoryJournal()
    system.codecs.register("amount", lambda e: json.dumps(e["amount"]).encode(),
                           amount_codec, ["bank.fail.Deposited"])
    ref = spawn(system, journal)
    assert await ref.ask(1) == 1
    journal.write_event("manifest-account", 2, b"-3", "bank.fail.Deposited")
    ref.tell("crash")  # the restart recovers again and meets the bad event
    await wait_until(ref.is_terminated)
    with pytest.raises(ActorTerminatedError) as info:
        await ref.ask("balance")
    text = str(info.value)
    assert "event 2 does not decode" in text and "negative amount -3" in text
    assert "codec `amount` failed to decode manifest `bank.fail.Deposited`" in text


async def test_storing_an_event_of_a_main_class_warns(system):
    event_class = type("ManifestTestEvent", (dict,), {"__module__": "__main__"})
    system.codecs.set_default(lambda e: json.dumps(e["amount"]).encode(), amount_codec)
    ref = spawn(system, InMemoryJournal())
    with pytest.warns(UnstableManifestWarning, match="__main__.ManifestTestEvent"):
        assert await ref.ask(event_class(amount=2)) == 2


class GatedJournal(InMemoryJournal):
    """Holds recovery until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = False

    async def read_highest_sequence_nr(self, persistence_id):
        self.waiting = True
        await self.gate.wait()
        return await super().read_highest_sequence_nr(persistence_id)


async def test_asks_waiting_for_a_recovery_that_fails_get_its_cause(system):
    journal = GatedJournal()
    journal.write_event("manifest-account", 1, b"5", "bank.nowhere.Deposited")
    ref = spawn(system, journal)
    await wait_until(lambda: journal.waiting)
    asks = [asyncio.ensure_future(ref.ask("balance")) for _ in range(3)]
    journal.gate.set()
    for ask in asks:
        with pytest.raises(ActorTerminatedError, match="event 1 does not decode: no codec "
                                                       "registered for manifest "
                                                       "`bank.nowhere.Deposited`"):
            await ask
