"""CliBackend's reads of many names: a name that is not there is an answer, any other
complaint a failure, and very many names take several commands. A script stands in for
zfs: it prints what real zfs 2.3 prints (rows for the names that exist on stdout, one
"cannot open" line per missing name on stderr, exit status 1)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.zfs.cli import CliBackend, command
from zfsyncd.zfs.errors import InvalidArgumentError, ZfsCommandError

ROW = "p/a\tfilesystem\t11\t5\t1700000000\t100\t100\t0\t-\t-"
HOLD = "p/a@s\tzfsync_t\t1700000000"


def _fake_zfs(tmp_path: Path, stdout: str, stderr: str, status: int) -> Path:
    script = tmp_path / "zfs"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '%s' {shlex.quote(stdout)}\n"
        f"printf '%s' {shlex.quote(stderr)} >&2\n"
        f"exit {status}\n"
    )
    script.chmod(0o755)
    return script


def _backend(
    tmp_path: Path, stdout: str, stderr: str, status: int
) -> tuple[CliBackend, list[Sequence[str]]]:
    ran: list[Sequence[str]] = []
    zfs = _fake_zfs(tmp_path, stdout, stderr, status)
    return CliBackend(CommandRunner(observers=[ran.append]), zfs=str(zfs)), ran


async def test_a_missing_name_is_left_out(tmp_path: Path) -> None:
    zfs, ran = _backend(tmp_path, ROW + "\n", "cannot open 'p/nope': dataset does not exist\n", 1)
    found = await zfs.list_many(["p/a", "p/nope"])
    assert [o.name for o in found] == ["p/a"]
    assert [argv[-2:] for argv in ran] == [["p/a", "p/nope"]]  # one command


async def test_a_missing_bookmark_is_left_out(tmp_path: Path) -> None:
    zfs, _ = _backend(tmp_path, ROW + "\n", "cannot open 'p/a#m': no such pool or dataset\n", 1)
    assert [o.name for o in await zfs.list_many(["p/a", "p/a#m"])] == ["p/a"]


async def test_holds_of_missing_snapshots_and_datasets(tmp_path: Path) -> None:
    stderr = (
        "cannot open 'p/b': dataset does not exist\ncannot open 'p/a@t': dataset does not exist\n"
    )
    zfs, _ = _backend(tmp_path, HOLD + "\n", stderr, 1)
    holds = await zfs.holds_many(["p/a@s", "p/a@t", "p/b@s"], recursive=True)
    assert [(h.snapshot, h.tag) for h in holds] == [("p/a@s", "zfsync_t")]


async def test_nothing_found_at_all(tmp_path: Path) -> None:
    stderr = "cannot open 'p/a@s': dataset does not exist\nno datasets available\n"
    zfs, _ = _backend(tmp_path, "", stderr, 1)
    assert await zfs.holds_many(["p/a@s"]) == []


@pytest.mark.parametrize(
    "stderr",
    [
        "cannot open 'p/other': dataset does not exist\n",  # not a name we asked for
        "cannot open 'p/a': operation not applicable to datasets of this type\n",
        "cannot open 'p/nope': dataset does not exist\ninternal error: out of memory\n",
        "",  # a failure that says nothing is not "missing"
    ],
)
async def test_any_other_complaint_fails(tmp_path: Path, stderr: str) -> None:
    zfs, _ = _backend(tmp_path, ROW + "\n", stderr, 1)
    with pytest.raises(ZfsCommandError) as info:
        await zfs.list_many(["p/a", "p/nope"])
    if "not applicable" in stderr:
        assert isinstance(info.value, InvalidArgumentError)


async def test_very_many_names_take_several_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "ARGV_BUDGET", 48)
    zfs, ran = _backend(tmp_path, ROW + "\n", "", 0)
    wanted = [f"p/a{i:02}" for i in range(10)]  # 6 bytes each with a space: 8 a command
    found = await zfs.list_many(wanted)
    assert [o.name for o in found] == ["p/a"]  # the same row from each command, once
    assert [len([w for w in argv if w.startswith("p/")]) for argv in ran] == [8, 2]


async def test_every_pool_is_read_and_settled_without_a_name(tmp_path: Path) -> None:
    """sync all and expire all read every pool: `zpool sync` and `zfs list -r` with no
    name after the options (no `zfs list -d 0` of the pools' names first)."""
    zfs, ran = _backend(tmp_path, ROW + "\n", "", 0)
    _fake_zfs(tmp_path, "", "", 0).rename(tmp_path / "zpool")
    _fake_zfs(tmp_path, ROW + "\n", "", 0)  # the zfs again, renamed away above
    await zfs.settle_every_pool()
    found = await zfs.list_every_pool()
    assert [o.name for o in found] == ["p/a"]
    assert Path(ran[0][0]).name == "zpool"
    assert list(ran[0])[1:] == ["sync"]
    listed = list(ran[1])
    assert listed[1:3] == ["list", "-Hp"]
    assert listed[-1] == "-r"
    assert listed[-3] == "-o"
    assert len(ran) == 2
