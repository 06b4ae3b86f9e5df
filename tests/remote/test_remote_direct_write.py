"""Asks and their answers leave without waking the transport's io thread:
the thread that sends (the loop thread flushing its turn's sends, a thread
in ``ask_blocking``) writes to the peer's idle connection itself, counted in
the transport's ``direct_writes``. What the socket does not take, the io
thread finishes before anything else, so large messages in both directions
arrive whole and in order."""

from __future__ import annotations

import asyncio

from atomr import Actor, props
from atomr.remote import Remote

from _helpers import DEADLINE
from remote.test_tell_remote import remote_system


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


async def test_sequential_asks_and_their_answers_are_written_by_the_loop_thread():
    async with remote_system("a") as a, remote_system("b") as b:
        b.actor_of(props(Echo), "echo")
        ref = a.actor_selection(b.address + "/user/echo")
        assert await ref.ask(0, timeout=DEADLINE) == 0  # associates, teaches the types
        a_before = Remote.get(a).stats()["direct_writes"]
        b_before = Remote.get(b).stats()["direct_writes"]
        for i in range(1, 60):
            assert await ref.ask(i, timeout=DEADLINE) == i
        # A heartbeat being written at the moment of a send leaves that one
        # to the io thread; the others go out directly, on both sides.
        assert Remote.get(a).stats()["direct_writes"] > a_before
        assert Remote.get(b).stats()["direct_writes"] > b_before


def test_ask_blocking_writes_its_ask_from_the_asking_thread(make_blocking_system):
    a = make_blocking_system("a")
    b = make_blocking_system("b")
    Remote.get(a)
    Remote.get(b)
    b.actor_of(props(Echo), "echo")
    ref = a.actor_selection(b.address + "/user/echo")
    assert ref.ask_blocking(0, timeout=DEADLINE) == 0  # teaches the type's encoder
    before = Remote.get(a).stats()["direct_writes"]
    assert [ref.ask_blocking(i, timeout=DEADLINE) for i in range(1, 40)] == list(range(1, 40))
    assert Remote.get(a).stats()["direct_writes"] > before


async def test_large_messages_in_flight_both_ways_arrive_whole_and_in_order():
    # Far more than the socket buffers take at once: direct writes are cut
    # short and the io thread finishes them, heartbeats going on meanwhile.
    async with remote_system("a", **{"heartbeat-interval": 0.01}) as a, \
            remote_system("b", **{"heartbeat-interval": 0.01}) as b:
        b.actor_of(props(Echo), "echo")
        ref = a.actor_selection(b.address + "/user/echo")
        assert await ref.ask(b"", timeout=DEADLINE) == b""
        blobs = [bytes([i]) * (1_000_000 + i) for i in range(24)]
        small = list(range(200))
        got = await asyncio.gather(*[ref.ask(blob, timeout=DEADLINE) for blob in blobs],
                                   *[ref.ask(n, timeout=DEADLINE) for n in small])
        assert got[:len(blobs)] == blobs
        assert got[len(blobs):] == small
        for system in (a, b):
            stats = Remote.get(system).stats()
            assert stats["envelopes_dropped"] == 0
            assert stats["inbound_undelivered"] == 0
        assert Remote.get(a)._pending == {}
