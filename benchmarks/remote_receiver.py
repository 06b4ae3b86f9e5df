"""The receiving side of the remote benchmarks, run in a process of its own
by test_bench_remote.py: ``python3 remote_receiver.py atomr|asyncio``.

Both flavours serve the same two actors on 127.0.0.1 (a port the kernel
picks) and print where they listen as the first line of stdout:

* ``counter`` counts the messages it handled and answers an ask with the
  running count (so a tell round ends with one ask: its answer is the
  receiver's acknowledgement that every tell of the round arrived);
* ``echo`` answers every ask with the message itself.

``atomr`` is an atomr system with its TCP transport (the actors are
``/user/counter`` and ``/user/echo``; the printed line is the system's
address). ``asyncio`` is the baseline: a pure-asyncio TCP server (asyncio
streams + msgpack, length-prefixed frames, see remote_baseline.py) feeding
asyncio actors; the printed line is its port.

The process ends when its stdin closes (the benchmark ended or died), or
after ten minutes.
"""

from __future__ import annotations

import asyncio
import sys
import threading

LIFETIME = 600.0


def _watch_stdin(loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
    def watch() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch, daemon=True).start()


async def serve_atomr(done: asyncio.Event) -> None:
    from atomr import Actor, ActorSystem, Config, props
    from atomr.remote import Remote

    system = await ActorSystem.create("receiver", Config.from_dict({"remote": {"port": 0}}))
    Remote.get(system)

    class Counter(Actor):
        def __init__(self) -> None:
            self.count = 0

        def handle(self, ctx, msg):
            self.count += 1
            return self.count

    class Echo(Actor):
        def handle(self, ctx, msg):
            return msg

    system.actor_of(props(Counter), "counter")
    system.actor_of(props(Echo), "echo")
    print(system.address, flush=True)
    try:
        await asyncio.wait_for(done.wait(), LIFETIME)
    finally:
        await asyncio.wait_for(system.terminate(), 10.0)


async def serve_asyncio(done: asyncio.Event) -> None:
    from remote_baseline import AsyncioTcpServer

    server = await AsyncioTcpServer.start("127.0.0.1", 0)
    print(server.port, flush=True)
    try:
        await asyncio.wait_for(done.wait(), LIFETIME)
    finally:
        await server.close()


async def main(flavour: str) -> None:
    done = asyncio.Event()
    _watch_stdin(asyncio.get_running_loop(), done)
    if flavour == "atomr":
        await serve_atomr(done)
    elif flavour == "asyncio":
        await serve_asyncio(done)
    else:
        raise SystemExit(f"unknown flavour {flavour!r} (atomr or asyncio)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
