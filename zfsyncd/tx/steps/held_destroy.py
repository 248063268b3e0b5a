"""Destroying many snapshots with commands that do not grow with their number: a hold now,
the destroy when the transaction completes.

The destroy-snapshots step (snapshots.py, through the trash of trash.py) renames each
snapshot aside, and a rename reaches one snapshot (or one name under a tree with -r): a
prune of 1,000 snapshots of different names would run 1,000 renames, and 1,000 destroys
after them. This step keeps the other half of that design (nothing is destroyed before the
transaction completed, so a failure, a cancel or a crash undoes it exactly) with a hold in
place of the rename:

- `do` places the hold TAG (one per transaction) on all of them: one `zfs list` (and a
  `zfs holds` when one of them is held already), one `zfs hold` (HoldSnapshots's). Held,
  they cannot be destroyed by anyone else meanwhile, and ZFS itself records which
  snapshots the transaction is taking.
- `undo` releases it (one `zfs holds`, one `zfs release`): ZFS is as it was before.
- `finalize` (after COMPLETED) reads them once more (one reading, with the tags of those
  held: `list_reached`), releases the tag (one `zfs release`) and destroys each dataset's
  snapshots in one `zfs destroy DATASET@a,b,c` (all or none:
  ZfsBackend.destroy_snapshots), only those that still have the guid the plan saw and no
  other hold (someone else's hold since: kept). Repeated after a crash in between, it
  destroys what is left and nothing else.

So the step runs 2 commands (3 when one is held), its undo 2, its finalize 2 plus one per
dataset, whatever the number of snapshots (tests/engine/test_prune.py counts them).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import Field

from zfsyncd.tx.steps.base import JsonDict, Step, StepContext, register
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots
from zfsyncd.tx.steps.lookup import reached_with_tags
from zfsyncd.zfs import names
from zfsyncd.zfs.models import SnapshotName


class HeldDestroyArgs(HoldArgs):
    #: snapshot -> the guid it must still have to be destroyed
    guids: dict[SnapshotName, int] = Field(min_length=1)


@register
class DestroyThroughHold(HoldSnapshots):
    kind = "destroy-through-hold"
    Args = HeldDestroyArgs  # type: ignore[assignment]  # a HoldArgs with the guids
    args: HeldDestroyArgs

    def describe(self) -> str:
        datasets = sorted({names.dataset_of(s) for s in self.args.snapshots})
        shown = ", ".join(datasets[:3]) + (
            f" and {len(datasets) - 3} more" if len(datasets) > 3 else ""
        )
        return (
            f"destroy {len(self.args.snapshots)} snapshots of {shown} (held by "
            f"{self.args.tag} until the transaction completes)"
        )

    async def finalize(self, ctx: StepContext, undo_data: JsonDict) -> None:
        zfs = ctx.host(self.args.host).zfs
        # one reading: what exists with its guid and hold count, and the tags of those held
        found, tags = await reached_with_tags(zfs, self.args.snapshots)
        tagged = {s for s, on in tags.items() if self.args.tag in on}
        ours = [s for s in self.args.snapshots if s in tagged]
        if ours:
            await self._release(ctx, ours, tagged)
        doomed: dict[str, list[str]] = defaultdict(list)
        for name in self.args.snapshots:
            obj = found.get(name)
            if obj is None or obj.guid != self.args.guids.get(name):
                continue  # gone already (a repeated finalize), or another object now
            if obj.userrefs - (1 if name in tagged else 0) > 0:
                continue  # someone else holds it now: theirs to keep
            doomed[obj.dataset].append(obj.short_name)
        for dataset, shorts in sorted(doomed.items()):
            await zfs.destroy_snapshots(dataset, shorts)

    # a hold has an inverse (its release); this step's snapshots are destroyed at finalize:
    # none, and the rollback of its transaction is refused with why_final
    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:  # type: ignore[override]
        return None

    def why_final(self) -> str:
        return f"{self.describe()}: what is destroyed cannot be brought back"
