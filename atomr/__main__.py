"""``python -m atomr``: the host command (:func:`atomr.hosting.main`)."""

from __future__ import annotations

import sys

from atomr.hosting import main

if __name__ == "__main__":
    sys.exit(main())
