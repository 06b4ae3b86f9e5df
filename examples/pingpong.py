"""Two actors bounce a counter back and forth; prints the throughput.

Run: python examples/pingpong.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from atomr import Actor, ActorSystem, props


class Ponger(Actor):
    """Sends every ball straight back to whoever sent it."""

    def handle(self, ctx, msg):
        ctx.sender.tell_with_sender(msg, ctx.self_ref)


class Pinger(Actor):
    """Serves the ball and counts the returns; answers "done" when finished."""

    def __init__(self) -> None:
        self.remaining = 0
        self.done: asyncio.Future | None = None

    def handle(self, ctx, msg):
        if isinstance(msg, tuple):  # ("serve", ponger, rounds, future)
            _, ponger, self.remaining, self.done = msg
            ponger.tell_with_sender(0, ctx.self_ref)
            return None
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set_result(msg)
        else:
            ctx.sender.tell_with_sender(msg + 1, ctx.self_ref)
        return None


async def main(messages: int) -> float:
    system = await ActorSystem.create("pingpong")
    try:
        ponger = system.actor_of(props(Ponger), "ponger")
        pinger = system.actor_of(props(Pinger), "pinger")
        done = asyncio.get_running_loop().create_future()
        rounds = messages // 2
        start = time.perf_counter()
        pinger.tell(("serve", ponger, rounds, done))
        last = await done
        elapsed = time.perf_counter() - start
        assert last == rounds - 1, last
    finally:
        await system.terminate()
    rate = messages / elapsed
    print(f"ping-pong: {messages} messages in {elapsed:.3f}s = {rate / 1e6:.2f}M msg/s")
    return rate


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.messages))
