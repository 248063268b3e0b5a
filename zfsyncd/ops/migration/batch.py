"""Many repositories, N at a time: one `migrate` transaction per repository, `workers` of
them running at once. What the seed did with lock files the engine does with its dataset
locks (a transaction holds its dataset's lock while it runs, and a lock held by a process
that died is gone with it: no stale lock can block a run), and a repository whose history
is all there plans no step, so running a batch again migrates nothing twice.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.zfs.models import DatasetName

MAX_REPOSITORIES = 10_000


class BatchEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    dataset: DatasetName
    limit: int = Field(default=0, ge=0)


class BatchConfig(BaseModel):
    """`migrate batch CONFIG`: a TOML file with `workers = N` and one `[[repository]]`
    table per repository (`source`, `dataset`, optionally `limit`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workers: int = Field(default=2, ge=1, le=64)
    repository: tuple[BatchEntry, ...] = Field(min_length=1, max_length=MAX_REPOSITORIES)

    @field_validator("repository")
    @classmethod
    def _distinct(cls, value: tuple[BatchEntry, ...]) -> tuple[BatchEntry, ...]:
        datasets = [e.dataset for e in value]
        if len(set(datasets)) != len(datasets):
            raise ValueError("a dataset is named twice")
        return value


def load_config(path: Path) -> BatchConfig:
    with path.open("rb") as handle:
        return BatchConfig.model_validate(tomllib.load(handle))


T = TypeVar("T")


@dataclass(frozen=True)
class BatchOutcome(Generic[T]):
    entry: BatchEntry
    result: T | None
    error: str | None = None


async def run_batch(
    entries: Sequence[BatchEntry],
    workers: int,
    migrate: Callable[[BatchEntry], Awaitable[T]],
) -> list[BatchOutcome[T]]:
    """`migrate` each entry, `workers` at a time, in order of the list; every outcome (a
    failure of one is its own: the others go on), in the order of the entries."""
    slots = asyncio.Semaphore(workers)

    async def one(entry: BatchEntry) -> BatchOutcome[T]:
        async with slots:
            try:
                return BatchOutcome(entry, await migrate(entry))
            except Exception as exc:  # one repository's failure is reported, not raised
                return BatchOutcome(entry, None, str(exc) or type(exc).__name__)

    return list(await asyncio.gather(*(one(e) for e in entries)))
