"""Actor classes the subinterpreter-pool tests spawn in subinterpreters
(imported there by qualified name, ``pools._subactors.<Name>``). Inside a
subinterpreter ``atomr`` offers only ``Actor``, ``Terminated`` and
``errors``, so this module imports nothing else from it."""

from __future__ import annotations

from typing import Any

from atomr import Actor, Terminated


def _interpreter() -> int:
    from atomr._native import _subinterp

    return int(_subinterp.current_interpreter())


class Echo(Actor):
    """Answers with the message; ``"where"`` with its interpreter's id;
    ``"count"`` with how many messages this instance handled; ``"boom"``
    raises; ``"stop"`` stops it; ``("tell", ref, msg)`` tells `ref`;
    ``("reply", msg)`` tells `msg` to ``ctx.sender``."""

    def __init__(self) -> None:
        self.seen = 0

    def handle(self, ctx: Any, msg: Any) -> Any:
        self.seen += 1
        if msg == "where":
            return _interpreter()
        if msg == "count":
            return self.seen
        if msg == "boom":
            raise ValueError("boom")
        if msg == "stop":
            ctx.stop_self()
            return "stopping"
        if msg == "import-denied":
            import csv  # noqa: F401  (denied by the test's quota)
            return "imported"
        if msg == "spin":
            end = __import__("time").perf_counter() + 0.05
            while __import__("time").perf_counter() < end:
                pass
            return "spun"
        if msg == "unpicklable":
            return lambda: None
        if isinstance(msg, tuple) and msg and msg[0] == "tell":
            msg[1].tell(msg[2], sender=ctx.self_ref)
            return None
        if isinstance(msg, tuple) and msg and msg[0] == "reply":
            ctx.sender.tell(msg[1])
            return None
        return msg


class Restarts(Actor):
    """Records its lifecycle hooks' calls in a class attribute (per
    interpreter): ``"hooks"`` answers them."""

    calls: list[str] = []

    def pre_start(self, ctx: Any) -> None:
        Restarts.calls.append("pre_start")

    def post_restart(self, ctx: Any, reason: BaseException) -> None:
        Restarts.calls.append(f"post_restart:{reason}")

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "hooks":
            return list(Restarts.calls)
        raise RuntimeError(msg)


class Watcher(Actor):
    """Watches the ref it is sent (in its own interpreter); ``"seen"``
    answers the paths of the Terminated it got."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, ctx: Any, msg: Any) -> Any:
        if isinstance(msg, Terminated):
            self.seen.append(msg.path)
            return None
        if msg == "seen":
            return list(self.seen)
        ctx.watch(msg)
        return True

