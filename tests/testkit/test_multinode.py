"""Out-of-process multi-node testing (atomr.testkit._multinode): node processes
with their own actor systems, barriers, steps run on a named node, failures
that stay contained, and cleanup of every process the controller started.

The node functions below run in the child processes; they are module-level so
the children can import them from this module.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import threading
import time

import pytest

from atomr import Actor, ActorSystem, AtomrError, props
from atomr.testkit import _multinode
from atomr.testkit._multinode import (
    MAX_FRAME_BYTES,
    BarrierTimeoutError,
    MultiNodeError,
    MultiNodeOopController,
    MultiNodeOopNode,
    MultiNodeTimeoutError,
    multinode,  # noqa: F401  (the pytest fixture)
)

#: Generous deadline for node processes to start, connect and finish on a
#: loaded machine; a passing condition returns long before it.
BOOT = 30.0


class Doubler(Actor):
    def handle(self, ctx, msg):
        return [ctx.path, msg * 2]


# -- node functions (run in the node processes) ---------------------------------------------


def _system_node(node):
    system = ActorSystem.create_blocking(node.name)
    try:
        ref = system.actor_of(props(Doubler), "doubler")
        assert ref.ask_blocking(21, 10.0) == [f"akka://{node.name}/user/doubler", 42]
        node.barrier("started", timeout=BOOT)
        node.barrier("finished", timeout=BOOT)
    finally:
        system.terminate_blocking(10.0)
    print(f"{node.name}: done")


def _failing_step(node, n):
    raise ValueError(f"boom {n}")


def _serving_node(node, ready_barrier=True):
    system = ActorSystem.create_blocking(node.name)
    try:
        ref = system.actor_of(props(Doubler), "doubler")
        node.state["ref"] = ref
        node.register_step("double", lambda node, x: ref.ask_blocking(x, 10.0))
        node.register_step("double-async", lambda node, x: ref.ask(x, 10.0))
        node.register_step("pid", lambda node: os.getpid())
        node.register_step("fail", _failing_step)
        node.register_step("unsendable", lambda node: object())
        node.register_step("hang", lambda node: threading.Event().wait())
        node.register_step("crash", lambda node: os._exit(5))
        if ready_barrier:
            node.barrier("ready", timeout=BOOT)
        node.serve_steps()
    finally:
        system.terminate_blocking(10.0)


def whoami(node):
    return [node.name, os.getpid(), node.state["ref"].path]


def _waits_at_barrier(node, label):
    try:
        node.barrier(label, timeout=BOOT)
    except BarrierTimeoutError as exc:
        print(f"BarrierTimeoutError: {exc}")
        sys.exit(3)


def _stubborn_node(node):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    node.register_step("ping", lambda node: "pong")
    threading.Event().wait()


def _env_node(node, greeting):
    print(f"{node.name}: {greeting} {os.environ.get('ATOMR_MN_TEST')}")


def _raising_node(node):
    raise RuntimeError("bad node")


# -- processes, actor systems and barriers -------------------------------------------------------------


def test_three_node_processes_each_run_an_actor_system_and_pass_two_barriers(multinode):
    controller = multinode(3)
    handles = [controller.spawn_node(name, _system_node) for name in ("a", "b", "c")]

    assert controller.timeout_barrier("started", BOOT) == 3, controller.diagnostics()
    assert controller.timeout_barrier("finished", BOOT) == 3, controller.diagnostics()
    for handle in handles:
        assert handle.wait(BOOT) == 0, handle.diagnostics()
        assert f"{handle.name}: done" in handle.stdout
    assert len({h.pid for h in handles} | {os.getpid()}) == 4


def test_spawn_node_takes_a_module_function_string_args_and_extra_env(multinode):
    controller = multinode(2)
    good = controller.spawn_node("a", f"{__name__}:_env_node", "hello",
                                 env={"ATOMR_MN_TEST": "from-env"})
    bad = controller.spawn_node("b", _raising_node)

    assert good.wait(BOOT) == 0, good.diagnostics()
    assert "a: hello from-env" in good.stdout
    assert bad.wait(BOOT) == 1
    assert "RuntimeError: bad node" in bad.stderr


def test_spawn_node_rejects_targets_another_process_cannot_import(multinode):
    controller = multinode(1)
    with pytest.raises(TypeError, match="picklable"):
        controller.spawn_node("a", lambda node: None)
    with pytest.raises(ValueError, match="module:function"):
        controller.spawn_node("a", "no-colon-here")
    assert controller.handles == {}


# -- run_on ---------------------------------------------------------------------------------------------


def test_run_on_returns_what_the_nodes_actor_answered(multinode):
    controller = multinode(2)
    a = controller.spawn_node("a", _serving_node)
    b = controller.spawn_node("b", _serving_node)
    assert controller.timeout_barrier("ready", BOOT) == 2, controller.diagnostics()

    assert controller.run_on("a", "double", None, 21) == ["akka://a/user/doubler", 42]
    assert controller.run_on("b", "double-async", None, 5) == ["akka://b/user/doubler", 10]
    assert controller.run_on("a", "pid") == a.pid
    assert controller.run_on("b", "whoami", whoami) == ["b", b.pid, "akka://b/user/doubler"]
    assert controller.run_on("a", "whoami", f"{__name__}:whoami")[:2] == ["a", a.pid]

    assert controller.stop_serving() == ["a", "b"]
    assert a.wait(BOOT) == 0, a.diagnostics()
    assert b.wait(BOOT) == 0, b.diagnostics()


def test_run_on_of_a_failing_step_raises_multinode_error_with_the_remote_traceback(multinode):
    controller = multinode(1)
    controller.spawn_node("a", _serving_node)
    assert controller.timeout_barrier("ready", BOOT) == 1, controller.diagnostics()

    with pytest.raises(MultiNodeError) as info:
        controller.run_on("a", "fail", None, 7)
    err = info.value
    assert not isinstance(err, MultiNodeTimeoutError)
    assert "step `fail` failed on node `a`: ValueError: boom 7" in str(err)
    assert "_failing_step" in err.remote_traceback and "_failing_step" in str(err)
    assert (err.node, err.step, err.remote_type) == ("a", "fail", "ValueError")

    with pytest.raises(MultiNodeError, match="cannot be sent back as JSON"):
        controller.run_on("a", "unsendable")
    with pytest.raises(MultiNodeError, match="no step `nope` is registered"):
        controller.run_on("a", "nope", timeout=1.0)
    with pytest.raises(TypeError, match="JSON"):
        controller.run_on("a", "double", None, object())
    # The node keeps serving after failed steps.
    assert controller.run_on("a", "double", None, 1)[1] == 2


def test_run_on_a_node_that_never_connects_times_out():
    with MultiNodeOopController(1) as controller:
        start = time.monotonic()
        with pytest.raises(MultiNodeTimeoutError, match="did not connect"):
            controller.run_on("ghost", "anything", timeout=0.2)
        assert time.monotonic() - start < BOOT


# -- barriers -------------------------------------------------------------------------------------------


def test_a_barrier_with_a_missing_node_times_out(multinode, wait_until_blocking):
    controller = multinode(3)
    handles = [controller.spawn_node(n, _waits_at_barrier, "all-here") for n in ("a", "b")]
    wait_until_blocking(lambda: controller.waiting_at("all-here") == ["a", "b"], timeout=BOOT)

    assert controller.timeout_barrier("all-here", 0.2) == 2
    for handle in handles:
        assert handle.wait(BOOT) == 3, handle.diagnostics()
        assert "BarrierTimeoutError" in handle.stdout
        assert "2 of 3 nodes arrived" in handle.stdout


def test_a_node_barrier_times_out_on_its_own_deadline():
    with MultiNodeOopController(2) as controller:
        with MultiNodeOopNode.connect(controller.local_addr, name="solo") as node:
            start = time.monotonic()
            with pytest.raises(BarrierTimeoutError, match="timed out after 0.3s") as info:
                node.barrier("pair", timeout=0.3)
            assert time.monotonic() - start < BOOT
            assert isinstance(info.value, TimeoutError)
            assert isinstance(info.value, AtomrError)
            # The controller sees that round as failed with one arrival.
            assert controller.timeout_barrier("pair", 0) == 1


def test_in_process_nodes_pass_a_barrier_in_successive_rounds():
    with MultiNodeOopController(2) as controller:
        a = MultiNodeOopNode.connect(controller.local_addr, name="a")
        b = MultiNodeOopNode.connect(controller.local_addr)
        assert (a.name, b.name, b.expected_nodes) == ("a", "node-1", 2)
        errors = []

        def tick(node):
            try:
                for _ in range(3):
                    node.barrier("tick", timeout=BOOT)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=tick, args=(n,)) for n in (a, b)]
        for t in threads:
            t.start()
        assert [controller.timeout_barrier("tick", BOOT) for _ in range(3)] == [2, 2, 2]
        for t in threads:
            t.join(BOOT)
        assert errors == []
        a.close()
        b.close()


def test_a_crashing_node_fails_the_barrier_the_others_wait_at(multinode, wait_until_blocking):
    controller = multinode(2)
    a = controller.spawn_node("a", _waits_at_barrier, "regroup")
    b = controller.spawn_node("b", _serving_node, False)
    wait_until_blocking(lambda: controller.waiting_at("regroup") == ["a"], timeout=BOOT)

    with pytest.raises(MultiNodeError, match="disconnected"):
        controller.run_on("b", "crash", timeout=BOOT)
    assert b.wait(BOOT) == 5
    assert a.wait(BOOT) == 3, a.diagnostics()
    assert "node `b` disconnected" in a.stdout


# -- failures stay contained ------------------------------------------------------------------------------


def test_killing_a_node_mid_test_does_not_wedge_the_controller(multinode):
    controller = multinode(3)
    handles = {n: controller.spawn_node(n, _serving_node) for n in ("a", "b", "c")}
    assert controller.timeout_barrier("ready", BOOT) == 3, controller.diagnostics()
    c = handles["c"]

    # Whether the kill lands before or during the step, the call fails promptly.
    killer = threading.Timer(0.3, c.kill)
    killer.start()
    start = time.monotonic()
    with pytest.raises(MultiNodeError) as info:
        controller.run_on("c", "hang", timeout=BOOT)
    killer.join()
    assert not isinstance(info.value, MultiNodeTimeoutError)
    assert time.monotonic() - start < BOOT / 2
    assert c.wait(BOOT) == -signal.SIGKILL
    with pytest.raises(MultiNodeError, match="exited with code"):
        controller.run_on("c", "pid", timeout=BOOT)

    assert controller.run_on("a", "double", None, 2)[1] == 4
    assert controller.run_on("b", "double", None, 3)[1] == 6
    assert controller.stop_serving() == ["a", "b"]
    assert handles["a"].wait(BOOT) == 0
    assert handles["b"].wait(BOOT) == 0


def _read_until_eof(sock: socket.socket) -> bytes:
    sock.settimeout(BOOT)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(BOOT)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_a_malformed_frame_drops_only_that_connection(wait_until_blocking):
    with MultiNodeOopController(2) as controller:
        host, port = controller.local_addr.rsplit(":", 1)
        a = MultiNodeOopNode.connect(controller.local_addr, name="a")
        oversized = socket.create_connection((host, int(port)))
        oversized.sendall(struct.pack(">I", MAX_FRAME_BYTES + 1))
        not_json = socket.create_connection((host, int(port)))
        not_json.sendall(struct.pack(">I", 9) + b"{not json")
        rogue = socket.create_connection((host, int(port)))
        hello = b'{"op":"hello","v":1,"name":"rogue"}'
        rogue.sendall(struct.pack(">I", len(hello)) + hello)
        try:
            assert _read_until_eof(oversized) == b""
            assert _read_until_eof(not_json) == b""
            (size,) = struct.unpack(">I", _read_exactly(rogue, 4))
            assert b'"welcome"' in _read_exactly(rogue, size)
            rogue.sendall(struct.pack(">I", 2) + b"[]")  # valid JSON, but not an object
            assert _read_until_eof(rogue) == b""
        finally:
            for sock in (oversized, not_json, rogue):
                sock.close()
        wait_until_blocking(lambda: controller.connected_nodes() == ["a"])

        b = MultiNodeOopNode.connect(controller.local_addr, name="b")
        passed = threading.Thread(target=a.barrier, args=("still-serving", BOOT))
        passed.start()
        b.barrier("still-serving", timeout=BOOT)
        passed.join(BOOT)
        assert controller.timeout_barrier("still-serving", 0) == 2
        a.close()
        b.close()


def test_a_second_node_with_a_taken_name_is_refused():
    with MultiNodeOopController(2) as controller:
        with MultiNodeOopNode.connect(controller.local_addr, name="a"):
            with pytest.raises(MultiNodeError, match="already connected"):
                MultiNodeOopNode.connect(controller.local_addr, name="a")


# -- cleanup ------------------------------------------------------------------------------------------------


def test_after_shutdown_no_child_process_is_alive(wait_until_blocking):
    controller = MultiNodeOopController(3)
    try:
        assert controller in _multinode._LIVE_CONTROLLERS  # the atexit hook's list
        a = controller.spawn_node("a", _serving_node, False)
        stubborn = controller.spawn_node("b", _stubborn_node)
        waiting = controller.spawn_node("c", _waits_at_barrier, "never")
        assert controller.run_on("b", "ping", timeout=BOOT) == "pong"  # SIGTERM now ignored
        controller.wait_connected(3, timeout=BOOT)
        wait_until_blocking(lambda: controller.waiting_at("never") == ["c"], timeout=BOOT)
    finally:
        controller.shutdown(grace=0.5)
    controller.shutdown()  # idempotent

    assert controller not in _multinode._LIVE_CONTROLLERS
    for handle in (a, stubborn, waiting):
        assert handle.returncode is not None
        with pytest.raises(ProcessLookupError):
            os.kill(handle.pid, 0)
    assert a.returncode == 0, a.diagnostics()
    assert stubborn.returncode == -signal.SIGKILL
    assert waiting.returncode == 3 and "shut down" in waiting.stdout
    with pytest.raises(MultiNodeError, match="shut down"):
        controller.spawn_node("d", _serving_node)
