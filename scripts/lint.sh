#!/usr/bin/env bash
# atomr's lint gate, run first by `make test` (through `make lint`).
#
# Usage: scripts/lint.sh [STEP...]    (no STEP: every step, in this order)
#   ruff          ruff check (ruff.toml) over the Python trees
#   mypy          mypy on the atomr package and its .pyi stubs (mypy.ini)
#   mypy-docs     mypy --strict, as a user runs it, over examples/*.py and the
#                 ```python blocks of README.md and docs/*.md
#                 (scripts/typecheck_docs.py)
#   cython-lint   cython-lint atomr/_native (.cython-lint.toml)
#   clang-format  clang-format --dry-run -Werror over cpp/ (.clang-format); checks, never rewrites
#   imports       lint-imports, when an import-linter contract is configured
#   stubtest      the stubs of atomr._native (every extension in it) against the
#                 built modules (needs `make build` first)
#
# Each step runs even if an earlier one failed, so one run shows every problem;
# the script exits non-zero if any step failed. The tools come from
# requirements-dev.txt and scripts/install-system-deps.sh (`make deps`).
# Set PYTHON to choose the interpreter (default python3).
set -uo pipefail

cd "$(dirname "$0")/.."
exec 2>&1  # one ordered log
PYTHON=${PYTHON:-python3}
ALL_STEPS=(ruff mypy mypy-docs cython-lint clang-format imports stubtest)

# A console script installed beside $PYTHON, else the one on PATH.
script_bin="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
tool() {
  if [ -x "$script_bin/$1" ]; then echo "$script_bin/$1"; else command -v "$1" || echo "$1"; fi
}

# Files under the given directories matching the given globs: tracked and
# untracked-but-not-ignored ones when this is a git checkout, else `find`.
list_files() {
  local dir=$1; shift
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    local specs=()
    for g in "$@"; do specs+=(":(glob)$dir/**/$g"); done
    git ls-files --cached --others --exclude-standard -- "${specs[@]}" | sort -u
  else
    local expr=()
    for g in "$@"; do expr+=(-o -name "$g"); done
    find "$dir" -type f \( "${expr[@]:1}" \) | sort
  fi
}

step_ruff() {
  local dirs=()
  for d in atomr tests benchmarks examples docs scripts; do [ -d "$d" ] && dirs+=("$d"); done
  "$PYTHON" -m ruff check --no-cache "${dirs[@]}"
}

step_mypy() {
  "$PYTHON" -m mypy --config-file mypy.ini
}

step_mypy_docs() {
  "$PYTHON" scripts/typecheck_docs.py
}

step_stubtest() {
  if ! "$PYTHON" -c 'import atomr._native' 2>/dev/null; then
    echo "atomr._native does not import (not built here?): run \`make build\` first" >&2
    return 1
  fi
  # --ignore-disjoint-bases: every extension type is a disjoint base (PEP 800);
  # marking each one in the stubs would add nothing for atomr's users.
  "$PYTHON" -m mypy.stubtest --concise --mypy-config-file mypy.ini \
    --allowlist scripts/stubtest-allowlist.txt --ignore-disjoint-bases atomr._native
}

step_cython_lint() {
  "$(tool cython-lint)" atomr/_native
}

step_clang_format() {
  local files
  mapfile -t files < <(list_files cpp '*.hpp' '*.cpp')
  if [ ${#files[@]} -eq 0 ]; then
    echo "no C++ files under cpp/"
    return 0
  fi
  local out bad
  out=$(clang-format --dry-run -Werror "${files[@]}" 2>&1)
  local rc=$?
  if [ $rc -ne 0 ]; then
    bad=$(grep -oE '^[^: ]+:[0-9]+:[0-9]+: error' <<<"$out" | cut -d: -f1 | sort -u)
    if [ -z "$bad" ]; then
      echo "$out" >&2
    else
      head -n 20 <<<"$bad" | sed 's/^/  not clang-formatted: /' >&2
      [ "$(grep -c . <<<"$bad")" -gt 20 ] && echo "  ..." >&2
    fi
    echo "$(grep -c . <<<"$bad") of ${#files[@]} C++ files differ from .clang-format" \
         "($(clang-format --version | head -1)); fix with:" >&2
    echo "  clang-format -i \$(git ls-files 'cpp/*.hpp' 'cpp/*.cpp')" >&2
    return 1
  fi
  echo "${#files[@]} C++ files formatted"
}

step_imports() {
  local configured=""
  if [ -f .importlinter ]; then configured=.importlinter; fi
  if [ -f setup.cfg ] && grep -q '^\[importlinter' setup.cfg; then configured=setup.cfg; fi
  if [ -f pyproject.toml ] && grep -q '^\[tool\.importlinter' pyproject.toml; then
    configured=pyproject.toml
  fi
  if [ -z "$configured" ]; then
    echo "no import-linter contract configured: skipped"
    return 0
  fi
  # The package is analysed from this checkout, not an installed copy.
  PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$(tool lint-imports)" --no-cache
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=("${ALL_STEPS[@]}")
failed=()
for s in "${steps[@]}"; do
  case "$s" in
    ruff|mypy|mypy-docs|stubtest|cython-lint|clang-format|imports) ;;
    *) echo "unknown step '$s' (steps: ${ALL_STEPS[*]})" >&2; exit 2 ;;
  esac
  echo "== lint: $s"
  start=$SECONDS
  if "step_${s//-/_}"; then
    echo "== lint: $s ok ($((SECONDS - start))s)"
  else
    echo "== lint: $s FAILED ($((SECONDS - start))s)" >&2
    failed+=("$s")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "lint failed: ${failed[*]}" >&2
  exit 1
fi
echo "lint passed: ${steps[*]}"
