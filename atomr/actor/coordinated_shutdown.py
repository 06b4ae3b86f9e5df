"""Coordinated shutdown: an actor system stops in named phases, in order.

As in Akka, the phases are ``before-service-unbind``, ``service-unbind``
(stop accepting new work), ``service-requests-done`` (drain what was
accepted), ``service-stop``, ``before-cluster-shutdown``,
``cluster-sharding-shutdown-region``, ``cluster-leave``,
``cluster-exiting``, ``cluster-exiting-done``, ``cluster-shutdown``,
``before-actor-system-terminate`` and ``actor-system-terminate`` (which
terminates the system). ``ActorSystem.terminate()`` runs them too (reason
:data:`ACTOR_SYSTEM_TERMINATE_REASON`) once the system has this extension.
Subsystems and applications add tasks to phases;
the tasks of one phase run concurrently, each phase waits for its tasks up
to its timeout, and a task that fails or times out is logged and the
shutdown goes on (Akka's ``recover = on``).

Example:
    >>> # cs = COORDINATED_SHUTDOWN.get(system)
    >>> # cs.add_task("service-unbind", "http", server.close)
    >>> # cs.run_blocking("deploy")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

from atomr._util.validate import check_nonempty_str, check_positive
from atomr.actor.extension import Extension, ExtensionId

if TYPE_CHECKING:  # pragma: no cover - typing only
    from atomr.actor._system import ActorSystem

__all__ = ["PHASES", "CoordinatedShutdown", "CoordinatedShutdownId", "COORDINATED_SHUTDOWN",
           "ShutdownTask", "ShutdownOutcome", "ACTOR_SYSTEM_TERMINATE_REASON"]

_log = logging.getLogger("atomr.shutdown")

#: The phases, in the order they run.
PHASES = (
    "before-service-unbind",
    "service-unbind",
    "service-requests-done",
    "service-stop",
    "before-cluster-shutdown",
    "cluster-sharding-shutdown-region",
    "cluster-leave",
    "cluster-exiting",
    "cluster-exiting-done",
    "cluster-shutdown",
    "before-actor-system-terminate",
    "actor-system-terminate",
)

#: The reason of a shutdown started by ``ActorSystem.terminate()`` (config
#: ``coordinated-shutdown.run-by-actor-system-terminate``), as Akka's
#: ``ActorSystemTerminateReason``.
ACTOR_SYSTEM_TERMINATE_REASON = "ActorSystemTerminateReason"

_DEFAULT_TIMEOUT = 5.0

# The shutdown whose phase tasks (or phase runner) the current thread runs.
_HERE = threading.local()
_TERMINATE_TIMEOUT = 10.0


class ShutdownTask:
    """A task added to a phase; :meth:`cancel` takes it out again (before
    its phase has started)."""

    __slots__ = ("phase", "name", "_call", "_owner")

    def __init__(self, owner: "CoordinatedShutdown", phase: str, name: str,
                 call: Callable[[], Any]) -> None:
        self.phase = phase
        self.name = name
        self._call = call
        self._owner = owner

    def cancel(self) -> bool:
        """Removes the task; returns whether it was still registered."""
        return self._owner._remove(self)

    def __repr__(self) -> str:
        return f"<ShutdownTask {self.phase}/{self.name}>"


class ShutdownOutcome:
    """What :meth:`CoordinatedShutdown.run` returns: awaitable from any
    event loop, answering whether the shutdown went cleanly."""

    __slots__ = ("_future",)

    def __init__(self, future: "concurrent.futures.Future[bool]") -> None:
        self._future = future

    def __await__(self) -> Any:
        return asyncio.wrap_future(self._future).__await__()

    def done(self) -> bool:
        """Whether the shutdown has finished."""
        return self._future.done()

    def result(self, timeout: Optional[float] = None) -> bool:
        """Waits for the outcome (at most `timeout` seconds).

        Raises:
            TimeoutError: not finished within `timeout`.
        """
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"coordinated shutdown did not finish within {timeout}s") \
                from None


class CoordinatedShutdown(Extension):
    """The coordinated shutdown of one actor system (an extension: get it
    with ``COORDINATED_SHUTDOWN.get(system)``).

    :meth:`run` starts the phases once (later calls return the same
    outcome); they run on a thread of their own, so a task may block or
    await. A task is a callable taking no arguments; what it returns is
    awaited when awaitable (on the shutdown thread's loop: awaitables of
    atomr work from any loop). The last phase terminates the system.

    The outcome (:meth:`run` / :meth:`run_blocking`) is True when every
    task finished within its phase's timeout without raising and the
    system terminated; :attr:`failures` lists what went wrong otherwise.
    """

    def __init__(self, system: "ActorSystem") -> None:
        self._system = system
        self._lock = threading.Lock()
        self._tasks: dict[str, list[ShutdownTask]] = {phase: [] for phase in PHASES}
        self._timeouts: dict[str, float] = {phase: _DEFAULT_TIMEOUT for phase in PHASES}
        self._timeouts["actor-system-terminate"] = _TERMINATE_TIMEOUT
        self._reason: Optional[str] = None
        self._done: Optional[concurrent.futures.Future[bool]] = None
        self._current: Optional[str] = None
        self._position = -1  # index of the phase started last
        self._finished = False
        self._failures: list[str] = []

    # -- set-up ---------------------------------------------------------------------

    def add_task(self, phase: str, name: str, task: Callable[[], Any]) -> ShutdownTask:
        """Adds `task` to `phase`.

        Raises:
            ValueError: `phase` is not one of :data:`PHASES`, or `name` empty.
            TypeError: `task` is not callable.
            RuntimeError: the shutdown has already passed `phase`'s start.
        """
        self._check_phase(phase)
        name = check_nonempty_str("name", name)
        if not callable(task):
            raise TypeError(f"a shutdown task must be callable, not {type(task).__name__}")
        handle = ShutdownTask(self, phase, name, task)
        with self._lock:
            if self._finished or PHASES.index(phase) <= self._position:
                raise RuntimeError(f"coordinated shutdown is past phase {phase!r}")
            self._tasks[phase].append(handle)
        return handle

    def set_phase_timeout(self, phase: str, seconds: float) -> None:
        """How long `phase` waits for its tasks (default 5 s; 10 s for
        ``actor-system-terminate``)."""
        self._check_phase(phase)
        seconds = check_positive("seconds", seconds)
        with self._lock:
            self._timeouts[phase] = seconds

    def phase_timeout(self, phase: str) -> float:
        """The timeout of `phase` in seconds."""
        self._check_phase(phase)
        return self._timeouts[phase]

    def tasks(self, phase: str) -> list[str]:
        """The names of the tasks of `phase`, in the order they were added."""
        self._check_phase(phase)
        with self._lock:
            return [t.name for t in self._tasks[phase]]

    @staticmethod
    def _check_phase(phase: Any) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown shutdown phase {phase!r}; expected one of "
                             f"{', '.join(PHASES)}")

    def _remove(self, task: ShutdownTask) -> bool:
        with self._lock:
            tasks = self._tasks[task.phase]
            if task in tasks:
                tasks.remove(task)
                return True
            return False

    # -- running ---------------------------------------------------------------------

    @property
    def reason(self) -> Optional[str]:
        """Why the shutdown was started, or None before :meth:`run`."""
        return self._reason

    @property
    def current_phase(self) -> Optional[str]:
        """The phase running now, or None (not started, or finished)."""
        return self._current

    @property
    def failures(self) -> list[str]:
        """The tasks that raised or timed out (``"phase/name: reason"``)."""
        with self._lock:
            return list(self._failures)

    def _start(self, reason: str) -> "concurrent.futures.Future[bool]":
        reason = check_nonempty_str("reason", reason)
        with self._lock:
            if self._done is not None:
                return self._done
            self._reason = reason
            done = self._done = concurrent.futures.Future()
        try:
            threading.Thread(target=self._run_phases, args=(done,), daemon=True,
                             name=f"atomr-shutdown-{self._system.name}").start()
        except RuntimeError:  # no new thread (the interpreter is exiting): not started
            with self._lock:
                self._done = None
                self._reason = None
            raise
        return done

    def run(self, reason: str = "unknown") -> "ShutdownOutcome":
        """Starts the shutdown (once) and returns its outcome: awaitable
        from any event loop (``await cs.run("deploy")``), or ignored by a
        caller that only starts it."""
        return ShutdownOutcome(self._start(reason))

    def run_blocking(self, reason: str = "unknown", timeout: Optional[float] = None) -> bool:
        """Starts the shutdown (once) and waits for its outcome.

        Raises:
            TimeoutError: it did not finish within `timeout` seconds.
        """
        try:
            return self._start(reason).result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"coordinated shutdown of {self._system.name} did not finish "
                               f"within {timeout}s") from None

    @property
    def finished(self) -> bool:
        """Whether the shutdown has run every phase."""
        return self._finished

    def in_own_task(self) -> bool:
        """Whether the calling thread runs one of this shutdown's tasks
        (or its phases): waiting there for the shutdown to end would wait
        for itself."""
        return getattr(_HERE, "shutdown", None) is self and not self._finished

    def _run_phases(self, done: "concurrent.futures.Future[bool]") -> None:
        _HERE.shutdown = self
        try:
            ok = asyncio.run(self._phases())
        except BaseException as exc:  # pragma: no cover - a bug in the runner itself
            _log.error("coordinated shutdown of %s failed", self._system.name, exc_info=exc)
            ok = False
        finally:
            with self._lock:
                self._current = None
                self._finished = True
        done.set_result(ok)

    async def _phases(self) -> bool:
        _log.info("coordinated shutdown of %s: %s", self._system.name, self._reason)
        for position, phase in enumerate(PHASES):
            with self._lock:
                self._current = phase
                self._position = position
                tasks = list(self._tasks[phase])
                timeout = self._timeouts[phase]
            if phase == "actor-system-terminate":
                tasks.append(ShutdownTask(self, phase, "terminate-system",
                                          self._terminate_system))
            if not tasks:
                continue
            _log.debug("shutdown phase %s: %s", phase, ", ".join(t.name for t in tasks))
            running = {asyncio.ensure_future(self._run_task(t)): t for t in tasks}
            finished, late = await asyncio.wait(running, timeout=timeout)
            for future in late:
                future.cancel()
                self._failed(running[future], f"timed out after {timeout}s")
            for future in finished:
                exc = future.exception()
                if exc is not None:
                    self._failed(running[future], repr(exc))
        return not self._failures

    async def _run_task(self, task: ShutdownTask) -> None:
        call = task._call
        if inspect.iscoroutinefunction(call):
            await call()
            return
        # A plain callable runs on a daemon thread of its own: one that
        # blocks past its phase's timeout is left behind, never waited for.
        outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            if not outcome.set_running_or_notify_cancel():
                return  # the phase timed out before the thread started
            _HERE.shutdown = self
            try:
                result = call()
            except BaseException as exc:
                outcome.set_exception(exc)
            else:
                outcome.set_result(result)

        threading.Thread(target=run, daemon=True,
                         name=f"atomr-shutdown-{task.phase}-{task.name}").start()
        result = await asyncio.wrap_future(outcome)
        if inspect.isawaitable(result):
            await result

    async def _terminate_system(self) -> None:
        await self._system._final_terminate()

    def _failed(self, task: ShutdownTask, why: str) -> None:
        _log.warning("shutdown task %s/%s: %s", task.phase, task.name, why)
        with self._lock:
            self._failures.append(f"{task.phase}/{task.name}: {why}")


class CoordinatedShutdownId(ExtensionId[CoordinatedShutdown]):
    """Identifies the :class:`CoordinatedShutdown` extension."""

    def create_extension(self, system: "ActorSystem") -> CoordinatedShutdown:
        return CoordinatedShutdown(system)


#: The coordinated shutdown extension: ``COORDINATED_SHUTDOWN.get(system)``.
COORDINATED_SHUTDOWN = CoordinatedShutdownId()
