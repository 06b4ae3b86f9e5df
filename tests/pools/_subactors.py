"""Actor classes the subinterpreter-pool tests spawn in subinterpreters
(imported there by qualified name, ``pools._subactors.<Name>``). Inside a
subinterpreter ``atomr`` offers only ``Actor``, ``Terminated`` and
``errors``, so this module imports nothing else from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atomr import Actor, Terminated


@dataclass(frozen=True)
class Point:
    """Crosses into a pool with the test's codec (``encode_point``)."""

    x: int
    y: int


@dataclass(frozen=True)
class Plain:
    """Has no codec: crosses pickled."""

    v: int


#: The calls of the point codec, in this interpreter.
CODEC_CALLS: list[str] = []


def encode_point(p: Point) -> bytes:
    CODEC_CALLS.append("encode")
    return f"{p.x},{p.y}".encode()


def decode_point(blob: bytes) -> Point:
    CODEC_CALLS.append("decode")
    x, y = blob.decode().split(",")
    return Point(int(x), int(y))


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
        if msg == "codec-calls":
            return list(CODEC_CALLS)
        if msg == "make-point":
            return Point(3, 4)
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



class Recorder(Actor):
    """Records what it gets (``"got"`` answers, ``"senders"`` the senders'
    paths); ``("tell", ref, msg)`` tells `ref` (the implicit sender: this
    actor); ``("hold", ref)`` keeps a ref, ``"drop"`` forgets the kept ones;
    ``("watch", ref)`` watches `ref`."""

    def __init__(self) -> None:
        self.got: list[Any] = []
        self.senders: list[Any] = []
        self.held: list[Any] = []

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "got":
            return list(self.got)
        if msg == "senders":
            return list(self.senders)
        if msg == "drop":
            self.held.clear()
            return len(self.held)
        if isinstance(msg, tuple) and msg and msg[0] == "tell":
            msg[1].tell(msg[2])
            return None
        if isinstance(msg, tuple) and msg and msg[0] == "hold":
            self.held.append(msg[1])
            return len(self.held)
        if isinstance(msg, tuple) and msg and msg[0] == "watch":
            ctx.watch(msg[1])
            return True
        self.got.append(msg.path if isinstance(msg, Terminated) else msg)
        self.senders.append(None if ctx.sender is None else ctx.sender.path)
        return None


class Parent(Actor):
    """Spawns and asks children in its interpreter."""

    async def handle(self, ctx: Any, msg: Any) -> Any:
        from atomr import props
        from atomr.supervision import one_for_one

        if msg == "spawn":
            return await ctx.spawn(props(Echo), "kid")
        if msg == "anonymous":
            return ctx.spawn(Echo).name
        if msg == "ask-kid":
            return await ctx.ask(ctx.child("kid"), "where", 10.0)
        if msg == "children":
            return sorted(r.name for r in ctx.children)
        if msg == "duplicate":
            ctx.spawn(Echo, "kid")
        if msg == "fragile":  # a child that stops on its first failure, watched
            kid = ctx.spawn(props(Echo).with_supervisor_strategy(one_for_one(default="stop")),
                            "fragile")
            ctx.watch(kid)
            return kid
        if msg == "escalating":  # a child whose failure fails this actor
            kid = ctx.spawn(props(Echo).with_supervisor_strategy(
                one_for_one({ValueError: "escalate"})), "esc")
            return kid
        if isinstance(msg, Terminated):
            Parent.terminated.append(msg.path)
            return None
        if msg == "terminated":
            return list(Parent.terminated)
        if msg == "where":
            return _interpreter()
        return msg

    terminated: list[str] = []


class Timed(Actor):
    """Timers: ``"start"`` sets them up; ``"got"`` answers what they delivered."""

    def __init__(self) -> None:
        self.got: list[Any] = []
        self.periodic: Any = None

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "got":
            return list(self.got)
        if isinstance(msg, tuple) and msg[0] == "start":
            ctx.schedule_once(0.01, "once")
            ctx.schedule_once(0.01, "to-main", target=msg[1])
            self.periodic = ctx.schedule_periodically(0.01, 0.01, "tick")
            ctx.timers.start_single_timer("k", "keyed-old", 0.05)
            ctx.timers.start_single_timer("k", "keyed", 0.02)  # replaces the first
            ctx.timers.start_timer_with_fixed_delay("fd", "delayed", 0.01)
            cancelled = ctx.schedule_once(0.01, "cancelled")
            assert cancelled.cancel() and cancelled.is_cancelled() and not cancelled.cancel()
            return sorted(ctx.timers.active_keys)
        if msg == "tick":
            self.got.append(msg)
            if self.got.count("tick") == 3:
                assert self.periodic.cancel()
                ctx.schedule_once(0.1, "after-ticks")
            return None
        if msg == "delayed":
            self.got.append(msg)
            ctx.timers.cancel("fd")
            return None
        self.got.append(msg)
        return None


class Stasher(Actor):
    """Stashes everything until ``"open"``; then answers ``("handled", msg)``
    until ``"close"``."""

    def handle(self, ctx: Any, msg: Any) -> Any:
        if msg == "open":
            ctx.become(self.opened, discard_old=False)
            size = ctx.stash_size
            ctx.unstash_all()
            return ("opened", size)
        ctx.stash()
        return None

    def opened(self, ctx: Any, msg: Any) -> Any:
        if msg == "close":
            ctx.unbecome()
            return "closed"
        return ("handled", msg)


class Asker(Actor):
    """Asks from inside the pool: ``(op, ref, msg[, timeout])``."""

    async def handle(self, ctx: Any, msg: Any) -> Any:
        from atomr.errors import AskTimeoutError

        if msg == "where":
            return _interpreter()
        op, ref, payload = msg[:3]
        if op == "ask":
            return await ref.ask(payload, 10.0)
        if op == "ctx-ask":
            return await ctx.ask(ref, payload, 10.0)
        if op == "timeout":
            try:
                await ref.ask(payload, msg[3])
            except AskTimeoutError as exc:
                return f"timed out: {exc}"
            return "answered"
        if op == "forward":  # the current message, with its pending ask
            ctx.forward(ref)
            return None
        raise ValueError(op)
