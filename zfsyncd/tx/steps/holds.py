"""Hold and release steps: each other's inverse."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import HoldTag, SnapshotName


class HoldArgs(OnHost):
    tag: HoldTag
    snapshots: tuple[SnapshotName, ...] = Field(min_length=1)


class _OnSnapshots(Step[HoldArgs]):
    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(s)) for s in self.args.snapshots}

    def _zfs(self, ctx: StepContext) -> ZfsBackend:
        return ctx.host(self.args.host).zfs

    async def _tagged(self, ctx: StepContext) -> list[str]:
        """Those of the snapshots that exist and carry the hold's tag now."""
        zfs, tagged = self._zfs(ctx), []
        for snap in self.args.snapshots:
            try:
                holds = await zfs.holds(snap)
            except NotFoundError:
                continue
            if any(h.tag == self.args.tag for h in holds):
                tagged.append(snap)
        return tagged


@register
class HoldSnapshots(_OnSnapshots):
    kind = "hold"
    Args = HoldArgs

    def describe(self) -> str:
        return f"hold {', '.join(self.args.snapshots)} with tag {self.args.tag}"

    async def check(self, ctx: StepContext) -> bool:
        return len(await self._tagged(ctx)) == len(self.args.snapshots)

    async def capture(self, ctx: StepContext) -> JsonDict:
        # a hold that was there before is not ours to release
        return {"had": await self._tagged(ctx)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        missing = [s for s in self.args.snapshots if s not in await self._tagged(ctx)]
        if missing:
            await self._zfs(ctx).hold(self.args.tag, missing)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        ours = [s for s in await self._tagged(ctx) if s not in undo_data.get("had", [])]
        if ours:
            await self._zfs(ctx).release(self.args.tag, ours)

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        placed = tuple(s for s in self.args.snapshots if s not in undo_data.get("had", []))
        return ReleaseSnapshots(
            HoldArgs(
                host=self.args.host, tag=self.args.tag, snapshots=placed or self.args.snapshots
            )
        )


@register
class ReleaseSnapshots(_OnSnapshots):
    kind = "release"
    Args = HoldArgs

    def describe(self) -> str:
        return f"release hold {self.args.tag} on {', '.join(self.args.snapshots)}"

    async def check(self, ctx: StepContext) -> bool:
        return not await self._tagged(ctx)

    async def capture(self, ctx: StepContext) -> JsonDict:
        return {"had": await self._tagged(ctx)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        held = await self._tagged(ctx)
        if held:
            await self._zfs(ctx).release(self.args.tag, held)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = self._zfs(ctx)
        still = set(await self._tagged(ctx))
        again = [s for s in undo_data.get("had", []) if s not in still]
        existing = [s for s in again if await zfs.exists(s)]
        if existing:
            await zfs.hold(self.args.tag, existing)

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        had = tuple(undo_data.get("had", ()))
        if not had:
            return None
        return HoldSnapshots(HoldArgs(host=self.args.host, tag=self.args.tag, snapshots=had))
