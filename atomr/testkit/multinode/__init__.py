"""Out-of-process multi-node tests: a barrier controller and its node processes.

A test creates a :class:`MultiNodeOopController`, which listens on a local TCP
port, and starts node processes with :meth:`MultiNodeOopController.spawn_node`.
Each node process connects back as a :class:`MultiNodeOopNode`, usually
creates its own :class:`atomr.ActorSystem`, and then

* synchronises with the other nodes through named barriers
  (:meth:`MultiNodeOopNode.barrier`), and
* serves *steps* the test runs on it by name
  (:meth:`MultiNodeOopController.run_on`), returning JSON results.

The controller owns every process it started: :meth:`shutdown` (also run by
the context manager, the ``multinode`` pytest fixture and an ``atexit`` hook)
asks nodes to stop, then sends SIGTERM and finally SIGKILL to whatever is
left. Each node also exits on its own when the test process dies.

Example:
    >>> def node_main(node):
    ...     system = ActorSystem.create_blocking(node.name)
    ...     ref = system.actor_of(props(Echo), "echo")
    ...     node.register_step("echo", lambda node, msg: ref.ask_blocking(msg))
    ...     node.barrier("up")
    ...     node.serve_steps()
    ...     system.terminate_blocking()
    >>> with MultiNodeOopController(2) as controller:           # doctest: +SKIP
    ...     for name in ("a", "b"):
    ...         controller.spawn_node(name, node_main)
    ...     assert controller.timeout_barrier("up", 20.0) == 2
    ...     assert controller.run_on("a", "echo", None, "hi") == "hi"

Wire protocol (internal): every frame is a 4-byte big-endian length followed
by that many bytes of UTF-8 JSON encoding one object with an ``"op"`` key;
frames are limited to :data:`MAX_FRAME_BYTES`. A connection that sends a
malformed or oversized frame is dropped; the others are unaffected.
"""

from __future__ import annotations

# The implementation lives in private modules: _errors, _protocol (frames and
# links), _common (checks), _node, _process (NodeHandle), _controller, _main
# (a node process's entry point) and _fixture.

from typing import Any

from atomr.testkit.multinode._controller import MultiNodeOopController
from atomr.testkit.multinode._errors import (
    BarrierTimeoutError,
    MultiNodeError,
    MultiNodeTimeoutError,
)
from atomr.testkit.multinode._fixture import _multinode_fixture
from atomr.testkit.multinode._node import MultiNodeOopNode
from atomr.testkit.multinode._process import NodeHandle
from atomr.testkit.multinode._protocol import MAX_FRAME_BYTES

__all__ = [
    "MAX_FRAME_BYTES",
    "BarrierTimeoutError",
    "MultiNodeError",
    "MultiNodeOopController",
    "MultiNodeOopNode",
    "MultiNodeTimeoutError",
    "NodeHandle",
    "multinode",
]




def __getattr__(name: str) -> Any:
    # `multinode` is built on first access so that importing this package
    # (and atomr.testkit) does not import pytest.
    if name == "multinode":
        import pytest

        fixture = pytest.fixture(name="multinode")(_multinode_fixture)
        globals()["multinode"] = fixture
        return fixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
