"""ask_blocking's C path (``_RemoteWire.ask_blocking``): once the message's
type is known, the io thread hands the answer straight to the asking
thread, so neither the asker's loop nor its inbound queue is on the way.
These tests check that it answers while the asker's loop is busy, and that
it behaves as the Python path does otherwise: answers of types not yet
known, failures, deadlines, a peer that goes away."""

from __future__ import annotations

import threading

import pytest

from atomr import Actor, ActorTerminatedError, AskTimeoutError, props
from atomr.errors import RemoteAddressTerminatedError, RemoteError
from atomr.remote import Remote

from _helpers import DEADLINE
from remote.test_remote_refs import Calc


class Blocker(Actor):
    """Blocks its system's loop thread until `release` is set."""

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        self.entered = entered
        self.release = release

    def handle(self, ctx, msg):
        self.entered.set()
        self.release.wait(6 * DEADLINE)


class Named(Actor):
    """Answers with a value of another type than the question's."""

    def handle(self, ctx, msg):
        return f"n{msg}"


def test_ask_blocking_is_answered_while_the_askers_loop_is_blocked(make_blocking_system):
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    b.actor_of(props(Calc), "calc")
    ref = a.actor_selection(b.address + "/user/calc")
    assert ref.ask_blocking(1, timeout=DEADLINE) == 2  # teaches the type's encoder
    entered, release = threading.Event(), threading.Event()
    a.actor_of(props(Blocker, factory=lambda: Blocker(entered, release)), "blocker").tell("block")
    try:
        assert entered.wait(DEADLINE)
        # a's loop runs the blocker: only the io thread can deliver these.
        assert [ref.ask_blocking(i, timeout=DEADLINE) for i in range(20)] == \
            [2 * i for i in range(20)]
    finally:
        release.set()
    assert Remote.get(a)._pending == {}


def test_the_c_path_decodes_answers_of_new_types_and_reports_failures(make_blocking_system):
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    b.actor_of(props(Named), "named")
    b.actor_of(props(Calc), "calc")
    b.actor_of(props(Calc), "sleeper")
    named = a.actor_selection(b.address + "/user/named")
    calc = a.actor_selection(b.address + "/user/calc")
    assert calc.ask_blocking(3, timeout=DEADLINE) == 6  # int's encoder is known from here on
    # A str answer: its decoder is not known yet (the Python path decodes
    # it), then it is.
    assert named.ask_blocking(1, timeout=DEADLINE) == "n1"
    assert named.ask_blocking(2, timeout=DEADLINE) == "n2"
    assert calc.ask_blocking("ab", timeout=DEADLINE) == "abab"
    with pytest.raises(RemoteError, match="bad input"):
        calc.ask_blocking("boom", timeout=DEADLINE)
    with pytest.raises(AskTimeoutError, match="timed out after 0.2s"):
        a.actor_selection(b.address + "/user/sleeper").ask_blocking("silent", timeout=0.2)
    assert calc.ask_blocking(5, timeout=DEADLINE) == 10
    assert Remote.get(a)._pending == {}


def test_a_blocked_asker_fails_when_the_peer_shuts_down(make_blocking_system):
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    b.actor_of(props(Calc), "calc")
    ref = a.actor_selection(b.address + "/user/calc")
    assert ref.ask_blocking(1, timeout=DEADLINE) == 2
    failure: list = []

    def ask() -> None:
        try:
            ref.ask_blocking("silent", timeout=6 * DEADLINE)
        except BaseException as exc:  # recorded for the assertion below
            failure.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        remote = Remote.get(a)
        deadline = threading.Event()
        for _ in range(int(DEADLINE / 0.01)):  # the ask is pending
            if remote._pending:
                break
            deadline.wait(0.01)
        assert remote._pending
        b.terminate_blocking(timeout=DEADLINE)
        asker.join(DEADLINE)
        assert not asker.is_alive()
    finally:
        asker.join(6 * DEADLINE)
    # b either answers that the stopped actor ended the ask, or is gone first.
    assert len(failure) == 1 and isinstance(
        failure[0], (RemoteAddressTerminatedError, ActorTerminatedError)), failure
    assert remote._pending == {}


def test_the_loop_side_ends_a_blocked_ask(make_blocking_system):
    """The asker's loop fails the pending entry (as when the peer is
    declared gone): the waiting thread wakes with that error."""
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    b.actor_of(props(Calc), "calc")
    ref = a.actor_selection(b.address + "/user/calc")
    assert ref.ask_blocking(1, timeout=DEADLINE) == 2
    remote = Remote.get(a)
    failure: list = []

    def ask() -> None:
        try:
            ref.ask_blocking("silent", timeout=6 * DEADLINE)
        except BaseException as exc:  # recorded for the assertion below
            failure.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        tick = threading.Event()
        for _ in range(int(DEADLINE / 0.01)):  # the ask is pending
            if remote._pending:
                break
            tick.wait(0.01)
        assert remote._pending
        a.loop.call_soon_threadsafe(remote._address_terminated, remote._hostport(b.address),
                                    0, b.address, "declared gone by the test")
        asker.join(DEADLINE)
        assert not asker.is_alive()
    finally:
        asker.join(6 * DEADLINE)
    assert len(failure) == 1 and isinstance(failure[0], RemoteAddressTerminatedError), failure
    assert "declared gone by the test" in str(failure[0])
    assert remote._pending == {}
