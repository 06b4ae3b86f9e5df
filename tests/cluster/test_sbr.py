"""The split brain resolver from Python: its settings (cluster.sbr config)
and the native decider's decision tables, run through the binding."""

from __future__ import annotations

import pytest

from atomr import ActorSystem, Config
from atomr.cluster import SBR_STRATEGIES, SbrDecision, SbrMember, SbrSettings, SplitBrainResolver
from atomr.cluster.sbr import decide, indirectly_connected
from atomr.config import ConfigError


def addr(i: int) -> str:
    return f"akka.tcp://sys@10.0.0.1:{2550 + i}"


def view(n: int, unreachable=(), roles=None, statuses=None) -> list[SbrMember]:
    """n up members; member i is the i-th oldest with the i-th lowest address."""
    roles = roles or {}
    statuses = statuses or {}
    return [SbrMember(addr(i), statuses.get(i, "up"), i + 1, tuple(roles.get(i, ())),
                      i not in unreachable, 100 + i) for i in range(n)]


def downs(*ids: int) -> tuple[str, ...]:
    return tuple(sorted(addr(i) for i in ids))


def kind(settings: SbrSettings, self_id: int, members, **kw) -> str:
    return decide(settings, addr(self_id), members, **kw).kind


# -- settings --------------------------------------------------------------------------------


def test_strategies():
    assert SBR_STRATEGIES == ("keep-majority", "static-quorum", "keep-oldest", "down-all",
                              "lease-majority")


def test_settings_from_config_defaults_and_values():
    assert SbrSettings.from_config(Config.empty()) is None
    assert SbrSettings.from_config(Config.from_dict({"cluster": {"sbr": {}}})) is None
    s = SbrSettings.from_config(Config.from_dict({"cluster": {"sbr": {"strategy": "keep-oldest"}}}))
    assert s == SbrSettings("keep-oldest", stable_after=20.0, quorum_size=1, down_if_alone=True,
                            lease_acquired=False, role=None)
    s = SbrSettings.from_config(Config.from_toml("""
        [cluster.sbr]
        strategy = "static-quorum"
        quorum-size = 3
        stable-after = "5s"
        down-if-alone = false
        lease-acquired = true
        role = "backend"
        acquire-lease-delay-for-minority = 1500
    """))
    assert s == SbrSettings("static-quorum", stable_after=5.0, quorum_size=3,
                            down_if_alone=False, lease_acquired=True, role="backend",
                            acquire_lease_delay_for_minority=1.5)
    # Integer durations are milliseconds; a dict tree is accepted too.
    s = SbrSettings.from_config({"cluster": {"sbr": {"strategy": "down-all",
                                                     "stable-after": 2500}}})
    assert s is not None and s.stable_after == 2.5


def test_down_all_when_unstable_is_an_alias_of_down_all():
    s = SbrSettings.from_config({"cluster": {"sbr": {"strategy": "down-all-when-unstable"}}})
    assert s is not None and s.strategy == "down-all"
    assert SbrSettings("down-all-when-unstable").strategy == "down-all"


@pytest.mark.parametrize("sbr, match", [
    ({"strategy": "keep-youngest"}, "cluster.sbr.strategy"),
    ({"strategy": 3}, "cluster.sbr.strategy"),
    ({"strategy": "keep-majority", "quorum-size": 0}, "cluster.sbr.quorum-size"),
    ({"strategy": "keep-majority", "quorum-size": "3"}, "cluster.sbr.quorum-size"),
    ({"strategy": "keep-majority", "stable-after": "soon"}, "cluster.sbr.stable-after"),
    ({"strategy": "keep-majority", "stable-after": 0}, "cluster.sbr.stable-after"),
    ({"strategy": "keep-majority", "down-if-alone": "yes"}, "cluster.sbr.down-if-alone"),
    ({"strategy": "keep-majority", "lease-aquired": True}, "cluster.sbr.lease-aquired"),
])
def test_bad_config_is_a_value_error_naming_the_key(sbr, match):
    with pytest.raises(ValueError, match=match) as info:
        SbrSettings.from_config({"cluster": {"sbr": sbr}})
    assert isinstance(info.value, ConfigError)


def test_a_system_rejects_a_bad_strategy_at_creation():
    with pytest.raises(ConfigError, match="cluster.sbr.strategy"):
        ActorSystem.create_blocking("sbrcfg", Config.from_dict(
            {"cluster": {"sbr": {"strategy": "keep-everyone"}}}))


@pytest.mark.parametrize("kwargs, exc", [
    ({"strategy": "nope"}, ValueError),
    ({"strategy": None}, TypeError),
    ({"strategy": "keep-majority", "stable_after": 0}, ValueError),
    ({"strategy": "keep-majority", "stable_after": float("nan")}, ValueError),
    ({"strategy": "keep-majority", "stable_after": "20s"}, TypeError),
    ({"strategy": "keep-majority", "quorum_size": 0}, ValueError),
    ({"strategy": "keep-majority", "quorum_size": 2.0}, TypeError),
    ({"strategy": "keep-majority", "down_if_alone": 1}, TypeError),
    ({"strategy": "keep-majority", "role": 5}, TypeError),
    ({"strategy": "keep-majority", "acquire_lease_delay_for_minority": -1}, ValueError),
    ({"strategy": "keep-majority", "down_all_when_unstable": -1}, ValueError),
])
def test_settings_validation(kwargs, exc):
    with pytest.raises(exc):
        SbrSettings(**kwargs)


# -- decision tables through the binding ------------------------------------------------------

KM = SbrSettings("keep-majority")


@pytest.mark.parametrize("n, self_id, unreachable, expected, down", [
    (5, 0, {3, 4}, "down-unreachable", (3, 4)),      # 3/2, majority side
    (5, 3, {0, 1, 2}, "down-reachable", (3, 4)),     # 3/2, minority side
    (5, 0, {2, 3, 4}, "down-reachable", (0, 1)),     # 2/3 with the lowest address
    (4, 0, {2, 3}, "down-unreachable", (2, 3)),      # 2/2, holding the lowest address
    (4, 2, {0, 1}, "down-reachable", (2, 3)),        # 2/2, without it
    (2, 0, {1}, "down-unreachable", (1,)),           # 1/1
    (2, 1, {0}, "down-reachable", (1,)),
])
def test_keep_majority_partitions(n, self_id, unreachable, expected, down):
    d = decide(KM, addr(self_id), view(n, unreachable))
    assert d == SbrDecision(expected, downs(*down), False)


def test_keep_majority_does_not_count_joining_or_weakly_up():
    members = view(5, {3, 4}, statuses={1: "joining", 2: "weaklyup"})
    assert kind(KM, 0, members) == "down-reachable"
    assert decide(KM, addr(0), members).down == downs(0, 1, 2)


def test_keep_majority_with_a_role():
    s = SbrSettings("keep-majority", role="backend")
    members = view(5, {3, 4}, roles={0: ["backend"], 3: ["backend"], 4: ["backend"]})
    assert kind(s, 0, members) == "down-reachable"


def test_static_quorum():
    s = SbrSettings("static-quorum", quorum_size=3)
    assert kind(s, 0, view(5, {3, 4})) == "down-unreachable"
    assert kind(s, 3, view(5, {0, 1, 2})) == "down-reachable"
    assert kind(s, 0, view(4, {2, 3})) == "down-reachable"
    assert kind(s, 0, view(6, {4, 5})) == "down-all"


@pytest.mark.parametrize("down_if_alone, self_id, unreachable, expected", [
    (False, 0, {1, 2, 3}, "down-unreachable"),   # oldest here
    (False, 1, {0, 4}, "down-reachable"),        # oldest there
    (False, 0, {1, 2, 3, 4}, "down-unreachable"),  # oldest alone, kept
    (True, 0, {1, 2, 3, 4}, "down-reachable"),   # oldest alone downs itself
    (True, 1, {0}, "down-unreachable"),          # ... seen from the others
    (True, 0, {2, 3, 4}, "down-unreachable"),    # not alone
])
def test_keep_oldest(down_if_alone, self_id, unreachable, expected):
    s = SbrSettings("keep-oldest", down_if_alone=down_if_alone)
    assert kind(s, self_id, view(5, unreachable)) == expected


def test_down_all():
    d = decide(SbrSettings("down-all"), addr(0), view(5, {3, 4}))
    assert d == SbrDecision("down-all", downs(0, 1, 2, 3, 4))


def test_lease_majority_outcomes():
    s = SbrSettings("lease-majority")
    assert kind(s, 0, view(5, {3, 4}), lease_acquired=True) == "down-unreachable"
    assert kind(s, 0, view(5, {3, 4}), lease_acquired=False) == "down-reachable"
    assert kind(s, 3, view(5, {0, 1, 2}), lease_acquired=True) == "down-unreachable"
    assert kind(SbrSettings("lease-majority", lease_acquired=True), 3,
                view(5, {0, 1, 2})) == "down-unreachable"


def test_indirectly_connected():
    members = view(5)
    records = [(addr(1), addr(2)), (addr(2), addr(1))]
    assert indirectly_connected(addr(0), members, records) == [addr(1), addr(2)]
    d = decide(KM, addr(0), members, records)
    assert d == SbrDecision("down-indirectly-connected", downs(1, 2))


def test_bad_views():
    with pytest.raises(ValueError, match="not one of its members"):
        decide(KM, "akka://nobody", view(3, {2}))
    with pytest.raises(ValueError, match="unknown member status"):
        decide(KM, addr(0), [SbrMember(addr(0), "asleep")])
    with pytest.raises(TypeError):
        decide(KM, addr(0), [addr(0)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        decide(KM, addr(0), view(2), records=[addr(0)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        decide(KM, addr(0), [SbrMember(addr(0), roles="backend")])  # type: ignore[arg-type]


# -- the resolver's timing on virtual time ------------------------------------------------------


def test_stable_after_on_virtual_time():
    r = SplitBrainResolver(SbrSettings("keep-majority", stable_after=10.0))
    r.update(addr(0), view(5), 0.0)
    assert r.tick(100.0) is None
    r.update(addr(0), view(5, {4}), 100.0)
    assert r.tick(105.0) is None
    r.update(addr(0), view(5, {3, 4}), 105.0)
    assert r.stable_since == 105.0
    assert r.tick(114.999) is None
    assert r.tick(115.0) == SbrDecision("down-unreachable", downs(3, 4))
    assert r.tick(200.0) is None


def test_instability_downs_all():
    r = SplitBrainResolver(SbrSettings("keep-majority", stable_after=8.0))
    r.update(addr(0), view(5), 0.0)
    t = 10
    while t < 24:
        r.update(addr(0), view(5, {4} if t % 4 == 0 else {3, 4}), float(t))
        assert r.tick(t + 1.0) is None
        t += 2
    r.update(addr(0), view(5, {3, 4}), 24.0)
    assert r.tick(25.0) == SbrDecision("down-all", downs(0, 1, 2, 3, 4), True)


def test_lease_majority_minority_waits_and_loses():
    calls = []

    def lease():
        calls.append(1)
        return False

    s = SbrSettings("lease-majority", stable_after=10.0, acquire_lease_delay_for_minority=3.0)
    r = SplitBrainResolver(s, lease)
    r.update(addr(3), view(5, {0, 1, 2}), 0.0)
    assert r.tick(10.0) is None and r.acquiring_lease and calls == []
    assert r.tick(12.0) is None and calls == []
    assert r.tick(13.0) == SbrDecision("down-reachable", downs(3, 4))
    assert calls == [1]


def test_lease_pending_then_acquired_and_lease_errors():
    outcomes = [None, True]
    s = SbrSettings("lease-majority", stable_after=1.0)
    r = SplitBrainResolver(s, lambda: outcomes.pop(0))
    r.update(addr(0), view(5, {3, 4}), 0.0)
    assert r.tick(1.0) is None
    assert r.tick(2.0) == SbrDecision("down-unreachable", downs(3, 4))

    def broken():
        raise KeyError("lease store down")

    r = SplitBrainResolver(s, broken)
    r.update(addr(0), view(5, {3, 4}), 0.0)
    with pytest.raises(KeyError, match="lease store down"):
        r.tick(1.0)
    r = SplitBrainResolver(s, lambda: "yes")  # type: ignore[arg-type,return-value]
    r.update(addr(0), view(5, {3, 4}), 0.0)
    with pytest.raises(TypeError, match="True, False or None"):
        r.tick(1.0)


def test_lease_majority_default_lease_is_the_configured_outcome():
    s = SbrSettings("lease-majority", stable_after=1.0, lease_acquired=True,
                    acquire_lease_delay_for_minority=0.0)
    r = SplitBrainResolver(s)
    r.update(addr(4), view(5, {0, 1, 2}), 0.0)
    assert r.tick(1.0) == SbrDecision("down-unreachable", downs(0, 1, 2))
