"""Remoting between two OS processes on loopback: a peer system in a
subprocess (_remote_peer.py) answers this process's messages over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import subprocess
from typing import Iterator, Optional

from atomr import ActorSystem, props
from atomr.remote import Remote, parse_tcp_address

from _helpers import DEADLINE, GET, Recorder, wait_until
from remote._procs import STARTUP_DEADLINE, launched

HERE = pathlib.Path(__file__).resolve().parent
PEER = HERE / "_remote_peer.py"


@contextlib.contextmanager
def peer_process(port: int = 0, script: pathlib.Path = PEER,
                 args: Optional[list[str]] = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """Starts the peer (listening on `port`; 0: any), or `script` with
    `args`; yields it with the address it printed. The process is always
    gone on exit (stdin closed, then killed if it lingers)."""
    with launched(script, *([port] if args is None else args)) as (peer, address):
        yield peer.proc, address


async def test_two_processes_exchange_tells_and_asks_over_tcp():
    system = await ActorSystem.create("local")
    try:
        Remote.get(system)
        log: list = []
        inbox = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
        await wait_until(lambda: inbox.ask(GET) is not None)
        with peer_process() as (proc, address):
            name, hostport = parse_tcp_address(address)
            assert name == "peer" and hostport.startswith("127.0.0.1:")
            assert not hostport.endswith(":0")
            reply_to = system.address + "/user/inbox"
            for n in range(200):
                system.tell_remote(address + "/user/echo", {"reply_to": reply_to, "n": n})
            await wait_until(lambda: len(log) == 200, timeout=STARTUP_DEADLINE,
                             message=f"{len(log)} of 200 replies")
            assert [m["n"] for m in log] == list(range(200))
            assert {m["pid"] for m in log} == {proc.pid}
            assert hostport in Remote.get(system).associations()
            echo = system.actor_selection(address + "/user/echo")
            assert await echo.ask({"double": 21}, timeout=DEADLINE) == 42
            answers = await asyncio.gather(*(echo.ask({"double": n}, timeout=DEADLINE)
                                             for n in range(100)))
            assert answers == [2 * n for n in range(100)]
            system.tell_remote(address + "/user/echo", "stop")
            code = await asyncio.get_running_loop().run_in_executor(
                None, lambda: proc.wait(timeout=DEADLINE))
            assert code == 0, proc.stderr.read() if proc.stderr else code
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)


async def test_a_peer_restarted_on_the_same_port_is_reached_as_a_new_incarnation():
    system = await ActorSystem.create("local")
    try:
        Remote.get(system)
        log: list = []
        inbox = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
        await wait_until(lambda: inbox.ask(GET) is not None)
        reply_to = system.address + "/user/inbox"
        remote = Remote.get(system)
        pids, uids, addresses = [], [], []
        port = 0
        for n in range(2):
            with peer_process(port) as (proc, address):
                hostport = parse_tcp_address(address)[1]
                port = int(hostport.rpartition(":")[2])
                pids.append(proc.pid)
                addresses.append(address)
                system.tell_remote(address + "/user/echo", {"reply_to": reply_to, "n": n})
                await wait_until(lambda: len(log) == n + 1, timeout=STARTUP_DEADLINE)
                assert log[-1] == {"n": n, "pid": proc.pid}
                uids.append(await wait_until(lambda: remote.associations().get(hostport)))
        assert addresses[0] == addresses[1]
        assert pids[0] != pids[1] and uids[0] != uids[1]
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)
