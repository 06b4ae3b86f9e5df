"""Applications for the host command's tests (``python -m atomr run``).

Each prints what it does on stdout, one line at a time, flushed.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

from atomr import Actor, ActorSystem, props
from atomr.hosting import COORDINATED_SHUTDOWN, PHASES, Builder


_out = threading.Lock()


def say(*parts: Any) -> None:
    """One whole line (tasks of one phase print concurrently)."""
    with _out:
        sys.stdout.write(" ".join(map(str, parts)) + "\n")
        sys.stdout.flush()


class Worker(Actor):
    def __init__(self) -> None:
        self.done = 0

    async def handle(self, ctx, msg):
        if msg == "work":
            await asyncio.sleep(0.02)
            self.done += 1
            return None
        if msg == "count":
            return self.done
        return None

    def post_stop(self, ctx) -> None:
        say("worker stopped", self.done)


def _serve(system: ActorSystem) -> None:
    """Spawns the worker, queues work, and registers a task in each phase."""
    worker = system.actor_of(props(Worker), "worker")
    state = {"accepting": True}
    shutdown = COORDINATED_SHUTDOWN.get(system)
    for phase in PHASES:
        shutdown.add_task(phase, f"log-{phase}", lambda phase=phase: say("phase", phase))

    def unbind() -> None:
        state["accepting"] = False
        say("stopped accepting")

    async def drain() -> None:
        say("drained", await worker.ask("count", 30.0))

    shutdown.add_task("service-unbind", "unbind", unbind)
    shutdown.add_task("service-requests-done", "drain", drain)
    for _ in range(20):
        worker.tell("work")


def build() -> Builder:
    return Builder("hosted").on_start(_serve).on_start(lambda s: say("ready"))


def failing_task() -> ActorSystem:
    system = build().build()

    def boom() -> None:
        raise RuntimeError("cannot close the listener")

    COORDINATED_SHUTDOWN.get(system).add_task("service-stop", "boom", boom)
    return system


def slow_task() -> ActorSystem:
    system = build().build()
    shutdown = COORDINATED_SHUTDOWN.get(system)
    shutdown.set_phase_timeout("service-stop", 120.0)
    shutdown.add_task("service-stop", "slow", lambda: time.sleep(120.0))
    return system


def stuck_task() -> Builder:
    """Nothing runs before the coordinated shutdown's service-stop phase,
    where a task never finishes."""

    def serve(system: ActorSystem) -> None:
        shutdown = COORDINATED_SHUTDOWN.get(system)
        shutdown.set_phase_timeout("service-stop", 120.0)
        shutdown.add_task("service-stop", "stuck", lambda: time.sleep(120.0))
        say("ready")

    return Builder("stuck").on_start(serve)


def broken() -> ActorSystem:
    raise RuntimeError("cannot start: no database")


def not_a_system() -> int:
    return 42


def self_terminating() -> Builder:
    def later(system: ActorSystem) -> None:
        say("ready")
        threading.Thread(target=system.terminate_blocking, args=(30.0,), daemon=True).start()

    return Builder("self-stopping").on_start(later)


#: A builder itself is a valid target.
builder = Builder("as-builder").on_start(lambda s: say("ready"))
