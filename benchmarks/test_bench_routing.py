"""Routing benchmarks: atomr's native pool routers raced against plain
Python routers over asyncio actors (and, for round robin, Pykka actors).

As in test_bench_core.py, every scenario runs on each implementation in
the same session, with a round size per implementation that makes a round
last ~0.1-0.5 s; the summary at the end of the run gives each rate per
message and the ratio atomr / baseline. The scenarios have no targets: the
ratios are reported.

Run: ``tox -e bench`` or ``python3 -m pytest benchmarks``.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Any

import pytest

from atomr import Actor, props, routing
from baselines import (
    AsyncioLatch, AsyncioWorker, ConsistentHashRouter, PykkaWorker, RoundRobinRouter,
    ThreadLatch, stop_asyncio_actors,
)
from report import ACTOR_IMPLEMENTATIONS
from test_bench_core import WAIT, atomr_in_loop, pykka_actors

#: Messages per round, per scenario and implementation (see the module docstring).
SIZES = {
    "router-round-robin": {"atomr": 1_000_000, "asyncio": 300_000, "pykka": 150_000},
    "router-consistent-hash": {"atomr": 500_000, "asyncio": 200_000},
}
ROUNDS = 10
ROUTEES = 4
VIRTUAL_NODES = 128  # per routee, atomr's default
#: Distinct routing keys, told in rotation.
KEYS = [f"user-{i}" for i in range(10_000)]


class Worker(Actor):
    """Counts down the latch it is sent (the baselines' worker)."""

    async def handle(self, ctx, msg):
        msg.count_down()


def _by_impl(impl: str, **factories: Any) -> Any:
    return factories[impl]


async def _workers(n: int) -> "list[AsyncioWorker]":
    """`n` asyncio-baseline workers, built on the running loop."""
    return [AsyncioWorker() for _ in range(n)]


def _key_sequence(n: int) -> "list[str]":
    """The keys of one round: KEYS in rotation, `n` of them."""
    return [KEYS[i % len(KEYS)] for i in range(n)]


# ---------------------------------------------------------------------------
# 1. round-robin fan-out


@contextmanager
def _round_robin_atomr(n: int):
    with atomr_in_loop("bench-round-robin") as (runner, system):
        router = system.actor_of(routing.round_robin(props(Worker), ROUTEES), "workers")

        async def one_round():
            latch = AsyncioLatch(n)
            tell = router.tell
            for _ in range(n):
                tell(latch)
            await asyncio.wait_for(latch.done, WAIT)

        yield (lambda: runner.run(one_round())), None


@contextmanager
def _round_robin_asyncio(n: int):
    with asyncio.Runner() as runner:
        workers = runner.run(_workers(ROUTEES))
        router = RoundRobinRouter(workers)

        async def one_round():
            latch = AsyncioLatch(n)
            tell = router.tell
            for _ in range(n):
                tell(latch)
            await asyncio.wait_for(latch.done, WAIT)

        try:
            yield (lambda: runner.run(one_round())), None
        finally:
            runner.run(stop_asyncio_actors(workers))


@contextmanager
def _round_robin_pykka(n: int):
    with pykka_actors(*[PykkaWorker] * ROUTEES) as workers:
        router = RoundRobinRouter(workers)

        def one_round():
            latch = ThreadLatch(n)
            tell = router.tell
            for _ in range(n):
                tell(latch)
            assert latch.done.wait(WAIT)

        yield one_round, None


@pytest.mark.parametrize("impl", ACTOR_IMPLEMENTATIONS)
def test_round_robin_fan_out(race, impl):
    """Round-robin fan-out: N tells from one sender to a router over 4
    routees (atomr: ``routing.round_robin(props(Worker), 4)``, routed
    natively into the routees' mailboxes) whose async handler counts down
    a shared latch; the round ends when all N were handled. Rate = N /
    round time (msg/s). Baselines: a plain Python router
    (``itertools.cycle``) over 4 asyncio actors, and the same router over
    4 Pykka ThreadingActors (one thread each)."""
    race("router-round-robin", impl, SIZES["router-round-robin"][impl], ROUNDS,
         _by_impl(impl, atomr=_round_robin_atomr, asyncio=_round_robin_asyncio,
                  pykka=_round_robin_pykka))


# ---------------------------------------------------------------------------
# 2. consistent-hash routing


@contextmanager
def _consistent_hash_atomr(n: int):
    with atomr_in_loop("bench-consistent-hash") as (runner, system):
        router = system.actor_of(
            routing.consistent_hash(props(Worker), ROUTEES, virtual_nodes=VIRTUAL_NODES), "workers")
        keys = _key_sequence(n)

        async def one_round():
            latch = AsyncioLatch(n)
            tell = router.tell_with_key
            for key in keys:
                tell(latch, key)
            await asyncio.wait_for(latch.done, WAIT)

        # Every routee owns some of the keys (the ring spreads them).
        owners = {routing.routee_for_key(router, key) for key in KEYS[:1000]}
        assert len(owners) == ROUTEES, owners
        yield (lambda: runner.run(one_round())), None


@contextmanager
def _consistent_hash_asyncio(n: int):
    with asyncio.Runner() as runner:
        workers = runner.run(_workers(ROUTEES))
        router = ConsistentHashRouter(workers, VIRTUAL_NODES)
        keys = _key_sequence(n)

        async def one_round():
            latch = AsyncioLatch(n)
            tell = router.tell_with_key
            for key in keys:
                tell(latch, key)
            await asyncio.wait_for(latch.done, WAIT)

        owners = {id(router.routee_for_key(key)) for key in KEYS[:1000]}
        assert len(owners) == ROUTEES, owners
        try:
            yield (lambda: runner.run(one_round())), None
        finally:
            runner.run(stop_asyncio_actors(workers))


@pytest.mark.parametrize("impl", ["atomr", "asyncio"])
def test_consistent_hash_routing(race, impl):
    """Consistent-hash routing: N tells with a routing key from one sender
    (atomr: ``ref.tell_with_key(msg, key)`` to
    ``routing.consistent_hash(props(Worker), 4)``, 128 virtual nodes per
    routee, str keys hashed natively and stably) over 10,000 distinct str
    keys in rotation; async handlers count down a shared latch; the round
    ends when all N were handled. Rate = N / round time (msg/s). Baseline:
    a plain Python ring (``bisect`` over the sorted hashes of 128 virtual
    nodes per routee, the built-in ``hash``, which str caches -- in its
    favour) over 4 asyncio actors."""
    race("router-consistent-hash", impl, SIZES["router-consistent-hash"][impl], ROUNDS,
         _by_impl(impl, atomr=_consistent_hash_atomr, asyncio=_consistent_hash_asyncio))
