"""Runs ``mypy --strict`` over atomr's documented code: examples/*.py and the
```python blocks of README.md and docs/*.md (run by ``scripts/lint.sh
mypy-docs``).

A user's ``mypy --strict`` sees atomr as an installed, typed package (its
stubs and annotations) and reports nothing inside it; the same holds here:
errors inside the atomr package are the ``mypy`` lint step's business.

The python blocks of one page are checked together, as one module, in page
order (a page reads as one session: a later block may use what an earlier one
defined). Each block's lines keep their line numbers, so every error points
at the page's own line. Snippets may ``await`` at top level (they show code
run inside a coroutine); nothing else is relaxed.

A block is left out only when the line before its opening fence is a
``<!-- TODO-merge: NAME -->`` marker: it shows an API another branch adds,
which does not exist here yet.

Usage: python3 scripts/typecheck_docs.py [--list] [FILE.md|FILE.py ...]
(no files: the examples and every page; --list prints what would be checked.)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```python\s*$")
_MARKER = re.compile(r"^<!--\s*TODO-merge:\s*(.+?)\s*-->\s*$")

_CONFIG = """\
[mypy]
python_version = 3.11
strict = True
show_error_codes = True
pretty = False
mypy_path = {root}

# atomr itself is checked by the `mypy` lint step with its own settings; like
# a user's project, this check only sees its types.
[mypy-atomr,atomr.*]
ignore_errors = True

[mypy-msgpack.*]
ignore_missing_imports = True

"""

# Page snippets show code run inside a coroutine.
_PAGE_SECTION = """
[mypy-{modules}]
disable_error_code = top-level-await
"""


def default_pages() -> list[pathlib.Path]:
    """README.md and docs/*.md (not the generated docs/reference/)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def default_examples() -> list[pathlib.Path]:
    return sorted((ROOT / "examples").glob("*.py"))


def extract(page: pathlib.Path) -> tuple[str, int, list[str]]:
    """The page's python blocks as one module whose lines sit at their page
    line numbers (blank elsewhere), the number of blocks kept, and the
    markers of the blocks left out."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out = [""] * len(lines)
    kept = 0
    skipped: list[str] = []
    i = 0
    while i < len(lines):
        if not _FENCE.match(lines[i]):
            i += 1
            continue
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            raise SystemExit(f"{page}:{i + 1}: unterminated ```python block")
        if marker is not None:
            skipped.append(f"{shown(page)}:{i + 1}: {marker.group(1)}")
        else:
            kept += 1
            for k in range(i + 1, j):
                out[k] = lines[k]
        i = j + 1
    return "\n".join(out) + "\n", kept, skipped


def shown(path: pathlib.Path) -> str:
    """`path` relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def module_name(page: pathlib.Path) -> str:
    stem = re.sub(r"\W", "_", page.stem)
    return f"atomr_doc_{stem}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    parser.add_argument("--list", action="store_true", help="print what would be checked")
    args = parser.parse_args(argv)
    files = [f.resolve() for f in args.files]
    pages = [f for f in files if f.suffix == ".md"] if files else default_pages()
    examples = [f for f in files if f.suffix == ".py"] if files else default_examples()

    with tempfile.TemporaryDirectory(prefix="atomr-doc-types-") as tmp:
        tmpdir = pathlib.Path(tmp)
        targets: list[str] = [str(p) for p in examples]
        back: dict[str, str] = {}
        skipped: list[str] = []
        for page in pages:
            code, kept, left_out = extract(page)
            skipped += left_out
            if not kept:
                continue
            mod = tmpdir / f"{module_name(page)}.py"
            mod.write_text(code, encoding="utf-8")
            targets.append(str(mod))
            back[str(mod)] = shown(page)
        for line in skipped:
            print(f"left out (TODO-merge): {line}")
        if args.list:
            print("\n".join(back.get(t, t) for t in targets))
            return 0
        if not targets:
            print("nothing to check")
            return 0
        config = tmpdir / "mypy.ini"
        text = _CONFIG.format(root=ROOT)
        if back:
            modules = ",".join(pathlib.Path(m).stem for m in back)
            text += _PAGE_SECTION.format(modules=modules)
        config.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(config),
             "--cache-dir", str(ROOT / ".mypy_cache" / "strict-docs"), *targets],
            cwd=ROOT, capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        for tmp_path, page_path in back.items():
            # mypy may repeat a cached error with the temp path of an earlier run
            out = re.sub(r"\S*" + re.escape(os.sep + pathlib.Path(tmp_path).name),
                         lambda _, page_path=page_path: page_path, out)
        print(out, end="")
        n_pages = len(back)
        print(f"mypy --strict: {len(examples)} example(s), {n_pages} page(s) with python blocks")
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
