"""A watched peer process killed with SIGKILL: the failure detector declares
it unreachable, the local watcher gets Terminated, pending asks fail at once
with RemoteAddressTerminatedError, and a new incarnation on the same port is
accepted while the old one is quarantined."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import time
from typing import Iterator

import pytest

from atomr import Actor, ActorSystem, Config, Terminated, props
from atomr.remote import (
    QuarantinedEvent,
    Remote,
    RemoteAddressTerminatedError,
    RemoteReachable,
    RemoteUnreachable,
    RemotingLifecycleEvent,
    parse_tcp_address,
)

from _helpers import DEADLINE, wait_until
from remote._procs import STARTUP_DEADLINE, launched
from remote._watch_peer import FAST_WATCH

HERE = pathlib.Path(__file__).resolve().parent
PEER = HERE / "_watch_peer.py"
#: With 100 ms heartbeats and a 1 s acceptable pause, phi crosses 10 about
#: 1.6 s after the last heartbeat; allow for a loaded machine.
DETECTION_DEADLINE = 15.0
#: The pending ask's own timeout, far beyond the detection deadline.
ASK_TIMEOUT = 120.0

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


@contextlib.contextmanager
def peer_process(port: int = 0) -> Iterator[tuple[subprocess.Popen, str, int]]:
    """Starts the peer (on `port`; 0: any); yields it with its address and
    UID. The process is always gone on exit."""
    with launched(PEER, port, kill_at_exit=True) as (peer, first):
        address, uid = first.split()
        yield peer.proc, address, int(uid)


class Watcher(Actor):
    def __init__(self, seen: list) -> None:
        self.seen = seen

    def handle(self, ctx, msg):
        if isinstance(msg, Terminated):
            self.seen.append((time.monotonic(), msg))
            return None
        ctx.watch(msg)
        return "watching"


async def test_kill9_terminates_watches_fails_asks_and_a_new_incarnation_is_accepted():
    system = await ActorSystem.create("local", Config.from_dict({"remote": FAST_WATCH}))
    events: list = []
    system.event_stream.subscribe(events.append, RemotingLifecycleEvent)
    try:
        Remote.get(system)
        seen: list = []
        w = system.actor_of(props(Watcher, factory=lambda: Watcher(seen)), "watcher")
        with peer_process() as (proc, address, uid):
            echo = system.actor_selection(address + "/user/echo")
            assert await echo.ask("hello", timeout=STARTUP_DEADLINE) == "hello"
            assert await w.ask(echo) == "watching"
            # The Watch went out before this ask on the same connection.
            assert await echo.ask("registered?") == "registered?"
            sink = system.actor_selection(address + "/user/sink")
            pending = sink.ask("never answered", timeout=ASK_TIMEOUT)
            assert await echo.ask("sent") == "sent"  # the ask above arrived, unanswered

            os.kill(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            proc.wait(timeout=DEADLINE)
            with pytest.raises(RemoteAddressTerminatedError, match="unreachable"):
                await pending
            failed_after = time.monotonic() - killed
            await wait_until(lambda: seen, timeout=DETECTION_DEADLINE)
            at, terminated = seen[0]
            assert terminated == Terminated(echo.path)
            assert terminated.address_terminated and not terminated.existence_confirmed
            assert at - killed < DETECTION_DEADLINE
            assert failed_after < DETECTION_DEADLINE < ASK_TIMEOUT
            unreachable = [e for e in events if isinstance(e, RemoteUnreachable)]
            assert [(e.address, e.uid) for e in unreachable] == [(address, uid)]
            assert "phi" in unreachable[0].detail
            print(f"\nkill -9 -> Terminated after {at - killed:.2f} s, "
                  f"ask failed after {failed_after:.2f} s")

        port = int(parse_tcp_address(address)[1].rpartition(":")[2])
        with peer_process(port) as (proc2, address2, uid2):
            assert address2 == address and uid2 != uid
            echo2 = system.actor_selection(address2 + "/user/echo")
            assert await echo2.ask("again", timeout=STARTUP_DEADLINE) == "again"
            await wait_until(lambda: any(isinstance(e, QuarantinedEvent) for e in events))
            quarantined = [e for e in events if isinstance(e, QuarantinedEvent)]
            assert [(e.address, e.uid) for e in quarantined] == [(address, uid)]
            assert str(uid2) in quarantined[0].reason
            # The new incarnation can be watched like any other.
            assert await w.ask(echo2) == "watching"
            assert await echo2.ask("registered?") == "registered?"
            assert len(seen) == 1
    finally:
        await system.terminate()


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
async def test_a_paused_peer_is_unreachable_then_reachable_again():
    system = await ActorSystem.create("local", Config.from_dict({"remote": FAST_WATCH}))
    events: list = []
    system.event_stream.subscribe(events.append, RemotingLifecycleEvent)
    try:
        Remote.get(system)
        seen: list = []
        w = system.actor_of(props(Watcher, factory=lambda: Watcher(seen)), "watcher")
        with peer_process() as (proc, address, uid):
            echo = system.actor_selection(address + "/user/echo")
            assert await echo.ask("hello", timeout=STARTUP_DEADLINE) == "hello"
            assert await w.ask(echo) == "watching"
            assert await echo.ask("registered?") == "registered?"
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                await wait_until(lambda: any(isinstance(e, RemoteUnreachable) for e in events),
                                 timeout=DETECTION_DEADLINE)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            await wait_until(lambda: any(isinstance(e, RemoteReachable) for e in events),
                             timeout=DETECTION_DEADLINE)
            reachable = [e for e in events if isinstance(e, RemoteReachable)]
            assert [(e.address, e.uid) for e in reachable] == [(address, uid)]
            # The watch ended when the peer was declared gone, and stays ended.
            assert [t for _, t in seen] == [Terminated(echo.path)]
            assert seen[0][1].address_terminated
            # The same incarnation answers again.
            assert await echo.ask("back") == "back"
    finally:
        await system.terminate()
