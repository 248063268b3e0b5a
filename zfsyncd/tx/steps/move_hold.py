"""Moving a hold tag from some snapshots to others on one host, in one step: a replica
sync's base hold, once the stream is through, from the old bases to the new ones (the
snapshots just sent).

The hold and release steps did the same in two steps, each with its own reading and its
own journal commits, one after the other. Here one reading serves both (`list_reached`
with holds over both sets: one read-only program a pool, the pools read at once), and the
`zfs hold` and the `zfs release` run at the same time: they act on different snapshots
(a sync never releases the name it holds) and neither needs the other. A failure of
either waits for the other to end before the step fails, so the undo starts from a
settled state: it holds again what was released (first: the old base stays protected)
and releases what was placed, as the reading then finds them.

As in holds.py (whose changes it makes), each change is one `zfs hold -r` / `zfs release
-r` from every top that reaches only the snapshots it should act on (subtrees.py), with
the rest named in one more command, and `capture` hands its reading to the first attempt
of `do`. The reading covers the common tops of each set too (the nearest common ancestor
of the datasets whose snapshots share a name), so a sync of many pairs moves the hold with
one sync task a pool and name rather than one a snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from pydantic import model_validator

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, ReadForDo, Step, StepContext, register
from zfsyncd.tx.steps.holds import gone_to_hold, hold_reaching, release_reaching
from zfsyncd.tx.steps.lookup import reached_with_tags
from zfsyncd.tx.steps.subtrees import common_tops
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import HoldTag, SnapshotName

#: what exists where a `-r` of the step's snapshots reaches, and which of it has the tag
_Reading = tuple[set[str], set[str]]


class MoveHoldArgs(OnHost):
    tag: HoldTag
    #: the snapshots that get the tag
    hold: tuple[SnapshotName, ...] = ()
    #: the snapshots that lose it
    release: tuple[SnapshotName, ...] = ()

    @model_validator(mode="after")
    def _apart(self) -> MoveHoldArgs:
        if not self.hold and not self.release:
            raise ValueError("a hold moves to or from at least one snapshot")
        if set(self.hold) & set(self.release):
            raise ValueError("a snapshot cannot get and lose the same hold in one step")
        return self


@register
class MoveHold(Step[MoveHoldArgs]):
    kind = "move-hold"
    Args = MoveHoldArgs

    def __init__(self, args: MoveHoldArgs) -> None:
        super().__init__(args)
        self._read_for_do: ReadForDo[_Reading] = ReadForDo()

    def describe(self) -> str:
        parts = []
        if self.args.hold:
            parts.append(f"to {', '.join(self.args.hold)}")
        if self.args.release:
            parts.append(f"from {', '.join(self.args.release)}")
        return f"move hold {self.args.tag} {' '.join(parts)}"

    def datasets(self) -> set[str]:
        return {
            located(self.args.host, names.dataset_of(s))
            for s in (*self.args.hold, *self.args.release)
        }

    def _zfs(self, ctx: StepContext) -> ZfsBackend:
        return ctx.host(self.args.host).zfs

    def _common_tops(self) -> list[str]:
        """The common tops of each set (subtrees.common_tops): read with the sets, so that
        a replica sync's new bases of many datasets are held (and the old ones released)
        by one sync task each, not one a snapshot."""
        return sorted({*common_tops(self.args.hold), *common_tops(self.args.release)})

    async def _reading(self, ctx: StepContext) -> _Reading:
        """One reading of both sets and their common tops, with their holds: what exists,
        what has the tag."""
        asked = [*self.args.hold, *self.args.release, *self._common_tops()]
        found, tags = await reached_with_tags(self._zfs(ctx), asked)
        return set(found), {s for s, on in tags.items() if self.args.tag in on}

    async def check(self, ctx: StepContext) -> bool:
        _, tagged = await self._reading(ctx)
        return all(s in tagged for s in self.args.hold) and not any(
            s in tagged for s in self.args.release
        )

    async def capture(self, ctx: StepContext) -> JsonDict:
        # a hold there before is not ours to release; a tag released is ours to put back
        _, tagged = self._read_for_do.keep(await self._reading(ctx))
        return {
            "held_before": [s for s in self.args.hold if s in tagged],
            "had": [s for s in self.args.release if s in tagged],
        }

    async def refusal(self, ctx: StepContext) -> str | None:
        """Built from records (the move taken back), it needs the snapshots to hold still
        there: one `zfs list`."""
        if not self.args.hold:
            return None
        return await gone_to_hold(self._zfs(ctx), self.args.hold)

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        existing, tagged = self._read_for_do.take() or await self._reading(ctx)
        missing = [s for s in self.args.hold if s not in tagged]
        held = [s for s in self.args.release if s in tagged]
        changes: list[Awaitable[None]] = []
        if missing:
            changes.append(self._hold(ctx, missing, existing))
        if held:
            changes.append(self._release(ctx, held, tagged))
        # both to their end before a failure is raised: the undo reads a settled state
        failed = [e for e in await asyncio.gather(*changes, return_exceptions=True) if e]
        if failed:
            raise failed[0]
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        existing, tagged = await self._reading(ctx)
        again = [s for s in undo_data.get("had", []) if s not in tagged and s in existing]
        if again:  # the old bases protected again first
            await self._hold(ctx, again, existing)
        before = set(undo_data.get("held_before", []))
        ours = [s for s in self.args.hold if s in tagged and s not in before]
        if ours:
            await self._release(ctx, ours, tagged | set(again))

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        """The tag moved back: on the snapshots it was released from, off those it was
        placed on (not those that had it before)."""
        before = set(undo_data.get("held_before", []))
        placed = tuple(s for s in self.args.hold if s not in before)
        had = tuple(undo_data.get("had", ()))
        if not placed and not had:
            return None
        return MoveHold(
            MoveHoldArgs(host=self.args.host, tag=self.args.tag, hold=had, release=placed)
        )

    def why_final(self) -> str:
        return f"{self.describe()}: every snapshot had the hold as it is now before it"

    async def _hold(self, ctx: StepContext, wanted: list[str], existing: set[str]) -> None:
        tops = self._common_tops()
        await hold_reaching(self._zfs(ctx), self.args.tag, wanted, existing, tops)

    async def _release(self, ctx: StepContext, wanted: list[str], tagged: set[str]) -> None:
        tops = self._common_tops()
        await release_reaching(self._zfs(ctx), self.args.tag, wanted, tagged, tops)
