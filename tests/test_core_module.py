"""atomr.core (reference §17): dispatcher/resizer/dead-letter settings, named
policies, BoundedStash, ControlAwareQueue and the FSM with state timeouts."""

from __future__ import annotations

import math
import pickle
import threading

import pytest

import atomr.core as core
from atomr.core import (
    BoundedStash,
    ControlAwareQueue,
    DeadLetterFilter,
    DispatcherConfig,
    Fsm,
    FsmBuilder,
    OverflowStrategy,
    ResizerConfig,
    StashOverflow,
    StateTimeout,
)


def test_module_exports_exactly_its_public_names():
    assert sorted(core.__all__) == sorted([
        "BoundedMailbox", "DispatcherConfig", "OverflowStrategy", "StashOverflow", "BoundedStash",
        "ControlAwareQueue", "ResizerConfig", "DeadLetterFilter", "FsmBuilder", "Fsm",
        "StateTimeout"])
    for name in core.__all__:
        assert getattr(core, name) is not None


# -- DispatcherConfig ----------------------------------------------------------------------


def test_dispatcher_config_defaults():
    cfg = DispatcherConfig()
    assert cfg.throughput == 10
    assert cfg.throughput_deadline_secs is None


def test_dispatcher_config_keeps_given_values():
    cfg = DispatcherConfig(5, 0.25)
    assert (cfg.throughput, cfg.throughput_deadline_secs) == (5, 0.25)
    cfg = DispatcherConfig(throughput=1, throughput_deadline_secs=2)
    assert cfg.throughput_deadline_secs == 2.0


def test_dispatcher_config_properties_are_read_only():
    cfg = DispatcherConfig()
    with pytest.raises(AttributeError):
        cfg.throughput = 3
    with pytest.raises(AttributeError):
        cfg.throughput_deadline_secs = 1.0


@pytest.mark.parametrize("kwargs, error", [
    ({"throughput": 0}, ValueError),
    ({"throughput": -3}, ValueError),
    ({"throughput": 2.5}, TypeError),
    ({"throughput": True}, TypeError),
    ({"throughput_deadline_secs": 0}, ValueError),
    ({"throughput_deadline_secs": -1.0}, ValueError),
    ({"throughput_deadline_secs": math.nan}, ValueError),
    ({"throughput_deadline_secs": "1"}, TypeError),
])
def test_dispatcher_config_validates(kwargs, error):
    with pytest.raises(error):
        DispatcherConfig(**kwargs)


def test_dispatcher_config_equality_and_repr():
    assert DispatcherConfig(3, 1.0) == DispatcherConfig(3, 1.0)
    assert DispatcherConfig(3) != DispatcherConfig(4)
    assert hash(DispatcherConfig(3)) == hash(DispatcherConfig(3))
    assert "throughput=3" in repr(DispatcherConfig(3))


# -- OverflowStrategy / StashOverflow ------------------------------------------------------


@pytest.mark.parametrize("name", ["drop_new", "drop_head", "drop_tail", "fail"])
def test_overflow_strategy_accepts_its_names(name):
    assert OverflowStrategy(name).name == name


@pytest.mark.parametrize("name", ["drop_oldest", "drop_newest", "reject"])
def test_stash_overflow_accepts_its_names(name):
    assert StashOverflow(name).name == name


@pytest.mark.parametrize("cls, name", [
    (OverflowStrategy, "dropnew"), (OverflowStrategy, "DROP_NEW"), (OverflowStrategy, ""),
    (OverflowStrategy, "reject"), (StashOverflow, "drop_new"), (StashOverflow, "fail"),
])
def test_unknown_policy_names_raise_value_error(cls, name):
    with pytest.raises(ValueError):
        cls(name)


@pytest.mark.parametrize("cls", [OverflowStrategy, StashOverflow])
def test_non_string_policy_names_raise_type_error(cls):
    with pytest.raises(TypeError):
        cls(1)


def test_policy_class_attributes_are_instances():
    assert OverflowStrategy.DROP_NEW == OverflowStrategy("drop_new")
    assert OverflowStrategy.DROP_HEAD.name == "drop_head"
    assert OverflowStrategy.DROP_TAIL.name == "drop_tail"
    assert OverflowStrategy.FAIL.name == "fail"
    assert StashOverflow.DROP_OLDEST == StashOverflow("drop_oldest")
    assert StashOverflow.DROP_NEWEST.name == "drop_newest"
    assert StashOverflow.REJECT.name == "reject"
    assert isinstance(OverflowStrategy.FAIL, OverflowStrategy)


def test_policies_compare_and_hash_by_name_and_are_immutable():
    assert OverflowStrategy("fail") == OverflowStrategy("fail")
    assert OverflowStrategy("fail") != OverflowStrategy("drop_new")
    assert OverflowStrategy("fail") != "fail"
    assert len({OverflowStrategy("fail"), OverflowStrategy.FAIL}) == 1
    assert StashOverflow("reject") != OverflowStrategy("fail")
    with pytest.raises(AttributeError):
        OverflowStrategy.FAIL.name = "drop_new"
    assert repr(StashOverflow.REJECT) == "StashOverflow('reject')"
    assert pickle.loads(pickle.dumps(OverflowStrategy.DROP_HEAD)) == OverflowStrategy.DROP_HEAD


# -- BoundedStash --------------------------------------------------------------------------


def test_stash_reports_depth_while_there_is_room():
    stash = BoundedStash(3, StashOverflow.REJECT)
    assert stash.stash("a") == ("stashed", 1)
    assert stash.stash("b") == ("stashed", 2)
    assert stash.stash("c") == ("stashed", 3)
    assert stash.is_full()


def test_full_stash_with_drop_oldest_evicts_and_keeps_the_new_message():
    stash = BoundedStash(2, StashOverflow("drop_oldest"))
    stash.stash("a")
    stash.stash("b")
    assert stash.stash("c") == ("dropped_oldest", "a")
    assert stash.len() == 2
    assert stash.unstash_all() == ["b", "c"]


def test_full_stash_with_drop_newest_discards_the_new_message():
    stash = BoundedStash(2, StashOverflow.DROP_NEWEST)
    stash.stash("a")
    stash.stash("b")
    assert stash.stash("c") == ("dropped_newest", None)
    assert stash.unstash_all() == ["a", "b"]


def test_full_stash_with_reject_hands_the_message_back():
    stash = BoundedStash(1, StashOverflow.REJECT)
    stash.stash("a")
    msg = {"payload": 1}
    result = stash.stash(msg)
    assert result == ("rejected", msg)
    assert result[1] is msg
    assert stash.unstash_all() == ["a"]


def test_unstash_all_is_fifo_and_empties_the_stash():
    stash = BoundedStash(5, StashOverflow.REJECT)
    for m in range(4):
        stash.stash(m)
    assert stash.unstash_all() == [0, 1, 2, 3]
    assert stash.is_empty()
    assert stash.unstash_all() == []
    assert stash.stash("again") == ("stashed", 1)


def test_pop_returns_the_oldest_or_none():
    stash = BoundedStash(3, StashOverflow.REJECT)
    assert stash.pop() is None
    stash.stash("x")
    stash.stash("y")
    assert stash.pop() == "x"
    assert stash.pop() == "y"
    assert stash.pop() is None


def test_stash_size_queries():
    stash = BoundedStash(2, StashOverflow.DROP_OLDEST)
    assert (stash.len(), len(stash), stash.is_empty(), stash.is_full()) == (0, 0, True, False)
    stash.stash(1)
    assert (stash.len(), len(stash), stash.is_empty(), stash.is_full()) == (1, 1, False, False)
    stash.stash(2)
    stash.stash(3)
    assert (stash.len(), len(stash), stash.is_empty(), stash.is_full()) == (2, 2, False, True)
    assert stash.capacity == 2
    assert stash.policy == StashOverflow.DROP_OLDEST


def test_stash_accepts_a_policy_name():
    assert BoundedStash(1, "reject").policy == StashOverflow.REJECT


@pytest.mark.parametrize("capacity, policy, error", [
    (0, StashOverflow.REJECT, ValueError),
    (-1, StashOverflow.REJECT, ValueError),
    (1.5, StashOverflow.REJECT, TypeError),
    (2, OverflowStrategy.FAIL, TypeError),
    (2, None, TypeError),
    (2, "drop_head", ValueError),
])
def test_stash_validates_arguments(capacity, policy, error):
    with pytest.raises(error):
        BoundedStash(capacity, policy)


def test_stash_capacity_is_read_only():
    with pytest.raises(AttributeError):
        BoundedStash(1, "reject").capacity = 5


# -- ControlAwareQueue ---------------------------------------------------------------------


def test_control_messages_overtake_user_messages_each_in_fifo_order():
    q = ControlAwareQueue()
    q.push_user("u1")
    q.push_control("c1")
    q.push_user("u2")
    q.push_control("c2")
    assert [q.pop() for _ in range(4)] == ["c1", "c2", "u1", "u2"]


def test_control_pushed_later_still_goes_before_remaining_user_messages():
    q = ControlAwareQueue()
    q.push_user("u1")
    q.push_user("u2")
    assert q.pop() == "u1"
    q.push_control("c")
    assert q.pop() == "c"
    assert q.pop() == "u2"


def test_empty_queue_pops_none():
    q = ControlAwareQueue()
    assert q.pop() is None
    q.push_user(1)
    q.pop()
    assert q.pop() is None


def test_queue_size_queries():
    q = ControlAwareQueue()
    assert (q.len(), len(q), q.is_empty()) == (0, 0, True)
    q.push_control("c")
    q.push_user("u")
    assert (q.len(), len(q), q.is_empty()) == (2, 2, False)


def test_queue_keeps_per_producer_order_across_threads():
    q = ControlAwareQueue()

    def produce(kind, tag):
        push = q.push_control if kind == "control" else q.push_user
        for i in range(500):
            push((tag, i))

    threads = [threading.Thread(target=produce, args=(k, f"{k}{n}"))
               for k in ("control", "user") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert q.len() == 2000
    drained = []
    while not q.is_empty():
        drained.append(q.pop())
    assert all(tag.startswith("control") for tag, _ in drained[:1000])
    assert all(tag.startswith("user") for tag, _ in drained[1000:])
    for tag in ("control0", "control1", "user0", "user1"):
        assert [i for t, i in drained if t == tag] == list(range(500))


# -- ResizerConfig -------------------------------------------------------------------------


def test_resizer_defaults():
    r = ResizerConfig()
    assert (r.lower_bound, r.upper_bound, r.pressure_threshold, r.backoff_threshold,
            r.rampup_rate, r.backoff_rate, r.messages_per_resize,
            r.backoff_delay_secs) == (1, 10, 1.0, 0.3, 0.2, 0.1, 10, 10.0)


def test_resizer_properties_are_read_only():
    with pytest.raises(AttributeError):
        ResizerConfig().upper_bound = 3


def test_empty_pool_resizes_to_lower_bound():
    assert ResizerConfig(lower_bound=3).compute_delta(0, 0) == 3
    assert ResizerConfig(lower_bound=0).compute_delta(0, 0) == 0


def test_pressure_grows_by_ceil_of_rampup():
    r = ResizerConfig(upper_bound=100)
    assert r.compute_delta(10, 10) == 2      # ceil(10 * 1.2) = 12
    assert r.compute_delta(3, 3) == 1        # ceil(3.6) = 4
    assert r.compute_delta(1, 1) == 1        # ceil(1.2) = 2
    assert r.compute_delta(4, 5) == 1        # load above 1 is pressure too


def test_pressure_threshold_is_inclusive():
    r = ResizerConfig(upper_bound=100, pressure_threshold=0.5)
    assert r.compute_delta(10, 5) == 2
    assert r.compute_delta(10, 4) == 0


def test_idle_pool_shrinks_by_floor_of_backoff_rate():
    r = ResizerConfig(lower_bound=1, upper_bound=100)
    assert r.compute_delta(10, 3) == -1      # load 0.3 <= 0.3: floor(9.0) = 9
    assert r.compute_delta(10, 0) == -1
    assert r.compute_delta(5, 0) == -1       # floor(4.5) = 4
    assert r.compute_delta(1, 0) == 0        # floor(0.9) = 0, clamped to lower bound 1


def test_moderate_load_keeps_the_size():
    r = ResizerConfig(upper_bound=100)
    assert r.compute_delta(10, 5) == 0
    assert r.compute_delta(10, 9) == 0


def test_target_is_clamped_to_bounds():
    r = ResizerConfig(lower_bound=4, upper_bound=10)
    assert r.compute_delta(10, 10) == 0      # 12 clamped to 10
    assert r.compute_delta(9, 9) == 1        # ceil(10.8) = 11 -> 10
    assert r.compute_delta(4, 0) == 0        # 3 clamped to 4
    assert r.compute_delta(2, 1) == 2        # below the lower bound: back up to 4
    assert r.compute_delta(15, 10) == -5     # above the upper bound: down to 10


def test_resizer_has_no_float_rounding_artefacts():
    r = ResizerConfig(upper_bound=1000, rampup_rate=0.1, backoff_rate=0.3)
    assert r.compute_delta(50, 50) == 5      # 50 * 1.1 is 55.00000000000001 in floats
    assert r.compute_delta(90, 0) == -27     # 90 * 0.7 is 62.99999999999999 in floats


@pytest.mark.parametrize("kwargs, error", [
    ({"lower_bound": -1}, ValueError),
    ({"lower_bound": 5, "upper_bound": 4}, ValueError),
    ({"upper_bound": 0, "lower_bound": 0}, ValueError),
    ({"lower_bound": 1.0}, TypeError),
    ({"upper_bound": "10"}, TypeError),
    ({"pressure_threshold": 0}, ValueError),
    ({"backoff_threshold": -0.1}, ValueError),
    ({"backoff_threshold": 2.0}, ValueError),
    ({"rampup_rate": -0.2}, ValueError),
    ({"backoff_rate": 1.5}, ValueError),
    ({"backoff_rate": -0.5}, ValueError),
    ({"messages_per_resize": 0}, ValueError),
    ({"backoff_delay_secs": -1}, ValueError),
    ({"rampup_rate": math.inf}, ValueError),
    ({"rampup_rate": None}, TypeError),
])
def test_resizer_validates_arguments(kwargs, error):
    with pytest.raises(error):
        ResizerConfig(**kwargs)


@pytest.mark.parametrize("size, busy, error", [(-1, 0, ValueError), (1, -1, ValueError),
                                               (1.0, 0, TypeError), (2, "1", TypeError)])
def test_compute_delta_validates_arguments(size, busy, error):
    with pytest.raises(error):
        ResizerConfig().compute_delta(size, busy)


def test_resizer_equality():
    assert ResizerConfig() == ResizerConfig()
    assert ResizerConfig(upper_bound=11) != ResizerConfig()
    assert "upper_bound=10" in repr(ResizerConfig())


# -- DeadLetterFilter ----------------------------------------------------------------------


def test_dead_letter_filter_defaults():
    f = DeadLetterFilter()
    assert (f.accept_no_recipient, f.accept_dropped, f.accept_suppressed) == (True, True, False)
    assert f.accepts("no_recipient") is True
    assert f.accepts("dropped") is True
    assert f.accepts("suppressed") is False


def test_dead_letter_filter_follows_its_flags():
    f = DeadLetterFilter(accept_no_recipient=False, accept_dropped=False, accept_suppressed=True)
    assert (f.accepts("no_recipient"), f.accepts("dropped"), f.accepts("suppressed")) == (
        False, False, True)
    assert DeadLetterFilter(False).accept_no_recipient is False


def test_dead_letter_filter_rejects_unknown_reasons():
    f = DeadLetterFilter()
    with pytest.raises(ValueError):
        f.accepts("lost")
    with pytest.raises(TypeError):
        f.accepts(None)


def test_dead_letter_filter_flags_are_read_only_bools():
    with pytest.raises(AttributeError):
        DeadLetterFilter().accept_dropped = False
    with pytest.raises(TypeError):
        DeadLetterFilter(accept_dropped=1)
    assert DeadLetterFilter() == DeadLetterFilter(True, True, False)


# -- FsmBuilder / Fsm ----------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def door_builder(log=None, clock=None):
    """A door: closed --open--> opened --close--> closed; 'count' updates the data."""
    log = [] if log is None else log

    def closed(state, data, msg):
        log.append(("closed", state, data, msg))
        if msg == "open":
            return ("opened", data + 1)
        if msg == "count":
            return ("closed", data + 100)
        return None

    def opened(state, data, msg):
        log.append(("opened", state, data, msg))
        if msg == "close":
            return ("closed", data)
        return None

    kwargs = {} if clock is None else {"clock": clock}
    return (FsmBuilder(**kwargs).start_with("closed", 0)
            .when_state("closed", closed).when_state("opened", opened))


def test_builder_methods_chain():
    b = FsmBuilder()
    assert b.start_with("s", None) is b
    assert b.when_state("s", lambda s, d, m: None) is b
    assert b.whenever(lambda s, d, m: None) is b
    assert b.on_transition(lambda old, new: None) is b
    assert b.on_termination(lambda s, d: None) is b
    assert isinstance(b.build(), Fsm)


def test_build_without_start_with_raises_value_error():
    with pytest.raises(ValueError):
        FsmBuilder().when_state("s", lambda s, d, m: None).build()


def test_fsm_starts_in_the_start_state():
    fsm = door_builder().build()
    assert (fsm.state, fsm.data) == ("closed", 0)


def test_handle_calls_the_state_handler_with_state_data_and_message():
    log = []
    fsm = door_builder(log).build()
    fsm.handle("knock")
    assert log == [("closed", "closed", 0, "knock")]


def test_returned_tuple_transitions_and_none_stays():
    fsm = door_builder().build()
    fsm.handle("knock")
    assert (fsm.state, fsm.data) == ("closed", 0)
    fsm.handle("open")
    assert (fsm.state, fsm.data) == ("opened", 1)
    fsm.handle("open")  # opened ignores it
    assert (fsm.state, fsm.data) == ("opened", 1)
    fsm.handle("close")
    assert (fsm.state, fsm.data) == ("closed", 1)


def test_on_transition_runs_only_when_the_state_name_changes():
    transitions = []
    fsm = door_builder().on_transition(lambda old, new: transitions.append((old, new))).build()
    fsm.handle("count")  # ("closed", 100): same name, new data
    assert fsm.data == 100
    assert transitions == []
    fsm.handle("open")
    fsm.handle("close")
    assert transitions == [("closed", "opened"), ("opened", "closed")]


def test_transition_hooks_see_the_new_state_and_run_in_order():
    seen = []
    holder = {}
    b = door_builder()
    b.on_transition(lambda old, new: seen.append(("first", holder["fsm"].state,
                                                  holder["fsm"].data)))
    b.on_transition(lambda old, new: seen.append(("second", old, new)))
    holder["fsm"] = b.build()
    holder["fsm"].handle("open")
    assert seen == [("first", "opened", 1), ("second", "closed", "opened")]


def test_whenever_handles_states_without_their_own_handler():
    calls = []

    def fallback(state, data, msg):
        calls.append((state, data, msg))
        return ("elsewhere", data) if msg == "move" else None

    fsm = (FsmBuilder().start_with("nowhere", "d")
           .when_state("known", lambda s, d, m: None).whenever(fallback).build())
    fsm.handle("hello")
    fsm.handle("move")
    assert calls == [("nowhere", "d", "hello"), ("nowhere", "d", "move")]
    assert fsm.state == "elsewhere"


def test_state_handler_takes_precedence_over_whenever():
    calls = []
    fsm = (FsmBuilder().start_with("s", None)
           .when_state("s", lambda st, d, m: calls.append("state"))
           .whenever(lambda st, d, m: calls.append("fallback")).build())
    fsm.handle("x")
    assert calls == ["state"]


def test_message_without_any_handler_is_ignored():
    fsm = FsmBuilder().start_with("s", 1).build()
    fsm.handle("x")
    assert (fsm.state, fsm.data) == ("s", 1)


def test_later_when_state_replaces_the_earlier_handler():
    calls = []
    fsm = (FsmBuilder().start_with("s", None)
           .when_state("s", lambda st, d, m: calls.append("old"))
           .when_state("s", lambda st, d, m: calls.append("new")).build())
    fsm.handle("x")
    assert calls == ["new"]


def test_stop_calls_on_termination_once_with_state_and_data():
    ended = []
    fsm = door_builder().on_termination(lambda s, d: ended.append((s, d))).build()
    fsm.handle("open")
    fsm.stop()
    fsm.stop()
    assert ended == [("opened", 1)]
    assert fsm.is_stopped


def test_handle_after_stop_raises_runtime_error():
    fsm = door_builder().build()
    fsm.stop()
    with pytest.raises(RuntimeError):
        fsm.handle("open")


def test_handler_exception_propagates_and_leaves_the_state_unchanged():
    def explode(state, data, msg):
        raise KeyError(msg)

    fsm = FsmBuilder().start_with("s", "d").when_state("s", explode).build()
    with pytest.raises(KeyError):
        fsm.handle("m")
    assert (fsm.state, fsm.data) == ("s", "d")


@pytest.mark.parametrize("bad", ["just a string", ("s",), ("s", 1, 2), (1, "data"), ["s", 1]])
def test_invalid_handler_result_raises_type_error(bad):
    fsm = FsmBuilder().start_with("s", "d").when_state("s", lambda st, d, m: bad).build()
    with pytest.raises(TypeError):
        fsm.handle("m")
    assert (fsm.state, fsm.data) == ("s", "d")


def test_builder_validates_arguments():
    with pytest.raises(TypeError):
        FsmBuilder().start_with(1, None)
    with pytest.raises(TypeError):
        FsmBuilder().when_state("s", "not callable")
    with pytest.raises(TypeError):
        FsmBuilder().when_state(None, lambda s, d, m: None)
    with pytest.raises(TypeError):
        FsmBuilder().whenever(None)
    with pytest.raises(TypeError):
        FsmBuilder().on_transition(3)
    with pytest.raises(TypeError):
        FsmBuilder().on_termination(3)
    with pytest.raises(ValueError):
        FsmBuilder().when_state("s", lambda s, d, m: None, timeout=0)
    with pytest.raises(TypeError):
        FsmBuilder(clock="now")


def test_fsm_cannot_be_constructed_directly():
    with pytest.raises(TypeError):
        Fsm()


def test_builder_is_reusable_and_machines_are_independent():
    b = door_builder()
    one, two = b.build(), b.build()
    one.handle("open")
    assert (one.state, two.state) == ("opened", "closed")


def test_fsm_state_and_data_are_read_only():
    fsm = door_builder().build()
    with pytest.raises(AttributeError):
        fsm.state = "opened"
    with pytest.raises(AttributeError):
        fsm.data = 5


# -- FSM state timeouts --------------------------------------------------------------------


def timed_builder(clock, log):
    def waiting(state, data, msg):
        log.append(msg)
        if isinstance(msg, StateTimeout):
            return ("timed_out", data)
        if msg == "stay":
            return None
        return ("done", data)

    return FsmBuilder(clock=clock).start_with("waiting", None).when_state(
        "waiting", waiting, timeout=5.0)


def test_state_timeout_fires_after_the_timeout_without_messages():
    clock, log = FakeClock(100.0), []
    fsm = timed_builder(clock, log).build()
    assert fsm.timeout_deadline == 105.0
    clock.now = 104.9
    assert fsm.check_timeout() is False
    assert log == []
    clock.now = 105.0
    assert fsm.check_timeout() is True
    assert log == [StateTimeout()]
    assert isinstance(log[0], StateTimeout)
    assert fsm.state == "timed_out"


def test_each_handle_call_restarts_the_state_timeout():
    clock, log = FakeClock(0.0), []
    fsm = timed_builder(clock, log).build()
    clock.now = 4.0
    fsm.handle("stay")
    assert fsm.timeout_deadline == 9.0
    clock.now = 8.0
    assert fsm.check_timeout() is False
    clock.now = 9.0
    assert fsm.check_timeout() is True
    assert log == ["stay", StateTimeout()]


def test_check_timeout_accepts_an_explicit_now():
    log = []
    fsm = timed_builder(FakeClock(0.0), log).build()
    assert fsm.check_timeout(4.0) is False
    assert fsm.check_timeout(5.0) is True
    assert fsm.state == "timed_out"


def test_timeout_that_stays_rearms_for_another_period():
    clock = FakeClock(0.0)
    ticks = []

    def waiting(state, data, msg):
        ticks.append(msg)

    fsm = FsmBuilder(clock=clock).start_with("w", None).when_state(
        "w", waiting, timeout=2.0).build()
    assert fsm.check_timeout(2.0) is True
    assert fsm.timeout_deadline == 2.0 + 2.0
    assert fsm.check_timeout(3.0) is False
    assert fsm.check_timeout(4.0) is True
    assert ticks == [StateTimeout(), StateTimeout()]


def test_states_without_timeout_never_time_out():
    clock, log = FakeClock(0.0), []
    fsm = timed_builder(clock, log).build()
    fsm.handle("finish")
    assert fsm.state == "done"
    assert fsm.timeout_deadline is None
    assert fsm.check_timeout(1e9) is False


def test_stopped_fsm_does_not_time_out():
    fsm = timed_builder(FakeClock(0.0), []).build()
    fsm.stop()
    assert fsm.timeout_deadline is None
    assert fsm.check_timeout(100.0) is False


def test_state_timeout_goes_through_whenever_and_transition_hooks():
    transitions = []
    fsm = (FsmBuilder(clock=FakeClock(0.0)).start_with("a", 0)
           .when_state("a", lambda s, d, m: ("b", d + 1) if m == StateTimeout() else None,
                       timeout=1.0)
           .on_transition(lambda old, new: transitions.append((old, new))).build())
    assert fsm.check_timeout(1.0)
    assert (fsm.state, fsm.data, transitions) == ("b", 1, [("a", "b")])


def test_state_timeout_instances_are_equal_markers():
    assert StateTimeout() == StateTimeout()
    assert hash(StateTimeout()) == hash(StateTimeout())
    assert StateTimeout() != "StateTimeout"
    assert repr(StateTimeout()) == "StateTimeout"
