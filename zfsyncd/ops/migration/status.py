"""The reads of migrated datasets for the bus: `migrate status` (what is migrated, from
where, what is left) and `migrate validate` (validation.py's checks, run on the dataset's
tree and the source it records in `zfsync:migrated-from`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from zfsyncd.api.records import MigrationCheck, MigrationRow
from zfsyncd.files.mounts import MOUNTED, MOUNTPOINT
from zfsyncd.ops.migration import history
from zfsyncd.ops.migration.sources import SourceError, read_source
from zfsyncd.ops.migration.validation import Report, validate
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import DatasetName, ObjectType, ZfsObject

#: the most files `--sample` hashes (all of them: `--full`)
MAX_SAMPLE = 1_000_000


class MigrationQuery(BaseModel):
    """options of ListMigrations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: DatasetName | None = None


class ValidateOptions(BaseModel):
    """options of ValidateMigration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample: int = Field(default=100, ge=0, le=MAX_SAMPLE)
    full: bool = False


async def _migrated(zfs: ZfsBackend, dataset: str | None) -> list[ZfsObject]:
    props = [history.MIGRATED_FROM]
    if dataset is None:
        found = await zfs.list(None, types=[ObjectType.FILESYSTEM], user_properties=props)
    else:
        found = await zfs.list_many([dataset], types=[ObjectType.FILESYSTEM], user_properties=props)
    return [o for o in found if o.user_properties.get(history.MIGRATED_FROM)]


async def _snapshots(zfs: ZfsBackend, dataset: str) -> list[ZfsObject]:
    listed = await zfs.list(
        dataset, types=[ObjectType.SNAPSHOT], depth=1, user_properties=history.PROPERTIES
    )
    return [o for o in listed if history.number_of(o.short_name) is not None]


async def list_migrations(zfs: ZfsBackend, query: MigrationQuery) -> list[MigrationRow]:
    """One row per migrated dataset (one `zfs list` of the filesystems, one of each one's
    snapshots; the source is listed, not read)."""
    rows = []
    for found in await _migrated(zfs, query.dataset):
        source = found.user_properties[history.MIGRATED_FROM]
        snaps = await _snapshots(zfs, found.name)
        last = snaps[-1].user_properties if snaps else {}
        try:
            total = len(await asyncio.to_thread(read_source, Path(source)))
        except (SourceError, OSError):
            total = -1
        rows.append(MigrationRow(
            dataset=found.name, source=source, migrated=len(snaps),
            last_number=int(last.get(history.NUMBER, "0") or 0),
            last_date=last.get(history.DATE, ""), source_snapshots=total,
        ))  # fmt: skip
    return rows


async def validate_dataset(
    zfs: ZfsBackend, dataset: str, options: ValidateOptions
) -> list[MigrationCheck]:
    """validation.py's checks of `dataset` against the source it records."""
    found = await _migrated(zfs, dataset)
    if not found:
        raise MissingObjectError(f"{dataset} is not a migrated dataset (no zfsync:migrated-from)")
    try:
        props = await zfs.get_properties(dataset, [MOUNTED, MOUNTPOINT])
    except NotFoundError:
        raise MissingObjectError(f"{dataset} does not exist") from None
    if props[MOUNTED].value != "yes":
        raise PlanError(f"{dataset} is not mounted: its tree cannot be read")
    tree = Path(props[MOUNTPOINT].value or "/")
    source = found[0].user_properties[history.MIGRATED_FROM]
    numbers = [history.number_of(s.short_name) for s in await _snapshots(zfs, dataset)]
    migrated = [n for n in numbers if n is not None]

    def run() -> Report:
        sources = read_source(Path(source))
        return validate(
            tree, sources, migrated, sample=options.sample, full=options.full,
            snapshot_tree=lambda n: tree / ".zfs" / "snapshot" / history.snapshot_short(n),
        )  # fmt: skip

    try:
        report = await asyncio.to_thread(run)
    except SourceError as exc:
        raise PlanError(f"source {source}: {exc}") from None
    return [
        MigrationCheck(name=c.name, ok=c.ok, covered=c.covered, problems=c.problems[:20],
                       problem_count=len(c.problems))
        for c in report.checks
    ]  # fmt: skip
