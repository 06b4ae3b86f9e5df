"""The target of test_garbage_frames.py, in a process of its own.

Starts system ``target`` with its TCP transport on 127.0.0.1 (a port the
kernel picks) and prints its address as the first line of stdout. Its actor
``/user/echo`` answers an ask of ``{"double": n}`` with ``2 * n``. The
transport's warnings (malformed frames, refused handshakes) go to stderr.
The process ends when stdin closes (the test ended or died), or after the
lifetime given as the first argument (seconds).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading

from atomr import Actor, ActorSystem, Config, props
from atomr.remote import Remote


async def main() -> None:
    lifetime = float(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    system = await ActorSystem.create("target", Config.from_dict({"remote": {"port": 0}}))
    Remote.get(system)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    class Echo(Actor):
        def handle(self, ctx, msg):
            return msg["double"] * 2

    system.actor_of(props(Echo), "echo")

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(system.address, flush=True)
    try:
        await asyncio.wait_for(done.wait(), lifetime)
    finally:
        await asyncio.wait_for(system.terminate(), 10.0)


if __name__ == "__main__":
    asyncio.run(main())
