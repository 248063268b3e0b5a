"""Snapshot steps: create (undo: destroy exactly what was made) and destroy (via the trash)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.tx.steps.lookup import (
    hand_on_guids,
    hand_on_made,
    objects_named,
    same,
    snapshots_below,
)
from zfsyncd.tx.steps.subtrees import split_recursive
from zfsyncd.tx.steps.trash import MovesToTrash
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode, ZfsBackend
from zfsyncd.zfs.errors import AlreadyExistsError
from zfsyncd.zfs.models import Properties, SnapshotName


class CreateSnapshotsArgs(OnHost):
    snapshots: tuple[SnapshotName, ...] = Field(min_length=1)
    recursive: bool = False
    properties: Properties = Field(default_factory=dict)

    @field_validator("snapshots")
    @classmethod
    def _one_pool(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # `zfs snapshot` is atomic within one pool only; across pools it would be two steps
        if len({names.pool_of(s) for s in value}) != 1:
            raise ValueError("one snapshot step covers one pool (zfs snapshot is atomic per pool)")
        return value


@register
class CreateSnapshots(Step[CreateSnapshotsArgs]):
    kind = "create-snapshots"
    Args = CreateSnapshotsArgs

    def describe(self) -> str:
        r = " recursively" if self.args.recursive else ""
        return f"snapshot {', '.join(self.args.snapshots)}{r}"

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(s)) for s in self.args.snapshots}

    async def check(self, ctx: StepContext) -> bool:
        zfs = ctx.host(self.args.host).zfs
        found = await objects_named(zfs, self.args.snapshots)
        return all(s in found for s in self.args.snapshots)

    async def _made(
        self, zfs: ZfsBackend, handed: dict[object, Any] | None = None
    ) -> dict[str, int]:
        """Every snapshot that carries one of our names (with -r, in the descendants too):
        one `zfs list`. The names hold the transaction id, so what exists under them is ours.
        With `handed`, the listing is left for the next step (a hold of them reads the same)."""
        if self.args.recursive:
            below = await snapshots_below(zfs, self.args.snapshots, handed=handed, hand_on=True)
            return {name: obj.guid for name, obj in below.items()}
        found = await objects_named(zfs, self.args.snapshots)
        return {name: obj.guid for name, obj in found.items()}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        try:
            # one command where zfs has channel programs: the snapshots and their guids
            made = await zfs.snapshot_guids(
                self.args.snapshots, recursive=self.args.recursive, properties=self.args.properties
            )
        except AlreadyExistsError:
            # an earlier attempt made them (a retry after a lost answer): the snapshot is
            # all or nothing within a pool and the names hold the transaction id, so a
            # reading tells; no reading before the command
            made = await self._made(zfs, ctx.handed)
            if not all(s in made for s in self.args.snapshots):
                raise
            return {"made": made}
        # what it made is all that a recursive command on these names reaches now (any
        # other of these names would have refused it): the next step's reading of them
        hand_on_made(ctx.handed, zfs, self.args.snapshots, made)
        hand_on_guids(ctx.handed, zfs, made)  # for a bookmark step after it (replica sync)
        return {"made": made}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        made: dict[str, int] | None = undo_data.get("made")
        if not made:
            made = await self._made(zfs)
            if self.args.recursive and not any(s in made for s in self.args.snapshots):
                # no record of what `do` made (it failed, or a crash cut it off), and none of
                # the names it was given exists: it made nothing, since the call makes them
                # all or none (a program that fails part-way has made the first name given
                # first). What has the name below them is not its own: a name taken below
                # is the call's refusal, which no plan reading prevents (ops/snapshot.py)
                return
        if not made:
            return
        below = await snapshots_below(zfs, list(made))
        # only what is still the snapshot made (a guid guard), with -r where that reaches
        # nothing else; children first, the reverse of the order they came in
        ours = [name for name, guid in made.items() if same(below, name, guid)]
        tops, singles = split_recursive(ours, below)
        for snap in sorted(singles, key=lambda name: name.count("/"), reverse=True):
            await zfs.destroy(snap)
        for top in tops:
            await zfs.destroy(top, mode=DestroyMode.RECURSIVE)

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        return DestroySnapshots(
            DestroySnapshotsArgs(host=self.args.host, snapshots=undo_data["made"])
        )


class DestroySnapshotsArgs(OnHost):
    #: snapshot -> the guid it must still have (None: whatever it is now)
    snapshots: dict[SnapshotName, int | None] = Field(min_length=1)


@register
class DestroySnapshots(MovesToTrash[DestroySnapshotsArgs]):
    """Moves the snapshots to trash names; they are destroyed when the transaction completes."""

    kind = "destroy-snapshots"
    Args = DestroySnapshotsArgs

    def describe(self) -> str:
        return f"destroy {', '.join(self.args.snapshots)}"

    def targets(self) -> dict[str, int | None]:
        return dict(self.args.snapshots)
