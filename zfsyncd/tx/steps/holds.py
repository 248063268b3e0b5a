"""Hold and release steps: each other's inverse."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from zfsyncd.tx.steps.base import JsonDict, Step, StepArgs, StepContext, register
from zfsyncd.zfs import names
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import HoldTag, SnapshotName


class HoldArgs(StepArgs):
    tag: HoldTag
    snapshots: tuple[SnapshotName, ...] = Field(min_length=1)


async def _tagged(ctx: StepContext, tag: str, snapshots: tuple[str, ...]) -> list[str]:
    """Those of `snapshots` that exist and carry the hold `tag`."""
    tagged = []
    for snap in snapshots:
        try:
            holds = await ctx.zfs.holds(snap)
        except NotFoundError:
            continue
        if any(h.tag == tag for h in holds):
            tagged.append(snap)
    return tagged


class _OnSnapshots(Step[HoldArgs]):
    def datasets(self) -> set[str]:
        return {names.dataset_of(s) for s in self.args.snapshots}


@register
class HoldSnapshots(_OnSnapshots):
    kind = "hold"
    Args = HoldArgs

    def describe(self) -> str:
        return f"hold {', '.join(self.args.snapshots)} with tag {self.args.tag}"

    async def check(self, ctx: StepContext) -> bool:
        return len(await _tagged(ctx, self.args.tag, self.args.snapshots)) == len(
            self.args.snapshots
        )

    async def capture(self, ctx: StepContext) -> JsonDict:
        # a hold that was there before is not ours to release
        return {"had": await _tagged(ctx, self.args.tag, self.args.snapshots)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        missing = [s for s in self.args.snapshots if s not in await self._now(ctx)]
        if missing:
            await ctx.zfs.hold(self.args.tag, missing)
        return {}

    async def _now(self, ctx: StepContext) -> list[str]:
        return await _tagged(ctx, self.args.tag, self.args.snapshots)

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        ours = [s for s in await self._now(ctx) if s not in undo_data.get("had", [])]
        if ours:
            await ctx.zfs.release(self.args.tag, ours)

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        placed = tuple(s for s in self.args.snapshots if s not in undo_data.get("had", []))
        return ReleaseSnapshots(
            HoldArgs(tag=self.args.tag, snapshots=placed or self.args.snapshots)
        )


@register
class ReleaseSnapshots(_OnSnapshots):
    kind = "release"
    Args = HoldArgs

    def describe(self) -> str:
        return f"release hold {self.args.tag} on {', '.join(self.args.snapshots)}"

    async def check(self, ctx: StepContext) -> bool:
        return not await _tagged(ctx, self.args.tag, self.args.snapshots)

    async def capture(self, ctx: StepContext) -> JsonDict:
        return {"had": await _tagged(ctx, self.args.tag, self.args.snapshots)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        held = await _tagged(ctx, self.args.tag, self.args.snapshots)
        if held:
            await ctx.zfs.release(self.args.tag, held)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        still = set(await _tagged(ctx, self.args.tag, self.args.snapshots))
        again = [s for s in undo_data.get("had", []) if s not in still]
        existing = [s for s in again if await ctx.zfs.exists(s)]
        if existing:
            await ctx.zfs.hold(self.args.tag, existing)

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        had = tuple(undo_data.get("had", ()))
        return HoldSnapshots(HoldArgs(tag=self.args.tag, snapshots=had)) if had else None
