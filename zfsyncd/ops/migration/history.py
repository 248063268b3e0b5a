"""The ZFS side of a history: how a migrated source snapshot is named and labelled, and
what is left to migrate given the ZFS snapshots already there.

A migrated snapshot is `DATASET@zfsync_migrate_<number, six digits>` (the prefix every
zfsyncd snapshot has; the number is the source's, so the names sort as the history does)
with the user properties `zfsync:source-number`, `zfsync:source-date` and
`zfsync:source-description`. What is there decides where a migration continues: the
numbers migrated must be the first ones of the source, in order (anything else is a
different history, refused); the rest follows, up to `--limit` in all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from zfsyncd.ops.migration.sources import SourceSnapshot

SNAPSHOT_PREFIX = "zfsync_migrate_"
NUMBER = "zfsync:source-number"
DATE = "zfsync:source-date"
DESCRIPTION = "zfsync:source-description"
PROPERTIES = (NUMBER, DATE, DESCRIPTION)
#: on the dataset: the source it was migrated from (`migrate validate` and `status` read it)
MIGRATED_FROM = "zfsync:migrated-from"
_SHORT = re.compile(rf"^{SNAPSHOT_PREFIX}(\d+)$")


class HistoryError(ValueError):
    """The dataset's snapshots are not a beginning of the source's history."""


def snapshot_short(number: int) -> str:
    return f"{SNAPSHOT_PREFIX}{number:06d}"


def number_of(short: str) -> int | None:
    """The source number a migrated snapshot's short name carries; None for another name."""
    found = _SHORT.match(short)
    return int(found.group(1)) if found else None


def properties(source: SourceSnapshot) -> dict[str, str]:
    """The user properties of its ZFS snapshot (ZFS refuses an empty value: "-" stands for
    a source that has none)."""
    return {NUMBER: str(source.number), DATE: source.date or "-",
            DESCRIPTION: _printable(source.description) or "-"}  # fmt: skip


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def migrated_numbers(shorts: Iterable[str]) -> list[int]:
    """The source numbers of the migrated snapshots among these short names, in order."""
    return sorted(n for n in map(number_of, shorts) if n is not None)


def remaining(
    sources: Sequence[SourceSnapshot], migrated: Sequence[int], limit: int | None = None
) -> list[SourceSnapshot]:
    """The source snapshots still to migrate, in order: those after the ones migrated, so
    that `limit` are migrated in all (None: all of them). HistoryError when what is
    migrated is not the source's first snapshots."""
    numbers = [s.number for s in sources]
    done = sorted(migrated)
    unknown = sorted(set(done) - set(numbers))
    if unknown:
        raise HistoryError(f"the dataset has source snapshot {unknown[0]}, the source has not")
    if done != numbers[: len(done)]:
        gap = next(n for n, d in zip(numbers, done, strict=False) if n != d)
        raise HistoryError(f"source snapshot {gap} is not in the dataset, later ones are")
    left = list(sources[len(done) :])
    if limit is not None:
        left = left[: max(0, limit - len(done))]
    return left
