"""The totals that grow with the history (step durations, bytes sent), kept up to date by
reading only what the journal added since the last reading.

They start from the whole stored history (the first reading after a start reads every
completed step once), so a restart loses nothing the store still holds; after that each
reading adds the steps completed since (store/stats.py: a range of the journal's numbers).
What `transaction cleanup` forgets stays counted until the next restart, when the totals
start again from what is stored: Prometheus reads that drop as a counter reset.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from zfsyncd.store.stats import SentBytes, StoreStats

#: journal rows read by one statement at most (a sync of 10 datasets journals about 20)
CHUNK = 2000
#: (source host, dataset, target host, target dataset)
SentKey = tuple[str | None, str, str | None, str]


@dataclass(frozen=True)
class StepDurations:
    """One step kind's durations as a Prometheus histogram holds them: the count at or
    below each bound (cumulative), the count and the sum."""

    kind: str
    #: (upper bound in seconds, steps that took at most that long), bounds ascending
    buckets: tuple[tuple[float, int], ...]
    count: int
    total_seconds: float


@dataclass
class _Histogram:
    #: steps per bucket, not cumulative: index i counts those above bound i-1, up to i;
    #: the last, those above every bound
    counts: list[int]
    total: float = 0.0


@dataclass
class StepTotals:
    bounds: Sequence[float]
    #: the journal's number up to which the totals hold
    seen: int = 0
    _histograms: dict[str, _Histogram] = field(default_factory=dict)
    _sent: dict[SentKey, int] = field(default_factory=dict)

    def add_durations(self, durations: Iterable[tuple[str, float]]) -> None:
        for kind, seconds in durations:
            histogram = self._histograms.setdefault(kind, _Histogram([0] * (len(self.bounds) + 1)))
            histogram.counts[bisect.bisect_left(self.bounds, seconds)] += 1
            histogram.total += seconds

    def add_sent(self, sent: Iterable[SentBytes]) -> None:
        for s in sent:
            key = (s.source_host, s.dataset, s.host, s.target)
            self._sent[key] = self._sent.get(key, 0) + s.bytes

    async def catch_up(self, stats: StoreStats) -> None:
        """Add what was journaled since the last reading."""
        end = await stats.journal_end()
        if end < self.seen:  # a store that went back (a restored file): start again
            self.seen, self._histograms, self._sent = 0, {}, {}
        while self.seen < end:
            # a range at a time: the first reading after a start reads the whole history,
            # and one statement over all of it would hold the store's connection (which the
            # running transactions' journal writes wait for) for seconds
            upto = min(end, self.seen + CHUNK)
            self.add_durations(await stats.completed_steps(self.seen, upto))
            self.add_sent(await stats.sent_bytes(self.seen, upto))
            self.seen = upto

    def durations(self) -> list[StepDurations]:
        found = []
        for kind, h in sorted(self._histograms.items()):
            running, buckets = 0, []
            for bound, count in zip(self.bounds, h.counts, strict=False):
                running += count
                buckets.append((bound, running))
            found.append(StepDurations(kind, tuple(buckets), sum(h.counts), h.total))
        return found

    def sent(self) -> list[SentBytes]:
        return [SentBytes(*key, total) for key, total in sorted(self._sent.items(), key=str)]
