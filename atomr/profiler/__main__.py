"""``python -m atomr.profiler``."""

from __future__ import annotations

import sys

from atomr.profiler._cli import main

if __name__ == "__main__":
    sys.exit(main())
