"""Fixtures of the cluster tools' tests: the multi-process tests' node group."""

from __future__ import annotations

from typing import Iterator

import pytest

from multinode._nodes import NodeGroup


@pytest.fixture
def nodes() -> Iterator[NodeGroup]:
    """The test's node processes, all killed at the end."""
    with NodeGroup() as group:
        yield group
