"""A receiver whose loop can be blocked, in a process of its own, for
test_slow_consumer.py.

Starts system ``slow`` with its TCP transport on 127.0.0.1, the inbound
queue limit given as the first argument, and ``/user/sink``, which counts
what it gets and answers an ask with the count. Prints its address as the
first line of stdout, then, every 10 ms from a thread of its own (which runs
while the loop is blocked), ``q <inbound items queued> <read pauses>``.

Commands on stdin, one a line: ``block`` blocks the loop (printing
``blocked`` first) until ``unblock`` (or 30 s); stdin closing (the test
ended or died), or two minutes passing, ends the process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

from atomr import Actor, ActorSystem, Config, props
from atomr.remote import Remote

LIFETIME = 120.0
MAX_BLOCK = 30.0


async def main() -> None:
    limit = int(sys.argv[1])
    system = await ActorSystem.create("slow", Config.from_dict(
        {"remote": {"port": 0, "inbound-queue-size": limit}}))
    remote = Remote.get(system)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    unblock = threading.Event()
    out = threading.Lock()

    def say(line: str) -> None:
        with out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    class Sink(Actor):
        def __init__(self) -> None:
            self.count = 0

        def handle(self, ctx, msg):
            if msg is None:
                return self.count
            self.count += 1
            return None

    system.actor_of(props(Sink), "sink")

    def block() -> None:
        say("blocked")
        unblock.wait(MAX_BLOCK)

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == "block":
                unblock.clear()
                loop.call_soon_threadsafe(block)
            elif line.strip() == "unblock":
                unblock.set()
        unblock.set()
        loop.call_soon_threadsafe(done.set)

    def monitor() -> None:
        transport = remote._transport
        while not done.is_set() and not transport.stopped:
            say(f"q {transport.inbound_queued} {transport.stats()['read_pauses']}")
            time.sleep(0.01)

    say(system.address)
    threading.Thread(target=commands, daemon=True).start()
    threading.Thread(target=monitor, daemon=True).start()
    try:
        await asyncio.wait_for(done.wait(), LIFETIME)
    finally:
        await asyncio.wait_for(system.terminate(), 10.0)


if __name__ == "__main__":
    asyncio.run(main())
