"""docs/operations.md (leases, dependency injection, hosting, discovery)
runs as one session, every python block of it."""

from __future__ import annotations

import re

from test_docs import _run_page


def test_the_operations_page_runs():
    assert re.search(r"\b\d+ blocks, 0 left out, 0 tests$", _run_page("operations.md"))
