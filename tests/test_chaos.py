"""Randomised concurrent use of one system: nothing crashes, nothing is lost.

Several threads and the system's own loop spawn, tell, ask, fail and stop
actors at random (seeded) while routers and timers run. Afterwards the
system terminates cleanly and every ask ended in one of its documented ways.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time


from atomr import Actor, ActorSystem, AskError, props, routing
from atomr.errors import ActorNameTakenError, ActorSystemTerminatedError


class Worker(Actor):
    def __init__(self):
        self.n = 0

    async def handle(self, ctx, msg):
        kind = msg[0]
        if kind == "echo":
            return msg[1]
        if kind == "boom":
            raise ValueError("chaos")
        if kind == "sleep":
            await asyncio.sleep(msg[1])
            return "slept"
        if kind == "spawn":
            child = ctx.spawn(props(Worker))
            child.tell(("echo", 1))
            return child.path
        if kind == "timer":
            ctx.schedule_once(0.001, ("echo", "tick"))
            return None
        if kind == "stop":
            ctx.stop_self()
            return None
        self.n += 1
        return self.n


OUTCOMES = ("ok", "ask-error", "timeout", "name-taken", "terminated")


def _chaos_thread(system, seed, stop_at, counts, lock, pool_refs):
    rnd = random.Random(seed)
    mine = []
    local = {k: 0 for k in OUTCOMES}
    while time.monotonic() < stop_at:
        op = rnd.random()
        try:
            if op < 0.15 or not mine:
                mine.append(system.actor_of(props(Worker), f"w{seed}-{rnd.randrange(40)}"))
                local["ok"] += 1
            elif op < 0.45:
                ref = rnd.choice(mine)
                ref.tell(rnd.choice([("count",), ("timer",), ("spawn",), ("boom",)]))
                local["ok"] += 1
            elif op < 0.75:
                ref = rnd.choice(mine + pool_refs)
                value = rnd.randrange(1000)
                assert ref.ask_blocking(("echo", value), 2.0) == value
                local["ok"] += 1
            elif op < 0.85:
                rnd.choice(mine).ask_blocking(("sleep", 0.002), 2.0)
                local["ok"] += 1
            elif op < 0.95:
                victim = mine.pop(rnd.randrange(len(mine)))
                victim.stop() if rnd.random() < 0.5 else victim.tell(("stop",))
                local["ok"] += 1
            else:
                rnd.choice(pool_refs).tell(routing.Broadcast(("count",)))
                local["ok"] += 1
        except ActorNameTakenError:
            local["name-taken"] += 1
        except TimeoutError:
            local["timeout"] += 1
        except AskError:
            local["ask-error"] += 1
        except ActorSystemTerminatedError:
            local["terminated"] += 1
    with lock:
        for k, v in local.items():
            counts[k] += v


def test_concurrent_random_operations_leave_a_working_system(caplog):
    caplog.set_level("CRITICAL", logger="atomr")  # the chaos fails actors on purpose
    system = ActorSystem.create_blocking("chaos")
    try:
        pools = [system.actor_of(routing.round_robin(props(Worker), 3), "rr"),
                 system.actor_of(routing.smallest_mailbox(props(Worker), 3), "sm"),
                 system.actor_of(routing.broadcast(props(Worker), 2), "bc")]
        counts = {k: 0 for k in OUTCOMES}
        lock = threading.Lock()
        stop_at = time.monotonic() + 2.0
        threads = [threading.Thread(target=_chaos_thread,
                                    args=(system, seed, stop_at, counts, lock, pools))
                   for seed in range(4)]
        for t in threads:
            t.start()

        async def from_another_loop():
            rnd = random.Random(99)
            done = 0
            while time.monotonic() < stop_at:
                ref = rnd.choice(pools)
                try:
                    assert await ref.ask(("echo", done), timeout=2.0) == done
                except AskError:
                    pass
                done += 1
            return done

        loop_asks = asyncio.run(from_another_loop())
        for t in threads:
            t.join(30)
            assert not t.is_alive()
        assert counts["ok"] > 100, counts
        assert loop_asks > 50
        # The system still works after the storm.
        probe_ref = system.actor_of(props(Worker), "after-the-storm")
        assert probe_ref.ask_blocking(("echo", "still here"), 5.0) == "still here"
        assert pools[0].ask_blocking(("echo", 7), 5.0) == 7
    finally:
        system.terminate_blocking(30)
    assert system.is_terminated
    assert system._core.live_timers() == []
