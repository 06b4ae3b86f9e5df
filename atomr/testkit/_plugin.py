"""The pytest plugin: fixtures ``testkit`` and ``multinode``.

Registered through the ``pytest11`` entry point, so a project that installs
atomr can use the fixtures without a conftest.
"""

from __future__ import annotations

import itertools
from typing import Iterator

import pytest

from atomr.testkit._kit import TestKit

_names = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    """Registers the ``atomr_testkit`` marker, which sets the ``testkit``
    fixture's options (``virtual_time``, ``name``, ``config``)."""
    config.addinivalue_line(
        "markers",
        "atomr_testkit(virtual_time=False, name=None, config=None): settings of the "
        "`testkit` fixture's TestKit")


@pytest.fixture
def testkit(request: pytest.FixtureRequest) -> Iterator[TestKit]:
    """A :class:`TestKit` on a fresh actor system, shut down (and checked for
    leaked actors and timers) after the test."""
    marker = request.node.get_closest_marker("atomr_testkit")
    options = dict(marker.kwargs) if marker is not None else {}
    name = options.pop("name", None) or f"testkit-{next(_names)}"
    kit = TestKit(name, options.pop("config", None),
                  virtual_time=options.pop("virtual_time", False))
    if options:
        raise pytest.UsageError(f"unknown atomr_testkit options: {sorted(options)}")
    try:
        yield kit
    finally:
        # Leaks show in the test's report (pytest -rA, or with a failure).
        kit.shutdown(verify=True,
                     report=lambda text: request.node.add_report_section(
                         "teardown", "atomr testkit leaks", text))


from atomr.testkit.multinode import multinode  # noqa: E402,F401  (a fixture)
