"""The ``multinode`` pytest fixture's body (pytest is imported only when the
fixture is first asked for).
"""

from __future__ import annotations

import sys
from typing import Callable, Iterator

from atomr.testkit.multinode._controller import MultiNodeOopController

# -- pytest fixture ------------------------------------------------------------------------------------------


def _multinode_fixture() -> Iterator[Callable[..., MultiNodeOopController]]:
    """Factory fixture: ``multinode(expected_nodes, host="127.0.0.1")`` makes a
    controller; every one is shut down at teardown, and the output of its
    nodes is printed (pytest shows it when the test fails)."""
    made: list[MultiNodeOopController] = []

    def make(expected_nodes: int, host: str = "127.0.0.1") -> MultiNodeOopController:
        controller = MultiNodeOopController(expected_nodes, host)
        made.append(controller)
        return controller

    try:
        yield make
    finally:
        for controller in made:
            controller.shutdown()
            report = controller.diagnostics()
            if report:
                print(report, file=sys.stderr)
