"""atomr.pattern: CircuitBreaker, RetrySchedule, retry and pipe_to.

Breaker state changes are driven by a fake clock; only the call-timeout tests
use real (tiny) timeouts, against awaitables that never complete.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import math
import pickle
import threading
import time

import pytest

from atomr import Actor, AskError, AtomrError, props
from atomr.pattern import (
    CallTimeoutError,
    CircuitBreaker,
    CircuitBreakerOpen,
    Failure,
    RetrySchedule,
    pipe_to,
    retry,
)


class FakeClock:
    """A manually advanced monotonic clock."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Boom(Exception):
    pass


async def ok(value="ok"):
    return value


async def fail(exc: BaseException):
    raise exc


def make_breaker(max_failures=3, call_timeout=1.0, reset_timeout=10.0):
    clock = FakeClock()
    return CircuitBreaker(max_failures, call_timeout, reset_timeout, clock=clock), clock


async def trip(breaker: CircuitBreaker) -> None:
    """Fails calls until the breaker opens."""
    while breaker.state == "closed":
        with pytest.raises(Boom):
            await breaker.call_async(fail(Boom()))


# -- construction ---------------------------------------------------------------------


def test_breaker_defaults_match_the_reference():
    breaker = CircuitBreaker()
    assert breaker.state == "closed"
    assert (breaker.max_failures, breaker.call_timeout, breaker.reset_timeout) == (5, 1.0, 10.0)
    assert breaker.failure_count == 0


def test_breaker_accepts_keyword_and_positional_arguments():
    assert CircuitBreaker(2, 0.5, 3).reset_timeout == 3.0
    b = CircuitBreaker(max_failures=2, call_timeout=0.5, reset_timeout=3.0)
    assert (b.max_failures, b.call_timeout) == (2, 0.5)


@pytest.mark.parametrize("kwargs, error", [
    ({"max_failures": 0}, ValueError),
    ({"max_failures": -1}, ValueError),
    ({"max_failures": 1.5}, TypeError),
    ({"max_failures": True}, TypeError),
    ({"max_failures": "3"}, TypeError),
    ({"call_timeout": 0}, ValueError),
    ({"call_timeout": -1.0}, ValueError),
    ({"call_timeout": math.nan}, ValueError),
    ({"call_timeout": math.inf}, ValueError),
    ({"call_timeout": "1"}, TypeError),
    ({"reset_timeout": 0.0}, ValueError),
    ({"reset_timeout": -5}, ValueError),
    ({"reset_timeout": None}, TypeError),
    ({"clock": 3}, TypeError),
])
def test_breaker_rejects_invalid_arguments(kwargs, error):
    with pytest.raises(error):
        CircuitBreaker(**kwargs)


# -- closed -> open ---------------------------------------------------------------------


async def test_successful_call_returns_the_value_and_stays_closed():
    breaker, _ = make_breaker()
    assert await breaker.call_async(ok(42)) == 42
    assert breaker.state == "closed"


async def test_call_exception_is_reraised_unchanged_and_counted():
    breaker, _ = make_breaker()
    exc = Boom("x")
    with pytest.raises(Boom) as info:
        await breaker.call_async(fail(exc))
    assert info.value is exc
    assert breaker.failure_count == 1
    assert breaker.state == "closed"


async def test_breaker_opens_after_max_failures_consecutive_failures():
    breaker, _ = make_breaker(max_failures=3)
    for expected in (1, 2):
        with pytest.raises(Boom):
            await breaker.call_async(fail(Boom()))
        assert breaker.failure_count == expected
        assert breaker.state == "closed"
    with pytest.raises(Boom):
        await breaker.call_async(fail(Boom()))
    assert breaker.state == "open"


async def test_a_success_resets_the_consecutive_failure_count():
    breaker, _ = make_breaker(max_failures=3)
    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call_async(fail(Boom()))
    await breaker.call_async(ok())
    assert breaker.failure_count == 0
    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call_async(fail(Boom()))
    assert breaker.state == "closed"


async def test_open_breaker_rejects_without_running_and_closes_the_coroutine():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=10.0)
    await trip(breaker)
    clock.advance(3.0)
    ran = []

    async def body():
        ran.append(True)

    coro = body()
    with pytest.raises(CircuitBreakerOpen) as info:
        await breaker.call_async(coro)
    assert ran == []
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert isinstance(info.value, AtomrError)
    assert info.value.remaining_seconds == pytest.approx(7.0)


async def test_open_breaker_does_not_invoke_a_factory():
    breaker, _ = make_breaker(max_failures=1)
    await trip(breaker)
    calls = []

    def factory():
        calls.append(1)
        return ok()

    with pytest.raises(CircuitBreakerOpen):
        await breaker.call_async(factory)
    assert calls == []


async def test_factory_is_invoked_once_when_admitted():
    breaker, _ = make_breaker()
    calls = []

    def factory():
        calls.append(1)
        return ok("made")

    assert await breaker.call_async(factory) == "made"
    assert calls == [1]


async def test_factory_raising_synchronously_counts_as_a_failure():
    breaker, _ = make_breaker(max_failures=1)

    def factory():
        raise Boom("sync")

    with pytest.raises(Boom):
        await breaker.call_async(factory)
    assert breaker.state == "open"


async def test_call_async_rejects_non_awaitables_without_counting():
    breaker, _ = make_breaker(max_failures=1)
    with pytest.raises(TypeError):
        await breaker.call_async(42)
    with pytest.raises(TypeError):
        await breaker.call_async(lambda: 42)
    assert breaker.state == "closed"
    assert breaker.failure_count == 0


def test_circuit_breaker_open_pickles_with_its_remaining_seconds():
    err = pickle.loads(pickle.dumps(CircuitBreakerOpen(2.5)))
    assert isinstance(err, CircuitBreakerOpen)
    assert err.remaining_seconds == 2.5
    assert "2.500" in str(err)


# -- open -> half-open -> closed / open ---------------------------------------------------


async def test_breaker_turns_half_open_after_reset_timeout():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=10.0)
    await trip(breaker)
    clock.advance(9.999)
    assert breaker.state == "open"
    clock.advance(0.001)
    assert breaker.state == "half_open"


async def test_successful_trial_closes_the_breaker_and_resets_the_count():
    breaker, clock = make_breaker(max_failures=2, reset_timeout=10.0)
    await trip(breaker)
    clock.advance(10.0)
    assert await breaker.call_async(ok("trial")) == "trial"
    assert breaker.state == "closed"
    assert breaker.failure_count == 0
    with pytest.raises(Boom):
        await breaker.call_async(fail(Boom()))
    assert breaker.state == "closed"  # needs two fresh failures again


async def test_trial_is_admitted_without_reading_state_first():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=5.0)
    await trip(breaker)
    clock.advance(5.0)
    assert await breaker.call_async(ok()) == "ok"
    assert breaker.state == "closed"


async def test_failed_trial_reopens_and_restarts_the_reset_timer():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=10.0)
    await trip(breaker)
    clock.advance(10.0)
    with pytest.raises(Boom):
        await breaker.call_async(fail(Boom()))
    assert breaker.state == "open"
    clock.advance(9.0)
    with pytest.raises(CircuitBreakerOpen) as info:
        await breaker.call_async(ok())
    assert info.value.remaining_seconds == pytest.approx(1.0)
    clock.advance(1.0)
    assert breaker.state == "half_open"


async def test_half_open_admits_a_single_trial_and_rejects_concurrent_calls():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=10.0)
    await trip(breaker)
    clock.advance(10.0)
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_trial():
        started.set()
        await release.wait()
        return "trial done"

    trial = asyncio.create_task(breaker.call_async(slow_trial()))
    await started.wait()
    ran = []

    async def other():
        ran.append(True)

    with pytest.raises(CircuitBreakerOpen) as info:
        await breaker.call_async(other())
    assert info.value.remaining_seconds == 0.0
    assert ran == []
    assert breaker.state == "half_open"
    release.set()
    assert await trial == "trial done"
    assert breaker.state == "closed"


async def test_cancelled_trial_frees_the_slot_for_the_next_call():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=10.0)
    await trip(breaker)
    clock.advance(10.0)
    started = asyncio.Event()

    async def hang():
        started.set()
        await asyncio.Event().wait()

    trial = asyncio.create_task(breaker.call_async(hang()))
    await started.wait()
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    assert breaker.state == "half_open"
    assert await breaker.call_async(ok()) == "ok"
    assert breaker.state == "closed"


async def test_outcome_of_a_call_started_before_the_breaker_opened_is_ignored():
    breaker, _ = make_breaker(max_failures=1)
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow():
        started.set()
        await release.wait()
        return "late"

    slow_call = asyncio.create_task(breaker.call_async(slow()))
    await started.wait()
    with pytest.raises(Boom):
        await breaker.call_async(fail(Boom()))
    assert breaker.state == "open"
    release.set()
    assert await slow_call == "late"
    assert breaker.state == "open"  # the stale success did not close it


# -- timeouts -----------------------------------------------------------------------------


async def test_call_exceeding_call_timeout_raises_call_timeout_error_and_counts():
    breaker = CircuitBreaker(max_failures=1, call_timeout=0.05, reset_timeout=10.0)
    cancelled = []

    async def never():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(CallTimeoutError) as info:
        await breaker.call_async(never())
    assert isinstance(info.value, AskError)
    assert isinstance(info.value, AtomrError)
    assert isinstance(info.value, TimeoutError)
    assert cancelled == [True]
    assert breaker.state == "open"


async def test_timeout_error_raised_by_the_call_itself_passes_through_unchanged():
    breaker = CircuitBreaker(max_failures=2, call_timeout=5.0)
    own = TimeoutError("mine")
    with pytest.raises(TimeoutError) as info:
        await breaker.call_async(fail(own))
    assert info.value is own
    assert not isinstance(info.value, CallTimeoutError)
    assert breaker.failure_count == 1


async def test_half_open_trial_that_times_out_reopens_the_breaker():
    clock = FakeClock()
    breaker = CircuitBreaker(max_failures=1, call_timeout=0.05, reset_timeout=1.0, clock=clock)
    await trip(breaker)
    clock.advance(1.0)
    with pytest.raises(CallTimeoutError):
        await breaker.call_async(asyncio.Event().wait())
    assert breaker.state == "open"


async def test_call_async_works_with_a_future():
    breaker, _ = make_breaker()
    fut = asyncio.get_running_loop().create_future()
    fut.set_result("from future")
    assert await breaker.call_async(fut) == "from future"


# -- listeners ----------------------------------------------------------------------------


async def test_listeners_fire_on_each_transition_in_order():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=10.0)
    events = []
    returned = (breaker.on_open(lambda: events.append("open"))
                .on_half_open(lambda: events.append("half_open"))
                .on_close(lambda: events.append("close")))
    assert returned is breaker
    await trip(breaker)
    assert events == ["open"]
    clock.advance(10.0)
    assert breaker.state == "half_open"
    assert breaker.state == "half_open"  # reading again does not re-fire
    assert events == ["open", "half_open"]
    await breaker.call_async(ok())
    assert events == ["open", "half_open", "close"]


async def test_every_registered_listener_runs():
    breaker, _ = make_breaker(max_failures=1)
    seen = []
    breaker.on_open(lambda: seen.append(1)).on_open(lambda: seen.append(2))
    await trip(breaker)
    assert seen == [1, 2]


async def test_raising_listener_is_logged_and_ignored(caplog):
    breaker, _ = make_breaker(max_failures=1)
    after = []

    def bad():
        raise RuntimeError("listener broke")

    breaker.on_open(bad).on_open(lambda: after.append("ran"))
    with caplog.at_level(logging.ERROR, logger="atomr"):
        with pytest.raises(Boom):
            await breaker.call_async(fail(Boom()))
    assert breaker.state == "open"
    assert after == ["ran"]
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert logged[0].name == "atomr"
    assert str(logged[0].exc_info[1]) == "listener broke"


def test_listener_must_be_callable():
    breaker = CircuitBreaker()
    for register in (breaker.on_open, breaker.on_close, breaker.on_half_open):
        with pytest.raises(TypeError):
            register("not callable")


# -- synchronous call ----------------------------------------------------------------------


def test_sync_call_passes_arguments_and_returns_the_value():
    breaker, _ = make_breaker()
    assert breaker.call(lambda a, b=0: a + b, 1, b=2) == 3


def test_sync_call_reraises_and_counts_exceptions():
    breaker, _ = make_breaker(max_failures=2)
    exc = Boom()

    def boom():
        raise exc

    for _ in range(2):
        with pytest.raises(Boom) as info:
            breaker.call(boom)
        assert info.value is exc
    assert breaker.state == "open"
    called = []
    with pytest.raises(CircuitBreakerOpen):
        breaker.call(lambda: called.append(1))
    assert called == []


def test_sync_call_slower_than_call_timeout_completes_then_fails():
    breaker, clock = make_breaker(max_failures=1, call_timeout=1.0)
    effects = []

    def slow():
        clock.advance(1.5)
        effects.append("done")
        return "value"

    with pytest.raises(CallTimeoutError):
        breaker.call(slow)
    assert effects == ["done"]  # the call ran to completion
    assert breaker.state == "open"


def test_sync_call_within_call_timeout_succeeds():
    breaker, clock = make_breaker(call_timeout=1.0)

    def just_in_time():
        clock.advance(1.0)
        return "ok"

    assert breaker.call(just_in_time) == "ok"


def test_sync_call_refuses_coroutine_functions_without_counting():
    breaker, _ = make_breaker(max_failures=1)
    with pytest.raises(TypeError):
        breaker.call(ok)
    with pytest.raises(TypeError):
        breaker.call(lambda: ok())
    with pytest.raises(TypeError):
        breaker.call("nope")
    assert breaker.state == "closed"


def test_sync_half_open_trial_admits_exactly_one_thread():
    breaker, clock = make_breaker(max_failures=1, reset_timeout=10.0)
    with pytest.raises(Boom):
        breaker.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(10.0)
    release = threading.Event()
    entered = []
    outcomes = []
    lock = threading.Lock()

    def trial():
        entered.append(1)
        release.wait(10)
        return "trial"

    def worker():
        try:
            result = breaker.call(trial)
        except CircuitBreakerOpen:
            result = "rejected"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    # Every thread but the trial is rejected at once; then release the trial.
    end = time.monotonic() + 10.0
    while True:
        with lock:
            if len(outcomes) >= 7:
                break
        assert time.monotonic() < end, "rejections did not arrive"
        time.sleep(0.001)
    release.set()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["rejected"] * 7 + ["trial"]
    assert len(entered) == 1
    assert breaker.state == "closed"


def test_breaker_state_stays_consistent_under_concurrent_calls():
    breaker = CircuitBreaker(max_failures=1000, call_timeout=10.0, reset_timeout=10.0)
    errors = []

    def worker(i):
        for j in range(200):
            try:
                if (i + j) % 2:
                    breaker.call(lambda: None)
                else:
                    breaker.call(lambda: 1 / 0)
            except ZeroDivisionError:
                pass
            except BaseException as exc:  # pragma: no cover - the failure report
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert breaker.state == "closed"
    assert 0 <= breaker.failure_count < 1000


# -- RetrySchedule ------------------------------------------------------------------------


def test_fixed_schedule_always_returns_its_delay():
    schedule = RetrySchedule.fixed(0.25)
    assert [schedule.delay_for(i) for i in range(5)] == [0.25] * 5
    assert RetrySchedule.fixed(0).delay_for(3) == 0.0


def test_exponential_schedule_doubles_from_min_and_caps_at_max():
    schedule = RetrySchedule.exponential(0.1, 5.0)
    delays = [schedule.delay_for(i) for i in range(8)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])


def test_exponential_schedule_honours_a_custom_factor():
    schedule = RetrySchedule.exponential(1.0, 100.0, factor=3.0)
    assert [schedule.delay_for(i) for i in range(6)] == [1.0, 3.0, 9.0, 27.0, 81.0, 100.0]


def test_exponential_schedule_survives_huge_attempt_numbers():
    assert RetrySchedule.exponential(0.1, 5.0).delay_for(100_000) == 5.0


def test_jitter_spreads_delays_within_the_fraction():
    schedule = RetrySchedule.exponential(1.0, 8.0, jitter=0.25)
    samples = [schedule.delay_for(2) for _ in range(500)]
    assert all(3.0 <= d <= 5.0 for d in samples)
    assert len(set(samples)) > 1
    capped = [schedule.delay_for(10) for _ in range(500)]
    assert all(6.0 <= d <= 10.0 for d in capped)


@pytest.mark.parametrize("attempt, error", [(-1, ValueError), (1.0, TypeError),
                                            ("0", TypeError), (None, TypeError)])
def test_delay_for_rejects_bad_attempts(attempt, error):
    for schedule in (RetrySchedule.fixed(1.0), RetrySchedule.exponential(0.1, 1.0)):
        with pytest.raises(error):
            schedule.delay_for(attempt)


@pytest.mark.parametrize("make, error", [
    (lambda: RetrySchedule.fixed(-0.1), ValueError),
    (lambda: RetrySchedule.fixed(math.inf), ValueError),
    (lambda: RetrySchedule.fixed("1"), TypeError),
    (lambda: RetrySchedule.exponential(2.0, 1.0), ValueError),
    (lambda: RetrySchedule.exponential(-1.0, 1.0), ValueError),
    (lambda: RetrySchedule.exponential(0.1, 1.0, factor=0.5), ValueError),
    (lambda: RetrySchedule.exponential(0.1, 1.0, jitter=1.5), ValueError),
    (lambda: RetrySchedule.exponential(0.1, 1.0, jitter=-0.1), ValueError),
    (lambda: RetrySchedule.exponential(0.1, None), TypeError),
    (lambda: RetrySchedule(), TypeError),
])
def test_schedule_factories_validate_arguments(make, error):
    with pytest.raises(error):
        make()


def test_schedule_repr_shows_kind_and_bounds():
    assert repr(RetrySchedule.fixed(0.5)) == "RetrySchedule.fixed(0.5)"
    text = repr(RetrySchedule.exponential(0.1, 5.0))
    assert "exponential" in text and "0.1" in text and "5.0" in text
    assert "jitter=0.2" in repr(RetrySchedule.exponential(0.1, 5.0, jitter=0.2))


def test_schedules_compare_and_hash_by_value():
    assert RetrySchedule.fixed(1.0) == RetrySchedule.fixed(1)
    assert RetrySchedule.exponential(0.1, 5.0) == RetrySchedule.exponential(0.1, 5.0)
    assert RetrySchedule.exponential(0.1, 5.0) != RetrySchedule.exponential(0.1, 6.0)
    assert RetrySchedule.exponential(0.1, 5.0) != RetrySchedule.exponential(0.1, 5.0, factor=3)
    assert RetrySchedule.fixed(1.0) != RetrySchedule.exponential(1.0, 1.0)
    assert RetrySchedule.fixed(1.0) != 1.0
    assert len({RetrySchedule.fixed(2.0), RetrySchedule.fixed(2.0)}) == 1


def test_schedule_is_immutable_and_picklable():
    schedule = RetrySchedule.exponential(0.1, 5.0, factor=3.0, jitter=0.1)
    with pytest.raises(AttributeError):
        schedule.min_seconds = 1.0
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert (schedule.kind, schedule.min_seconds, schedule.max_seconds,
            schedule.factor, schedule.jitter) == ("exponential", 0.1, 5.0, 3.0, 0.1)


# -- retry ---------------------------------------------------------------------------------


class SleepRecorder:
    def __init__(self):
        self.delays = []

    async def __call__(self, seconds):
        self.delays.append(seconds)


def flaky(failures, value="done", exc_type=Boom):
    """An async_fn failing `failures` times (fresh exception each time) then succeeding."""
    state = {"calls": 0, "raised": []}

    async def call():
        state["calls"] += 1
        if state["calls"] <= failures:
            exc = exc_type(f"failure {state['calls']}")
            state["raised"].append(exc)
            raise exc
        return value

    return call, state


async def test_retry_returns_first_success_without_sleeping():
    fn, state = flaky(0)
    sleep = SleepRecorder()
    assert await retry(fn, 3, RetrySchedule.fixed(1.0), sleep=sleep) == "done"
    assert state["calls"] == 1
    assert sleep.delays == []


async def test_retry_sleeps_schedule_delays_between_attempts():
    fn, state = flaky(3)
    sleep = SleepRecorder()
    schedule = RetrySchedule.exponential(0.1, 5.0)
    assert await retry(fn, 5, schedule, sleep=sleep) == "done"
    assert state["calls"] == 4
    assert sleep.delays == pytest.approx([0.1, 0.2, 0.4])


async def test_retry_raises_the_last_exception_unchanged_without_a_final_sleep():
    fn, state = flaky(10)
    sleep = SleepRecorder()
    with pytest.raises(Boom) as info:
        await retry(fn, 3, RetrySchedule.fixed(0.5), sleep=sleep)
    assert state["calls"] == 3
    assert info.value is state["raised"][-1]
    assert sleep.delays == [0.5, 0.5]


async def test_retry_with_one_attempt_never_sleeps():
    fn, state = flaky(5)
    sleep = SleepRecorder()
    with pytest.raises(Boom):
        await retry(fn, 1, RetrySchedule.fixed(1.0), sleep=sleep)
    assert (state["calls"], sleep.delays) == (1, [])


async def test_exception_outside_retry_on_propagates_at_once():
    fn, state = flaky(5, exc_type=KeyError)
    sleep = SleepRecorder()
    with pytest.raises(KeyError):
        await retry(fn, 5, RetrySchedule.fixed(1.0), retry_on=(Boom, ConnectionError),
                    sleep=sleep)
    assert (state["calls"], sleep.delays) == (1, [])


async def test_retry_on_accepts_a_single_class():
    fn, state = flaky(2, exc_type=ConnectionError)
    sleep = SleepRecorder()
    assert await retry(fn, 3, RetrySchedule.fixed(0.0), retry_on=ConnectionError,
                       sleep=sleep) == "done"
    assert state["calls"] == 3


async def test_retry_accepts_keyword_arguments_and_real_sleep():
    fn, state = flaky(2)
    result = await retry(async_fn=fn, max_attempts=3, schedule=RetrySchedule.fixed(0.0))
    assert result == "done"
    assert state["calls"] == 3


async def test_retry_retries_synchronous_failures_of_the_factory():
    calls = []

    def fn():
        calls.append(1)
        if len(calls) < 2:
            raise Boom("sync")
        return ok("later")

    assert await retry(fn, 2, RetrySchedule.fixed(0.0), sleep=SleepRecorder()) == "later"


@pytest.mark.parametrize("attempts, error", [(0, ValueError), (-1, ValueError),
                                             (1.5, TypeError), (None, TypeError)])
async def test_retry_rejects_bad_max_attempts(attempts, error):
    fn, state = flaky(0)
    with pytest.raises(error):
        await retry(fn, attempts, RetrySchedule.fixed(0.0))
    assert state["calls"] == 0


async def test_retry_rejects_other_bad_arguments():
    fn, _ = flaky(0)
    with pytest.raises(TypeError):
        await retry("not callable", 3, RetrySchedule.fixed(0.0))
    with pytest.raises(TypeError):
        await retry(fn, 3, 0.5)
    with pytest.raises(TypeError):
        await retry(fn, 3, RetrySchedule.fixed(0.0), retry_on="Boom")
    with pytest.raises(TypeError):
        await retry(fn, 3, RetrySchedule.fixed(0.0), retry_on=())


async def test_retry_reports_a_non_awaitable_result_without_retrying():
    calls = []

    def not_async():
        calls.append(1)
        return 5

    with pytest.raises(TypeError):
        await retry(not_async, 3, RetrySchedule.fixed(0.0), sleep=SleepRecorder())
    assert calls == [1]


# -- pipe_to -------------------------------------------------------------------------------


class FakeTarget:
    def __init__(self):
        self.told = []

    def tell(self, msg):
        self.told.append(msg)

    def tell_with_sender(self, msg, sender):
        self.told.append((msg, sender))


async def test_pipe_to_tells_the_result_and_returns_none():
    target = FakeTarget()
    assert await pipe_to(ok("result"), target) is None
    assert target.told == ["result"]


async def test_pipe_to_uses_tell_with_sender_when_sender_given():
    target = FakeTarget()
    await pipe_to(ok("r"), target, sender="me")
    assert target.told == [("r", "me")]


async def test_pipe_to_sends_a_failure_and_still_raises_to_an_awaiting_caller():
    target = FakeTarget()
    exc = Boom()
    with pytest.raises(Boom) as info:
        await pipe_to(fail(exc), target)
    assert info.value is exc
    assert target.told == [Failure(exc)]
    assert target.told[0].exception is exc and target.told[0].cause is exc


async def test_pipe_to_returns_its_running_task():
    target = FakeTarget()
    task = pipe_to(ok("started"), target)
    assert isinstance(task, asyncio.Task)
    assert await task is None
    assert target.told == ["started"]


async def test_a_failing_pipe_nobody_awaits_logs_no_unretrieved_exception():
    loop = asyncio.get_running_loop()
    reported = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        target = FakeTarget()
        task = pipe_to(fail(Boom()), target)
        await asyncio.wait([task])
        del task
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert len(target.told) == 1 and isinstance(target.told[0].exception, Boom)
    assert reported == []


def test_pipe_to_outside_a_loop_returns_a_coroutine_to_run():
    target = FakeTarget()
    piped = pipe_to(ok("run later"), target)
    assert inspect.iscoroutine(piped)
    assert asyncio.run(piped) is None
    assert target.told == ["run later"]


async def test_pipe_to_a_cancelled_awaitable_sends_nothing():
    target = FakeTarget()
    fut = asyncio.get_running_loop().create_future()
    task = pipe_to(fut, target)
    await asyncio.sleep(0)
    fut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert target.told == []


def test_failure_rejects_a_non_exception():
    with pytest.raises(TypeError):
        Failure("not an exception")
    assert repr(Failure(ValueError("v"))) == "Failure(ValueError('v'))"


async def test_pipe_to_accepts_futures():
    target = FakeTarget()
    fut = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(fut.set_result, 7)
    await pipe_to(fut, target)
    assert target.told == [7]


async def test_pipe_to_rejects_bad_arguments_and_closes_the_coroutine():
    with pytest.raises(TypeError):
        await pipe_to(5, FakeTarget())
    coro = ok()
    with pytest.raises(TypeError):
        await pipe_to(coro, object())
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


class Collector(Actor):
    def __init__(self):
        self.got = []

    def handle(self, ctx, msg):
        if msg == "get":
            return list(self.got)
        self.got.append((msg, ctx.sender))
        return None


async def test_pipe_to_delivers_to_a_real_actor(wait_until):
    from atomr import ActorSystem

    system = await ActorSystem.create("t")
    try:
        coll = system.actor_of(props(Collector), "coll")
        other = system.actor_of(props(Collector), "other")
        await pipe_to(ok("piped"), coll)
        await pipe_to(ok("with sender"), coll, sender=other)
        got = await wait_until(lambda: _two(coll), message="both piped messages")
        assert got == [("piped", None), ("with sender", other)]
    finally:
        await asyncio.wait_for(system.terminate(), 10)


async def _two(ref):
    got = await ref.ask("get")
    return got if len(got) == 2 else None
