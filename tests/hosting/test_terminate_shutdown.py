"""ActorSystem.terminate() runs the coordinated shutdown's phases first
(Akka's run-by-actor-system-terminate), from any thread, an actor or a
shutdown task, without deadlocking."""

from __future__ import annotations

import asyncio
import threading

from atomr import Actor, ActorSystem, Config, props
from atomr.actor.coordinated_shutdown import (
    ACTOR_SYSTEM_TERMINATE_REASON,
    COORDINATED_SHUTDOWN,
)

DEADLINE = 15.0


def _recorder(system: ActorSystem) -> list[str]:
    ran: list[str] = []
    shutdown = COORDINATED_SHUTDOWN.get(system)
    for phase in ("service-unbind", "cluster-leave", "before-actor-system-terminate"):
        shutdown.add_task(phase, "record", lambda phase=phase: ran.append(phase))
    return ran


def test_terminate_blocking_runs_the_phases_with_the_terminate_reason():
    system = ActorSystem.create_blocking("cs-terminate")
    ran = _recorder(system)
    system.terminate_blocking(DEADLINE)
    assert ran == ["service-unbind", "cluster-leave", "before-actor-system-terminate"]
    shutdown = COORDINATED_SHUTDOWN.get(system)
    assert shutdown.reason == ACTOR_SYSTEM_TERMINATE_REASON
    assert shutdown.run_blocking(timeout=DEADLINE) is True  # the same, finished run
    assert system.is_terminated


def test_terminate_awaited_on_another_loop_runs_the_phases():
    system = ActorSystem.create_blocking("cs-await")
    ran = _recorder(system)

    async def main() -> None:
        await asyncio.wait_for(system.terminate(), DEADLINE)

    asyncio.run(main())
    assert ran[-1] == "before-actor-system-terminate"
    assert system.is_terminated


class Terminator(Actor):
    def handle(self, ctx, msg):
        ctx.system.terminate()  # from the system's own loop thread
        return "asked"


def test_terminate_from_inside_an_actor_runs_the_phases_without_deadlock():
    system = ActorSystem.create_blocking("cs-actor")
    ran = _recorder(system)
    # A task that needs the system's loop: it would hang were the loop
    # blocked by the terminate call of the actor.
    probe = system.actor_of(props(Echo), "echo")
    answers: list[object] = []
    COORDINATED_SHUTDOWN.get(system).add_task(
        "service-requests-done", "ask-an-actor",
        lambda: answers.append(probe.ask_blocking("still-here", timeout=DEADLINE)))
    ref = system.actor_of(props(Terminator), "terminator")
    ref.tell("go")
    system._core.termination.result(DEADLINE)
    assert answers == ["still-here"]
    assert ran == ["service-unbind", "cluster-leave", "before-actor-system-terminate"]
    assert COORDINATED_SHUTDOWN.get(system).reason == ACTOR_SYSTEM_TERMINATE_REASON


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


def test_a_shutdown_task_may_terminate_and_the_later_phases_still_run():
    system = ActorSystem.create_blocking("cs-task")
    shutdown = COORDINATED_SHUTDOWN.get(system)
    reached: list[str] = []
    refused: list[BaseException] = []

    def blocking() -> None:
        try:
            system.terminate_blocking(DEADLINE)  # would wait for this very task
        except RuntimeError as exc:
            refused.append(exc)

    async def terminate_now() -> None:
        system.terminate()  # not awaited: the shutdown goes on

    shutdown.add_task("service-unbind", "terminate", terminate_now)
    shutdown.add_task("service-stop", "terminate-blocking", blocking)
    shutdown.add_task("cluster-leave", "later", lambda: reached.append("later"))
    assert shutdown.run_blocking("deploy", timeout=DEADLINE) is True
    assert system.is_terminated
    assert shutdown.reason == "deploy"
    assert reached == ["later"]
    assert len(refused) == 1 and "coordinated shutdown" in str(refused[0])


def test_a_task_awaiting_the_termination_times_out_and_the_system_still_terminates():
    system = ActorSystem.create_blocking("cs-self-wait")
    shutdown = COORDINATED_SHUTDOWN.get(system)
    shutdown.set_phase_timeout("service-unbind", 0.3)
    # Returns terminate()'s awaitable, which the phase awaits: it waits for
    # the end of the shutdown it is part of, so its phase times out and
    # cancels the wait -- which must not cancel the termination itself.
    shutdown.add_task("service-unbind", "await-terminate", system.terminate)
    assert shutdown.run_blocking("deploy", timeout=DEADLINE) is False
    assert shutdown.failures == ["service-unbind/await-terminate: timed out after 0.3s"]
    assert system.is_terminated


def test_terminate_from_many_threads_at_once_runs_the_phases_once():
    system = ActorSystem.create_blocking("cs-race")
    ran = _recorder(system)
    threads = [threading.Thread(target=system.terminate_blocking, args=(DEADLINE,))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert not any(t.is_alive() for t in threads)
    assert ran == ["service-unbind", "cluster-leave", "before-actor-system-terminate"]


def test_the_setting_off_terminates_without_the_phases():
    config = Config.from_dict({"coordinated-shutdown": {"run-by-actor-system-terminate": False}})
    system = ActorSystem.create_blocking("cs-off", config)
    ran = _recorder(system)
    system.terminate_blocking(DEADLINE)
    assert ran == []
    assert COORDINATED_SHUTDOWN.get(system).reason is None


def test_with_no_thread_for_the_shutdown_terminate_still_stops_the_system(monkeypatch):
    import types

    import atomr.actor.coordinated_shutdown as cs

    class NoThread(threading.Thread):
        def start(self) -> None:
            raise RuntimeError("can't create new thread at interpreter shutdown")

    system = ActorSystem.create_blocking("cs-no-thread")
    ran = _recorder(system)
    monkeypatch.setattr(cs, "threading", types.SimpleNamespace(Thread=NoThread))
    system.terminate_blocking(DEADLINE)
    assert system.is_terminated
    assert ran == []
    assert COORDINATED_SHUTDOWN.get(system).reason is None  # it never started
