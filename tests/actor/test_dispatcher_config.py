"""Props.with_dispatcher(DispatcherConfig(...)): per-actor turn limits."""

from __future__ import annotations

import time

import pytest

from atomr import Actor, ActorSystem, props
from atomr.core import DispatcherConfig


class Logger(Actor):
    def __init__(self, name, log, spin=0.0):
        self.name = name
        self.log = log
        self.spin = spin

    def handle(self, ctx, msg):
        if self.spin:
            end = time.perf_counter() + self.spin
            while time.perf_counter() < end:
                pass
        self.log.append(self.name)
        return None


def _switches(log):
    return sum(1 for a, b in zip(log, log[1:]) if a != b)


async def _interleaving(cfg_a, cfg_b, n, spin=0.0):
    system = await ActorSystem.create("disp")
    try:
        log = []
        a = system.actor_of(props(Logger, factory=lambda: Logger("a", log, spin))
                            .with_dispatcher(cfg_a), "a")
        b = system.actor_of(props(Logger, factory=lambda: Logger("b", log, spin))
                            .with_dispatcher(cfg_b), "b")
        await a.ask(None)
        await b.ask(None)
        log.clear()
        for _ in range(n):
            a.tell(1)
            b.tell(1)
        await a.ask(None, timeout=10)
        await b.ask(None, timeout=10)
        return [x for x in log if x in "ab"][: 2 * n]
    finally:
        await system.terminate()


async def test_throughput_one_alternates_two_busy_actors():
    log = await _interleaving(DispatcherConfig(throughput=1), DispatcherConfig(throughput=1), 50)
    assert log.count("a") == log.count("b") == 50
    assert _switches(log) >= 90  # strict alternation has 99 switches


async def test_a_large_throughput_lets_an_actor_run_its_backlog_in_one_turn():
    log = await _interleaving(DispatcherConfig(throughput=1000),
                              DispatcherConfig(throughput=1000), 50)
    assert _switches(log) <= 3


async def test_a_turn_deadline_ends_a_turn_before_the_throughput_is_used_up():
    # 2 ms per message, a 5 ms budget: a turn handles at most ~3-4 messages,
    # far fewer than the throughput of 1000.
    log = await _interleaving(DispatcherConfig(1000, throughput_deadline_secs=0.005),
                              DispatcherConfig(1000, throughput_deadline_secs=0.005), 20,
                              spin=0.002)
    assert _switches(log) >= 8


def test_with_dispatcher_keeps_the_config_and_a_name():
    cfg = DispatcherConfig(throughput=7)
    p = props(Logger).with_dispatcher(cfg)
    assert p.dispatcher_config == cfg
    assert p.dispatcher == "python-pinned"
    assert props(Logger).with_dispatcher("python-nogil").dispatcher == "python-nogil"
    assert props(Logger).dispatcher_config is None
    with pytest.raises(TypeError):
        props(Logger).with_dispatcher(42)
