"""Hosting: the builder, the coordinated shutdown, and the host command run
as a real process stopped by real signals."""

from __future__ import annotations

import asyncio
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from atomr import Actor, ActorSystem, Config, props
from atomr.config import ConfigError
from atomr.di import ServiceContainer, services_of
from atomr.hosting import (
    COORDINATED_SHUTDOWN,
    EXIT_OK,
    EXIT_SHUTDOWN_INCOMPLETE,
    EXIT_START_FAILED,
    EXIT_USAGE,
    PHASES,
    ActorSystemBuilder,
    Builder,
    InterpreterRequest,
    interpreter_requests,
    load_target,
    main,
)

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LINE_DEADLINE = 60.0


class Echo(Actor):
    def handle(self, ctx, msg):
        return msg


# -- the builder ---------------------------------------------------------------------------


def test_build_creates_the_system_then_runs_the_start_callbacks_in_order():
    seen: list[str] = []
    config = Config.from_dict({"actor": {"throughput": 7}})
    builder = (ActorSystemBuilder("built")
               .with_config(config)
               .on_start(lambda s: seen.append(f"first {s.name}"))
               .on_start(lambda s: seen.append("second")))
    assert builder.config is config
    system = builder.build()
    try:
        assert seen == ["first built", "second"]
        assert system.name == "built"
        assert system.settings["actor.throughput"] == 7
    finally:
        system.terminate_blocking(10.0)


def test_builder_without_a_name_and_config_from_toml_text_or_a_mapping():
    builder = Builder().with_config('[actor]\nthroughput = 3\n')
    assert builder.name == "atomr"
    assert builder.config is not None and builder.config.get("actor.throughput") == 3
    assert Builder("x").with_config({"actor": {"throughput": 4}}).config.get(
        "actor.throughput") == 4


def test_an_async_start_callback_is_awaited():
    async def start(system: ActorSystem) -> None:
        ref = system.actor_of(props(Echo), "echo")
        assert await ref.ask("hi", 5.0) == "hi"
        await asyncio.sleep(0)

    system = Builder("async-start").on_start(start).build()
    try:
        assert system.top_level("echo") is not None
    finally:
        system.terminate_blocking(10.0)


def test_a_failing_start_callback_terminates_the_system_and_raises():
    made: list[ActorSystem] = []

    def fail(system: ActorSystem) -> None:
        made.append(system)
        raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="no database"):
        Builder("failing").on_start(fail).build()
    assert made and made[0].is_terminated


def test_interpreter_requests_are_recorded_in_order_and_configured():
    import atomr.interpreter as interp
    from atomr import InterpreterQuota

    quota = InterpreterQuota(max_actors=3)
    system = (Builder("pools")
              .configure_interpreter("ml", "python-nogil", count=4, quota=quota)
              .configure_interpreter("io")
              .build())
    try:
        assert interpreter_requests(system) == (
            InterpreterRequest("ml", "python-nogil", 4, quota),
            InterpreterRequest("io", "python-pinned", 1, None))
        ml = interp.pool_config("ml")
        assert ml is not None and (ml["kind"], ml["count"], ml["quota"]) == (
            "python-nogil", 4, quota)
        assert interp.pool_config("io") is not None
    finally:
        interp.shutdown_pools()
        system.terminate_blocking(10.0)


def test_a_subinterpreter_pool_is_refused_while_this_build_has_none():
    with pytest.raises(NotImplementedError, match="subinterpreter"):
        Builder().configure_interpreter("ml", "python-subinterpreter-pool", count=4)


def test_with_services_installs_the_container_before_the_start_callbacks():
    services = ServiceContainer()
    services.register("greeting", "hello")
    seen = []
    system = (Builder("services").with_services(services)
              .on_start(lambda s: seen.append(services_of(s).resolve("greeting")))
              .build())
    try:
        assert seen == ["hello"]
        assert services_of(system) is services
    finally:
        system.terminate_blocking(10.0)


def test_bad_builder_arguments_are_refused_at_the_call():
    with pytest.raises(ValueError):
        ActorSystemBuilder("")
    with pytest.raises(TypeError):
        Builder().with_config(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Builder().with_config({"actor": {"throughput": "fast"}})
    with pytest.raises(ValueError, match="dispatcher"):
        Builder().configure_interpreter("ml", "python-gpu")
    with pytest.raises(ValueError):
        Builder().configure_interpreter("ml", count=0)
    with pytest.raises(TypeError):
        Builder().on_start("not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Builder().with_services({})  # type: ignore[arg-type]


# -- coordinated shutdown ----------------------------------------------------------------------


def test_the_phases_run_in_order_and_end_with_the_system_terminated():
    system = ActorSystem.create_blocking("phased")
    order: list[str] = []
    shutdown = COORDINATED_SHUTDOWN.get(system)
    for phase in reversed(PHASES):
        shutdown.add_task(phase, "record", lambda phase=phase: order.append(phase))

    async def drain() -> None:
        await asyncio.sleep(0.01)
        order.append("drained")

    shutdown.add_task("service-requests-done", "drain", drain)
    assert shutdown.run_blocking("test", timeout=30.0) is True
    assert order[:3] == ["before-service-unbind", "service-unbind", "service-requests-done"]
    assert order.index("drained") < order.index("service-stop")
    assert [p for p in order if p != "drained"] == list(PHASES)
    assert system.is_terminated
    assert shutdown.reason == "test"
    assert shutdown.run_blocking("again", timeout=5.0) is True  # once only
    assert shutdown.reason == "test"


def test_a_failing_or_late_task_is_reported_and_the_shutdown_goes_on():
    system = ActorSystem.create_blocking("failures")
    shutdown = COORDINATED_SHUTDOWN.get(system)
    release = threading.Event()
    shutdown.set_phase_timeout("service-stop", 0.2)
    shutdown.add_task("service-stop", "stuck", release.wait)
    shutdown.add_task("service-unbind", "boom", lambda: 1 / 0)
    later: list[str] = []
    shutdown.add_task("cluster-leave", "after", lambda: later.append("ran"))
    try:
        assert shutdown.run_blocking("test", timeout=30.0) is False
        assert later == ["ran"]
        assert system.is_terminated
        failures = shutdown.failures
        assert any(f.startswith("service-unbind/boom: ZeroDivisionError") for f in failures)
        assert any(f.startswith("service-stop/stuck: timed out") for f in failures)
    finally:
        release.set()


def test_shutdown_tasks_are_checked_and_can_be_cancelled():
    system = ActorSystem.create_blocking("checked")
    shutdown = COORDINATED_SHUTDOWN.get(system)
    try:
        with pytest.raises(ValueError, match="unknown shutdown phase"):
            shutdown.add_task("whenever", "x", lambda: None)
        with pytest.raises(TypeError):
            shutdown.add_task("service-stop", "x", "no")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            shutdown.set_phase_timeout("service-stop", 0)
        ran: list[int] = []
        task = shutdown.add_task("service-stop", "x", lambda: ran.append(1))
        assert shutdown.tasks("service-stop") == ["x"]
        assert task.cancel() is True and task.cancel() is False
        async def awaited() -> bool:
            return await shutdown.run("awaited")

        assert asyncio.run(awaited()) is True
        assert ran == []
        with pytest.raises(RuntimeError, match="past phase"):
            shutdown.add_task("service-stop", "late", lambda: None)
    finally:
        system.terminate_blocking(10.0)


def test_tasks_may_join_later_phases_while_the_shutdown_runs():
    system = ActorSystem.create_blocking("joining")
    shutdown = COORDINATED_SHUTDOWN.get(system)
    gate = threading.Event()
    ran: list[str] = []
    shutdown.add_task("service-unbind", "gate", lambda: gate.wait(10.0))
    try:
        outcome = shutdown.run("test")
        shutdown.add_task("service-stop", "late-comer", lambda: ran.append("late-comer"))
        gate.set()
        assert outcome.result(30.0) is True
        assert ran == ["late-comer"]
        with pytest.raises(RuntimeError, match="past phase"):
            shutdown.add_task("actor-system-terminate", "too-late", lambda: None)
    finally:
        gate.set()
        system.terminate_blocking(10.0)


# -- the host command --------------------------------------------------------------------------


class Host:
    """``python -m atomr run TARGET`` as a child process, its stdout read
    line by line."""

    def __init__(self, target: str, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atomr", "run", f"_hosted_app:{target}", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        self.readers = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def expect(self, wanted: str) -> list[str]:
        """Lines up to and including `wanted`."""
        seen = []
        deadline = time.monotonic() + LINE_DEADLINE
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"exited before {wanted!r}: {seen} {''.join(self.stderr)}"
            seen.append(line)
            if line == wanted:
                return seen

    def rest(self) -> list[str]:
        out = []
        while (line := self.lines.get(timeout=LINE_DEADLINE)) is not None:
            out.append(line)
        return out

    def wait(self) -> int:
        """The exit code, once the process has exited and both of its
        streams have been read to the end (`stderr` is then complete)."""
        code = self.proc.wait(timeout=LINE_DEADLINE)
        for reader in self.readers:
            reader.join(LINE_DEADLINE)
            assert not reader.is_alive(), "the host's output did not end"
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=LINE_DEADLINE)


@pytest.fixture
def host():
    started: list[Host] = []

    def start(target: str, *args: str) -> Host:
        h = Host(target, *args)
        started.append(h)
        return h

    try:
        yield start
    finally:
        for h in started:
            h.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_hosted_system_through_every_phase(host, sig):
    h = host("build")
    h.expect("ready")
    h.proc.send_signal(sig)
    lines = h.rest()
    assert h.wait() == EXIT_OK, "".join(h.stderr)
    phases = [line.split()[1] for line in lines if line.startswith("phase ")]
    assert phases == list(PHASES)
    # Stop accepting, then drain (all 20 queued messages), then terminate.
    assert lines.index("stopped accepting") < lines.index("drained 20")
    assert lines.index("drained 20") < lines.index("phase service-stop")
    assert lines.index("worker stopped 20") > lines.index("phase before-actor-system-terminate")
    err = "".join(h.stderr)
    assert f"{sig.name}: shutting down actor system hosted" in err


def test_a_failed_shutdown_task_gives_exit_code_3(host):
    h = host("failing_task")
    h.expect("ready")
    h.proc.send_signal(signal.SIGTERM)
    lines = h.rest()
    assert h.wait() == EXIT_SHUTDOWN_INCOMPLETE
    assert "phase actor-system-terminate" in lines
    assert "cannot close the listener" in "".join(h.stderr)


def test_a_second_signal_exits_at_once_with_128_plus_its_number(host):
    h = host("slow_task")
    h.expect("ready")
    h.proc.send_signal(signal.SIGTERM)
    h.expect("phase service-stop")  # now blocked in the slow task
    h.proc.send_signal(signal.SIGINT)
    assert h.wait() == 128 + signal.SIGINT
    assert "SIGINT again" in "".join(h.stderr)


def test_a_shutdown_longer_than_the_timeout_gives_exit_code_3(host):
    # Nothing to drain before the stuck phase: the timeout is spent there
    # however slowly the phases before it run.
    h = host("stuck_task", "--shutdown-timeout", "2")
    h.expect("ready")
    h.proc.send_signal(signal.SIGTERM)
    assert h.wait() == EXIT_SHUTDOWN_INCOMPLETE
    assert "did not finish within 2.0s (phase service-stop)" in "".join(h.stderr)


def test_a_system_the_application_terminates_ends_the_host_with_exit_code_0(host):
    h = host("self_terminating")
    h.expect("ready")
    assert h.wait() == EXIT_OK


def test_a_builder_object_is_a_valid_target(host):
    h = host("builder")
    h.expect("ready")
    h.proc.send_signal(signal.SIGTERM)
    assert h.wait() == EXIT_OK


def test_a_factory_that_raises_gives_exit_code_1(host):
    h = host("broken")
    assert h.wait() == EXIT_START_FAILED
    h.rest()
    assert "cannot start: no database" in "".join(h.stderr)


@pytest.mark.parametrize("target, message", [
    ("not_a_system", "returned a int"),
    ("no_such_factory", "no attribute 'no_such_factory'"),
])
def test_a_bad_target_gives_exit_code_2(host, target, message):
    h = host(target)
    assert h.wait() == EXIT_USAGE
    h.rest()
    assert message in "".join(h.stderr)


def test_the_command_line_is_checked(capsys):
    assert main(["run"]) == 2
    assert main(["run", "no-colon"]) == EXIT_USAGE
    assert "package.module:factory" in capsys.readouterr().err
    assert main(["run", "no_such_module_anywhere:f"]) == EXIT_USAGE
    assert main(["run", "x:y", "--shutdown-timeout", "0"]) == EXIT_USAGE


def test_load_target_follows_dotted_attributes():
    assert load_target("os.path:join") is os.path.join
    assert load_target("os:path.join") is os.path.join
    with pytest.raises(ValueError):
        load_target("os")
    with pytest.raises(AttributeError):
        load_target("os:nope")
