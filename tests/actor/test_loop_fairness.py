"""The dispatcher shares its loop: a drain is bounded in time as well as in
messages (``actor.drain-deadline``), and an in-loop ask is never held past its
timeout by other actors' backlog."""

from __future__ import annotations

import asyncio
import time

from _helpers import DEADLINE, running_system, wait_until

from atomr import Actor, Config, props

BACKLOG = 3000  # messages of 2 ms: 6 s of work for one actor


class Busy(Actor):
    """Spends 2 ms on every message (a handler that blocks the loop)."""

    def __init__(self, handled: list) -> None:
        self.handled = handled

    def handle(self, ctx, msg):
        time.sleep(0.002)
        self.handled.append(msg)


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


async def test_a_backlog_does_not_starve_other_loop_callbacks():
    async with running_system("fair") as system:
        handled: list = []
        busy = system.actor_of(props(Busy, factory=lambda: Busy(handled)), "busy")
        beats: list[float] = []

        async def heartbeat():
            while True:
                beats.append(time.monotonic())
                await asyncio.sleep(0.05)

        task = asyncio.get_running_loop().create_task(heartbeat())
        try:
            await wait_until(lambda: len(beats) >= 2)
            for i in range(BACKLOG):
                busy.tell(i)
            start = len(beats)
            await wait_until(lambda: len(beats) >= start + 10)
        finally:
            task.cancel()
        gaps = [b - a for a, b in zip(beats[start - 1:], beats[start:])]
        assert max(gaps) < 0.5, f"the loop was starved for {max(gaps):.2f}s"
        assert len(handled) < BACKLOG  # the backlog was still being worked through


async def test_an_in_loop_ask_is_not_held_past_its_timeout_by_a_backlog():
    async with running_system("fair-ask") as system:
        handled: list = []
        busy = system.actor_of(props(Busy, factory=lambda: Busy(handled)), "busy")
        echo = system.actor_of(props(Echo), "echo")
        assert await echo.ask("warm") == "warm"
        for i in range(BACKLOG):
            busy.tell(i)
        started = time.monotonic()
        assert await echo.ask("ping", timeout=0.2) == "ping"
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"the ask took {elapsed:.2f}s"
        assert len(handled) < BACKLOG


async def test_the_drain_deadline_is_configurable():
    config = Config.from_dict({"actor": {"drain-deadline": "2ms"}})
    assert config.resolve()["actor.drain-deadline"] == 0.002
    async with running_system("fair-cfg", config) as system:
        echo = system.actor_of(props(Echo), "echo")
        assert await asyncio.wait_for(echo.ask("x"), DEADLINE) == "x"
