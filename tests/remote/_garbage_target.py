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

from atomr import Actor, ActorSystem, props

from _procs import run_peer


def actors(system: ActorSystem, done: asyncio.Event) -> None:
    class Echo(Actor):
        def handle(self, ctx, msg):
            return msg["double"] * 2

    system.actor_of(props(Echo), "echo")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    run_peer("target", {"port": 0}, actors, lifetime=float(sys.argv[1]))
