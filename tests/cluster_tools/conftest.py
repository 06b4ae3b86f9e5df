"""Fixtures of the cluster tools' tests: the in-process registry and the
multi-process tests' node group."""

from __future__ import annotations

from typing import Iterator

import pytest

from atomr.cluster import ClusterRegistry
from multinode._nodes import NodeGroup


@pytest.fixture
def registry() -> Iterator[ClusterRegistry]:
    """A simulated network of in-process cluster nodes, closed at the end."""
    reg = ClusterRegistry()
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture
def nodes() -> Iterator[NodeGroup]:
    """The test's node processes, all killed at the end."""
    with NodeGroup() as group:
        yield group
