"""The system event stream: subscribe by class (callables or ActorRefs),
publish, and the runtime's lifecycle, failure, dead-letter and log events."""

from __future__ import annotations

import logging

import pytest

from atomr import Actor, EventStream, SupervisorStrategy, props
from atomr.event_stream import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    DeadLetter,
    EventStreamLogHandler,
    LogEvent,
)
from atomr.supervision import one_for_one

from _helpers import GET, Recorder, running_system, wait_until


@pytest.fixture(autouse=True)
def _restore_atomr_log_handlers():
    """Detaches any log bridge a test left on the process-wide ``atomr``
    logger (see test_a_terminated_system_stops_receiving_log_events), so a
    leaked subscriber cannot disturb later tests."""
    logger = logging.getLogger("atomr")
    before = list(logger.handlers)
    yield
    for handler in list(logger.handlers):
        if handler not in before:
            logger.removeHandler(handler)


@pytest.fixture
async def system():
    async with running_system("events") as s:
        yield s


class Quiet(Actor):
    def handle(self, ctx, msg):
        if isinstance(msg, BaseException):
            raise msg
        return msg


class Ping:
    def __init__(self, n):
        self.n = n


class SpecialPing(Ping):
    pass


def log_handlers():
    return [h for h in logging.getLogger("atomr").handlers
            if isinstance(h, EventStreamLogHandler)]


# -- subscribe / publish ------------------------------------------------------------------------


async def test_a_callable_subscriber_receives_published_events_of_its_class(system):
    seen: list = []
    system.event_stream.subscribe(seen.append, Ping)
    p, sp = Ping(1), SpecialPing(2)
    system.event_stream.publish(p)
    system.event_stream.publish("not a ping")
    system.event_stream.publish(sp)
    assert seen == [p, sp]  # synchronous, subclasses included


async def test_subscribing_without_a_class_sees_everything(system):
    seen: list = []
    system.event_stream.subscribe(seen.append)
    system.event_stream.publish(1)
    system.event_stream.publish("two")
    assert seen[:2] == [1, "two"]


async def test_unsubscribe_stops_delivery(system):
    seen: list = []
    stream = system.event_stream
    stream.subscribe(seen.append, Ping)
    stream.publish(Ping(1))
    stream.unsubscribe(seen.append)
    stream.publish(Ping(2))
    assert [e.n for e in seen] == [1]
    assert not stream.has_subscribers


async def test_unsubscribe_from_one_class_keeps_the_other_subscriptions(system):
    seen: list = []
    stream = system.event_stream
    stream.subscribe(seen.append, Ping)
    stream.subscribe(seen.append, str)
    stream.unsubscribe(seen.append, str)
    stream.publish("gone")
    stream.publish(Ping(3))
    assert [type(e) for e in seen] == [Ping]


async def test_subscribing_twice_delivers_once(system):
    seen: list = []
    system.event_stream.subscribe(seen.append, Ping)
    system.event_stream.subscribe(seen.append, Ping)
    system.event_stream.publish(Ping(1))
    assert len(seen) == 1


async def test_an_actor_subscriber_gets_events_as_messages(system):
    log: list = []
    rec = system.actor_of(props(Recorder, factory=lambda: Recorder(log)), "rec")
    await rec.ask(GET)
    system.event_stream.subscribe(rec, Ping)
    p = Ping(7)
    system.event_stream.publish(p)
    assert await wait_until(lambda: rec.ask(GET)) == [p]
    system.event_stream.unsubscribe(rec)
    system.event_stream.publish(Ping(8))
    assert await rec.ask(GET) == [p]


async def test_subscribe_rejects_bad_arguments(system):
    with pytest.raises(TypeError):
        system.event_stream.subscribe(print, "Ping")
    with pytest.raises(TypeError):
        system.event_stream.subscribe(42, Ping)


async def test_systems_have_separate_event_streams():
    async with running_system("a") as a, running_system("b") as b:
        seen: list = []
        a.event_stream.subscribe(seen.append, Ping)
        b.event_stream.publish(Ping(1))
        assert seen == []
        assert isinstance(a.event_stream, EventStream)
        assert a.event_stream is not b.event_stream


async def test_a_failing_subscriber_neither_stops_the_others_nor_loops(system, caplog):
    """A subscriber that raises is logged; the error report must not feed
    back into the stream without bound (the failing subscriber also listens
    to LogEvents here, being subscribed to everything)."""
    calls: list = []
    good: list = []

    def bad(event):
        calls.append(event)
        raise RuntimeError("bad subscriber")

    system.event_stream.subscribe(bad)
    system.event_stream.subscribe(good.append)
    with caplog.at_level(logging.ERROR, logger="atomr"):
        system.event_stream.publish("hello")
    assert "hello" in good
    assert any("subscriber" in r.getMessage() for r in caplog.records)
    assert len(calls) <= 2, f"the failing subscriber was called {len(calls)} times"
    assert sum(isinstance(e, LogEvent) for e in good) <= 1


# -- lifecycle and failures -------------------------------------------------------------------------


async def test_starting_and_stopping_an_actor_publishes_started_and_stopped(system):
    seen: list = []
    system.event_stream.subscribe(seen.append, (ActorStarted))
    system.event_stream.subscribe(seen.append, ActorStopped)
    ref = system.actor_of(props(Quiet), "life")
    await ref.ask("up")
    ref.stop()
    await wait_until(lambda: ActorStopped(ref.path) in seen)
    assert seen == [ActorStarted(ref.path), ActorStopped(ref.path)]


async def test_children_are_reported_stopped_before_their_parent(system):
    seen: list = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            await ctx.spawn(props(Quiet), "a")
            await ctx.spawn(props(Quiet), "b")

        def handle(self, ctx, msg):
            return len(ctx.children)

    parent = system.actor_of(props(Parent), "parent")
    assert await wait_until(lambda: parent.ask("n")) == 2
    system.event_stream.subscribe(seen.append, ActorStopped)
    parent.stop()
    await wait_until(lambda: ActorStopped(parent.path) in seen)
    assert seen[-1] == ActorStopped(parent.path)
    assert sorted(e.path for e in seen[:-1]) == [parent.path + "/a", parent.path + "/b"]


async def test_a_restart_publishes_actor_failed_then_actor_restarted(system):
    seen: list = []
    ref = system.actor_of(props(Quiet), "flaky")
    await ref.ask("up")
    system.event_stream.subscribe(seen.append)
    err = ValueError("boom")
    ref.tell(err)
    await wait_until(lambda: any(isinstance(e, ActorRestarted) for e in seen))
    lifecycle = [e for e in seen if isinstance(e, (ActorFailed, ActorRestarted, ActorStarted,
                                                   ActorStopped))]
    assert lifecycle == [ActorFailed(ref.path, err, "restart"), ActorRestarted(ref.path)]
    assert lifecycle[0].error is err
    assert lifecycle[1].reason is err


@pytest.mark.parametrize("strategy, directive", [
    (one_for_one({ValueError: "resume"}), "resume"),
    (SupervisorStrategy.stopping(), "stop"),
    (SupervisorStrategy.one_for_one(max_retries=0, within_seconds=60.0), "stop"),
])
async def test_actor_failed_reports_the_directive_applied(system, strategy, directive):
    seen: list = []
    ref = system.actor_of(props(Quiet).with_supervisor_strategy(strategy), "failing")
    await ref.ask("up")
    system.event_stream.subscribe(seen.append, ActorFailed)
    ref.tell(ValueError("x"))
    await wait_until(lambda: seen)
    assert [(e.path, e.directive) for e in seen] == [(ref.path, directive)]
    assert isinstance(seen[0].error, ValueError)


async def test_an_escalation_publishes_one_failure_per_level(system):
    seen: list = []
    kids = []

    class Parent(Actor):
        async def pre_start(self, ctx):
            kids.append(await ctx.spawn(
                props(Quiet).with_supervisor_strategy(SupervisorStrategy.escalating()), "kid"))

        def handle(self, ctx, msg):
            return None

    parent = system.actor_of(
        props(Parent).with_supervisor_strategy(SupervisorStrategy.stopping()), "parent")
    await wait_until(lambda: kids)
    system.event_stream.subscribe(seen.append, ActorFailed)
    kids[0].tell(KeyError("up the tree"))
    await wait_until(parent.is_terminated)
    assert [(e.path, e.directive) for e in seen] == [(kids[0].path, "escalate"),
                                                      (parent.path, "stop")]


# -- dead letters ------------------------------------------------------------------------------------


async def test_mail_to_a_stopped_actor_is_published_as_a_dead_letter(system):
    seen: list = []
    sender = system.actor_of(props(Quiet), "sender")
    ref = system.actor_of(props(Quiet), "gone")
    ref.stop()
    await wait_until(ref.is_terminated)
    system.event_stream.subscribe(seen.append, DeadLetter)
    ref.tell_with_sender("lost", sender)
    await wait_until(lambda: seen)
    assert seen == [DeadLetter("lost", sender, "akka://events/user/gone")]
    assert seen[0].sender is sender


async def test_no_dead_letter_events_after_unsubscribing(system):
    seen: list = []
    ref = system.actor_of(props(Quiet), "gone")
    ref.stop()
    await wait_until(ref.is_terminated)
    system.event_stream.subscribe(seen.append, DeadLetter)
    system.event_stream.unsubscribe(seen.append)
    before = system.dead_letter_count
    ref.tell("lost")
    await wait_until(lambda: system.dead_letter_count > before)
    assert seen == []


async def test_a_stopped_actor_subscriber_does_not_cause_a_dead_letter_cascade(system):
    """Akka unsubscribes terminated actors from the event stream; at the
    least, a DeadLetter that cannot reach a dead subscriber must not be
    republished as a DeadLetter of a DeadLetter, and so on."""
    seen: list = []
    sub = system.actor_of(props(Quiet), "subscriber")
    await sub.ask("up")
    system.event_stream.subscribe(sub, DeadLetter)
    system.event_stream.subscribe(seen.append, DeadLetter)
    sub.stop()
    await wait_until(sub.is_terminated)
    gone = system.actor_of(props(Quiet), "gone")
    gone.stop()
    await wait_until(gone.is_terminated)
    seen.clear()
    gone.tell("lost")
    await wait_until(lambda: seen)
    assert len(seen) <= 2, f"{len(seen)} dead-letter events for one lost message"
    assert DeadLetter("lost", None, gone.path) in seen


# -- log events ---------------------------------------------------------------------------------------


async def test_log_events_are_published_while_someone_subscribes_to_them(system):
    seen: list = []
    baseline = len(log_handlers())
    system.event_stream.subscribe(seen.append, LogEvent)
    assert len(log_handlers()) == baseline + 1
    ref = system.actor_of(props(Quiet), "noisy")
    ref.tell(RuntimeError("logged failure"))
    await wait_until(lambda: any(ref.path in e.message for e in seen))
    event = next(e for e in seen if ref.path in e.message)
    assert (event.level, event.logger) == (logging.ERROR, "atomr")
    system.event_stream.unsubscribe(seen.append)
    assert len(log_handlers()) == baseline
    seen.clear()
    logging.getLogger("atomr").error("after unsubscribing")
    assert seen == []


async def test_subscribing_to_other_events_does_not_bridge_the_log(system):
    baseline = len(log_handlers())
    system.event_stream.subscribe(print, ActorStarted)
    assert len(log_handlers()) == baseline
    system.event_stream.unsubscribe(print)


async def test_a_terminated_system_stops_receiving_log_events():
    """The bridge from the process-wide ``atomr`` logger belongs to the
    system: once it terminated, later records must not reach its stream."""
    seen: list = []
    baseline = len(log_handlers())
    async with running_system("short-lived") as short_lived:
        short_lived.event_stream.subscribe(seen.append)  # everything, LogEvents included
        assert len(log_handlers()) == baseline + 1
    seen.clear()
    logging.getLogger("atomr").error("logged after the system terminated")
    assert [e for e in seen if isinstance(e, LogEvent)] == []
    assert len(log_handlers()) == baseline


async def test_info_records_become_log_events_when_the_logger_lets_them_through(system, caplog):
    seen: list = []
    caplog.set_level(logging.INFO, logger="atomr")
    system.event_stream.subscribe(seen.append, LogEvent)
    logging.getLogger("atomr").info("hello from the test")
    assert LogEvent(logging.INFO, "atomr", "hello from the test") in seen
    system.event_stream.unsubscribe(seen.append)


def test_event_types_are_value_objects():
    assert ActorStarted("p") == ActorStarted("p") and ActorStarted("p") != ActorStopped("p")
    # The error is not part of a failure's identity.
    assert ActorFailed("p", ValueError("a"), "stop") == ActorFailed("p", KeyError("b"), "stop")
    assert ActorFailed("p", ValueError(), "stop") != ActorFailed("p", ValueError(), "resume")
    assert ActorRestarted("p", ValueError()) == ActorRestarted("p")
    assert DeadLetter(1, None, "p") == DeadLetter(1, None, "p")
    assert hash(ActorStopped("p")) == hash(ActorStopped("p"))
