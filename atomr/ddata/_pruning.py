"""Pruning the data of removed nodes: its phases and per-node state.
"""

from __future__ import annotations

from typing import (
    Optional,
)

from atomr._util import public_module
from atomr.ddata._wire import _check_node

_PHASES = ("initialized", "performed")


@public_module("atomr.ddata")
def pruning_phases() -> list[str]:
    """The phases of pruning a removed node's data, in order."""
    return list(_PHASES)


@public_module("atomr.ddata")
class PruningState:
    """Per removed node: who prunes its data and how far it got; a CRDT
    itself (performed beats initialized, the larger `obsolete_at` wins,
    and of two owners the smaller id)."""

    __slots__ = ("_m",)

    def __init__(self) -> None:
        # removed node -> (phase, owner, obsolete_at)
        self._m: dict[str, tuple[str, str, int]] = {}

    def initialize(self, removed_node: str, owner: str) -> None:
        """Starts pruning `removed_node` by `owner` (a no-op when started)."""
        self._m.setdefault(_check_node(removed_node), ("initialized", _check_node(owner), 0))

    def mark_performed(self, removed_node: str, obsolete_at: int) -> bool:
        """Moves an initialized node to performed; True only on that move."""
        entry = self._m.get(removed_node)
        if entry is None or entry[0] != "initialized":
            return False
        self._m[removed_node] = ("performed", entry[1], int(obsolete_at))
        return True

    def is_pruned(self, node: str) -> bool:
        """Whether the removed `node` has a pruning marker, in any phase.

        True from :meth:`initialize` on (an ``"initialized"`` marker already
        means its data is being pruned and must not be updated again), until
        :meth:`gc` drops the performed marker.
        """
        return node in self._m

    def owner(self, node: str) -> Optional[str]:
        """The node pruning the removed `node`, or None when `node` has no
        entry (never initialized, or dropped by :meth:`gc`)."""
        entry = self._m.get(node)
        return None if entry is None else entry[1]

    def phase(self, node: str) -> Optional[str]:
        """``"initialized"`` or ``"performed"`` for the removed `node`, or
        None when it has no entry (never initialized, or dropped by :meth:`gc`)."""
        entry = self._m.get(node)
        return None if entry is None else entry[0]

    def gc(self, current_round: int) -> int:
        """Drops performed markers with ``obsolete_at <= current_round``;
        returns how many."""
        doomed = [n for n, (phase, _, at) in self._m.items()
                  if phase == "performed" and at <= current_round]
        for n in doomed:
            del self._m[n]
        return len(doomed)

    def merge(self, other: "PruningState") -> "PruningState":
        """Joins `other` into this state, node by node (see the class for
        which entry wins); `other` is unchanged.

        Returns:
            self, for chaining.

        Raises:
            TypeError: `other` is not a PruningState.
        """
        if not isinstance(other, PruningState):
            raise TypeError(f"cannot merge a {type(other).__name__} into a PruningState")
        for node, theirs in other._m.items():
            mine = self._m.get(node)
            if mine is None:
                self._m[node] = theirs
                continue
            ours_rank = (_PHASES.index(mine[0]), mine[2])
            their_rank = (_PHASES.index(theirs[0]), theirs[2])
            if their_rank > ours_rank or (their_rank == ours_rank and theirs[1] < mine[1]):
                self._m[node] = theirs
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PruningState) and self._m == other._m

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PruningState({self._m!r})"
