"""Snapshot steps: create (undo: destroy exactly what was made) and destroy (via the trash)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.tx.steps.lookup import guid_of, is_same
from zfsyncd.tx.steps.trash import MovesToTrash
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ObjectType, Properties, SnapshotName


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
        return all([await guid_of(zfs, s) is not None for s in self.args.snapshots])

    async def _made(self, zfs: ZfsBackend) -> dict[str, int]:
        """Every snapshot that carries one of our names (with -r, in the descendants too).
        The names hold the transaction id, so what exists under them is ours."""
        made: dict[str, int] = {}
        for snap in self.args.snapshots:
            if not self.args.recursive:
                guid = await guid_of(zfs, snap)
                if guid is not None:
                    made[snap] = guid
                continue
            short = names.short_name(snap)
            dataset = names.dataset_of(snap)
            if await guid_of(zfs, dataset) is None:
                continue
            for obj in await zfs.list(dataset, types=[ObjectType.SNAPSHOT]):
                if obj.short_name == short:
                    made[obj.name] = obj.guid
        return made

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs = ctx.host(self.args.host).zfs
        if not await self.check(ctx):
            await zfs.snapshot(
                self.args.snapshots, recursive=self.args.recursive, properties=self.args.properties
            )
        return {"made": await self._made(zfs)}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        made: dict[str, int] = undo_data.get("made") or await self._made(zfs)
        # children first, so that a recursive set goes in the reverse order it came
        for snap, guid in sorted(made.items(), key=lambda item: item[0].count("/"), reverse=True):
            if await is_same(zfs, snap, guid):
                await zfs.destroy(snap)

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
