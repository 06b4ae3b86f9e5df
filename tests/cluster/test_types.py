"""The cluster's membership data types (atomr.cluster, backed by C++)."""

from __future__ import annotations

import random

import pytest

import atomr
from atomr.cluster import (
    LeaderHandover,
    LeaderHandoverEvent,
    MalformedGossipError,
    Member,
    MembershipState,
    VectorClock,
    member_weakly_up,
)

STATUSES = ["joining", "weaklyup", "up", "leaving", "exiting", "down", "removed"]


def test_cluster_is_an_attribute_of_the_package():
    assert atomr.cluster.Member is Member
    assert "cluster" in atomr.__all__


def test_new_member_is_joining_with_up_number_zero():
    m = Member("n1")
    assert m.address == "akka://n1"
    assert m.status == "joining"
    assert m.up_number == 0
    assert m.roles == []


def test_full_addresses_are_kept_unchanged():
    assert Member("akka.tcp://sys@127.0.0.1:2552").address == "akka.tcp://sys@127.0.0.1:2552"
    assert Member("akka://sys").address == "akka://sys"


def test_roles_are_kept_sorted():
    assert Member("n1", ["backend", "api"]).roles == ["api", "backend"]
    assert Member("n1", roles=["x"]).roles == ["x"]


@pytest.mark.parametrize("bad", [3, None, b"n1", ["n1"]])
def test_non_string_address_is_a_type_error(bad):
    with pytest.raises(TypeError, match="address"):
        Member(bad)


@pytest.mark.parametrize("bad", ["", "akka://", "a@b", "akka.tcp://s@h:notaport",
                                 "akka.tcp://s@h:70000"])
def test_unparseable_address_is_a_value_error(bad):
    with pytest.raises(ValueError):
        Member(bad)


@pytest.mark.parametrize("bad", ["role", [1], 5, ["a", None]])
def test_bad_roles_are_a_type_error(bad):
    with pytest.raises(TypeError, match="role"):
        Member("n1", bad)


@pytest.mark.parametrize("status", STATUSES)
def test_with_status_accepts_every_status_name(status):
    m = Member("n1", ["r"])
    copy = m.with_status(status)
    assert copy.status == status
    assert copy.address == "akka://n1"
    assert copy.roles == ["r"]
    assert m.status == "joining"  # a copy


def test_with_status_accepts_the_underscore_spelling_and_falls_back_to_joining():
    assert Member("n1").with_status("weakly_up").status == "weaklyup"
    assert Member("n1").with_status("up").with_status("nonsense").status == "joining"
    with pytest.raises(TypeError):
        Member("n1").with_status(2)


def test_member_weakly_up():
    m = member_weakly_up("n2", ["a"])
    assert m.status == "weaklyup"
    assert m.address == "akka://n2"
    assert m.roles == ["a"]
    assert m.up_number == 0


def test_age_ordering_is_total_and_by_address_for_equal_up_numbers():
    a = Member("akka.tcp://sys@10.0.0.1:2552")
    b = Member("akka.tcp://sys@10.0.0.1:2553")
    c = Member("akka.tcp://sys@10.0.0.2:1")
    assert Member.age_ordering(a, a) == 0
    assert Member.age_ordering(a, b) == -1
    assert Member.age_ordering(b, a) == 1
    assert Member.age_ordering(b, c) == -1
    # The port compares as a number.
    assert Member.age_ordering(Member("akka.tcp://s@h:9999"), Member("akka.tcp://s@h:10000")) == -1
    with pytest.raises(TypeError):
        Member.age_ordering(a, "n1")
    ms = [Member(f"akka.tcp://sys@10.0.0.{random.randrange(4)}:{random.randrange(1, 50)}")
          for _ in range(30)]
    for x in ms:
        for y in ms:
            assert Member.age_ordering(x, y) == -Member.age_ordering(y, x)
            for z in ms:
                if Member.age_ordering(x, y) <= 0 and Member.age_ordering(y, z) <= 0:
                    assert Member.age_ordering(x, z) <= 0


def test_membership_state_replaces_by_address_and_returns_copies():
    state = MembershipState()
    assert state.member_count() == 0
    state.add_or_update(Member("n2"))
    state.add_or_update(Member("n1"))
    state.add_or_update(Member("n2").with_status("up"))
    assert state.member_count() == 2
    members = state.members()
    assert [m.address for m in members] == ["akka://n1", "akka://n2"]
    assert [m.status for m in members] == ["joining", "up"]
    members.clear()
    assert state.member_count() == 2
    with pytest.raises(TypeError):
        state.add_or_update("n3")


def test_membership_state_round_trips_through_the_gossip_wire_form():
    state = MembershipState()
    state.add_or_update(Member("n1", ["a"]).with_status("up"))
    state.add_or_update(member_weakly_up("akka.tcp://s@127.0.0.1:2552"))
    back = MembershipState._from_bytes(state._to_bytes())
    assert back.members() == state.members()


@pytest.mark.parametrize("data, match", [
    (b"", "truncated"),
    (b"XKG\x01", "magic"),
    (b"AKG\x01\xff\xff\xff\xff", "count"),
])
def test_malformed_gossip_raises_its_error(data, match):
    with pytest.raises(MalformedGossipError, match=match):
        MembershipState._from_bytes(data)


def test_every_truncated_gossip_raises_malformed_gossip_error():
    state = MembershipState()
    state.add_or_update(Member("n1", ["a"]).with_status("leaving"))
    data = state._to_bytes()
    for n in range(len(data)):
        with pytest.raises(MalformedGossipError):
            MembershipState._from_bytes(data[:n])
    with pytest.raises(MalformedGossipError, match="version"):
        MembershipState._from_bytes(data[:3] + b"\x09" + data[4:])


def test_vector_clock_compare():
    a, b = VectorClock(), VectorClock()
    assert a.compare(b) == "same"
    a.tick("n1")
    assert a.compare(b) == "after"
    assert b.compare(a) == "before"
    b.tick("n2")
    assert a.compare(b) == "concurrent"
    m = a.merge(b)
    assert m.compare(a) == "after" and m.compare(b) == "after"
    assert m.get("n1") == 1 and m.get("n3") == 0
    with pytest.raises(TypeError):
        a.tick(1)
    with pytest.raises(TypeError):
        a.compare("n1")


def test_vector_clock_compare_matches_componentwise_definition():
    rng = random.Random(3)
    for _ in range(300):
        ca, cb = {}, {}
        a, b = VectorClock(), VectorClock()
        for node in ("x", "y", "z"):
            ca[node], cb[node] = rng.randrange(3), rng.randrange(3)
            for _ in range(ca[node]):
                a.tick(node)
            for _ in range(cb[node]):
                b.tick(node)
        le = all(ca[n] <= cb[n] for n in ca)
        ge = all(ca[n] >= cb[n] for n in ca)
        expected = "same" if le and ge else "before" if le else "after" if ge else "concurrent"
        assert a.compare(b) == expected


def _state(*members):
    state = MembershipState()
    for m in members:
        state.add_or_update(m)
    return state


def test_leader_handover_reports_first_leader_and_changes_only():
    h = LeaderHandover()
    assert h.current is None
    assert h.observe(_state(Member("n1"))) is None  # nobody up yet
    event = h.observe(_state(Member("n2").with_status("up"), Member("n3").with_status("up")))
    assert isinstance(event, LeaderHandoverEvent)
    assert (event.from_, event.to) == (None, "akka://n2")
    assert h.current == "akka://n2"
    assert h.observe(_state(Member("n2").with_status("up"))) is None
    event = h.observe(_state(Member("n2").with_status("down"), Member("n3").with_status("leaving")))
    assert (event.from_, event.to) == ("akka://n2", "akka://n3")
    assert event == LeaderHandoverEvent("akka://n2", "akka://n3")
    event = h.observe(_state(Member("n1").with_status("up"), Member("n3").with_status("up")))
    assert (event.from_, event.to) == ("akka://n3", "akka://n1")


def test_leader_ignores_joining_weakly_up_exiting_and_removed_members():
    h = LeaderHandover()
    state = _state(Member("a"), member_weakly_up("b"), Member("c").with_status("exiting"),
                   Member("d").with_status("removed"), Member("e").with_status("up"))
    assert h.observe(state).to == "akka://e"
    with pytest.raises(TypeError):
        h.observe(None)


def test_cluster_guide_example_runs():
    import pathlib
    import re
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    match = re.search(r"```python\n(.*?)```", (root / "docs" / "cluster.md").read_text(), re.S)
    assert match
    result = subprocess.run([sys.executable, "-c", match.group(1)], cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
