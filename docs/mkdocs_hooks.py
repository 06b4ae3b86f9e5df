"""MkDocs hooks of the documentation site (mkdocs.yml).

The generated reference pages link to a repeated heading the way GitHub
names it (``#props-1`` for the second ``props``); MkDocs' table of contents
names it ``#props_1``. The links are rewritten for the site, so its strict
build still checks that every such anchor exists.
"""

from __future__ import annotations

import re
from typing import Any

_REPEATED = re.compile(r"\]\(#([\w.-]+?)-(\d+)\)")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri.startswith("reference/"):
        return _REPEATED.sub(r"](#\1_\2)", markdown)
    return markdown
