"""Per-dataset locks, a priority queue, and a limit on how many transactions run at once.

A dataset is in at most one active transaction. Datasets conflict when one is the other or
lies below it: a recursive snapshot of `tank/a` and a rename of `tank/a/b` must not run
together. A request that cannot be granted either fails at once, naming the dataset and the
transaction that holds it, or waits in a queue ordered by priority (higher first), then by
arrival. A waiting request is never overtaken by a lower-priority one it conflicts with, so
a stream of small requests cannot starve a large one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from zfsyncd.tx.errors import DatasetBusyError
from zfsyncd.zfs import names

__all__ = ["DatasetBusyError", "DatasetLocks", "conflicts"]


def conflicts(a: str, b: str) -> bool:
    """Do two lock keys overlap (the same dataset, or one inside the other)?"""
    return names.is_descendant(a, b) or names.is_descendant(b, a)


@dataclass(order=True)
class _Waiter:
    order: tuple[int, int]
    tx_id: str = field(compare=False)
    datasets: frozenset[str] = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class DatasetLocks:
    def __init__(self, max_parallel: int = 4) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.max_parallel = max_parallel
        self._held: dict[str, frozenset[str]] = {}  # tx id -> its lock keys
        self._waiting: list[_Waiter] = []
        self._arrival = itertools.count()

    def holders(self) -> dict[str, frozenset[str]]:
        return dict(self._held)

    def holder_of(self, dataset: str) -> str | None:
        for tx_id, keys in self._held.items():
            if any(conflicts(dataset, k) for k in keys):
                return tx_id
        return None

    def waiting(self) -> list[str]:
        return [w.tx_id for w in sorted(self._waiting)]

    def blocked(self, datasets: Iterable[str]) -> bool:
        """Is one of `datasets` held, or awaited by an earlier request?"""
        keys = frozenset(datasets)
        return self._blocker(keys) is not None or self._waiter_blocking(keys) is not None

    def can_grant(self, datasets: Iterable[str]) -> bool:
        """Would a request for `datasets` be granted at once (no conflict, a free slot)?"""
        return len(self._held) < self.max_parallel and not self.blocked(datasets)

    def _blocker(self, datasets: Iterable[str]) -> tuple[str, str] | None:
        """The first (dataset, holding transaction) that stands in the way, if any."""
        for dataset in sorted(datasets):
            holder = self.holder_of(dataset)
            if holder is not None:
                return dataset, holder
        return None

    async def acquire(
        self, tx_id: str, datasets: Iterable[str], *, priority: int = 0, wait: bool = True
    ) -> None:
        """Lock `datasets` for `tx_id`; returns once granted. Release with `release(tx_id)`."""
        keys = frozenset(datasets)
        if tx_id in self._held or any(w.tx_id == tx_id for w in self._waiting):
            raise RuntimeError(f"transaction {tx_id} already holds or awaits its locks")
        if not wait:
            blocker = self._blocker(keys) or self._waiter_blocking(keys)
            if blocker is not None:
                raise DatasetBusyError(blocker[0], blocker[1], tx_id)
        waiter = _Waiter(
            order=(-priority, next(self._arrival)),
            tx_id=tx_id,
            datasets=keys,
            granted=asyncio.get_running_loop().create_future(),
        )
        self._waiting.append(waiter)
        self._grant()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            elif waiter.granted.done() and not waiter.granted.cancelled():
                self.release(tx_id)  # granted in the same instant the caller gave up
            self._grant()
            raise

    def _waiter_blocking(self, keys: frozenset[str]) -> tuple[str, str] | None:
        for w in self._waiting:
            for key in keys:
                if any(conflicts(key, k) for k in w.datasets):
                    return key, w.tx_id
        return None

    def release(self, tx_id: str) -> None:
        """Give back a transaction's locks (a no-op if it holds none)."""
        if self._held.pop(tx_id, None) is not None:
            self._grant()

    def _grant(self) -> None:
        passed_over: list[frozenset[str]] = []
        for waiter in sorted(self._waiting):
            if len(self._held) >= self.max_parallel:
                return
            overtakes = any(
                conflicts(a, b) for keys in passed_over for a in waiter.datasets for b in keys
            )
            if overtakes or self._blocker(waiter.datasets) is not None:
                passed_over.append(waiter.datasets)
                continue
            self._waiting.remove(waiter)
            self._held[waiter.tx_id] = waiter.datasets
            if not waiter.granted.done():
                waiter.granted.set_result(None)
