"""The step that brings a dataset's tree to one source snapshot: rsync (`-aHAX --delete
--numeric-ids`, the shared exclusions), then the manifest of the result, written into the
dataset's metadata directory (which rsync leaves alone: it is excluded, and `--delete`
spares what is excluded).

Its zfs commands: none in `do` when this machine's mount table shows the dataset mounted at
the private mountpoint it was made with (files/mounts.py: what `zfs get mounted` would read),
else one `zfs get` of `mounted` and `mountpoint` (the tree is reached through it); `check`
and `undo` read one object and `undo` makes at most one `zfs rollback`. The
undo puts the dataset back at the previous migrated snapshot (`zfs rollback` to the newest
snapshot: no snapshot is destroyed, so no guid changes); the first snapshot of a new
dataset has none, and the dataset's own undo (its creation's) takes the tree away.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from zfsyncd.files.mounts import mounted_tree
from zfsyncd.files.rsync import RsyncJob, run_rsync
from zfsyncd.ops.migration import manifest as mf
from zfsyncd.ops.migration.exclusions import rsync_excludes
from zfsyncd.ops.migration.history import snapshot_short
from zfsyncd.tx.hosts import LOCAL, located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.tx.steps.lookup import guid_of
from zfsyncd.zfs.models import DatasetName, TransferProgress


class MountError(RuntimeError):
    """The dataset's tree cannot be reached (not mounted where a path says)."""

    kind = "not-mounted"


class CopySnapshotArgs(OnHost):
    dataset: DatasetName
    #: the source snapshot's tree
    source: str
    number: int = Field(ge=0)
    #: the source number of the migrated snapshot before it, if any (the undo's target)
    previous: int | None = None
    #: where the dataset must be mounted (a new one's private mountpoint); None: where it is
    mountpoint: str | None = None


async def tree_of(ctx: StepContext, args: CopySnapshotArgs) -> Path:
    """Where the dataset's tree is, after checking it is mounted there (files/mounts.py:
    a new dataset's private mountpoint is found in the mount table without a zfs command
    per source snapshot): rsync never fills the empty directory a failed mount leaves."""
    zfs, local = ctx.host(args.host).zfs, args.host == LOCAL
    return await mounted_tree(zfs, args.dataset, args.mountpoint, local=local, error=MountError)


@register
class CopySnapshot(Step[CopySnapshotArgs]):
    kind = "migrate-copy"
    Args = CopySnapshotArgs

    def describe(self) -> str:
        return (
            f"copy source snapshot {self.args.number} ({self.args.source}) into {self.args.dataset}"
        )

    def datasets(self) -> set[str]:
        return {located(self.args.host, self.args.dataset)}

    async def check(self, ctx: StepContext) -> bool:
        root = await tree_of(ctx, self.args)
        return mf.manifest_path(root, self.args.number).is_file()

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        root = await tree_of(ctx, self.args)
        source = Path(self.args.source)  # rsync says so when it is missing

        def moved(done: int) -> None:
            ctx.progress(TransferProgress(bytes_done=done, bytes_total=None))

        # the tree's walk and hashes are file work: off the event loop, which serves the bus
        previous = await asyncio.to_thread(self._previous, root)
        job = RsyncJob(source, root, excludes=rsync_excludes(), itemize=True)
        copied = await run_rsync(job, moved, runner=ctx.host(self.args.host).commands)
        made = await asyncio.to_thread(
            self._manifest, source, root, previous, copied.written, copied.checksums
        )
        return {"files": len(made.entries), "bytes": made.total_bytes()}

    def _previous(self, root: Path) -> mf.Manifest | None:
        """The previous snapshot's manifest, if it has one that reads well (metadata
        directory: rsync leaves it alone, so it is the same before and after rsync)."""
        if self.args.previous is None:
            return None
        try:
            return mf.load_previous(mf.manifest_path(root, self.args.previous))
        except ValueError:
            return None  # only a cache of hashes: without it every file is read

    def _manifest(
        self,
        source: Path,
        root: Path,
        previous: mf.Manifest | None,
        written: frozenset[str],
        checksums: Mapping[str, str],
    ) -> mf.Manifest:
        """The manifest of the tree rsync made: the hashes rsync made of the files it sent
        serve those, the previous snapshot's the files rsync did not write this time
        (manifest.py says why that is safe). The tree is the
        previous snapshot's plus what this rsync did: an earlier attempt of this step was
        undone (rolled back to that snapshot) before a retry, and a crashed one left a
        tree that only this rsync's list and the files' ctimes tell about."""
        made = mf.build(root, self.args.number, previous, written, checksums)
        mf.write(root, made)
        # writing the metadata directory changed the root's mtime: back to the source's, so
        # the tree (and its snapshot) is the source's to the root
        st = source.stat()
        os.utime(root, ns=(st.st_atime_ns, st.st_mtime_ns))
        return made

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        if self.args.previous is None:
            return
        zfs = ctx.host(self.args.host).zfs
        snapshot = f"{self.args.dataset}@{snapshot_short(self.args.previous)}"
        if await guid_of(zfs, snapshot) is not None:
            await zfs.rollback(snapshot)
