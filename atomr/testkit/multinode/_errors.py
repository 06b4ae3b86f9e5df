"""The errors of multi-node tests.
"""

from __future__ import annotations

from typing import Optional

from atomr._util import public_module
from atomr.errors import AtomrError

# -- errors ---------------------------------------------------------------------------


@public_module("atomr.testkit.multinode")
class MultiNodeError(AtomrError):
    """A multi-node test operation failed.

    Raised by :meth:`MultiNodeOopController.run_on` when the step failed in
    the node (the message then holds the remote exception and traceback)
    or the node went away.

    Attributes:
        node: Name of the node concerned, when there is one.
        step: Label of the step that failed, for ``run_on`` failures.
        remote_type: ``module.QualName`` of the exception raised in the node.
        remote_traceback: The node's formatted traceback text.
    """

    node: Optional[str] = None
    step: Optional[str] = None
    remote_type: Optional[str] = None
    remote_traceback: Optional[str] = None


@public_module("atomr.testkit.multinode")
class MultiNodeTimeoutError(MultiNodeError, TimeoutError):
    """A multi-node operation did not finish within its timeout."""


@public_module("atomr.testkit.multinode")
class BarrierTimeoutError(MultiNodeTimeoutError):
    """A barrier could not be passed.

    Raised by :meth:`MultiNodeOopNode.barrier` when the barrier timed out
    (the node's own timeout or the controller's ``timeout_barrier``), failed
    on the controller (a node disconnected unexpectedly, the controller shut
    down) or the connection to the controller was lost.
    """
