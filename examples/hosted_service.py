"""A service run by the host: orders are accepted until SIGTERM or SIGINT,
then the service stops accepting, finishes what it accepted, and stops.

Run: python examples/hosted_service.py
 or: python -m atomr run hosted_service:build   (from examples/)

It prints "ready", accepts an order every 10 ms, and on SIGTERM/SIGINT prints
"stopped accepting after N orders" and "all N orders processed", and exits 0.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, Union

from atomr import Actor, ActorSystem, Context
from atomr.di import ServiceContainer
from atomr.hosting import COORDINATED_SHUTDOWN, Builder, run_host


class Ledger:
    """Where processed orders go (a service the container provides)."""

    def __init__(self) -> None:
        self.orders: list[int] = []


class OrderProcessor(Actor[Union[int, str], Any]):
    """Processes orders one at a time; "processed" asks how many it did."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def handle(self, ctx: Context, msg: Union[int, str]) -> Any:
        if msg == "processed":
            return len(self.ledger.orders)
        await asyncio.sleep(0.002)  # the work
        self.ledger.orders.append(int(msg))
        return None


def say(text: str) -> None:
    print(text, flush=True)


def start(system: ActorSystem, services: ServiceContainer) -> None:
    processor = system.actor_of(services.props(OrderProcessor), "orders")
    door = threading.Lock()
    state = {"open": True, "accepted": 0}

    def front_door() -> None:  # stands in for a listener taking requests
        tick = threading.Event()
        while not tick.wait(0.01):
            with door:
                if not state["open"]:
                    return
                processor.tell(state["accepted"])
                state["accepted"] += 1

    threading.Thread(target=front_door, daemon=True).start()

    def stop_accepting() -> None:
        with door:
            state["open"] = False
        say(f"stopped accepting after {state['accepted']} orders")

    async def drain() -> None:
        # Mail is processed in order: this answer comes after every order.
        done = await processor.ask("processed", 30.0)
        say(f"all {done} orders processed")

    shutdown = COORDINATED_SHUTDOWN.get(system)
    shutdown.add_task("service-unbind", "stop-accepting", stop_accepting)
    shutdown.add_task("service-requests-done", "drain", drain)
    say("ready")


def build() -> Builder:
    """The factory `python -m atomr run` calls."""
    services = ServiceContainer()
    services.register_singleton("ledger", lambda c: Ledger())
    return Builder("orders").with_services(services).on_start(lambda s: start(s, services))


if __name__ == "__main__":
    sys.exit(run_host(f"{__name__}:build"))
