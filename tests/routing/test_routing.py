"""Routers (``atomr.routing``): pool and group routers, routing logics,
management messages, resizing, pool supervision and the backoff supervisor.

Everything timing-related (tail-chopping steps, ask windows, resize ticks,
backoff delays) runs on the system's timer service, so it is checked on the
virtual clock: ``system.advance_time(s)`` fires exactly the timers that fall
due and returns how many fired. Routers run on a system bound to the test's
own loop, so a test decides when actors get to run (whenever it awaits).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from atomr import Actor, Props, props, routing
from atomr.core import ResizerConfig
from atomr.errors import AskError, AskTimeoutError
from atomr.routing import AdjustPoolSize, Broadcast, GetRoutees

from _helpers import DEADLINE, running_system, virtual_config, wait_until

PING = "__ping__"


@pytest.fixture
async def vsystem():
    """A system on the test's loop whose timers run on a virtual clock."""
    async with running_system("vrouting", virtual_config()) as s:
        yield s


# -- routee actors -----------------------------------------------------------------------------


class Echo(Actor):
    """Logs ``(own name, msg)`` and answers its own name."""

    def __init__(self, log: list) -> None:
        self.log = log

    def handle(self, ctx, msg):
        name = ctx.self_ref.name
        self.log.append((name, msg))
        return name


def echo(log: list) -> Props:
    return props(Echo, factory=lambda: Echo(log))


class Gated(Actor):
    """Like Echo, but the message ``"block"`` keeps the actor busy (its
    handler suspended) until the test sets `gate`."""

    def __init__(self, log: list, gate: asyncio.Event) -> None:
        self.log = log
        self.gate = gate

    async def handle(self, ctx, msg):
        name = ctx.self_ref.name
        self.log.append((name, msg))
        if msg == "block":
            await self.gate.wait()
        return name


def gated(log: list, gate: asyncio.Event) -> Props:
    return props(Gated, factory=lambda: Gated(log, gate))


class Picky(Actor):
    """Answers an ask only when its name is in `answering`; otherwise it
    stashes the message, so the ask stays unanswered. Always answers PING
    (unlogged), which lets a test flush its mailbox."""

    def __init__(self, log: list, answering: set) -> None:
        self.log = log
        self.answering = answering

    def handle(self, ctx, msg):
        if msg == PING:
            return PING
        name = ctx.self_ref.name
        self.log.append((name, msg))
        if name in self.answering:
            return name
        ctx.stash()
        return None


def picky(log: list, answering=()) -> Props:
    answering = set(answering)
    return props(Picky, factory=lambda: Picky(log, answering))


class Lifecycle(Actor):
    """Logs each start (``pre_start``) in `starts`; ``"boom"`` raises,
    ``"stop"`` stops the actor, anything else is logged in `log`."""

    def __init__(self, starts: list, log: list) -> None:
        self.starts = starts
        self.log = log

    def pre_start(self, ctx):
        self.starts.append(ctx.self_ref.name)

    def handle(self, ctx, msg):
        if msg == "boom":
            raise RuntimeError("routee failure on purpose")
        if msg == "stop":
            ctx.stop_self()
            return None
        self.log.append((ctx.self_ref.name, msg))
        return ctx.self_ref.name


def lifecycle(starts: list, log: list) -> Props:
    return props(Lifecycle, factory=lambda: Lifecycle(starts, log))


def names(refs) -> list:
    return [r.name for r in refs]


# -- round robin, random, broadcast ------------------------------------------------------------


async def test_round_robin_gives_every_routee_exactly_k_of_k_times_n_tells(system):
    log: list = []
    n, k = 4, 25
    ref = system.actor_of(routing.round_robin(echo(log), n), "rr")
    for i in range(n * k):
        ref.tell(i)
    await wait_until(lambda: len(log) == n * k)
    per_routee: dict = {}
    for name, i in log:
        per_routee.setdefault(name, []).append(i)
    assert sorted(per_routee) == [f"routee-{j}" for j in range(n)]
    assert all(len(got) == k for got in per_routee.values())
    # strict rotation: each routee gets one residue class, in sending order
    residues = set()
    for got in per_routee.values():
        assert got == sorted(got)
        assert len({i % n for i in got}) == 1
        residues.add(got[0] % n)
    assert residues == set(range(n))


async def test_round_robin_pool_routees_are_children_named_routee_0_to_n_minus_1(system):
    ref = system.actor_of(routing.round_robin(echo([]), 3), "workers")
    found = routing.routees(ref)
    assert [r.path for r in found] == [f"{ref.path}/routee-{i}" for i in range(3)]
    asked = await ref.ask(GetRoutees())
    assert asked == found
    assert names(asked) == ["routee-0", "routee-1", "routee-2"]


async def test_random_router_spreads_2000_messages_without_starving_a_routee(system):
    log: list = []
    ref = system.actor_of(routing.random(echo(log), 4), "rnd")
    for i in range(2000):
        ref.tell(i)
    await wait_until(lambda: len(log) == 2000)
    counts = Counter(name for name, _ in log)
    assert set(counts) == {f"routee-{j}" for j in range(4)}
    # 500 expected per routee (binomial sd ~19): 300 is far out in the tail
    assert min(counts.values()) >= 300, counts


async def test_broadcast_pool_delivers_every_message_to_every_routee_in_order(system):
    log: list = []
    ref = system.actor_of(routing.broadcast(echo(log), 3), "bc")
    payload = object()
    for i in range(10):
        ref.tell(i)
    ref.tell(payload)
    await wait_until(lambda: len(log) == 33)
    for j in range(3):
        got = [m for name, m in log if name == f"routee-{j}"]
        assert got[:10] == list(range(10))
        assert got[10] is payload  # the same object, not a copy


async def test_an_ask_through_a_broadcast_pool_gets_the_first_reply(system):
    log: list = []
    ref = system.actor_of(routing.broadcast(echo(log), 3), "bc")
    reply = await ref.ask("who", timeout=DEADLINE)
    assert reply in {"routee-0", "routee-1", "routee-2"}
    await wait_until(lambda: len(log) == 3)


async def test_broadcast_wrapper_reaches_every_routee_of_a_round_robin_pool(system):
    log: list = []
    ref = system.actor_of(routing.round_robin(echo(log), 4), "rr")
    ref.tell(Broadcast("hello"))
    await wait_until(lambda: len(log) == 4)
    assert sorted(log) == [(f"routee-{j}", "hello") for j in range(4)]
    # and the rotation of ordinary mail is not disturbed by it
    for i in range(4):
        ref.tell(i)
    await wait_until(lambda: len(log) == 8)
    assert sorted(name for name, _ in log[4:]) == [f"routee-{j}" for j in range(4)]


async def test_broadcast_wrapper_needs_no_key_on_a_consistent_hash_pool(system):
    log: list = []
    ref = system.actor_of(routing.consistent_hash(echo(log), 3), "ch")
    ref.tell(Broadcast("all"))
    await wait_until(lambda: len(log) == 3)
    assert sorted(log) == [(f"routee-{j}", "all") for j in range(3)]


# -- consistent hashing ------------------------------------------------------------------------


MIXED_KEYS = ([f"user-{i}" for i in range(40)] + list(range(40))
              + [f"blob-{i}".encode() for i in range(40)] + [2 ** 70 + 3, -5, ""])


async def test_consistent_hash_keeps_every_key_on_one_routee(system):
    log: list = []
    ref = system.actor_of(routing.consistent_hash(echo(log), 4), "ch")
    for rnd in range(3):
        for key in MIXED_KEYS:
            ref.tell_with_key((rnd, key), key)
    total = 3 * len(MIXED_KEYS)
    await wait_until(lambda: len(log) == total)
    where: dict = {}
    for name, (_, key) in log:
        where.setdefault((type(key), key), set()).add(name)
    assert len(where) == len(MIXED_KEYS)
    for (_, key), seen in where.items():
        assert len(seen) == 1, f"key {key!r} went to {seen}"
        assert seen == {routing.routee_for_key(ref, key).name}
    # the keys are spread over the routees, not all on one
    assert len({name for name, _ in log}) == 4


async def test_consistent_hash_ask_with_key_is_answered_by_the_keys_routee(system):
    log: list = []
    ref = system.actor_of(routing.consistent_hash(echo(log), 5), "ch")
    for key in ("alpha", 42, b"\x00\x01", "alpha"):
        expected = routing.routee_for_key(ref, key).name
        assert await ref.ask(("q", key), timeout=DEADLINE, key=key) == expected


async def test_plain_tell_to_a_consistent_hash_router_goes_to_dead_letters(system):
    log: list = []
    ref = system.actor_of(routing.consistent_hash(echo(log), 3), "ch")
    dead: list = []
    system.subscribe_dead_letters(lambda msg, sender, recipient: dead.append(msg))
    ref.tell("no key")  # never raises
    await wait_until(lambda: dead == ["no key"])
    with pytest.raises(ValueError):
        ref.tell_with_key("none is no key", None)
    # the router is unharmed and nothing was delivered
    assert await ref.ask("ok", timeout=DEADLINE, key=1) in {"routee-0", "routee-1", "routee-2"}
    assert [m for _, m in log] == ["ok"]


async def test_adding_a_routee_moves_about_a_fifth_of_the_keys_and_only_to_it(system):
    ref = system.actor_of(routing.consistent_hash(echo([]), 4), "ch")
    keys = ([f"key-{i}" for i in range(2000)] + list(range(1500))
            + [f"b{i}".encode() for i in range(1500)])
    before = {(type(k), k): routing.routee_for_key(ref, k).name for k in keys}
    assert await ref.ask(AdjustPoolSize(1)) == 5
    assert names(routing.routees(ref)) == [f"routee-{i}" for i in range(5)]
    after = {(type(k), k): routing.routee_for_key(ref, k).name for k in keys}
    moved = [k for k in before if before[k] != after[k]]
    fraction = len(moved) / len(keys)
    assert 0.1 <= fraction <= 0.35, fraction
    assert {after[k] for k in moved} == {"routee-4"}
    # removing the added routee puts every key back where it was
    assert await ref.ask(AdjustPoolSize(-1)) == 4
    restored = {(type(k), k): routing.routee_for_key(ref, k).name for k in keys}
    assert restored == before


async def test_messages_follow_the_ring_after_the_pool_grew(system):
    log: list = []
    ref = system.actor_of(routing.consistent_hash(echo(log), 2), "ch")
    await ref.ask(AdjustPoolSize(2))
    keys = [f"k{i}" for i in range(60)]
    for key in keys:
        ref.tell_with_key(key, key)
    await wait_until(lambda: len(log) == len(keys))
    assert all(name == routing.routee_for_key(ref, key).name for name, key in log)
    assert {"routee-2", "routee-3"} & {name for name, _ in log}


# -- smallest mailbox --------------------------------------------------------------------------


async def test_smallest_mailbox_picks_the_routee_with_the_shortest_backlog(system):
    log: list = []
    gate = asyncio.Event()
    ref = system.actor_of(routing.smallest_mailbox(gated(log, gate), 3), "sm")
    rs = routing.routees(ref)
    try:
        for r in rs:
            r.tell("block")
        await wait_until(lambda: sum(m == "block" for _, m in log) == 3)
        for r, backlog in zip(rs, (3, 1, 2)):
            for j in range(backlog):
                r.tell(("backlog", j))
        ref.tell("pick")
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 3 + 6 + 1)
    assert [name for name, m in log if m == "pick"] == ["routee-1"]


async def test_smallest_mailbox_prefers_an_idle_routee_over_busy_ones(system):
    log: list = []
    gate = asyncio.Event()
    ref = system.actor_of(routing.smallest_mailbox(gated(log, gate), 3), "sm")
    rs = routing.routees(ref)
    try:
        rs[0].tell("block")
        rs[2].tell("block")
        await wait_until(lambda: sum(m == "block" for _, m in log) == 2)
        for j in range(3):
            rs[0].tell(("backlog", j))
        for i in range(5):
            ref.tell(("job", i))
            await wait_until(lambda: ("routee-1", ("job", i)) in log)
        assert [name for name, m in log if m[0] == "job"] == ["routee-1"] * 5
    finally:
        gate.set()
    await wait_until(lambda: len(log) == 2 + 3 + 5)


# -- tail chopping and scatter-gather (virtual time) -------------------------------------------


async def test_tail_chopping_asks_the_next_routee_only_after_the_interval(vsystem):
    log: list = []
    ref = vsystem.actor_of(routing.tail_chopping(picky(log, {"routee-1"}), 3,
                                                 interval_secs=0.5, within_secs=5.0), "tc")
    rs = await ref.ask(GetRoutees())
    fut = ref.ask("q", timeout=DEADLINE)
    await wait_until(lambda: log)
    assert vsystem.advance_time(0.49) == 0
    await ref.ask(GetRoutees())  # the head has handled whatever fired
    await rs[1].ask(PING)
    assert log == [("routee-0", "q")]
    assert not fut.done()
    assert vsystem.advance_time(0.02) == 1  # the interval is over: routee-1 gets it
    assert await asyncio.wait_for(fut, DEADLINE) == "routee-1"
    assert log == [("routee-0", "q"), ("routee-1", "q")]
    # a reply came, so the third routee is never bothered
    vsystem.advance_time(10.0)
    await ref.ask(GetRoutees())
    await rs[2].ask(PING)
    assert log == [("routee-0", "q"), ("routee-1", "q")]


async def test_tail_chopping_answers_at_once_when_the_first_routee_replies(vsystem):
    log: list = []
    ref = vsystem.actor_of(routing.tail_chopping(picky(log, {"routee-0", "routee-1",
                                                              "routee-2"}), 3,
                                                 interval_secs=0.5, within_secs=5.0), "tc")
    # successive asks start at successive routees; no time has to pass
    replies = [await ref.ask(i, timeout=DEADLINE) for i in range(3)]
    assert sorted(replies) == ["routee-0", "routee-1", "routee-2"]
    assert len(log) == 3


async def test_tail_chopping_ask_fails_with_ask_timeout_after_within(vsystem):
    log: list = []
    ref = vsystem.actor_of(routing.tail_chopping(picky(log), 3, interval_secs=0.5,
                                                 within_secs=2.0), "tc")
    rs = await ref.ask(GetRoutees())
    fut = ref.ask("q", timeout=DEADLINE)
    for _ in range(2):  # each step is armed when the head handles the previous one
        assert vsystem.advance_time(0.5) == 1
        await ref.ask(GetRoutees())
    assert vsystem.advance_time(0.99) == 0
    await ref.ask(GetRoutees())
    for r in rs:
        await r.ask(PING)
    assert sorted(log) == [("routee-0", "q"), ("routee-1", "q"), ("routee-2", "q")]
    assert not fut.done()
    assert vsystem.advance_time(0.02) == 1
    with pytest.raises(AskTimeoutError):
        await asyncio.wait_for(fut, DEADLINE)


async def test_scatter_gather_returns_the_first_reply_and_asks_every_routee(vsystem):
    log: list = []
    ref = vsystem.actor_of(routing.scatter_gather(picky(log, {"routee-2"}), 3,
                                                  within_secs=1.0), "sg")
    assert await ref.ask("q", timeout=DEADLINE) == "routee-2"
    assert sorted(log) == [("routee-0", "q"), ("routee-1", "q"), ("routee-2", "q")]


async def test_scatter_gather_ask_fails_with_ask_timeout_after_within(vsystem):
    log: list = []
    ref = vsystem.actor_of(routing.scatter_gather(picky(log), 3, within_secs=2.0), "sg")
    fut = ref.ask("q", timeout=DEADLINE)
    await wait_until(lambda: len(log) == 3)
    assert vsystem.advance_time(1.99) == 0
    await ref.ask(GetRoutees())
    assert not fut.done()
    assert vsystem.advance_time(0.02) == 1
    with pytest.raises(AskTimeoutError) as info:
        await asyncio.wait_for(fut, DEADLINE)
    assert isinstance(info.value, AskError)


# -- resizer -----------------------------------------------------------------------------------


async def test_resizer_grows_the_pool_under_load_and_shrinks_it_when_idle(vsystem):
    log: list = []
    gate = asyncio.Event()
    resizer = ResizerConfig(lower_bound=2, upper_bound=4, pressure_threshold=1.0,
                            backoff_threshold=0.3, rampup_rate=1.0, backoff_rate=0.5)
    ref = vsystem.actor_of(routing.round_robin(gated(log, gate), 2, resizer=resizer,
                                               resize_interval_secs=1.0), "pool")
    try:
        assert len(await ref.ask(GetRoutees())) == 2
        ref.tell("block")
        ref.tell("block")
        await wait_until(lambda: len(log) == 2)
        vsystem.advance_time(1.0)  # a resize tick with every routee busy
        grown = await ref.ask(GetRoutees())
        assert names(grown) == ["routee-0", "routee-1", "routee-2", "routee-3"]
        ref.tell("block")
        ref.tell("block")
        await wait_until(lambda: len(log) == 4)
        assert {name for name, _ in log} == set(names(grown))  # the new routees work too
        vsystem.advance_time(1.0)  # still all busy, but at the upper bound
        assert len(await ref.ask(GetRoutees())) == 4
    finally:
        gate.set()
    for r in grown:
        await r.ask(PING)  # every routee is idle again
    vsystem.advance_time(1.0)  # an idle tick: 4 * (1 - 0.5) = 2 routees
    assert names(await ref.ask(GetRoutees())) == ["routee-0", "routee-1"]
    await wait_until(lambda: grown[2].is_terminated() and grown[3].is_terminated())
    vsystem.advance_time(5.0)  # never below the lower bound
    assert len(await ref.ask(GetRoutees())) == 2
    assert not grown[0].is_terminated() and not grown[1].is_terminated()


async def test_resizer_shrinks_an_idle_pool_on_the_real_clock(system):
    resizer = ResizerConfig(lower_bound=1, upper_bound=5, backoff_rate=0.5)
    ref = system.actor_of(routing.smallest_mailbox(echo([]), 4, resizer=resizer,
                                                   resize_interval_secs=0.02), "pool")
    first = routing.routees(ref)
    assert len(first) == 4
    await wait_until(lambda: len(routing.routees(ref)) == 1)
    await wait_until(lambda: all(r.is_terminated() for r in first[1:]))
    assert await ref.ask("still routing", timeout=DEADLINE) == "routee-0"


async def test_resizer_bounds_clamp_the_initial_pool_size(system):
    resizer = ResizerConfig(lower_bound=3, upper_bound=5)
    small = system.actor_of(routing.round_robin(echo([]), 1, resizer=resizer,
                                                resize_interval_secs=60.0), "small")
    large = system.actor_of(routing.random(echo([]), 9, resizer=resizer,
                                           resize_interval_secs=60.0), "large")
    assert len(routing.routees(small)) == 3
    assert len(routing.routees(large)) == 5


# -- groups ------------------------------------------------------------------------------------


def spawn_echoes(system, log: list, n: int) -> list:
    return [system.actor_of(echo(log), f"svc-{i}") for i in range(n)]


async def test_round_robin_group_routes_evenly_over_the_given_refs(system):
    log: list = []
    refs = spawn_echoes(system, log, 3)
    ref = system.actor_of(routing.round_robin_group(refs), "grp")
    assert await ref.ask(GetRoutees()) == refs
    assert routing.routees(ref) == refs
    for i in range(30):
        ref.tell(i)
    await wait_until(lambda: len(log) == 30)
    assert Counter(name for name, _ in log) == {"svc-0": 10, "svc-1": 10, "svc-2": 10}


async def test_stopping_a_group_router_leaves_its_routees_running(system):
    log: list = []
    refs = spawn_echoes(system, log, 2)
    ref = system.actor_of(routing.group("random", refs), "grp")
    ref.tell("x")
    await wait_until(lambda: log)
    ref.stop()
    await wait_until(ref.is_terminated)
    for r in refs:
        assert not r.is_terminated()
        assert await r.ask("alive", timeout=DEADLINE) == r.name


async def test_group_router_routes_around_a_stopped_routee(system):
    log: list = []
    refs = spawn_echoes(system, log, 3)
    before = system.dead_letter_count
    ref = system.actor_of(routing.round_robin_group(refs), "grp")
    refs[1].stop()
    await wait_until(refs[1].is_terminated)
    for i in range(12):
        ref.tell(i)
    await wait_until(lambda: len(log) == 12)
    assert set(name for name, _ in log) == {"svc-0", "svc-2"}
    assert system.dead_letter_count == before


async def test_broadcast_and_consistent_hash_groups(system):
    log: list = []
    refs = spawn_echoes(system, log, 3)
    bc = system.actor_of(routing.broadcast_group(refs), "bc")
    bc.tell("all")
    await wait_until(lambda: len(log) == 3)
    assert sorted(log) == [("svc-0", "all"), ("svc-1", "all"), ("svc-2", "all")]
    log.clear()
    ch = system.actor_of(routing.consistent_hash_group(refs), "ch")
    for _ in range(3):
        for key in ("a", "b", "c", "d", "e", "f"):
            ch.tell_with_key(key, key)
    await wait_until(lambda: len(log) == 18)
    for key in ("a", "b", "c", "d", "e", "f"):
        assert {name for name, k in log if k == key} == {routing.routee_for_key(ch, key).name}


# -- pool lifecycle and supervision ------------------------------------------------------------


async def test_stopping_a_pool_router_stops_its_routees(system):
    ref = system.actor_of(routing.round_robin(echo([]), 3), "pool")
    rs = routing.routees(ref)
    assert await ref.ask("up", timeout=DEADLINE) == "routee-0"
    ref.stop()
    await wait_until(lambda: ref.is_terminated() and all(r.is_terminated() for r in rs))


async def test_a_failing_routee_is_restarted_and_keeps_its_place(system):
    starts: list = []
    log: list = []
    ref = system.actor_of(routing.round_robin(lifecycle(starts, log), 3), "pool")
    rs = routing.routees(ref)
    await wait_until(lambda: len(starts) == 3)
    rs[1].tell("boom")
    await wait_until(lambda: starts.count("routee-1") == 2)
    assert not rs[1].is_terminated()
    assert routing.routees(ref) == rs
    assert await ref.ask(GetRoutees()) == rs
    for i in range(6):
        ref.tell(i)
    await wait_until(lambda: len(log) == 6)
    assert Counter(name for name, _ in log) == {"routee-0": 2, "routee-1": 2, "routee-2": 2}
    assert sorted(starts) == ["routee-0", "routee-1", "routee-1", "routee-2"]


async def test_a_routee_that_stops_is_removed_from_the_pool(system):
    starts: list = []
    log: list = []
    before = system.dead_letter_count
    ref = system.actor_of(routing.round_robin(lifecycle(starts, log), 3), "pool")
    rs = routing.routees(ref)
    rs[0].tell("stop")
    await wait_until(lambda: len(routing.routees(ref)) == 2)
    await wait_until(rs[0].is_terminated)
    assert routing.routees(ref) == rs[1:]
    for i in range(8):
        ref.tell(i)
    await wait_until(lambda: len(log) == 8)
    assert Counter(name for name, _ in log) == {"routee-1": 4, "routee-2": 4}
    assert system.dead_letter_count == before
    assert starts.count("routee-0") == 1  # stopped routees are not brought back


async def test_a_pool_whose_routees_all_stopped_stops_itself(system):
    ref = system.actor_of(routing.round_robin(lifecycle([], []), 2), "pool")
    rs = routing.routees(ref)
    ref.tell(Broadcast("stop"))
    await wait_until(lambda: ref.is_terminated() and all(r.is_terminated() for r in rs))


# -- argument validation -----------------------------------------------------------------------


POOLS = [routing.round_robin, routing.random, routing.broadcast, routing.consistent_hash,
         routing.smallest_mailbox, routing.tail_chopping, routing.scatter_gather]


@pytest.mark.parametrize("factory", POOLS, ids=lambda f: f.__name__)
def test_a_pool_needs_at_least_one_routee(factory):
    with pytest.raises(ValueError):
        factory(props(Echo), 0)
    with pytest.raises(ValueError):
        factory(props(Echo), n=-2)


@pytest.mark.parametrize("factory", POOLS, ids=lambda f: f.__name__)
def test_a_pool_needs_props_for_its_routees(factory):
    with pytest.raises(TypeError):
        factory(Echo, 2)
    with pytest.raises(TypeError):
        factory("not props", 2)


@pytest.mark.parametrize("factory", POOLS, ids=lambda f: f.__name__)
def test_pool_factories_return_router_props_also_reachable_on_props(factory):
    made = factory(props(Echo), n=2)
    assert isinstance(made, Props)
    assert made.kind_label == "router"
    assert getattr(Props, factory.__name__)(props(Echo), 2).kind_label == "router"


def test_negative_or_non_finite_intervals_are_rejected():
    p = props(Echo)
    with pytest.raises(ValueError):
        routing.tail_chopping(p, 2, interval_secs=-0.1)
    with pytest.raises(ValueError):
        routing.tail_chopping(p, 2, within_secs=-1.0)
    with pytest.raises(ValueError):
        routing.tail_chopping(p, 2, within_secs=0.0)
    with pytest.raises(ValueError):
        routing.scatter_gather(p, 2, within_secs=-1.0)
    with pytest.raises(ValueError):
        routing.scatter_gather(p, 2, within_secs=float("nan"))
    with pytest.raises(ValueError):
        routing.round_robin(p, 2, resizer=ResizerConfig(), resize_interval_secs=0.0)
    with pytest.raises(ValueError):
        routing.backoff(p, min_backoff=-1.0)
    with pytest.raises(ValueError):
        routing.backoff(p, min_backoff=2.0, max_backoff=1.0)
    with pytest.raises(ValueError):
        routing.backoff(p, random_factor=-0.5)
    with pytest.raises(TypeError):
        routing.scatter_gather(p, 2, within_secs="1")


def test_other_invalid_router_arguments_are_rejected():
    p = props(Echo)
    with pytest.raises(TypeError):
        routing.round_robin(p, 2.0)
    with pytest.raises(TypeError):
        routing.round_robin(p, 2, resizer={"lower_bound": 1})
    with pytest.raises(ValueError):
        routing.consistent_hash(p, 2, virtual_nodes=0)
    with pytest.raises(TypeError):
        routing.backoff(Echo)
    with pytest.raises(TypeError):
        AdjustPoolSize(1.5)
    with pytest.raises(ValueError):
        routing.group("nearest", [])


async def test_group_routers_validate_their_routees(system):
    ref = system.actor_of(echo([]), "one")
    with pytest.raises(ValueError):
        routing.round_robin_group([])
    with pytest.raises(TypeError):
        routing.round_robin_group([ref, "akka://app/user/two"])
    with pytest.raises(ValueError):
        routing.group("nearest", [ref])
    assert routing.random_group([ref]).kind_label == "router"
    assert routing.smallest_mailbox_group([ref]).kind_label == "router"


async def test_routees_of_a_plain_actor_is_a_type_error(system):
    ref = system.actor_of(echo([]), "plain")
    with pytest.raises(TypeError):
        routing.routees(ref)


# -- backoff supervisor (virtual time) ---------------------------------------------------------


class Flaky(Actor):
    """``"fail"`` raises; ``"whoami"`` answers its ref; anything else is
    logged with the incarnation number and echoed back with it."""

    def __init__(self, starts: list, log: list) -> None:
        self.starts = starts
        self.log = log
        self.incarnation = 0

    def pre_start(self, ctx):
        self.starts.append(ctx.self_ref.path)
        self.incarnation = len(self.starts)

    def handle(self, ctx, msg):
        if msg == "fail":
            raise RuntimeError("flaky child fails on purpose")
        if msg == "whoami":
            return ctx.self_ref
        self.log.append((self.incarnation, msg))
        return (self.incarnation, msg)


def flaky(starts: list, log: list) -> Props:
    return props(Flaky, factory=lambda: Flaky(starts, log))


async def _fail_child_and_wait_for_the_restart_timer(system, sup, baseline: int) -> None:
    sup.tell("fail")
    await wait_until(lambda: system.scheduler.pending() > baseline,
                     message="the backoff supervisor never scheduled the restart")


async def _expect_restart_after(system, starts: list, delay: float) -> None:
    count = len(starts)
    assert system.advance_time(delay * 0.99) == 0, f"restarted before {delay}s"
    assert len(starts) == count
    assert system.advance_time(delay * 0.02) == 1, f"not restarted at {delay}s"
    await wait_until(lambda: len(starts) == count + 1)


async def test_backoff_forwards_messages_and_asks_to_its_child(vsystem):
    starts: list = []
    log: list = []
    sup = vsystem.actor_of(routing.backoff(flaky(starts, log), min_backoff=1.0,
                                           max_backoff=8.0, random_factor=0.0), "sup")
    child = await sup.ask("whoami", timeout=DEADLINE)
    assert child.path == f"{sup.path}/child"
    sup.tell("a")
    assert await sup.ask("b", timeout=DEADLINE) == (1, "b")
    assert log == [(1, "a"), (1, "b")]


async def test_backoff_restarts_a_failing_child_with_doubling_capped_delays(vsystem):
    starts: list = []
    sup = vsystem.actor_of(routing.backoff(flaky(starts, []), min_backoff=1.0,
                                           max_backoff=8.0, random_factor=0.0), "sup")
    first = await sup.ask("whoami", timeout=DEADLINE)
    baseline = vsystem.scheduler.pending()
    for delay in (1.0, 2.0, 4.0, 8.0, 8.0):
        await _fail_child_and_wait_for_the_restart_timer(vsystem, sup, baseline)
        await _expect_restart_after(vsystem, starts, delay)
    assert starts == [first.path] * 6
    assert first.is_terminated()  # every incarnation is a new actor at the same path
    again = await sup.ask("whoami", timeout=DEADLINE)
    assert again.path == first.path and not again.is_terminated()


async def test_backoff_delays_get_at_most_random_factor_of_jitter(vsystem):
    starts: list = []
    sup = vsystem.actor_of(routing.backoff(flaky(starts, []), min_backoff=2.0,
                                           max_backoff=30.0, random_factor=0.5), "sup")
    await sup.ask("whoami", timeout=DEADLINE)
    baseline = vsystem.scheduler.pending()
    for base in (2.0, 4.0):
        count = len(starts)
        await _fail_child_and_wait_for_the_restart_timer(vsystem, sup, baseline)
        assert vsystem.advance_time(base * 0.99) == 0
        assert vsystem.advance_time(base * 0.52) == 1  # base * (1 + 0.5) at most
        await wait_until(lambda: len(starts) == count + 1)


async def test_backoff_delivers_mail_that_arrived_meanwhile_to_the_new_child(vsystem):
    starts: list = []
    log: list = []
    sup = vsystem.actor_of(routing.backoff(flaky(starts, log), min_backoff=1.0,
                                           max_backoff=8.0, random_factor=0.0), "sup")
    await sup.ask("whoami", timeout=DEADLINE)
    before = vsystem.dead_letter_count
    await _fail_child_and_wait_for_the_restart_timer(vsystem, sup, vsystem.scheduler.pending())
    sup.tell("m1")
    sup.tell("m2")
    pending_ask = sup.ask("m3", timeout=DEADLINE)
    assert vsystem.advance_time(0.5) == 0
    assert log == [] and not pending_ask.done()
    assert vsystem.advance_time(0.5) == 1
    assert await asyncio.wait_for(pending_ask, DEADLINE) == (2, "m3")
    assert log == [(2, "m1"), (2, "m2"), (2, "m3")]
    assert vsystem.dead_letter_count == before


async def test_backoff_restarts_a_child_that_stopped_itself(vsystem):
    starts: list = []
    sup = vsystem.actor_of(routing.backoff(lifecycle(starts, []), min_backoff=1.0,
                                           max_backoff=8.0, random_factor=0.0), "sup")
    await wait_until(lambda: len(starts) == 1)
    baseline = vsystem.scheduler.pending()
    sup.tell("stop")
    await wait_until(lambda: vsystem.scheduler.pending() > baseline)
    await _expect_restart_after(vsystem, starts, 1.0)
    assert starts == ["child", "child"]
    assert not sup.is_terminated()


async def test_backoff_starts_over_after_the_child_ran_longer_than_max_backoff(vsystem):
    starts: list = []
    sup = vsystem.actor_of(routing.backoff(flaky(starts, []), min_backoff=1.0,
                                           max_backoff=4.0, random_factor=0.0), "sup")
    await sup.ask("whoami", timeout=DEADLINE)
    baseline = vsystem.scheduler.pending()
    for delay in (1.0, 2.0):
        await _fail_child_and_wait_for_the_restart_timer(vsystem, sup, baseline)
        await _expect_restart_after(vsystem, starts, delay)
    # the child now runs well beyond max_backoff on the system's clock ...
    assert vsystem.advance_time(60.0) == 0
    # ... so its next failure is treated as a first one again
    await _fail_child_and_wait_for_the_restart_timer(vsystem, sup, baseline)
    await _expect_restart_after(vsystem, starts, 1.0)


# -- consistent hashing without a key ----------------------------------------------------------


async def test_an_ask_without_a_key_to_a_consistent_hash_router_fails_at_once(system):
    from atomr import UnroutableMessageError

    log: list = []
    ref = system.actor_of(routing.consistent_hash(echo(log), 3), "ch")
    with pytest.raises(UnroutableMessageError) as info:
        await ref.ask("no key", timeout=DEADLINE)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AskError)
    assert await ref.ask("ok", timeout=DEADLINE, key=1) in {"routee-0", "routee-1", "routee-2"}
    assert [m for _, m in log] == ["ok"]


def test_a_blocking_ask_without_a_key_to_a_consistent_hash_router_fails_at_once():
    from atomr import ActorSystem, UnroutableMessageError

    system = ActorSystem.create_blocking("chb")
    try:
        ref = system.actor_of(routing.consistent_hash(echo([]), 2), "ch")
        with pytest.raises(UnroutableMessageError):
            ref.ask_blocking("no key", timeout=DEADLINE)
    finally:
        system.terminate_blocking(DEADLINE)


async def test_keyless_tells_to_a_consistent_hash_router_warn_at_a_limited_rate(system, caplog):
    log: list = []
    ref = system.actor_of(routing.consistent_hash(echo(log), 3), "ch")
    with caplog.at_level("WARNING", logger="atomr"):
        for i in range(50):
            ref.tell(("no key", i))
        assert await ref.ask("ok", timeout=DEADLINE, key=1)
    warnings = [r for r in caplog.records if "without a key" in r.getMessage()]
    assert len(warnings) == 1
    assert [m for _, m in log] == ["ok"]
