"""Resolution strategies: which system's history wins a conflicted dataset. Pure.

A sync group has one strategy; an administrator may also resolve one conflict with another
strategy or name the winner (`POST /api/v1/conflicts/{id}/resolve`). The candidates are
all systems that hold the dataset; the winner's history becomes everyone's (compare.py:
forced transfers to the others).

- use_newest: the system whose newest snapshot was created last.
- use_largest: the system whose newest snapshot is the largest (bytes referenced).
- use_majority: the system whose history the most systems hold or are behind (they could
  follow it without losing anything), if that is more than half of the systems that hold
  the dataset.
- manual: no winner: the conflict stays open until an administrator resolves it.
- ignore: no winner and no transfers for the dataset; the conflict is kept as ignored
  until the histories agree again.

A tie between candidates that hold different snapshots decides nothing (the conflict
stays open); a tie between candidates with the same newest snapshot is no tie (they are the
same history as far as the others are concerned): the first by id wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from zfsync_witness.compare import Entry, compare_pair


class Strategy(StrEnum):
    USE_NEWEST = "use_newest"
    USE_LARGEST = "use_largest"
    USE_MAJORITY = "use_majority"
    MANUAL = "manual"
    IGNORE = "ignore"


def supporters(hist: Mapping[str, Sequence[Entry]], candidate: str) -> int:
    """How many systems hold the candidate's history or are behind it (itself included)."""
    lead = hist[candidate]
    return sum(1 for s, h in hist.items() if s == candidate or compare_pair(lead, h).b_behind)


def _best(hist: Mapping[str, Sequence[Entry]], score: Callable[[str], int]) -> str | None:
    top = max(score(s) for s in hist)
    best = sorted(s for s in hist if score(s) == top)
    if len({hist[s][-1].key for s in best}) > 1:
        return None  # a tie between different snapshots
    return best[0]


def choose_winner(strategy: Strategy, hist: Mapping[str, Sequence[Entry]]) -> str | None:
    """The winning system for a conflicted dataset (`hist`: system -> history, oldest
    first, all non-empty), or None when the strategy decides nothing."""
    if not hist or strategy in (Strategy.MANUAL, Strategy.IGNORE):
        return None
    if strategy is Strategy.USE_NEWEST:
        return _best(hist, lambda s: hist[s][-1].snap.created)
    if strategy is Strategy.USE_LARGEST:
        return _best(hist, lambda s: hist[s][-1].snap.size)
    counts = {s: supporters(hist, s) for s in hist}
    winner = _best(hist, counts.__getitem__)
    if winner is None or 2 * counts[winner] <= len(hist):
        return None
    return winner
