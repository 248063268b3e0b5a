"""CliBackend.destroy_snapshots: the argv real zfs gets (`zfs destroy DATASET@a,b,c`, one
argument), very many names split into runs of ARGV_BUDGET, names checked before anything
runs, and zfs's refusal raised. A script stands in for zfs."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.zfs.cli import CliBackend, command
from zfsyncd.zfs.errors import InvalidNameError, ZfsCommandError


def _backend(
    tmp_path: Path, stderr: str = "", status: int = 0
) -> tuple[CliBackend, list[Sequence[str]]]:
    script = tmp_path / "zfs"
    script.write_text(f"#!/bin/sh\nprintf '%s' {shlex.quote(stderr)} >&2\nexit {status}\n")
    script.chmod(0o755)
    ran: list[Sequence[str]] = []
    return CliBackend(CommandRunner(observers=[ran.append]), zfs=str(script)), ran


async def test_one_argument_for_the_snapshots_of_a_dataset(tmp_path: Path) -> None:
    zfs, ran = _backend(tmp_path)
    await zfs.destroy_snapshots("p/a", ["s1", "zfsync_x", "s3"])
    assert [list(argv[1:]) for argv in ran] == [["destroy", "p/a@s1,zfsync_x,s3"]]


async def test_very_many_take_a_command_per_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "ARGV_BUDGET", 20)
    zfs, ran = _backend(tmp_path)
    await zfs.destroy_snapshots("p/a", [f"snap{n}" for n in range(7)])
    joined = [argv[-1] for argv in ran]
    assert joined == ["p/a@snap0,snap1,snap2", "p/a@snap3,snap4,snap5", "p/a@snap6"]


@pytest.mark.parametrize(
    ("dataset", "shorts"),
    [("p/a", ["s1", "s2,s3"]), ("p/a@s", ["s1"]), ("-p", ["s1"]), ("p/a", ["s1", "x@y"])],
)
async def test_bad_names_run_nothing(tmp_path: Path, dataset: str, shorts: list[str]) -> None:
    zfs, ran = _backend(tmp_path)
    with pytest.raises(InvalidNameError):
        await zfs.destroy_snapshots(dataset, shorts)
    assert ran == []


async def test_zfs_refusing_is_raised(tmp_path: Path) -> None:
    zfs, _ = _backend(tmp_path, "cannot destroy snapshot p/a@s1: dataset is busy\n", 1)
    with pytest.raises(ZfsCommandError, match="dataset is busy"):
        await zfs.destroy_snapshots("p/a", ["s1", "s2"])


@pytest.mark.parametrize("verb", ["hold", "release"])
async def test_very_many_holds_take_a_command_per_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    monkeypatch.setattr(command, "ARGV_BUDGET", 21)  # three names of 6 bytes and a space
    zfs, ran = _backend(tmp_path)
    await getattr(zfs, verb)("zfsync_t", [f"p/a@s{n}" for n in range(5)])
    assert [list(argv[1:]) for argv in ran] == [
        [verb, "zfsync_t", "p/a@s0", "p/a@s1", "p/a@s2"],
        [verb, "zfsync_t", "p/a@s3", "p/a@s4"],
    ]
