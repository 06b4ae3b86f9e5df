"""A peer actor system in a process of its own, for test_two_processes.py.

Starts system ``peer`` with its TCP transport on 127.0.0.1 (on the port
given as the first argument; without one the kernel picks one) and prints its address as the first line of stdout. Its
actor ``/user/echo`` answers every ``{"reply_to": path, "n": n}`` with
``tell_remote(path, {"n": n, "pid": <this pid>})`` and answers an ask of
``{"double": n}`` with ``2 * n``; ``"stop"`` ends the
process, and so does stdin closing (the test died), or a minute passing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading

from atomr import Actor, ActorSystem, Config, props
from atomr.remote import Remote

LIFETIME = 60.0


async def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    system = await ActorSystem.create("peer", Config.from_dict({"remote": {"port": port}}))
    Remote.get(system)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    class Echo(Actor):
        def handle(self, ctx, msg):
            if msg == "stop":
                done.set()
                return None
            if "double" in msg:
                return msg["double"] * 2
            system.tell_remote(msg["reply_to"], {"n": msg["n"], "pid": os.getpid()})
            return None

    system.actor_of(props(Echo), "echo")

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(system.address, flush=True)
    try:
        await asyncio.wait_for(done.wait(), LIFETIME)
    finally:
        await asyncio.wait_for(system.terminate(), 10.0)


if __name__ == "__main__":
    asyncio.run(main())
