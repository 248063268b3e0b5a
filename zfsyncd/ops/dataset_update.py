"""The dataset-update transaction (issue 12, seed 000's sync pattern): a dataset's contents
replaced by a directory's, so that readers see the old contents or the new, never a mix.

Steps:
  1. `zfs snapshot fs@zfsync_<tx>`: the baseline, the old contents (it stays, the newest
     of the dataset's snapshots; every earlier one stays reachable as well);
  2. `zfs clone -o <fs's local properties> -o mountpoint=/run/zfsync/fill/<tx>` of the
     baseline as `parent/zfsync_rollback_<tx>_<name>` (the swap's own clone name, see
     below), mounted where only the daemon looks (why: zfsyncd/tx/steps/fill.py);
  3. rsync DIR/ into the clone (`--delete`; an excluded path is neither copied nor
     deleted: what the dataset had there stays, as rsync's --delete leaves excluded files);
  4. the swap of rollback-dataset (zfsyncd/tx/steps/zfs_rollback.py, `clone_made`): promote
     the clone (it takes every snapshot up to the baseline, guids and holds with them),
     unmount the old dataset, rename it to the trash, rename the clone into its place, give
     it the old one's mountpoint (which mounts it there).
Readers of the mountpoint see the old dataset until step 4 unmounts it, then the new one;
between the two the path shows what is under it (the parent's directory), for the time of
two renames: never a tree rsync is writing to.
Finalize (once completed): `zfs destroy -r` of the old dataset in the trash. ZFS may refuse
(busy: a process still holds a file of it open); that goes to the deferred-cleanup queue,
retried with a growing delay without anyone asking (`zfsyncctl transaction cleanup`).
Undo (failure, cancel, crash): the swap taken back (the old dataset at its name, its
mountpoint, promoted back), the clone destroyed, the baseline destroyed: names, guids,
properties and contents as before. Once completed the update is final like a dataset
rollback (its old dataset is destroyed at finalize); `dataset rollback fs@zfsync_<tx>`
brings the old contents back, from the baseline.

Refused (at plan time, and again by the swap's capture) for what the swap refuses: child
datasets, encryption, received properties, a legacy mountpoint, a partial receive, a volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zfsyncd.api.names import Action
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps.base import Step
from zfsyncd.tx.steps.datasets import CloneArgs, CloneSnapshot
from zfsyncd.tx.steps.fill import (
    AbsolutePath,
    ExcludePattern,
    FillArgs,
    FillFromDirectory,
    fill_mountpoint,
    is_directory,
)
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs
from zfsyncd.tx.steps.zfs_rollback import NOT_CLONED, RollbackArgs, RollbackDataset
from zfsyncd.tx.steps.zfs_rollback_refusal import (
    MOUNTPOINT,
    RollbackFacts,
    clone_name,
    read_dataset_facts,
    swap_refusal,
)
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import DatasetName, ObjectType

SNAPSHOT_PREFIX = "zfsync_"
CANMOUNT = "canmount"
#: excludes one update may name (each is one rsync argument)
MAX_EXCLUDES = 256


class UpdateRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the dataset whose contents are replaced; it must exist
    dataset: DatasetName
    #: the directory whose contents it gets (on this machine)
    source: AbsolutePath
    #: rsync patterns neither copied nor deleted
    excludes: tuple[ExcludePattern, ...] = Field(default=(), max_length=MAX_EXCLUDES)


@dataclass(frozen=True)
class UpdateFacts:
    #: the dataset's pool and what the swap decides from
    swap: RollbackFacts
    #: the dataset's local properties (the clone gets them)
    local: dict[str, str] = field(default_factory=dict)
    source_is_dir: bool = True


async def read_facts(zfs: ZfsBackend, request: UpdateRequest) -> UpdateFacts:
    """Four zfs commands (the swap's three and the local properties), and a stat."""
    swap = await read_dataset_facts(zfs, request.dataset)
    found = swap.listing.get(request.dataset)
    local: dict[str, str] = {}
    if found is not None and found.type is ObjectType.FILESYSTEM:
        local = await zfs.local_properties(request.dataset)
    return UpdateFacts(swap, local, await is_directory(request.source))


def describe(request: UpdateRequest) -> str:
    without = f" without {', '.join(request.excludes)}" if request.excludes else ""
    return f"replace the contents of {request.dataset} by {request.source}{without}"


def decide(request: UpdateRequest, facts: UpdateFacts, tx_id: str) -> Plan:
    """The four steps, or PlanError with the reason it is refused."""
    dataset = request.dataset
    found = facts.swap.listing.get(dataset)
    if found is None:
        raise MissingObjectError(f"{dataset} does not exist: `dataset init` makes one")
    problem = swap_refusal(dataset, facts.swap, tx_id)
    if problem is not None:
        raise PlanError(problem)
    baseline = f"{dataset}@{SNAPSHOT_PREFIX}{tx_id}"
    if baseline in facts.swap.listing:
        raise PlanError(f"snapshot {baseline} already exists")
    if not facts.source_is_dir:
        raise MissingObjectError(f"{request.source} is not a directory")
    if facts.local.get(CANMOUNT, "on") != "on":
        # the clone gets the dataset's local properties: it would not mount to be filled
        raise PlanError(
            f"{dataset} has canmount={facts.local[CANMOUNT]}: its clone could not be mounted "
            "to be filled"
        )
    clone, private = clone_name(dataset, tx_id), fill_mountpoint(tx_id)
    props = {p: v for p, v in facts.local.items() if p not in NOT_CLONED}
    steps: list[Step[Any]] = [
        CreateSnapshots(CreateSnapshotsArgs(snapshots=(baseline,))),
        CloneSnapshot(
            CloneArgs(snapshot=baseline, target=clone, properties={**props, MOUNTPOINT: private})
        ),
        FillFromDirectory(
            FillArgs(
                dataset=clone, source=request.source, mountpoint=private, excludes=request.excludes
            )
        ),
        # the dataset as it is now, not one made under its name later
        RollbackDataset(RollbackArgs(snapshot=baseline, guid=found.guid, clone_made=True)),
    ]
    return Plan(steps=steps, description=describe(request))


class DatasetUpdateKind(RequestKind[UpdateRequest]):
    name = "dataset-update"
    action = Action.MANAGE
    request = UpdateRequest
    method = BusMethod("DatasetUpdate", positional=("dataset", "source"))

    def summary(self, request: UpdateRequest) -> str:
        return describe(request)

    def targets(self, request: UpdateRequest) -> set[str]:
        return {request.dataset}

    async def plan_request(self, ctx: PlanContext, request: UpdateRequest) -> Plan:
        facts = await read_facts(ctx.host(LOCAL).zfs, request)
        return decide(request, facts, ctx.tx_id)


DATASET_UPDATE = register_kind(DatasetUpdateKind())
