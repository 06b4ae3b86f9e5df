"""A peer actor system in a process of its own, for test_kill9.py.

Starts system ``peer`` with its TCP transport on 127.0.0.1 (on the port
given as the first argument; 0: the kernel picks one), with heartbeats every
100 ms and a failure detector that accepts a 1 s pause (see
:data:`FAST_WATCH`), and prints ``<address> <uid>`` as the first line of
stdout. Its actor ``/user/echo`` answers an ask with the message itself;
``/user/sink`` never answers. Stdin closing (the test
died), or a minute passing, ends the process; the test mostly kills it.
"""

from __future__ import annotations

import asyncio
import sys

from atomr import Actor, ActorSystem, props

#: The ``remote`` settings both sides of the kill -9 test use.
FAST_WATCH = {
    "heartbeat-interval": 0.1,
    "idle-timeout": 5.0,
    "watch-failure-detector": {
        "acceptable-heartbeat-pause": 1.0,
        "min-std-deviation": 0.1,
        "first-heartbeat-estimate": 0.1,
        "unreachable-nodes-reaper-interval": 0.05,
    },
}


def actors(system: ActorSystem, done: asyncio.Event) -> None:
    class Echo(Actor):
        def handle(self, ctx, msg):
            return msg

    class Sink(Actor):
        def handle(self, ctx, msg):
            return asyncio.sleep(3600)  # never answers

    system.actor_of(props(Echo), "echo")
    system.actor_of(props(Sink), "sink")


if __name__ == "__main__":
    # Here only: test_kill9.py imports this module, where _procs is remote._procs.
    from _procs import run_peer

    run_peer("peer", dict(FAST_WATCH, port=int(sys.argv[1]) if len(sys.argv) > 1 else 0),
             actors, print_uid=True)
