"""A peer system in its own process for test_two_processes.py: opens the
tty given as argv[1] as system ``child``, exposes an echo actor at
``/user/echo`` (manifest ``json``) that answers every message to the
parent's ``/user/inbox`` with ``{"echo": <value>, "pid": <its pid>}``,
prints "ready", and shuts down when its stdin closes."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from atomr import Actor, ActorSystem, props
from atomr.remote_serial import RemoteSystem, SerialTransport, decode_json, encode_json


async def main(device: str) -> None:
    system = await ActorSystem.create("child")
    link = await RemoteSystem.start_serial(
        system, SerialTransport("child", device, baud=115200, peer="parent"))
    link.register_bytes_codec("json")
    back = link.actor_selection("akka.serial://parent@pty/user/inbox", "json")
    assert back is not None

    class Echo(Actor):
        def handle(self, ctx: Any, msg: Any) -> None:
            back.tell(encode_json({"echo": decode_json(msg), "pid": os.getpid()}))

    link.expose_actor(system.actor_of(props(Echo), "echo"), "json")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await link.shutdown()
    await system.terminate()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
