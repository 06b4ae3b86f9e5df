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


class FailsAtOnce(Actor):
    """An async handler and an async pre_start that raise in their first step."""

    reasons: list = []
    start_failures = 0

    def __init__(self, fail_start: bool = False) -> None:
        self.fail_start = fail_start

    async def pre_start(self, ctx):
        if self.fail_start:
            FailsAtOnce.start_failures += 1
            raise KeyError("no start")

    async def handle(self, ctx, msg):
        if msg == "ping":
            return "pong"
        return _raise_in_a_helper(msg)

    def pre_restart(self, ctx, reason, message):
        FailsAtOnce.reasons.append((reason, message))


def _raise_in_a_helper(msg):
    raise ValueError(f"boom {msg}")


async def test_a_first_step_failure_keeps_its_exception_and_traceback(system, wait_until,
                                                                      caplog):
    FailsAtOnce.reasons = []
    ref = system.actor_of(props(FailsAtOnce), "fails-at-once")
    with caplog.at_level(logging.ERROR, logger="atomr"):
        ref.tell("first")
        await wait_until(lambda: FailsAtOnce.reasons)
        with pytest.raises(ValueError, match="boom asked") as info:
            await ref.ask("asked")
        assert await ref.ask("ping") == "pong"
    (reason, message), = FailsAtOnce.reasons
    assert message == "first" and isinstance(reason, ValueError)
    # The traceback still runs through the handler into the helper that raised.
    names = []
    tb = reason.__traceback__
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert names[-2:] == ["handle", "_raise_in_a_helper"], names
    assert info.value.__traceback__ is not None
    logged = [r for r in caplog.records if "while handling" in r.getMessage()]
    assert logged and logged[0].exc_info[1] is reason


async def test_a_start_hook_failing_in_its_first_step_is_a_failed_start(system, wait_until):
    FailsAtOnce.start_failures = 0
    ref = system.actor_of(props(FailsAtOnce, factory=lambda: FailsAtOnce(fail_start=True)),
                          "fails-to-start")
    await wait_until(lambda: FailsAtOnce.start_failures >= 1)
    # Akka's default for a failed start: the actor stops (a KeyError from the
    # hook's first step counts as the start failing, not as a crash of ours).
    await wait_until(ref.is_terminated)
    assert FailsAtOnce.start_failures == 1
