"""The migration transaction (`migrate`): a directory-snapshot history into a ZFS dataset.

Planning reads the source (sources.py) and the dataset's migrated snapshots (two `zfs
list`s), and a pure function (`decide`) makes the steps:

- a new dataset (init pattern, seed 000): create `PARENT/zfsync_migrate_<tx>_<NAME>`,
  mounted at the private `/run/zfsync/fill/<tx>` (tx/steps/fill.py), then for each source
  snapshot a copy (rsync + manifest, copy_step.py) and a ZFS snapshot with the source's
  number, date and description; then rename it to `PARENT/NAME` and let it inherit its
  mountpoint (one step, tx/steps/datasets.py `RenameAndSet`: one reading of the guid and
  the mountpoint before both). A failure, a cancel or a crash (recovery undoes) leaves no
  dataset at all: the undo destroys the temporary one. Readers never see a history being
  built under the real name.
- an existing one whose snapshots are the source's first ones (a `--limit` run, or one
  that stopped after some runs): the copies and snapshots of the rest, in the dataset
  itself; the undo takes the new snapshots away and rolls the tree back to the snapshot it
  had (`zfs rollback` to its newest: nothing else of it changes, no guid).
- nothing left: no step (a batch run again migrates nothing twice).

So a stopped migration continues where its last completed run ended: run it in chunks
(`--limit`) to keep what a crash would undo small. Each step's zfs commands are constant:
the copy none where the mount table shows the new dataset at its private mountpoint (else
one `zfs get`), the snapshot one `zfs program` (snapshot, properties and guid).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.api.names import Action
from zfsyncd.ops.migration import history
from zfsyncd.ops.migration.copy_step import CopySnapshot, CopySnapshotArgs
from zfsyncd.ops.migration.history import HistoryError
from zfsyncd.ops.migration.sources import SourceError, SourceSnapshot, read_source
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.datasets import (
    CreateDataset,
    CreateDatasetArgs,
    RenameAndSet,
    RenameAndSetArgs,
)
from zfsyncd.tx.steps.fill import fill_mountpoint
from zfsyncd.tx.steps.pools import DATASET_TYPES
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs
from zfsyncd.tx.steps.zfs_rollback_refusal import sibling_name
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import InvalidNameError
from zfsyncd.zfs.models import DatasetName, ObjectType

#: the most source snapshots one run migrates (a plan of 3 steps each; GetTransaction's
#: reply is bounded for 2,000 steps: api/limits.py)
MAX_SNAPSHOTS_PER_RUN = 600
TEMP_PREFIX = "zfsync_migrate_"


class MigrateRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the source: a snapper-managed subvolume, or a directory of snapshot directories
    source: str = Field(min_length=1, max_length=4096)
    #: the dataset that receives the history (its parent must exist)
    dataset: DatasetName
    #: migrate the first N source snapshots in all (0: all of them)
    limit: int = Field(default=0, ge=0, le=1_000_000)

    @field_validator("source")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or "\0" in value or "\n" in value:
            raise ValueError("the source must be an absolute path")
        return value


@dataclass(frozen=True)
class MigrateFacts:
    sources: tuple[SourceSnapshot, ...]
    parent_exists: bool
    dataset_exists: bool
    #: short names of the dataset's snapshots
    snapshots: tuple[str, ...]
    #: the source the dataset says it was migrated from ("": none said)
    migrated_from: str = ""
    #: the temporary name a new dataset is built under is taken (it never is: it carries
    #: the transaction's id; read in the same `zfs list`, so the create need not read it)
    temporary_exists: bool = False


def temporary_name(request: MigrateRequest, tx_id: str) -> str:
    """Where a new dataset is built (InvalidNameError when no such name fits)."""
    return sibling_name(request.dataset, TEMP_PREFIX, tx_id, what="migrated into")


async def read_facts(zfs: ZfsBackend, request: MigrateRequest, tx_id: str = "") -> MigrateFacts:
    """The source's snapshots, and one `zfs list` of the parent, the dataset and (with
    `tx_id`) the temporary name; a second of the dataset's snapshots if it exists."""
    try:
        sources = await asyncio.to_thread(read_source, Path(request.source))
    except (SourceError, OSError) as exc:
        raise PlanError(f"source {request.source}: {exc}") from None
    parent = names.parent_of(request.dataset)
    wanted = [p for p in (parent, request.dataset) if p]
    temp = None
    if parent is not None and tx_id:
        with contextlib.suppress(InvalidNameError):  # decide says so
            temp = temporary_name(request, tx_id)
            wanted.append(temp)
    listed = await zfs.list_many(
        wanted, types=DATASET_TYPES, user_properties=[history.MIGRATED_FROM]
    )
    found = {o.name: o for o in listed}
    shorts: tuple[str, ...] = ()
    origin = ""
    if request.dataset in found:
        snaps = await zfs.list(request.dataset, types=[ObjectType.SNAPSHOT], depth=1)
        shorts = tuple(o.short_name for o in snaps if o.dataset == request.dataset)
        origin = found[request.dataset].user_properties.get(history.MIGRATED_FROM, "")
    exists = request.dataset in found
    return MigrateFacts(tuple(sources), parent in found, exists, shorts, origin, temp in found)


def describe(request: MigrateRequest) -> str:
    limit = f", the first {request.limit} snapshots" if request.limit else ""
    return f"migrate {request.source} into {request.dataset}{limit}"


def decide(
    request: MigrateRequest, facts: MigrateFacts, tx_id: str, fill_root: str | None = None
) -> Plan:
    """The steps (module docstring); PlanError when it cannot be done."""
    if names.parent_of(request.dataset) is None:
        raise PlanError(f"{request.dataset} is a pool: a migration makes a dataset in one")
    if not facts.parent_exists:
        raise MissingObjectError(f"{names.parent_of(request.dataset)} does not exist")
    migrated = history.migrated_numbers(facts.snapshots)
    if facts.dataset_exists and not migrated:
        raise PlanError(f"{request.dataset} exists and holds no migrated snapshot")
    if facts.dataset_exists and facts.migrated_from not in ("", request.source):
        raise PlanError(
            f"{request.dataset} was migrated from {facts.migrated_from}, not {request.source}"
        )
    try:
        left = history.remaining(facts.sources, migrated, request.limit or None)
    except HistoryError as exc:
        raise PlanError(f"{request.dataset}: {exc}") from None
    if len(left) > MAX_SNAPSHOTS_PER_RUN:
        raise PlanError(
            f"{len(left)} snapshots to migrate; at most {MAX_SNAPSHOTS_PER_RUN} a run "
            f"(--limit: a later run continues where it ended)"
        )
    description = f"{describe(request)}: {len(left)} snapshots" + (
        f" after {migrated[-1]}" if migrated else ""
    )
    if not left:
        return Plan(steps=[], description=f"{describe(request)}: nothing left to migrate",
                    extra_datasets={request.dataset})  # fmt: skip
    # a new dataset is built beside its name (sibling_name checks the longer name now)
    target = request.dataset if facts.dataset_exists else temporary_name(request, tx_id)
    if not facts.dataset_exists and facts.temporary_exists:
        raise PlanError(f"{target} exists already")
    steps: list[Step[Any]] = []
    private = None
    if not facts.dataset_exists:
        # mounted where only zfsyncd looks while it is built (tx/steps/fill.py says why);
        # the plan found its name free (read_facts): the create reads it no more
        private = fill_mountpoint(tx_id, fill_root)
        props = {"mountpoint": private, history.MIGRATED_FROM: request.source}
        create = CreateDatasetArgs(name=target, properties=props, absent_in_plan=True)
        steps.append(CreateDataset(create))
    previous = migrated[-1] if migrated else None
    for source in left:
        copy = CopySnapshotArgs(
            dataset=target,
            source=str(source.path),
            number=source.number,
            previous=previous,
            mountpoint=private,
        )
        snap = f"{target}@{history.snapshot_short(source.number)}"
        made = CreateSnapshotsArgs(snapshots=(snap,), properties=history.properties(source))
        steps += [CopySnapshot(copy), CreateSnapshots(made)]
        previous = source.number
    if not facts.dataset_exists:
        # renamed first, then mounted where it belongs: readers never see it half built
        # (one step, one reading of the guid and the mountpoint before both)
        into_place = RenameAndSetArgs(
            old=target, new=request.dataset, properties={"mountpoint": None}
        )
        steps.append(RenameAndSet(into_place))
    return Plan(steps=steps, description=description, extra_datasets={request.dataset})


class MigrateKind(RequestKind[MigrateRequest]):
    name = "migrate"
    action = Action.MANAGE
    request = MigrateRequest
    method = BusMethod("Migrate", positional=("source", "dataset"))

    def summary(self, request: MigrateRequest) -> str:
        return describe(request)

    def targets(self, request: MigrateRequest) -> set[str]:
        return {request.dataset}

    async def plan_request(self, ctx: PlanContext, request: MigrateRequest) -> Plan:
        facts = await read_facts(ctx.host(LOCAL).zfs, request, ctx.tx_id)
        return decide(request, facts, ctx.tx_id)


MIGRATE = register_kind(MigrateKind())
