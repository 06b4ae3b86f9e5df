"""Interpreter exit terminates live systems (post_stop hooks run) or says loudly why not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import asyncio
from atomr import Actor, ActorSystem, props

class Hooked(Actor):
    def handle(self, ctx, msg):
        return msg

    def post_stop(self, ctx):
        print("post_stop ran for", ctx.path, flush=True)
"""


def run_script(body: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    script = textwrap.dedent(PRELUDE) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=env, cwd=ROOT)


@pytest.mark.parametrize("body", [
    # a system running its own loop thread
    """
    system = ActorSystem.create_blocking("exit")
    assert system.actor_of(props(Hooked), "a").ask_blocking("x") == "x"
    """,
    # a system on a loop that is idle (neither running nor closed) at exit
    """
    loop = asyncio.new_event_loop()
    system = loop.run_until_complete(ActorSystem.create("exit"))
    ref = system.actor_of(props(Hooked), "a")
    assert loop.run_until_complete(ref.ask("x")) == "x"
    """,
])
def test_exit_terminates_live_systems_and_runs_post_stop(body):
    done = run_script(body)
    assert done.returncode == 0, done.stderr
    assert "post_stop ran for akka://exit/user/a" in done.stdout, (done.stdout, done.stderr)


def test_exit_warns_loudly_when_the_loop_of_a_live_system_is_gone():
    done = run_script("""
    async def main():
        system = await ActorSystem.create("gone")
        assert await system.actor_of(props(Hooked), "a").ask("x") == "x"

    asyncio.run(main())  # ends without terminating the system
    """)
    assert done.returncode == 0, done.stderr
    assert "post_stop ran" not in done.stdout
    assert "actor system gone was still running at interpreter exit" in done.stderr
    assert "post_stop hooks of its" in done.stderr
    assert "Task was destroyed but it is pending" not in done.stderr
