"""The fill step: rsync a directory into a dataset this transaction made (a temporary
dataset, or the clone an update works in), through the dataset's mount.

Where rsync writes (an administrator's choice, made once here): into the dataset's own
mount at a private mountpoint, `/run/zfsync/fill/<tx>` (`fill_mountpoint`), given to the
dataset when it is made (`zfs create`/`zfs clone -o mountpoint=...`), and never the place
the dataset will finally mount at. Why not where ZFS would mount it by inheritance: that
is inside the parent's mount (`/tank/zfsync_init_<tx>_x`), where users browsing the parent
would see a half-filled tree, could hold it busy, and where a parent with mountpoint=none
or canmount=off would leave it unmounted altogether. /run is a tmpfs, so a crash leaves no
stale directory, and the unit's `RuntimeDirectory=zfsync` (mode 0700) keeps other users
out of /run/zfsync. The swap or rename at the end then sets the mountpoint readers use.

Before rsync runs, the step checks the dataset is mounted exactly there (files/mounts.py:
this machine's mount table when it shows it, else one `zfs get` of `mounted` and
`mountpoint`): rsync only ever writes then. Otherwise a mount that failed would let rsync
fill the empty directory underneath, on whatever filesystem holds /run.

Its inverse story: the step changes nothing but the contents of a dataset its transaction
made, named after the transaction. `undo` has nothing to do: the undo of the step that
made the dataset (create, clone) destroys it with what rsync wrote. `do` can simply run
again after a crash: rsync with --delete makes the target equal to the source whatever
was there. After the transaction completed, the inverse is the same: `FillForgotten`,
which changes nothing, since the inverse of the dataset's making destroys the contents.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from zfsyncd.files.mounts import mounted_tree
from zfsyncd.files.rsync import RsyncJob, run_rsync
from zfsyncd.tx.hosts import LOCAL, located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.zfs.models import DatasetName, TransferProgress

#: where the datasets being filled are mounted (a tmpfs; see the module's docstring)
FILL_ROOT = "/run/zfsync/fill"


def fill_mountpoint(tx_id: str, root: str | None = None) -> str:
    """The private mountpoint of the dataset transaction `tx_id` fills (under FILL_ROOT,
    read at each call: the engine tests, whose ZFS is the model, point it at a temporary
    directory)."""
    return f"{(FILL_ROOT if root is None else root).rstrip('/')}/{tx_id}"


def _absolute_dir(value: str) -> str:
    if not value.startswith("/") or "\0" in value or "\n" in value:
        raise ValueError(f"{value!r} is not an absolute path")
    return value


AbsolutePath = Annotated[str, AfterValidator(_absolute_dir)]


def _pattern(value: str) -> str:
    if not value or "\n" in value or "\0" in value:
        raise ValueError(f"not an exclude pattern: {value!r}")
    return value


ExcludePattern = Annotated[str, AfterValidator(_pattern)]


async def is_directory(path: str) -> bool:
    """Whether `path` is a directory on this machine (for a plan: a stat off the loop)."""
    return await asyncio.to_thread(os.path.isdir, path)


class FillArgs(OnHost):
    dataset: DatasetName
    #: the directory whose contents the dataset gets (on the step's host)
    source: AbsolutePath
    #: where the dataset must be mounted while rsync writes (fill_mountpoint)
    mountpoint: AbsolutePath
    excludes: tuple[ExcludePattern, ...] = Field(default=(), max_length=256)


@register
class FillFromDirectory(Step[FillArgs]):
    kind = "fill-from-directory"
    Args = FillArgs

    def describe(self) -> str:
        without = f" without {', '.join(self.args.excludes)}" if self.args.excludes else ""
        return f"copy {self.args.source}/{without} into {self.args.dataset} (rsync)"

    def datasets(self) -> set[str]:
        return {located(self.args.host, self.args.dataset)}

    async def check(self, ctx: StepContext) -> bool:
        # a copy cannot be seen from ZFS; running rsync again is harmless (see above)
        return False

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        zfs, local = ctx.host(self.args.host).zfs, self.args.host == LOCAL
        target = await mounted_tree(zfs, self.args.dataset, self.args.mountpoint, local=local)
        job = RsyncJob(Path(self.args.source), target, excludes=tuple(self.args.excludes))

        def report(done: int) -> None:
            ctx.progress(TransferProgress(bytes_done=done, bytes_total=None))

        result = await run_rsync(job, report, runner=ctx.host(self.args.host).commands)
        return {"bytes": result.bytes, "files": result.files}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        """Nothing: the dataset is this transaction's own, destroyed by the undo of the
        step that made it."""

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        return FillForgotten(FillForgottenArgs(host=self.args.host, dataset=self.args.dataset))


class FillForgottenArgs(OnHost):
    dataset: DatasetName


@register
class FillForgotten(Step[FillForgottenArgs]):
    """The inverse of a fill once its transaction completed: the contents go with the
    dataset, which the inverse of its making destroys; this step only keeps the
    dataset locked in between and says so in the rollback's step list."""

    kind = "fill-forgotten"
    Args = FillForgottenArgs

    def describe(self) -> str:
        return f"forget what was copied into {self.args.dataset} (destroyed with it)"

    def datasets(self) -> set[str]:
        return {located(self.args.host, self.args.dataset)}

    async def check(self, ctx: StepContext) -> bool:
        return True

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        return None
