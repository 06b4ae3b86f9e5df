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

from atomr import Actor, ActorSystem, props

from _procs import run_peer


def actors(system: ActorSystem, done: asyncio.Event) -> None:
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


if __name__ == "__main__":
    run_peer("peer", {"port": int(sys.argv[1]) if len(sys.argv) > 1 else 0}, actors)
