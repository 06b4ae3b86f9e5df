"""Fixtures of the multi-process tests: network labs and node processes,
always torn down (processes killed, namespaces deleted) however the test
ends."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from multinode._netns import NetnsLab, unavailable_reason
from multinode._nodes import NodeGroup


@pytest.fixture
def netns_lab() -> Iterator[Callable[[int], NetnsLab]]:
    """``netns_lab(n)``: a lab of `n` namespaces (skips the test, with the
    reason, where labs cannot be built)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"network namespace lab unavailable: {reason}")
    labs: list[NetnsLab] = []

    def make(n: int) -> NetnsLab:
        lab = NetnsLab(n)
        labs.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.close()


@pytest.fixture
def nodes() -> Iterator[NodeGroup]:
    """The test's node processes, all killed at the end."""
    with NodeGroup() as group:
        yield group
