"""Taking back what a completed send|recv received (the inverse of send-receive-many, for
the rollback of a replica sync): the destination goes back to the base it had before.

Destroying the received snapshots alone would not do: an incremental receive moved the
dataset's head on, so without them the destination would count as written since its
newest snapshot, and the next sync would refuse it as diverged. A plain `zfs rollback -r
DST@base` does both at once but cannot be taken back if a later step of the rollback
fails; the clone/promote swap of rollback-dataset can, but gives the destination a new
guid and refuses received properties and child datasets, which a replica (`init -R`) has.
So this step destroys through the trash, as destroy-snapshots does:

do       renames the received snapshots to trash names (`zfs rename`, -r where it reaches
         exactly its own): the dataset keeps its guid, its head and its properties;
undo     renames them back (nothing else changed);
finalize (once the rollback transaction completed) destroys them and rolls each dataset
         that received something back to the base, its newest snapshot again
         (`zfs rollback`, no -r: nothing newer is left to destroy, and when something
         newer is there, the rollback is not done: that is not ours to destroy).

A destination changed since (snapshots the send did not bring, data written after them,
a partial receive) is refused at plan time (`refusal`), so nothing written by another
hand is taken back with it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from zfsyncd.tx.hosts import LOCAL, located
from zfsyncd.tx.steps.base import JsonDict, OnHost, StepContext, register
from zfsyncd.tx.steps.trash import MovesToTrash
from zfsyncd.zfs import names
from zfsyncd.zfs.models import DatasetName, ObjectType, SnapshotName, ZfsObject

_DATASETS = (ObjectType.FILESYSTEM, ObjectType.VOLUME)


class TakeBackArgs(OnHost):
    #: the received snapshots -> their guids, oldest first per dataset
    snapshots: dict[SnapshotName, int] = Field(min_length=1)
    #: each dataset that received one -> the snapshot its head goes back to
    bases: dict[DatasetName, SnapshotName] = Field(min_length=1)

    @model_validator(mode="after")
    def _based(self) -> TakeBackArgs:
        for snap in self.snapshots:
            if names.dataset_of(snap) not in self.bases:
                raise ValueError(f"{snap}: its dataset has no base to go back to")
        for dataset, base in self.bases.items():
            if names.dataset_of(base) != dataset:
                raise ValueError(f"{base} is not a snapshot of {dataset}")
        return self


@register
class TakeBackReceived(MovesToTrash[TakeBackArgs]):
    kind = "take-back-received"
    Args = TakeBackArgs

    def describe(self) -> str:
        where = "" if self.args.host == LOCAL else f" on {self.args.host}"
        back = ", ".join(self.args.bases.values())
        return f"take back {', '.join(self.args.snapshots)}{where} (back at {back})"

    def targets(self) -> dict[str, int | None]:
        return dict(self.args.snapshots)

    def datasets(self) -> set[str]:
        return {located(self.args.host, d) for d in self.args.bases}

    async def refusal(self, ctx: StepContext) -> str | None:
        zfs = ctx.host(self.args.host).zfs
        # "written to since" decides: the pools' pending writes counted first
        await zfs.settle(sorted({names.pool_of(d) for d in self.args.bases}))
        listed = await zfs.list_many(
            sorted(self.args.bases),
            types=[*_DATASETS, ObjectType.SNAPSHOT],
            recursive=True,
            written=True,
        )
        return changed_since(self.args, listed)

    async def finalize(self, ctx: StepContext, undo_data: JsonDict) -> None:
        await super().finalize(ctx, undo_data)
        zfs = ctx.host(self.args.host).zfs
        listed = await zfs.list_many(
            sorted(self.args.bases), types=[ObjectType.SNAPSHOT], recursive=True
        )
        newest = {o.dataset: o.name for o in listed if o.dataset in self.args.bases}
        for dataset, base in sorted(self.args.bases.items()):
            if newest.get(dataset) == base:
                await zfs.rollback(base)

    def why_final(self) -> str:
        return f"{self.describe()}: what is destroyed cannot be brought back"


def changed_since(args: TakeBackArgs, listed: list[ZfsObject]) -> str | None:
    """Why the datasets of `args` are not as the send left them (`listed`: them and their
    snapshots, oldest first, with `written`), or None: each still has its base, then
    exactly the received snapshots, nothing written after them, no partial receive."""
    problems: list[str] = []
    after: dict[str, list[ZfsObject]] = {d: [] for d in args.bases}
    seen_base: set[str] = set()
    for obj in listed:
        dataset = obj.dataset
        if dataset not in args.bases:
            continue
        if obj.type is ObjectType.SNAPSHOT:
            if obj.name == args.bases[dataset]:
                seen_base.add(dataset)
                after[dataset] = []
            else:
                after[dataset].append(obj)
            continue
        if obj.receive_resume_token:
            problems.append(f"{dataset} has a partial receive")
        if obj.written:
            problems.append(f"{dataset} was written to after its newest snapshot")
    for dataset, base in sorted(args.bases.items()):
        if dataset not in seen_base:
            problems.append(f"{base} is gone")
            continue
        wanted = {n: g for n, g in args.snapshots.items() if names.dataset_of(n) == dataset}
        found = {o.name: o.guid for o in after[dataset]}
        other = sorted(n for n in found if wanted.get(n) != found[n])
        if other:
            problems.append(f"{dataset} has snapshots the sync did not bring: {', '.join(other)}")
        missing = sorted(n for n in wanted if n not in found)
        if missing:
            problems.append(f"{dataset} lost what the sync brought: {', '.join(missing)}")
    if not problems:
        return None
    return "the destination changed since: " + "; ".join(problems)
