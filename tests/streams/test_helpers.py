"""The module-level helpers of the original API."""

from __future__ import annotations

from atomr import streams as st


def test_list_helpers():
    assert st.map_reduce([1, 2, 3], lambda x: x * 2, lambda a, b: a + b, 0) == 12
    assert st.run_collect([1, 0, 2], lambda x: 10 // x) == [10, 0, 5]
    assert st.run_fold([1, 0, 2], lambda x: 10 // x, 0, lambda a, b: a + b) == 15
    assert st.via_keep_alive([1, 2], 5.0, 0) == [1, 2]
    assert st.via_initial_delay([1, 2], 0.01) == [1, 2]
    assert sum(st.via_conflate(list(range(100)), lambda a, b: a + b)) == sum(range(100))
    assert st.via_expand([1, 2], lambda x: x * 10) == [1, 2, 20]
    assert st.via_expand([], lambda x: x) == []
    assert st.merge_sorted_([1, 3, 5], [2, 4]) == [1, 2, 3, 4, 5]
    assert sorted(st.merge_prioritized_([1, 2], 1, [3, 4], 2)) == [1, 2, 3, 4]
    assert st.via_split_after_count([1, 2, 3, 4, 5], lambda x: x % 2 == 0) == 3
    assert st.via_prefix_and_tail([1, 2, 3, 4], 3) == ([1, 2, 3], 1)
    assert st.via_prefix_and_tail([1], 3) == ([1], 0)


def test_recover_with_retries_and_select_error_helpers():
    items = [(1, False), (None, True), (2, False), (None, True), (3, False)]
    assert st.via_recover_with_retries(items, [9], 1) == [1, 9, 2]
    assert st.via_recover_with_retries(items, [9, 8], 5) == [1, 9, 8, 2, 9, 8, 3]
    assert st.via_select_error([(1, None), (0, "ValueError"), (2, None)], str) == [1, 2]
