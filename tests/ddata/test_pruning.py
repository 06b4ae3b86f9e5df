"""PruningState: which removed nodes count as pruned."""

from atomr.ddata import PruningState


def test_node_counts_as_pruned_from_the_initialized_phase_on():
    p = PruningState()
    assert not p.is_pruned("gone")
    p.initialize("gone", "owner-1")
    assert p.phase("gone") == "initialized"
    assert p.is_pruned("gone")
    p.mark_performed("gone", 5)
    assert p.is_pruned("gone")


def test_node_is_no_longer_pruned_once_its_marker_is_collected():
    p = PruningState()
    p.initialize("gone", "owner-1")
    p.mark_performed("gone", 5)
    assert p.gc(5) == 1
    assert not p.is_pruned("gone")


def test_initialized_marker_received_by_merge_counts_as_pruned():
    theirs = PruningState()
    theirs.initialize("gone", "owner-1")
    mine = PruningState().merge(theirs)
    assert mine.is_pruned("gone") and not mine.is_pruned("other")


def test_crdts_prune_a_removed_node_into_another_and_reject_bad_ids():
    import pytest

    from atomr.ddata import GCounter, GSet, ORSet

    s = ORSet().with_node("gone#1")
    s.add("x")
    s.with_node("live#2").add("y")
    assert s.needs_pruning_from("gone#1")
    assert s.prune("gone#1", "live#2") is s
    assert s.elements() == ["x", "y"] and not s.needs_pruning_from("gone#1")
    g = GCounter()
    g.increment("gone#1", 3)
    other = g.copy().prune_cleanup("gone#1")
    assert other.value() == 0
    assert g.prune("gone#1", "live#2").value() == 3
    assert g.entries() == {"live#2": 3}
    assert not GSet().needs_pruning_from("gone#1")
    with pytest.raises(ValueError):
        g.prune("live#2", "live#2")
    with pytest.raises(ValueError):
        g.prune("", "live#2")
    with pytest.raises(TypeError):
        g.prune_cleanup(None)  # type: ignore[arg-type]
