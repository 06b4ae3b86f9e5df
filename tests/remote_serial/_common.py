"""Helpers shared by the serial-link tests."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

from atomr import ActorSystem, props
from atomr.remote_serial import RemoteSystem, SerialTransport

from _helpers import DEADLINE, GET, Recorder, wait_until

TEXT = "text"


async def recorder(system: ActorSystem, name: str) -> tuple[Any, list]:
    log: list = []
    ref = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), name)
    await wait_until(lambda: ref.ask(GET) is not None)
    return ref, log


@contextlib.asynccontextmanager
async def linked(ta: SerialTransport, tb: SerialTransport,
                 ) -> AsyncIterator[tuple[RemoteSystem, RemoteSystem, list, list]]:
    """Two systems on this loop joined by `ta` / `tb`, each with an exposed
    recorder ``inbox`` for manifest TEXT; yields both links and both
    inboxes' logs, once the links are up. Both systems are terminated (and
    the links shut down) on exit."""
    a = await ActorSystem.create(ta.system_name)
    b = await ActorSystem.create(tb.system_name)
    try:
        ra = await RemoteSystem.start_serial(a, ta)
        rb = await RemoteSystem.start_serial(b, tb)
        logs = []
        for rs, system in ((ra, a), (rb, b)):
            rs.register_bytes_codec(TEXT)
            ref, log = await recorder(system, "inbox")
            rs.expose_actor(ref, TEXT)
            logs.append(log)
        await wait_until(lambda: ra.connected and rb.connected, message="links up")
        yield ra, rb, logs[0], logs[1]
    finally:
        for t in (ta, tb):
            if not t.bound:
                t.close()
        await asyncio.wait_for(a.terminate(), DEADLINE)
        await asyncio.wait_for(b.terminate(), DEADLINE)
