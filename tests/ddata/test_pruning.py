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
