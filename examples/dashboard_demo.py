"""A live dashboard over a small, busy actor system.

    python examples/dashboard_demo.py            # until Ctrl-C
    python examples/dashboard_demo.py --seconds 5 --bind 127.0.0.1:9100

Open the printed URL: the actor tree (with mailbox depths) changes as
workers come and go, the throughput chart follows the traffic, and the
messages sent to stopped workers show up as dead letters.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from typing import Any

from atomr import Actor, ActorSystem, Context, props
from atomr import dashboard


class Worker(Actor):
    """Counts its jobs; a `"spawn"` makes a helper child."""

    def __init__(self) -> None:
        self.done = 0

    def handle(self, ctx: Context, msg: Any) -> Any:
        if msg == "spawn":
            ctx.spawn(props(Worker))
            return None
        self.done += 1
        return self.done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:0", help="host:port (port 0: any)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")
    args = parser.parse_args(argv)

    system = ActorSystem.create_blocking("dashboard-demo")
    stop = threading.Event()
    rng = random.Random(7)

    def traffic() -> None:
        workers = [system.actor_of(props(Worker), f"worker-{i}") for i in range(5)]
        round_no = 0
        while not stop.is_set():
            round_no += 1
            for ref in workers:
                for _ in range(rng.randint(50, 400)):
                    ref.tell("job")
            if round_no % 5 == 0:  # a worker retires; its late mail becomes dead letters
                gone = workers.pop(rng.randrange(len(workers)))
                gone.stop()
                gone.tell("late job")
                workers.append(system.actor_of(props(Worker), f"worker-r{round_no}"))
                workers[-1].tell("spawn")
            stop.wait(0.2)

    with dashboard.serve(args.bind, node="demo", system=system) as handle:
        print(f"dashboard: {handle.url}", flush=True)
        sender = threading.Thread(target=traffic, daemon=True)
        sender.start()
        try:
            if args.seconds is None:
                while True:
                    time.sleep(3600)
            else:
                stop.wait(args.seconds)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            sender.join(10.0)
    system.terminate_blocking(10.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
