"""A node of the three-process test (test_three_nodes.py), in a process of
its own.

Starts system `argv[1]` with ``remote.enabled = true`` on 127.0.0.1 (any
port) and prints its address as the first line of stdout. Its actor
``/user/node`` works with refs it receives inside messages:

* ``{"introduce": ref, "answer": ref}``: tells `introduce` ``{"hello":
  <its own ref>, "answer": answer, "from": <name>}``;
* ``{"hello": ref, "answer": ref, "from": name}``: tells `answer`
  ``{"from": <name>, "pid": <pid>, "introduced_by": hello, "me": <its own
  ref>}``, straight to the node that asked;
* ``{"relay_to": ref, "payload": x}``: forwards ``{"payload": x, "via":
  <name>}`` to `relay_to`, keeping the sender;
* ``{"payload": x, "via": name}``: tells the sender ``{"from": <name>,
  "pid": <pid>, "payload": x, "via": name}``;
* ``{"ask_via": ref, "double": n}``: forwards the ask to `ref` unless
  `ref` is its own (local) ref, then answers ``{"double": 2 * n, "pid":
  <pid>}``.

``"stop"`` ends the process, and so do stdin closing (the test died) and a
minute passing.
"""

from __future__ import annotations

import asyncio
import os
import sys

from atomr import Actor, ActorSystem, props

from _procs import run_peer


def actors(system: ActorSystem, done: asyncio.Event) -> None:
    name = system.name
    pid = os.getpid()

    class Node(Actor):
        def handle(self, ctx, msg):
            if msg == "stop":
                done.set()
            elif "introduce" in msg:
                msg["introduce"].tell({"hello": ctx.self_ref, "answer": msg["answer"],
                                       "from": name})
            elif "hello" in msg:
                msg["answer"].tell({"from": name, "pid": pid, "introduced_by": msg["hello"],
                                    "me": ctx.self_ref})
            elif "relay_to" in msg:
                ctx.forward(msg["relay_to"], {"payload": msg["payload"], "via": name})
            elif "via" in msg:
                ctx.sender.tell({"from": name, "pid": pid, "payload": msg["payload"],
                                 "via": msg["via"]})
            elif "ask_via" in msg:
                if msg["ask_via"] != ctx.self_ref:
                    ctx.forward(msg["ask_via"])
                    return None
                return {"double": 2 * msg["double"], "pid": pid}
            return None

    system.actor_of(props(Node), "node")


if __name__ == "__main__":
    run_peer(sys.argv[1], {"enabled": True}, actors)
