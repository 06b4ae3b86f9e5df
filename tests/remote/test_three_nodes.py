"""Three actor systems in three OS processes (this one and two
subprocesses running _remote_node.py) that learn of each other only through
refs inside messages: node A introduces B to C, and C answers A directly."""

from __future__ import annotations

import asyncio
import contextlib

from atomr import ActorSystem, Config, props
from atomr.remote import Remote, RemoteActorRef, parse_tcp_address

from _helpers import DEADLINE, GET, Recorder, wait_until
from remote.test_two_processes import HERE, STARTUP_DEADLINE, peer_process

NODE = HERE / "_remote_node.py"


async def test_a_introduces_b_to_c_and_c_answers_a_directly():
    system = await ActorSystem.create("a", Config.from_dict({"remote": {"enabled": True}}))
    try:
        log: list = []
        inbox = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), "inbox")
        await wait_until(lambda: inbox.ask(GET) is not None)
        with contextlib.ExitStack() as stack:
            b_proc, b_address = stack.enter_context(peer_process(script=NODE, args=["b"]))
            c_proc, c_address = stack.enter_context(peer_process(script=NODE, args=["c"]))
            b = system.actor_selection(b_address + "/user/node")
            c = system.actor_selection(c_address + "/user/node")
            assert isinstance(b, RemoteActorRef) and isinstance(c, RemoteActorRef)

            # A sends B a ref to C and a ref to its own inbox; B greets C with
            # a ref to itself; C answers A's inbox straight away.
            b.tell({"introduce": c, "answer": inbox})
            await wait_until(lambda: len(log) == 1, timeout=STARTUP_DEADLINE)
            answer = log[0]
            assert answer["from"] == "c" and answer["pid"] == c_proc.pid
            assert isinstance(answer["introduced_by"], RemoteActorRef)
            assert answer["introduced_by"].path == b_address + "/user/node"
            assert answer["me"] == c
            c_hostport = parse_tcp_address(c_address)[1]
            await wait_until(lambda: c_hostport in Remote.get(system).associations())

            # A tells B to forward to C (a ref in the message); C answers
            # the original sender, A's inbox, not B.
            b.tell({"relay_to": c, "payload": 7}, sender=inbox)
            await wait_until(lambda: len(log) == 2, timeout=STARTUP_DEADLINE)
            assert log[1] == {"from": "c", "pid": c_proc.pid, "payload": 7, "via": "b"}

            # An ask of A, forwarded by B to C: C's answer completes it.
            reply = await b.ask({"ask_via": c, "double": 21}, timeout=STARTUP_DEADLINE)
            assert reply == {"double": 42, "pid": c_proc.pid}
            # The received ref to B comes back to B as its own local ref.
            assert await b.ask({"ask_via": b, "double": 2}, timeout=DEADLINE) == \
                {"double": 4, "pid": b_proc.pid}

            for ref, proc in ((b, b_proc), (c, c_proc)):
                ref.tell("stop")
                code = await asyncio.get_running_loop().run_in_executor(
                    None, lambda proc=proc: proc.wait(timeout=DEADLINE))
                assert code == 0, proc.stderr.read() if proc.stderr else code
    finally:
        await asyncio.wait_for(system.terminate(), DEADLINE)
