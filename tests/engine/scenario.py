"""A transaction that uses every reversible step kind, on the world's fresh roots.

Before it: `src/base` (with data, user properties, snapshot @s0 and @old, bookmark #mark0).
The transaction (10 steps, about 12 changing zfs calls):
   0 create src/made (zfsync:a=1)           5 rename src/made -> src/renamed
   1 snapshot src/made, src/base @zfsync_tx  6 send src/base@zfsync_tx -> dst/copy
   2 hold src/base@zfsync_tx                 7 bookmark src/base@zfsync_tx
   3 set zfsync:role, inherit zfsync:b       8 destroy bookmark src/base#mark0
   4 clone src/base@s0 -> src/clone          9 promote src/clone
Step 8 is final once the transaction completed (a destroyed bookmark cannot come back), so
the transaction cannot be rolled back then; `reversible` leaves it out. `with_destroy` adds
a last step that destroys src/base@old.
"""

from __future__ import annotations

from typing import Any

from tests.contract.world import World
from zfsyncd.tx.kinds import Plan
from zfsyncd.tx.steps import Step, StepContext
from zfsyncd.tx.steps.base import JsonDict
from zfsyncd.tx.steps.datasets import (
    BookmarkArgs,
    CloneArgs,
    CloneSnapshot,
    CreateBookmark,
    CreateDataset,
    CreateDatasetArgs,
    DestroyBookmark,
    DestroyBookmarkArgs,
    Promote,
    PromoteArgs,
    Rename,
    RenameArgs,
)
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs
from zfsyncd.tx.steps.snapshots import (
    CreateSnapshots,
    CreateSnapshotsArgs,
    DestroySnapshots,
    DestroySnapshotsArgs,
)
from zfsyncd.tx.steps.transfer import SendReceive, SendReceiveArgs
from zfsyncd.zfs.models import RecvSpec, SendSpec


async def prepare_world(world: World, src: str) -> None:
    """The datasets the compound transaction starts from (under `src`)."""
    base = f"{src}/base"
    await world.zfs.create(base, properties={"zfsync:role": "source", "zfsync:b": "x"})
    await world.write(base, 1 << 20)
    await world.zfs.snapshot([f"{base}@s0"])
    await world.zfs.bookmark(f"{base}@s0", f"{base}#mark0")
    await world.write(base, 1 << 20)
    await world.zfs.snapshot([f"{base}@old"])


class CompoundKind:
    name = "compound"

    def describe(self, params: JsonDict) -> str:
        return f"every reversible step kind under {params['src']}"

    def datasets(self, params: JsonDict) -> set[str]:
        return {params["src"], params["dst"]}

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        src, dst = params["src"], params["dst"]
        base, snap = f"{src}/base", f"zfsync_{ctx.tx_id}"
        steps: list[Step[Any]] = [
            CreateDataset(CreateDatasetArgs(name=f"{src}/made", properties={"zfsync:a": "1"})),
            CreateSnapshots(
                CreateSnapshotsArgs(snapshots=(f"{src}/made@{snap}", f"{base}@{snap}"))
            ),
            HoldSnapshots(HoldArgs(tag=snap, snapshots=(f"{base}@{snap}",))),
            SetProperties(
                SetPropertiesArgs(name=base, properties={"zfsync:role": "moved", "zfsync:b": None})
            ),
            CloneSnapshot(CloneArgs(snapshot=f"{base}@s0", target=f"{src}/clone")),
            Rename(RenameArgs(old=f"{src}/made", new=f"{src}/renamed")),
            SendReceive(
                SendReceiveArgs(
                    send=SendSpec(snapshot=f"{base}@{snap}"), recv=RecvSpec(target=f"{dst}/copy")
                )
            ),
            CreateBookmark(BookmarkArgs(source=f"{base}@{snap}", bookmark=f"{base}#{snap}")),
            DestroyBookmark(DestroyBookmarkArgs(bookmark=f"{base}#mark0")),
            Promote(PromoteArgs(clone=f"{src}/clone")),
        ]
        if params.get("reversible"):
            steps = [s for s in steps if not isinstance(s, DestroyBookmark)]
        if params.get("with_destroy"):
            steps.append(DestroySnapshots(DestroySnapshotsArgs(snapshots={f"{base}@old": None})))
        return Plan(steps=steps, description=self.describe(params))
