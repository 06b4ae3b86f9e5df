"""pre_restart and the failure log name the failing message in every handler mode."""

from __future__ import annotations

import asyncio
import logging

import pytest

from atomr import Actor, props


class Failing(Actor):
    """Fails on ("fail", mode); records what pre_restart received."""

    seen: list = []

    def __init__(self, task_mode: bool = False) -> None:
        self.asyncio_task = task_mode

    async def handle(self, ctx, msg):
        if msg == "ping":
            return "pong"
        _, mode = msg
        if mode == "suspended":
            await asyncio.sleep(0)  # a real suspension before the failure
        raise ValueError(f"boom {mode}")

    def pre_restart(self, ctx, reason, message):
        Failing.seen.append((type(reason), str(reason), message))


@pytest.mark.parametrize("task_mode,mode", [
    (False, "sync"),
    (False, "suspended"),
    (True, "sync"),
    (True, "suspended"),
])
async def test_pre_restart_and_the_failure_log_get_the_message(system, wait_until, caplog,
                                                               task_mode, mode):
    Failing.seen = []
    ref = system.actor_of(props(Failing, factory=lambda: Failing(task_mode)), "failing")
    failing = ("fail", mode)
    with caplog.at_level(logging.ERROR, logger="atomr"):
        ref.tell(failing)
        await wait_until(lambda: Failing.seen)
        assert await ref.ask("ping") == "pong"
    assert Failing.seen == [(ValueError, f"boom {mode}", failing)]
    messages = [r.getMessage() for r in caplog.records]
    assert any("while handling" in m and mode in m for m in messages), messages
