"""Typed refs and actors: ``ActorRef[Msg, Reply]``, ``Actor[Msg, Reply]`` and
``Props[Msg, Reply]`` work at run time and under ``mypy --strict``, untyped
use stays valid, and every documented example passes ``mypy --strict``."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import types

import pytest

from atomr import Actor, ActorRef, ActorSystem, Context, Props, props, routing

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKER = ROOT / "scripts" / "typecheck_docs.py"


class Doubler(Actor[int, int]):
    def handle(self, ctx: Context, msg: int) -> int:
        return 2 * msg


def test_generic_forms_are_subscriptable_at_run_time():
    alias = ActorRef[int]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is ActorRef and alias.__args__ == (int,)
    assert ActorRef[int, str].__args__ == (int, str)
    assert Actor[int, str].__origin__ is Actor
    assert Props[int, str].__origin__ is Props
    with pytest.raises(TypeError):
        isinstance(object(), ActorRef[int])  # like any generic alias


def test_typed_actors_run_like_untyped_ones():
    system = ActorSystem.create_blocking("typed")
    try:
        ref = system.actor_of(props(Doubler), "doubler")
        assert type(ref) is ActorRef
        assert ref.ask_blocking(21, 5.0) == 42
        pool = system.actor_of(routing.consistent_hash(props(Doubler), 2), "pool")
        pool.tell_with_key(1, key="alice")
        assert pool.ask_blocking(4, 5.0, key="alice") == 8
    finally:
        system.terminate_blocking()


def _mypy_strict(tmp_path: pathlib.Path, source: str) -> str:
    """Runs mypy --strict on `source` the way the docs check does (atomr seen
    as a typed package: errors inside it are not the snippet's)."""
    (tmp_path / "snippet.py").write_text(textwrap.dedent(source))
    (tmp_path / "mypy.ini").write_text(textwrap.dedent(f"""\
        [mypy]
        strict = True
        python_version = 3.11
        mypy_path = {ROOT}
        [mypy-atomr,atomr.*]
        ignore_errors = True
        [mypy-msgpack.*]
        ignore_missing_imports = True
        """))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(tmp_path / "mypy.ini"),
         "--cache-dir", str(tmp_path / ".cache"), str(tmp_path / "snippet.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    return result.stdout + result.stderr


def _line_of(source: str, marker: str) -> int:
    lines = textwrap.dedent(source).splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


TYPED_USE = """
        from dataclasses import dataclass
        from typing import Any

        from atomr import Actor, ActorRef, ActorSystem, Context, props, routing


        @dataclass(frozen=True)
        class Add:
            n: int


        class Counter(Actor[Add, int]):
            def __init__(self, start: int) -> None:
                self.n = start

            async def handle(self, ctx: Context, msg: Add) -> int:
                self.n += msg.n
                return self.n


        class Untyped(Actor):
            def handle(self, ctx: Any, msg: Any) -> Any:
                if ctx.sender is not None:
                    ctx.sender.tell_with_sender(msg, ctx.self_ref)
                return msg


        async def main() -> None:
            system = await ActorSystem.create("app")
            counter = system.actor_of(props(Counter, factory=lambda: Counter(1)), "c")
            reveal_type(counter)
            total = await counter.ask(Add(2))
            reveal_type(total)
            reveal_type(counter.ask_blocking(Add(1)))
            counter.tell("three")                                   # wrong message
            loose = system.actor_of(props(Untyped))
            reveal_type(loose)
            plain: ActorRef = loose
            typed: ActorRef[Add, int] = counter
            pool = system.actor_of(routing.consistent_hash(props(Untyped), 4))
            pool.tell_with_key("deposit", key="alice")
            hashed = system.actor_of(routing.consistent_hash(props(Counter, factory=lambda: Counter(0)), 2))
            reveal_type(await hashed.ask(Add(1), key="bob"))
            await system.terminate()


        class Sloppy(Actor[int, str]):
            def handle(self, ctx: Context, msg: int) -> str:
                return ctx.sender.path                              # sender is Optional
        """


def test_mypy_strict_types_refs_from_their_actor_and_keeps_untyped_use_valid(tmp_path):
    out = _mypy_strict(tmp_path, TYPED_USE)
    assert 'Revealed type is "atomr._native._core.ActorRef[snippet.Add, int]"' in out, out
    assert out.count('Revealed type is "int"') == 3, out
    assert 'Revealed type is "atomr._native._core.ActorRef[Any, Any]"' in out, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 2, out
    wrong, optional = _line_of(TYPED_USE, "# wrong message"), _line_of(TYPED_USE, "# sender is")
    assert f"snippet.py:{wrong}: error:" in errors[0] and "[arg-type]" in errors[0], out
    assert f"snippet.py:{optional}: error:" in errors[1] and "[union-attr]" in errors[1], out


def _run_checker(*files: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECKER), *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_every_documented_example_passes_mypy_strict():
    result = _run_checker()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout


def test_docs_check_points_at_page_lines_and_skips_only_marked_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(textwrap.dedent("""\
        # A page

        ```python
        from atomr import ActorSystem

        system = await ActorSystem.create("app")
        ```

        <!-- TODO-merge: ctx.not_yet -->
        ```python
        system.not_yet_there()
        ```

        ```python
        count: int = system.name
        ```
        """))
    result = _run_checker(page)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "left out (TODO-merge): " in out and "page.md:10: ctx.not_yet" in out, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out
    assert errors[0].startswith(f"{page}:15: error:") and "[assignment]" in errors[0], out
