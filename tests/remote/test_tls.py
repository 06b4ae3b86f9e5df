"""Remoting over mutual TLS, configured through the ``remote.tls`` settings:
systems whose certificates chain to the configured CA talk; a system with a
certificate from another CA is refused."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import shutil
import subprocess

import pytest

from atomr import ActorSystem, Config, props
from atomr.remote import Remote

from _helpers import DEADLINE, GET, Recorder, wait_until

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="needs the openssl command to make certificates")

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(cwd: pathlib.Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=DEADLINE)


def _ca(cwd: pathlib.Path, name: str) -> None:
    _openssl(cwd, "req", "-x509", *EC, "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN={name}")


def _node(cwd: pathlib.Path, name: str, ca: str) -> None:
    _openssl(cwd, "req", *EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={name}")
    _openssl(cwd, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
             f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2")


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("certs")
    _ca(d, "ca")
    _ca(d, "rogue-ca")
    _node(d, "a", "ca")
    _node(d, "b", "ca")
    _node(d, "mallory", "rogue-ca")
    return d


def _tls_config(d: pathlib.Path, node: str, ca: str = "ca") -> Config:
    return Config.from_dict({"remote": {"tls": {
        "certificate-chain": str(d / f"{node}.pem"),
        "private-key": str(d / f"{node}.key"),
        "ca-file": str(d / f"{ca}.pem"),
    }}})


async def test_systems_with_certificates_of_the_trusted_ca_talk(certs):
    a = await ActorSystem.create("a", _tls_config(certs, "a"))
    b = await ActorSystem.create("b", _tls_config(certs, "b"))
    try:
        Remote.get(a)
        Remote.get(b)
        log: list = []
        inbox = b.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
        await wait_until(lambda: inbox.ask(GET) is not None)
        a.tell_remote(b.address + "/user/inbox", "over tls")
        await wait_until(lambda: log == ["over tls"])
    finally:
        await asyncio.wait_for(a.terminate(), DEADLINE)
        await asyncio.wait_for(b.terminate(), DEADLINE)


async def test_a_certificate_of_another_ca_is_refused(certs, caplog):
    caplog.set_level(logging.INFO, logger="atomr.remote")
    mallory = await ActorSystem.create("mallory", _tls_config(certs, "mallory", ca="ca"))
    b = await ActorSystem.create("b", _tls_config(certs, "b"))
    try:
        Remote.get(mallory)
        Remote.get(b)
        log: list = []
        inbox = b.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
        await wait_until(lambda: inbox.ask(GET) is not None)
        dead: list = []
        mallory.subscribe_dead_letters(lambda msg, sender, recipient: dead.append(msg))
        mallory.tell_remote(b.address + "/user/inbox", "let me in")
        await wait_until(lambda: any("handshake refused" in r.getMessage()
                                     for r in caplog.records if r.name == "atomr.remote"))
        # Refused during the TLS handshake: no association, nothing delivered;
        # the message waits on mallory's side until it gives up at shutdown.
        assert Remote.get(b).associations() == {}
        assert Remote.get(mallory).associations() == {}
        assert Remote.get(b).stats()["envelopes_received"] == 0
        await asyncio.wait_for(mallory.terminate(), DEADLINE)
        assert dead == ["let me in"]
        assert log == []
    finally:
        await asyncio.wait_for(mallory.terminate(), DEADLINE)
        await asyncio.wait_for(b.terminate(), DEADLINE)


async def test_an_unreadable_tls_file_is_a_value_error_at_start(certs, tmp_path):
    system = await ActorSystem.create("a", Config.from_dict({"remote": {"tls": {
        "certificate-chain": str(tmp_path / "missing.pem"),
        "private-key": str(certs / "a.key"),
        "ca-file": str(certs / "ca.pem"),
    }}}))
    try:
        with pytest.raises(ValueError, match="certificate chain file .*missing.pem"):
            Remote.get(system)
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)
