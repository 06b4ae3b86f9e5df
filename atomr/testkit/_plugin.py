"""The pytest plugin: fixtures ``testkit`` and ``multinode``.

Registered through the ``pytest11`` entry point, so a project that installs
atomr can use the fixtures without a conftest.

An ``async def`` test that requests ``testkit`` runs on a fresh asyncio loop
even when the project configured no async plugin for it (pytest-asyncio's
default strict mode with no marker, or no pytest-asyncio at all); tests
another plugin runs (a pytest-asyncio item, an ``asyncio`` or ``anyio``
marker) are left to it.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from typing import Iterator, Optional

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


def _runs_unclaimed_async_test(item: pytest.Function) -> bool:
    """Whether `item` is an ``async def`` test using ``testkit`` that no
    async plugin took over (pytest-asyncio turns the tests it runs into
    its own item class)."""
    return (type(item) is pytest.Function
            and inspect.iscoroutinefunction(item.obj)
            and "testkit" in item.fixturenames
            and item.get_closest_marker("asyncio") is None
            and item.get_closest_marker("anyio") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Optional[bool]:
    """Runs an ``async def`` test that requests ``testkit`` on a fresh
    asyncio loop in the test's thread when no async plugin claimed it (the
    kit's system runs on its own thread, so the test may use any loop)."""
    if not _runs_unclaimed_async_test(pyfuncitem):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


@pytest.fixture
def testkit(request: pytest.FixtureRequest) -> Iterator[TestKit]:
    """A :class:`TestKit` on a fresh actor system, shut down after the test.

    Actors and timers of the kit's own system are stopped by that shutdown,
    so they are no leaks; threads and other actor systems the test started
    and left running are (listed in the test's report section "atomr
    testkit leaks", ``pytest -rA``)."""
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
        kit.shutdown(verify=True, own_actors_ok=True,
                     report=lambda text: request.node.add_report_section(
                         "teardown", "atomr testkit leaks", text))


from atomr.testkit.multinode import multinode  # noqa: E402,F401  (a fixture)
