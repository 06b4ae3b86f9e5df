"""The native core (atomr._native._core) inside own-GIL subinterpreters
(Python 3.12+; `make test-subinterpreters` runs these on pyenv's 3.12):
it imports there with its own module state and types, an actor system runs
natively on the interpreter's own thread and loop, and a callback from a C++
thread of the core (a dead letter, as the timer thread publishes one) runs in
the interpreter its system was made in. The main-interpreter test of that
callback path runs on every version."""

from __future__ import annotations

import logging
import pickle
import sys
import textwrap
import threading
from typing import Any

import pytest

import atomr
from atomr import ActorSystem
from atomr._native import _core
from atomr._native import _subinterp as chan

DEADLINE = 60.0

needs_subinterpreters = pytest.mark.skipif(not atomr.subinterpreters_supported(),
                                           reason="needs own-GIL subinterpreters (Python 3.12+)")

# Prepended to every script: the test's import path, a `send` to the test's
# channel, and (3.12) asyncio without its C accelerator, whose state is shared
# by every interpreter there (as the pools' bootstrap does).
PRELUDE = """
import pickle, sys
sys.path[:0] = {path!r}
if sys.version_info < (3, 13):
    sys.modules["_asyncio"] = None
from atomr._native import _subinterp as _chan

def send(*item):
    _chan.channel_push({out}, pickle.dumps(item))

try:
{body}
except BaseException:
    import traceback
    send("error", traceback.format_exc())
    raise
"""


def run_scripts(*bodies: str) -> list[list[tuple[Any, ...]]]:
    """Runs each body in an own-GIL subinterpreter of its own (all at
    once); returns what each sent, after checking each finished cleanly."""
    outs = [chan.channel_new() for _ in bodies]
    ids = []
    try:
        for body, out in zip(bodies, outs):
            script = PRELUDE.format(path=[p for p in sys.path if p], out=out,
                                    body=textwrap.indent(textwrap.dedent(body), "    "))
            ids.append(chan.interp_start(script))
        for iid in ids:
            assert chan.interp_join(iid, DEADLINE), "a subinterpreter did not finish in time"
        results = []
        for out in outs:
            got = []
            while items := chan.channel_pop(out, 0.0):
                got.extend(pickle.loads(b) for b in items)
            results.append(got)
        for got in results:
            errors = [item[1] for item in got if item[0] == "error"]
            assert not errors, errors[0]
        return results
    finally:
        for out in outs:
            chan.channel_free(out)


@needs_subinterpreters
def test_the_core_imports_in_two_own_gil_subinterpreters_with_types_of_their_own():
    body = """
    from atomr._native import _core
    send("interp", _chan.current_interpreter())
    send("type", id(_core.ActorRef), id(_core._System))
    """
    first, second = run_scripts(body, body)
    main_types = (id(_core.ActorRef), id(_core._System))
    interps = {first[0][1], second[0][1]}
    assert len(interps) == 2 and chan.current_interpreter() not in interps
    # Heap types per interpreter: none is the main interpreter's, nor shared.
    assert first[1][0] == second[1][0] == "type"
    assert len({first[1][1:], second[1][1:], main_types}) == 3


@needs_subinterpreters
def test_native_crdts_merge_in_a_subinterpreter_as_in_the_main_one():
    body = """
    from atomr._native import _core
    tag = _core.DDATA_TAGS["GCounter"]
    a, b = _core.ddata_new(tag), _core.ddata_new(tag)
    a.gc_increment("node-a", 3)
    b.gc_increment("node-b", 4)
    a.merge(b)
    back = _core.ddata_from_bytes(a.to_bytes())
    send("gcounter", a.gc_value(), back.gc_entries(), a.to_bytes())
    """
    [got] = run_scripts(body)
    tag = _core.DDATA_TAGS["GCounter"]
    a, b = _core.ddata_new(tag), _core.ddata_new(tag)
    a.gc_increment("node-a", 3)
    b.gc_increment("node-b", 4)
    a.merge(b)
    assert got == [("gcounter", 7, {"node-a": 3, "node-b": 4}, a.to_bytes())]


SYSTEM_BODY = """
import asyncio, logging, threading
from atomr import Actor, ActorSystem, props
from atomr._native import _core

class Echo(Actor):
    def handle(self, ctx, msg):
        return msg

class Ticker(Actor):
    # Counts ticks its timer (the core's timer thread) delivers, up to 3.
    def __init__(self):
        self.ticks = 0

    def handle(self, ctx, msg):
        if msg == "start":
            ctx.schedule_once(0.01, "tick")
        elif msg == "tick":
            self.ticks += 1
            if self.ticks < 3:
                ctx.schedule_once(0.01, "tick")
        return self.ticks

class Witness(logging.Handler):
    # Where the core's dead-letter log line is written: which interpreter,
    # and whether off the loop's thread.
    def __init__(self, loop_thread):
        super().__init__(logging.INFO)
        self.loop_thread = loop_thread
        self.seen = []

    def emit(self, record):
        if "not delivered" in record.getMessage():
            self.seen.append((_chan.current_interpreter(),
                              threading.get_ident() != self.loop_thread))

async def main():
    system = await ActorSystem.create("sub")
    witness = Witness(threading.get_ident())
    logging.getLogger("atomr").addHandler(witness)
    logging.getLogger("atomr").setLevel(logging.INFO)
    letters = []
    system.subscribe_dead_letters(lambda msg, sender, path: letters.append((msg, path)))
    try:
        echo = system.actor_of(props(Echo), "echo")
        send("ask", await echo.ask("hello", timeout=30))
        refs = [system.actor_of(props(Echo), f"echo-{i}") for i in range(20)]
        send("asks", await asyncio.gather(*(r.ask(i, timeout=30) for i, r in enumerate(refs))))
        ticker = system.actor_of(props(Ticker), "ticker")
        await ticker.ask("start", timeout=30)
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while await ticker.ask("count", timeout=30) < 3 and loop.time() < end:
            await asyncio.sleep(0.005)
        send("timers", await ticker.ask("count", timeout=30))
        # A C++ thread publishes a dead letter; the handler must run here.
        # (Called on the loop's thread: on 3.12.1 a Python thread of its
        # own, as asyncio.to_thread makes, aborts the process at exit.)
        _core._dead_letter_from_native_thread(system._core, ("late", 1), "akka://sub/user/gone")
        end = loop.time() + 30
        while not letters and loop.time() < end:
            await asyncio.sleep(0.005)
        send("letters", letters, witness.seen)
    finally:
        await system.terminate()
    send("terminated", True)

asyncio.run(main())
send("interp", _chan.current_interpreter())
"""


@needs_subinterpreters
def test_an_actor_system_runs_natively_in_two_subinterpreters_at_once():
    results = run_scripts(SYSTEM_BODY, SYSTEM_BODY)
    interps = set()
    for got in results:
        items = {item[0]: item[1:] for item in got}
        assert items["ask"] == ("hello",)
        assert items["asks"] == (list(range(20)),)
        assert items["timers"] == (3,)
        [interp] = items["interp"]
        interps.add(interp)
        # Published from a C++ thread, handled there in this interpreter
        # (its log line), then handed to the listener on the loop.
        assert items["letters"] == ([(("late", 1), "akka://sub/user/gone")], [(interp, True)])
        assert items["terminated"] == (True,)
    assert len(interps) == 2 and chan.current_interpreter() not in interps


def test_a_dead_letter_from_a_native_thread_is_handled_in_the_main_interpreter(
        blocking_system: ActorSystem) -> None:
    got: list[tuple[Any, str]] = []
    logged: list[int] = []
    done = threading.Event()

    class Witness(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "not delivered" in record.getMessage():
                logged.append(threading.get_ident())

    def listener(msg: Any, sender: Any, path: str) -> None:
        got.append((msg, path))
        done.set()

    logger = logging.getLogger("atomr")
    witness, level = Witness(logging.INFO), logger.level
    logger.addHandler(witness)
    logger.setLevel(logging.INFO)
    try:
        blocking_system.subscribe_dead_letters(listener)
        before = blocking_system.dead_letter_count
        _core._dead_letter_from_native_thread(blocking_system._core, "lost",
                                              "akka://app/user/nobody")
        assert done.wait(DEADLINE)
    finally:
        logger.removeHandler(witness)
        logger.setLevel(level)
    assert got == [("lost", "akka://app/user/nobody")]
    # Handled on the native thread (joined before the call returned).
    assert len(logged) == 1 and logged[0] != threading.get_ident()
    assert blocking_system.dead_letter_count == before + 1
