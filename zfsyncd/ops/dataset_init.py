"""The dataset-init transaction (issue 12, seed 000's init pattern): a new dataset whose
contents are a directory's, appearing at its name whole or not at all.

Steps (every one with an inverse; nothing is ever visible at DATASET half-filled):
  1. `zfs create -o mountpoint=/run/zfsync/fill/<tx> parent/zfsync_init_<tx>_<name>`: the
     temporary dataset, named after the transaction (so "it exists" means "we made it":
     the plan found the name free, so the step reads it neither before nor after),
     mounted where only the daemon looks (why there: zfsyncd/tx/steps/fill.py);
  2. rsync DIR/ into its mount (`-aHAX --numeric-ids --delete`);
  3. `zfs snapshot` of it, `@zfsync_<tx>`: the contents as they were copied;
  4. `zfs rename` to DATASET (the one moment it appears, whole), then its mountpoint:
     inherited (where ZFS mounts DATASET by its name) or the one asked for (one step,
     `RenameAndSet`: one reading of the guid and the mountpoint before both, as the
     migration ends).
Undo (a failure, a cancel, a crash): the reverse, which ends in destroying the temporary
dataset. Once completed, `transaction rollback` takes it all back the same way (the dataset
goes through the trash, destroyed when that rollback completed).

Planning reads the dataset, its parent and the temporary name in one `zfs list`, and
whether DIR is a directory; `decide` refuses from that alone (tables in tests/unit/ops/).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from zfsyncd.api.names import Action
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.kinds import BusMethod, Plan, PlanContext, RequestKind, register_kind
from zfsyncd.tx.steps.datasets import (
    CreateDataset,
    CreateDatasetArgs,
    RenameAndSet,
    RenameAndSetArgs,
)
from zfsyncd.tx.steps.fill import (
    AbsolutePath,
    FillArgs,
    FillFromDirectory,
    fill_mountpoint,
    is_directory,
)
from zfsyncd.tx.steps.pools import LISTED_TYPES, Listing
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs
from zfsyncd.tx.steps.zfs_rollback_refusal import sibling_name
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import InvalidNameError
from zfsyncd.zfs.models import DatasetName, ObjectType

INIT_PREFIX = "zfsync_init_"
SNAPSHOT_PREFIX = "zfsync_"
MOUNTPOINT = "mountpoint"


def temporary_name(dataset: str, tx_id: str) -> str:
    """The dataset while it is filled: under the same parent, it inherits what it will."""
    return sibling_name(dataset, INIT_PREFIX, tx_id, what="made")


class InitRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the dataset to make; it must not exist, its parent must
    dataset: DatasetName
    #: the directory whose contents it gets (on this machine)
    source: AbsolutePath
    #: its mountpoint once in place; None: inherited (where ZFS mounts it by its name)
    mountpoint: AbsolutePath | None = None


@dataclass(frozen=True)
class InitFacts:
    #: the dataset, its parent and the temporary name, those that exist
    listing: Listing
    #: whether the source is a directory now
    source_is_dir: bool


async def read_facts(zfs: ZfsBackend, request: InitRequest, tx_id: str) -> InitFacts:
    """One `zfs list` of the three names, and a stat of the source."""
    wanted = [request.dataset]
    parent = names.parent_of(request.dataset)
    if parent is not None:
        wanted.append(parent)
        with contextlib.suppress(InvalidNameError):  # decide says so
            wanted.append(temporary_name(request.dataset, tx_id))
    found = await zfs.list_many(wanted, types=LISTED_TYPES)
    return InitFacts({o.name: o for o in found}, await is_directory(request.source))


def describe(request: InitRequest) -> str:
    return f"make {request.dataset} from {request.source}"


def decide(request: InitRequest, facts: InitFacts, tx_id: str) -> Plan:
    """The four steps, or PlanError with the reason it is refused."""
    dataset, listing = request.dataset, facts.listing
    if dataset in listing:
        raise PlanError(f"{dataset} exists already: `dataset update` replaces the contents of one")
    parent = names.parent_of(dataset)
    if parent is None:
        raise PlanError(f"{dataset} is a pool: a pool's root dataset cannot be made")
    found = listing.get(parent)
    if found is None:
        raise MissingObjectError(f"parent dataset {parent} does not exist")
    if found.type is not ObjectType.FILESYSTEM:
        raise PlanError(f"{parent} is a {found.type.value}: only a filesystem has children")
    try:
        temp = temporary_name(dataset, tx_id)
    except InvalidNameError as exc:
        raise PlanError(str(exc)) from None
    if temp in listing:
        raise PlanError(f"{temp} exists already")
    if not facts.source_is_dir:
        raise MissingObjectError(f"{request.source} is not a directory")
    private = fill_mountpoint(tx_id)
    snapshot = f"{temp}@{SNAPSHOT_PREFIX}{tx_id}"
    # the plan read the temporary name and found it free: the create reads it no more
    create = CreateDatasetArgs(name=temp, properties={MOUNTPOINT: private}, absent_in_plan=True)
    into_place = RenameAndSetArgs(
        old=temp, new=dataset, properties={MOUNTPOINT: request.mountpoint}
    )
    steps = [
        CreateDataset(create),
        FillFromDirectory(FillArgs(dataset=temp, source=request.source, mountpoint=private)),
        CreateSnapshots(CreateSnapshotsArgs(snapshots=(snapshot,))),
        RenameAndSet(into_place),
    ]
    return Plan(steps=steps, description=describe(request))


class DatasetInitKind(RequestKind[InitRequest]):
    name = "dataset-init"
    action = Action.MANAGE
    request = InitRequest
    method = BusMethod("DatasetInit", positional=("dataset", "source"))

    def summary(self, request: InitRequest) -> str:
        return describe(request)

    def targets(self, request: InitRequest) -> set[str]:
        return {request.dataset}

    async def plan_request(self, ctx: PlanContext, request: InitRequest) -> Plan:
        facts = await read_facts(ctx.host(LOCAL).zfs, request, ctx.tx_id)
        return decide(request, facts, ctx.tx_id)


DATASET_INIT = register_kind(DatasetInitKind())
