"""The fill step on the ZFS model with a real rsync: it writes only into the dataset's
mount at the private mountpoint, reports progress, and its undo/inverse change nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from zfsyncd.files import mounts
from zfsyncd.files.mounts import Mount, NotMountedError
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.steps.base import StepContext
from zfsyncd.tx.steps.fill import FillArgs, FillForgotten, FillFromDirectory, fill_mountpoint
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import TransferProgress


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("hello")
    (src / "skip.tmp").write_text("no")
    return src


async def _made(mountpoint: str) -> MemoryBackend:
    zfs = MemoryBackend()
    zfs.add_pool("p")
    await zfs.create("p/zfsync_init_t1_x", properties={"mountpoint": mountpoint})
    return zfs


@pytest.mark.parametrize(
    ("tx", "root", "expected"),
    [("t1", "/run/zfsync/fill", "/run/zfsync/fill/t1"), ("ab", "/m/", "/m/ab")],
)
def test_fill_mountpoint(tx: str, root: str, expected: str) -> None:
    assert fill_mountpoint(tx, root) == expected


async def test_copies_into_the_mount_with_excludes_and_progress(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    zfs = await _made(str(mnt))
    seen: list[TransferProgress] = []
    ctx = StepContext(tx_id="t1", hosts=local_hosts(zfs), progress=seen.append)
    step = FillFromDirectory(
        FillArgs(
            dataset="p/zfsync_init_t1_x",
            source=str(_source(tmp_path)),
            mountpoint=str(mnt),
            excludes=("*.tmp",),
        )
    )
    result = await step.do(ctx, await step.capture(ctx))
    assert (mnt / "d" / "f.txt").read_text() == "hello"
    assert not (mnt / "skip.tmp").exists()
    assert result["files"] >= 1
    assert result["bytes"] >= 5
    assert seen
    assert seen[-1].bytes_done == result["bytes"]
    assert "without *.tmp" in step.describe()
    assert isinstance(step.inverse(result), FillForgotten)


@pytest.mark.parametrize("mountpoint", ["none", "/elsewhere"])
async def test_writes_nothing_unless_mounted_where_it_should_be(
    tmp_path: Path, mountpoint: str
) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    zfs = await _made(mountpoint)
    ctx = StepContext(tx_id="t1", hosts=local_hosts(zfs))
    step = FillFromDirectory(
        FillArgs(dataset="p/zfsync_init_t1_x", source=str(_source(tmp_path)), mountpoint=str(mnt))
    )
    with pytest.raises(NotMountedError, match="is not mounted at"):
        await step.do(ctx, {})
    assert list(mnt.iterdir()) == []


async def test_the_mount_table_answers_without_a_zfs_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where this machine's mount table shows the dataset on top of its fill mountpoint,
    the step writes there without asking zfs (the model, whose mountpoint property says
    none here, would refuse)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    zfs = await _made("none")
    asked: list[str] = []
    inner = zfs.get_properties

    async def get_properties(name: str, props: Sequence[str], **kw: Any) -> Any:
        asked.append(name)
        return await inner(name, props, **kw)

    monkeypatch.setattr(zfs, "get_properties", get_properties)
    table = [Mount(str(mnt), "zfs", "p/zfsync_init_t1_x")]
    monkeypatch.setattr(mounts, "read_mounts", lambda: table)
    ctx = StepContext(tx_id="t1", hosts=local_hosts(zfs))
    step = FillFromDirectory(
        FillArgs(dataset="p/zfsync_init_t1_x", source=str(_source(tmp_path)), mountpoint=str(mnt))
    )
    await step.do(ctx, {})
    assert (mnt / "d" / "f.txt").read_text() == "hello"
    assert asked == []


@pytest.mark.parametrize(
    "bad",
    [
        {"source": "relative"},
        {"mountpoint": "none"},
        {"excludes": ("",)},
        {"excludes": ("a\nb",)},
    ],
)
def test_bad_arguments_are_refused(bad: dict[str, object]) -> None:
    args: dict[str, object] = {"dataset": "p/x", "source": "/s", "mountpoint": "/m", **bad}
    with pytest.raises(ValueError, match=r"absolute path|exclude pattern"):
        FillArgs.model_validate(args)
