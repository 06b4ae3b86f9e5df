"""atomr.testkit: probes, the kit, virtual time, event filters, the fixture."""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import atomr.testkit._kit
from atomr import Actor, ActorSystem, ReceiveTimeout, Terminated, props
from atomr.event_stream import EventStream
from atomr.supervision import SupervisorStrategy
from atomr.testkit import (
    EventFilter,
    LeakWarning,
    ProbeTimeoutError,
    TestKit,
    TestProbe,
    TestScheduler,
    fish_for_message,
    within,
)

from _helpers import wait_until

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


class Echo(Actor):
    def handle(self, ctx, msg):
        if ctx.sender is not None:
            ctx.sender.tell_with_sender(msg, ctx.self_ref)
        return msg


class Ticker(Actor):
    """Sends "tick" to a probe every second of (virtual) time once started."""

    def __init__(self, probe_ref):
        self.probe_ref = probe_ref

    def handle(self, ctx, msg):
        if msg == "start":
            ctx.schedule_periodically(initial=1.0, interval=1.0, msg="tick", target=self.probe_ref)
        return None


class Quiet(Actor):
    def __init__(self, probe_ref):
        self.probe_ref = probe_ref

    def pre_start(self, ctx):
        ctx.set_receive_timeout(2.0)

    def handle(self, ctx, msg):
        if isinstance(msg, ReceiveTimeout):
            self.probe_ref.tell("timeout")


# -- the fixture ---------------------------------------------------------------------


def test_fixture_gives_a_kit_with_a_live_system(testkit):
    assert isinstance(testkit, TestKit)
    assert not testkit.system.is_terminated
    probe = testkit.probe()
    assert isinstance(probe, TestProbe)
    assert probe.ref_.path.startswith(f"akka://{testkit.system.name}/user/probe-")


def test_blocking_expectations_work_in_a_plain_test(testkit):
    probe = testkit.probe()
    echo = testkit.system.actor_of(props(Echo), "echo")
    probe.send(echo, "hi")
    assert probe.expect_message_blocking(2.0) == "hi"
    probe.expect_no_message_blocking(0.05)


async def test_async_expectations_work_in_an_async_test(testkit):
    probe = testkit.probe()
    echo = testkit.system.actor_of(props(Echo), "echo")
    for i in range(3):
        probe.send(echo, i)
    assert await probe.receive_n(3, timeout=2.0) == [0, 1, 2]
    assert probe.last_sender == echo


def test_plugin_is_found_without_a_conftest(tmp_path):
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        from atomr import Actor, props

        class Hello(Actor):
            def handle(self, ctx, msg):
                return "hello " + msg

        def test_it(testkit):
            ref = testkit.system.actor_of(props(Hello), "hello")
            assert ref.ask_blocking("you", 5.0) == "hello you"
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(tmp_path / "test_user.py")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def _run_user_project(tmp_path, ini: str, test_source: str,
                      *options: str) -> subprocess.CompletedProcess:
    """Runs pytest on one test file in a fresh project at `tmp_path`, the way
    a user's project would, with atomr imported from the tree under test."""
    root = pathlib.Path(__file__).resolve().parents[2]
    (tmp_path / "pytest.ini").write_text(ini)
    (tmp_path / "test_user.py").write_text(textwrap.dedent(test_source))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           *options, str(tmp_path / "test_user.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("options", [(), ("-p", "no:asyncio")],
                         ids=["pytest-asyncio-strict", "no-pytest-asyncio"])
def test_plugin_runs_an_async_test_using_the_fixture_in_asyncio_strict_mode(tmp_path, options):
    root = pathlib.Path(__file__).resolve().parents[2]
    result = _run_user_project(tmp_path, "[pytest]\nasyncio_mode = strict\n", """
        import asyncio
        import threading

        import atomr
        from atomr import Actor, props

        class Hello(Actor):
            def handle(self, ctx, msg):
                if ctx.sender is not None:
                    ctx.sender.tell("hello " + msg)
                return "hello " + msg

        async def test_it(testkit):
            loop = asyncio.get_running_loop()
            assert threading.current_thread() is threading.main_thread()
            ref = testkit.system.actor_of(props(Hello), "hello")
            assert await ref.ask("you", 5.0) == "hello you"
            probe = testkit.probe()
            probe.send(ref, "probe")
            assert await probe.expect_message(timeout=5.0) == "hello probe"
            print("RAN-ON", type(loop).__name__, "ATOMR-AT", atomr.__file__)
    """, *options)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    assert "RAN-ON" in result.stdout, result.stdout
    where = result.stdout.split("ATOMR-AT", 1)[1].split()[0]
    assert pathlib.Path(where).resolve().is_relative_to(root), where


def test_plugin_leaves_async_tests_without_the_fixture_to_their_own_runner(tmp_path):
    result = _run_user_project(tmp_path, "[pytest]\nasyncio_mode = strict\n", """
        import pytest

        async def test_plain():
            pass

        @pytest.mark.asyncio
        async def test_marked(testkit):
            assert testkit.system is not None
    """)
    # The unmarked test without the fixture is not ours: pytest does not run it.
    assert "test_plain" in result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    assert "1 failed" in result.stdout or "1 skipped" in result.stdout, result.stdout


# -- probes ------------------------------------------------------------------------------


async def test_expect_message_returns_the_oldest_message_first(testkit):
    probe = testkit.probe()
    for m in ("a", "b", "c"):
        probe.ref_.tell(m)
    assert await probe.expect_message() == "a"
    assert await probe.expect_message() == "b"
    # "c" may still be on its way to the probe.
    assert await wait_until(probe.messages, message="the third message") == ["c"]


async def test_expect_message_times_out_with_an_assertion_error():
    kit = TestKit("probe-timeout")
    try:
        probe = kit.probe()
        start = time.monotonic()
        with pytest.raises(AssertionError, match="no message arrived"):
            await probe.expect_message(timeout=0.1)
        assert time.monotonic() - start < 2.0
    finally:
        kit.shutdown()


async def test_expect_msg_eq_says_what_was_expected_and_what_arrived(testkit):
    probe = testkit.probe()
    probe.ref_.tell("ping")
    with pytest.raises(ProbeTimeoutError) as info:
        await probe.expect_msg_eq("pong", timeout=1.0)
    assert "expected 'pong'" in str(info.value)
    assert "got 'ping'" in str(info.value)


async def test_expect_message_type_checks_the_class(testkit):
    probe = testkit.probe()
    probe.ref_.tell(42)
    probe.ref_.tell("x")
    assert await probe.expect_message_type(int) == 42
    with pytest.raises(AssertionError, match="expected a message of type int, got str"):
        await probe.expect_message_type(int)


async def test_expect_no_message_fails_when_something_arrives(testkit):
    probe = testkit.probe()
    probe.ref_.tell("surprise")
    with pytest.raises(AssertionError, match="expected no message.*surprise"):
        await probe.expect_no_message(0.5)


async def test_receive_n_reports_how_many_arrived(testkit):
    probe = testkit.probe()
    probe.ref_.tell(1)
    with pytest.raises(AssertionError, match="expected 3 messages.*got 1"):
        await probe.receive_n(3, timeout=0.1)


async def test_fish_for_message_skips_until_the_predicate_matches(testkit):
    probe = testkit.probe()
    for m in ["no", "nope", "ok-1", "later"]:
        probe.ref_.tell(m)
    assert await fish_for_message(probe, lambda m: m.startswith("ok"), timeout=1.0) == "ok-1"
    assert probe.messages() == ["later"]
    with pytest.raises(AssertionError, match="no message matched"):
        await probe.fish_for_message(lambda m: m == "never", timeout=0.1)


async def test_expect_msg_all_of_in_order(testkit):
    probe = testkit.probe()
    for m in (1, 2, 3):
        probe.ref_.tell(m)
    await probe.expect_msg_all_of_in_order([1, 2], timeout=1.0)
    with pytest.raises(AssertionError, match="expected 4, got 3"):
        await probe.expect_msg_all_of_in_order([4], timeout=1.0)


async def test_reply_goes_to_the_last_sender(testkit):
    a = testkit.probe()
    b = testkit.probe()
    a.send(b.ref_, "question")
    assert await b.expect_message() == "question"
    assert b.last_sender == a.ref_
    b.reply("answer")
    assert await a.expect_message() == "answer"
    assert a.last_sender == b.ref_


async def test_probe_watch_delivers_terminated(testkit):
    probe = testkit.probe()
    echo = testkit.system.actor_of(props(Echo), "victim")
    probe.watch(echo)
    echo.stop()
    msg = await probe.fish_for_message(lambda m: isinstance(m, Terminated), timeout=3.0)
    assert msg == Terminated(echo.path)


async def test_kit_expect_terminated_waits_for_the_stop(testkit):
    echo = testkit.system.actor_of(props(Echo), "short-lived")
    echo.stop()
    assert await testkit.expect_terminated(echo) == Terminated(echo.path)
    assert echo.is_terminated()


async def test_probe_messages_can_be_awaited_from_several_loops():
    kit = TestKit("two-loops")
    try:
        probe = kit.probe()

        async def once(value):
            probe.ref_.tell(value)
            return await probe.expect_message(timeout=2.0)

        assert asyncio.get_running_loop() is not None
        result = await asyncio.get_running_loop().run_in_executor(
            None, lambda: asyncio.run(once("from another loop")))
        assert result == "from another loop"
        assert await once("here") == "here"
    finally:
        kit.shutdown()


# -- within and await_condition ----------------------------------------------------------------


async def test_within_passes_a_block_that_takes_between_min_and_max(testkit):
    async with testkit.within(0.0, 2.0) as box:
        await asyncio.sleep(0.01)
        assert 0 < box.remaining <= 2.0


async def test_within_fails_a_block_that_is_too_fast(testkit):
    with pytest.raises(AssertionError, match="less than the minimum"):
        async with testkit.within(5.0, 10.0):
            pass


async def test_within_with_a_body_fails_when_it_overruns():
    async def body(timeout):
        await asyncio.Event().wait()

    with pytest.raises(AssertionError, match="did not finish within"):
        await within(0.05, body)
    assert await within(1.0, lambda t: asyncio.sleep(0, result=t)) == 1.0


async def test_await_condition_polls_until_true_and_fails_after_the_deadline(testkit):
    flag = threading.Event()
    threading.Timer(0.02, flag.set).start()
    await testkit.await_condition(flag.is_set, timeout=3.0)
    with pytest.raises(AssertionError, match="condition not met within.*never"):
        await testkit.await_condition(lambda: False, timeout=0.05, message="never")


# -- virtual time -------------------------------------------------------------------------------


def test_standalone_scheduler_fires_callbacks_in_deadline_order():
    sched = TestScheduler()
    fired = []
    sched.schedule_after(2.0, lambda: fired.append("b"))
    sched.schedule_after(1.0, lambda: fired.append("a"))
    late = sched.schedule_after(5.0, lambda: fired.append("late"))
    cancelled = sched.schedule_after(1.5, lambda: fired.append("never"))
    assert cancelled.cancel() is True
    assert cancelled.cancel() is False
    assert sched.pending() == 3 - 0  # a, b, late (the cancelled one no longer counts)
    assert sched.advance_blocking(2.0) == 2
    assert fired == ["a", "b"]
    assert sched.now() == pytest.approx(2.0)
    assert not late.fired()
    sched.advance_blocking(3.0)  # a deadline equal to the new time fires
    assert fired == ["a", "b", "late"] and late.fired()
    assert sched.pending() == 0


def test_scheduler_names_its_next_pending_deadline():
    sched = TestScheduler()
    assert sched.next_deadline() is None
    first = sched.schedule_after(1.0, lambda: None)
    sched.schedule_after(2.5, lambda: None)
    assert sched.next_deadline() == pytest.approx(1.0)
    first.cancel()
    assert sched.next_deadline() == pytest.approx(2.5)
    sched.advance_blocking(3.0)
    assert sched.next_deadline() is None


def test_scheduler_callback_errors_are_reported_not_raised():
    sched = TestScheduler()
    after = []
    sched.schedule_after(1.0, lambda: 1 / 0)
    sched.schedule_after(1.0, lambda: after.append(True))
    with pytest.warns(RuntimeWarning, match="ZeroDivisionError"):
        sched.advance_blocking(1.0)
    assert after == [True]


@pytest.mark.atomr_testkit(virtual_time=True)
async def test_actor_timers_fire_only_when_virtual_time_advances(testkit):
    probe = testkit.probe()
    ticker = testkit.system.actor_of(props(Ticker, factory=lambda: Ticker(probe.ref_)), "ticker")
    ticker.tell("start")
    await testkit.await_condition(lambda: testkit.scheduler.pending() >= 1, timeout=3.0)
    await probe.expect_no_message(0.05)
    await testkit.scheduler.advance(0.99)
    await probe.expect_no_message(0.05)
    await testkit.scheduler.advance(0.01)
    assert await probe.expect_message(timeout=2.0) == "tick"
    await testkit.scheduler.advance(3.0)
    assert await probe.receive_n(3, timeout=2.0) == ["tick"] * 3
    ticker.stop()
    await testkit.expect_terminated(ticker)
    await testkit.scheduler.advance(10.0)
    await probe.expect_no_message(0.05)


@pytest.mark.atomr_testkit(virtual_time=True)
async def test_receive_timeout_fires_deterministically_in_virtual_time(testkit):
    probe = testkit.probe()
    testkit.system.actor_of(props(Quiet, factory=lambda: Quiet(probe.ref_)), "quiet")
    await testkit.await_condition(lambda: testkit.scheduler.pending() >= 1, timeout=3.0)
    await testkit.scheduler.advance(1.9)
    await probe.expect_no_message(0.05)
    await testkit.scheduler.advance(0.1)
    assert await probe.expect_message(timeout=2.0) == "timeout"


@pytest.mark.atomr_testkit(virtual_time=True)
async def test_scheduler_interleaves_callbacks_with_actor_timers(testkit):
    probe = testkit.probe()
    ticker = testkit.system.actor_of(props(Ticker, factory=lambda: Ticker(probe.ref_)), "ticker")
    ticker.tell("start")
    await testkit.await_condition(lambda: testkit.scheduler.pending() >= 1, timeout=3.0)
    seen = []
    testkit.scheduler.schedule_after(1.5, lambda: seen.append(testkit.scheduler.now()))
    fired = await testkit.scheduler.advance(2.0)
    assert fired == 3  # ticks at 1.0 and 2.0, callback at 1.5
    assert seen == [pytest.approx(1.5)]


def test_scheduler_refuses_a_real_clock_system():
    kit = TestKit("real-clock")
    try:
        with pytest.raises(ValueError, match="virtual clock"):
            TestScheduler(kit.system)
        with pytest.raises(Exception, match="real clock"):
            kit.scheduler
    finally:
        kit.shutdown()


# -- event filters -------------------------------------------------------------------------------


class Fragile(Actor):
    def handle(self, ctx, msg):
        raise ValueError(f"bad input {msg}")


async def test_event_filter_counts_failures_by_class_and_regex(testkit):
    failures = EventFilter(testkit, cls_path="atomr.event_stream.ActorFailed")
    bad_seven = EventFilter(testkit.system, message_regex=r"bad input 7")
    ref = testkit.system.actor_of(
        props(Fragile).with_supervisor_strategy(SupervisorStrategy.one_for_one(
            default="resume")), "fragile")
    for i in (5, 6, 7):
        ref.tell(i)
    assert await failures.await_count(3, timeout=3.0)
    assert await bad_seven.await_count(1, timeout=3.0)
    assert bad_seven.count() >= 1
    assert not await failures.await_count(4, timeout=0.05)


async def test_event_filter_sees_log_events(testkit):
    probe = testkit.probe()
    logs = EventFilter(probe, cls_path="atomr.event_stream.LogEvent",
                       message_regex="failed while handling")
    ref = testkit.system.actor_of(
        props(Fragile).with_supervisor_strategy(SupervisorStrategy.stopping()), "fragile")
    ref.tell(1)
    assert await logs.await_count(1, timeout=3.0)


def test_event_filter_on_a_standalone_stream_counts_synchronously():
    stream = EventStream()
    ints = EventFilter(stream, cls_path="builtins.int")
    both = EventFilter(stream, cls_path="builtins.str", message_regex="^'ping")
    for event in (1, "ping", "pong", 2, 3.0):
        stream.publish(event)
    assert ints.count() == 2
    assert both.count() == 1
    assert ints.await_count_blocking(2, timeout=0.1)


def test_event_filter_rejects_an_unknown_source():
    with pytest.raises(TypeError):
        EventFilter(object())


# -- shutdown and leaks ----------------------------------------------------------------------------


def test_shutdown_warns_about_actors_left_running():
    kit = TestKit("leaky")
    kit.system.actor_of(props(Echo), "left-behind")
    kit.probe()  # probes are not leaks
    with pytest.warns(LeakWarning, match=r"1 actor\(s\) still running.*left-behind"):
        kit.shutdown(verify=True)
    assert kit.system.is_terminated


def test_shutdown_warns_about_pending_timers():
    kit = TestKit("leaky-timers", virtual_time=True)
    probe = kit.probe()
    ticker = kit.system.actor_of(props(Ticker, factory=lambda: Ticker(probe.ref_)), "ticker")
    ticker.tell("start")
    kit.await_condition_blocking(lambda: kit.scheduler.pending() >= 1, timeout=3.0)
    with pytest.warns(LeakWarning, match=r"1 timer\(s\) pending"):
        kit.shutdown(verify=True)
    assert kit.system._core.live_timers() == []


def test_clean_shutdown_does_not_warn(recwarn):
    with TestKit("tidy") as kit:
        echo = kit.system.actor_of(props(Echo), "echo")
        assert echo.ask_blocking("x", 5.0) == "x"
        echo.stop()
        kit.await_condition_blocking(echo.is_terminated, timeout=3.0)
    assert not [w for w in recwarn.list if issubclass(w.category, LeakWarning)]
    assert kit.system.is_terminated


def test_import_atomr_testkit_does_not_import_pytest():
    code = ("import sys; import atomr.testkit; "
            "print('pytest' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def _run_pytest(tmp_path, source):
    """Runs `source` as a test module under pytest -rA in a subprocess, on
    this checkout's atomr (whose plugin the package's entry point loads)."""
    (tmp_path / "test_leak.py").write_text(textwrap.dedent(source))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider",
                             str(tmp_path / "test_leak.py")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_fixture_does_not_report_what_its_own_system_stops(tmp_path):
    out = _run_pytest(tmp_path, """
        from atomr import Actor, props

        class Idle(Actor):
            def handle(self, ctx, msg):
                return None

        class Ticking(Actor):
            def pre_start(self, ctx):
                ctx.schedule_periodically(initial=60.0, interval=60.0, msg="tick")

            def handle(self, ctx, msg):
                return None

        def test_leaves_actors_and_timers_to_the_shutdown(testkit):
            testkit.system.actor_of(props(Idle), "forgotten")
            ticker = testkit.system.actor_of(props(Ticking), "ticking")
            assert ticker.ask_blocking("started?", 5.0) is None
            assert len(testkit.system.live_timers()) == 1
    """)
    assert "1 passed" in out, out
    assert "atomr testkit leaks" not in out, out
    assert "forgotten" not in out, out


def test_fixture_reports_threads_and_other_systems_left_running(tmp_path):
    out = _run_pytest(tmp_path, """
        import threading

        from atomr import Actor, ActorSystem, props

        STOP = threading.Event()

        class Idle(Actor):
            def handle(self, ctx, msg):
                return None

        def test_leaves_a_thread(testkit):
            threading.Thread(target=STOP.wait, name="left-behind-worker", daemon=True).start()

        def test_leaves_another_system(testkit):
            other = ActorSystem.create_blocking("other-system")
            other.actor_of(props(Idle), "idle")

        def test_cleans_up(testkit):
            threading.Thread(target=lambda: None, name="short-lived-worker").start()
            ActorSystem.create_blocking("tidy-system").terminate_blocking()

        def teardown_module():
            STOP.set()
    """)
    assert "3 passed" in out, out
    assert out.count("atomr testkit leaks") == 2, out
    assert re.search(r"1 thread\(s\) started during the test still running after shutdown: "
                     r"'left-behind-worker' \(daemon\)", out), out
    assert re.search(r"1 other actor system\(s\) started during the test still running "
                     r"after shutdown: 'other-system' \(1 actor\(s\), 0 timer\(s\)\)", out), out
    assert "short-lived-worker" not in out and "tidy-system" not in out, out


def test_shutdown_reports_threads_and_systems_the_test_left(monkeypatch):
    monkeypatch.setattr(atomr.testkit._kit, "_LEAK_GRACE", 0.2)
    stop = threading.Event()
    kit = TestKit("kit-with-leaks")
    worker = threading.Thread(target=stop.wait, name="kit-leaked-thread")
    worker.start()
    other = ActorSystem.create_blocking("kit-leaked-system")
    try:
        with pytest.warns(LeakWarning) as record:
            kit.shutdown(verify=True, own_actors_ok=True)
        text = str(record[0].message)
        assert "'kit-leaked-thread'" in text and "'kit-leaked-system'" in text, text
    finally:
        stop.set()
        worker.join(10.0)
        other.terminate_blocking()


