"""Two actors bounce a counter back and forth; prints the throughput.

Run: python examples/pingpong.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Optional, Union

from atomr import Actor, ActorRef, ActorSystem, Context, props


class Ponger(Actor[int, None]):
    """Sends every ball straight back to whoever sent it."""

    def handle(self, ctx: Context, msg: int) -> None:
        sender = ctx.sender
        if sender is not None:
            sender.tell_with_sender(msg, ctx.self_ref)


@dataclass(frozen=True)
class Serve:
    """Starts a rally of `rounds` returns with `ponger`; `done` gets the last ball."""

    ponger: ActorRef[int, None]
    rounds: int
    done: asyncio.Future[int]


class Pinger(Actor[Union[Serve, int], None]):
    """Serves the ball and counts the returns; completes the serve's future when finished."""

    def __init__(self) -> None:
        self.remaining = 0
        self.done: Optional[asyncio.Future[int]] = None

    def handle(self, ctx: Context, msg: Union[Serve, int]) -> None:
        if isinstance(msg, Serve):
            self.remaining, self.done = msg.rounds, msg.done
            msg.ponger.tell_with_sender(0, ctx.self_ref)
            return
        self.remaining -= 1
        if self.remaining == 0:
            if self.done is not None:
                self.done.set_result(msg)
        elif ctx.sender is not None:
            ctx.sender.tell_with_sender(msg + 1, ctx.self_ref)


async def main(messages: int) -> float:
    system = await ActorSystem.create("pingpong")
    try:
        ponger = system.actor_of(props(Ponger), "ponger")
        pinger = system.actor_of(props(Pinger), "pinger")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        rounds = messages // 2
        start = time.perf_counter()
        pinger.tell(Serve(ponger, rounds, done))
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
