"""The swap (rollback-dataset, dataset-update) when a reader holds the old mount: ZFS refuses
the unmount as busy; the step detaches the mount lazily and goes on. Real ZFS's side of
this is tests/real/test_dataset_contents_real.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.tx.hosts import LOCAL, Host
from zfsyncd.tx.steps.base import StepContext
from zfsyncd.tx.steps.zfs_rollback import RollbackArgs, RollbackDataset
from zfsyncd.zfs.errors import MountedBusyError
from zfsyncd.zfs.memory import MemoryBackend


class BusyOnce:
    """The model, refusing the first `mountpoint=none` of `busy` as a mounted, busy one."""

    def __init__(self, inner: MemoryBackend, busy: str) -> None:
        self.inner, self.busy, self.refused = inner, busy, 0

    async def set_properties(self, name: str, properties: Mapping[str, str]) -> None:
        if name == self.busy and properties.get("mountpoint") == "none" and not self.refused:
            self.refused += 1
            message = f"cannot unmount '/srv/{name}': pool or dataset is busy"
            raise MountedBusyError(["zfs", "set"], 1, message)
        await self.inner.set_properties(name, properties)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("busy", [True, False])
async def test_a_busy_old_mount_is_detached_lazily(busy: bool) -> None:
    model = MemoryBackend()
    model.add_pool("p")
    await model.create("p/fs", properties={"mountpoint": "/srv/fs"})
    await model.snapshot(["p/fs@s"])
    zfs = BusyOnce(model, "p/fs" if busy else "nothing")
    ran: list[Sequence[str]] = []
    # `true umount ...`: the command is built and run, and changes nothing here
    commands = CommandRunner(transport=Transport(prefix=("true",)), observers=[ran.append])
    ctx = StepContext(tx_id="t1", hosts={LOCAL: Host(LOCAL, zfs, commands)})  # type: ignore[arg-type]
    step = RollbackDataset(RollbackArgs(snapshot="p/fs@s"))
    before = await step.capture(ctx)
    await step.do(ctx, before)
    assert await step.check(ctx)
    assert ran == ([["true", "umount", "-l", "/srv/fs"]] if busy else [])
    mounted = await model.get_properties("p/fs", ["mountpoint", "mounted"])
    assert (mounted["mountpoint"].value, mounted["mounted"].value) == ("/srv/fs", "yes")
