"""Channel programs (zfsyncd/zfs/programs.py) as CliBackend runs them: a program's answer
read into what `zfs list` would show, its refusals into the error class the plain command
gets, one command a pool, and the plain commands on an OpenZFS without programs. A script
stands in for zfs (the real programs run in the lab: tests/contract/test_contract_programs.py)."""

from __future__ import annotations

import errno
import json
import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.zfs import errors as e
from zfsyncd.zfs import programs
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.errors import ZFS_ERRORS

ROW = {
    "guid": -2,
    "createtxg": 9,
    "creation": 1700000000,
    "used": 0,
    "referenced": 4096,
    "userrefs": 0,
}
SNAP_ROW = "p/a@s\tsnapshot\t7\t9\t1700000000\t0\t4096\t0\t-\t-"


@pytest.mark.parametrize(
    ("verb", "returned", "error"),
    [
        ("snapshot", {"failed": "p/a@s", "errno": errno.EEXIST}, e.AlreadyExistsError),
        ("snapshot", {"failed": "p/nope", "errno": errno.ENOENT}, e.NotFoundError),
        ("snapshot", {"failed": "p/a@s", "errno": errno.ENOSPC}, e.PoolFullError),
        ("snapshot", {"failed": "p/a@s", "errno": errno.EBUSY}, e.BusyError),
        ("snapshot", {"failed": "p/a@s", "errno": "same-fs"}, e.ZfsCommandError),
        ("bookmark", {"failed": "p/a#s", "errno": errno.EEXIST}, e.AlreadyExistsError),
        ("bookmark", {"failed": "p/a#s", "errno": errno.ENOENT}, e.NotFoundError),
    ],
)
def test_a_refusal_gets_the_plain_commands_error(
    verb: str, returned: dict[str, object], error: type[Exception]
) -> None:
    stderr = programs.refusal(verb, returned)
    assert stderr is not None
    assert isinstance(ZFS_ERRORS.failed(["zfs", "program"], 1, stderr), error)


def test_what_was_made_is_read_with_its_guids() -> None:
    assert programs.refusal("snapshot", {"made": {}}) is None
    made = programs.made_guids({"made": {"p/b@s": 5, "p/a@s": -2}})
    assert made == {"p/a@s": (1 << 64) - 2, "p/b@s": 5}  # Lua's signed 64 bits, unsigned


def _fake_zfs(tmp_path: Path, version: str, program_out: str) -> Path:
    script = tmp_path / "zfs"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  version) printf '%s\\n' {shlex.quote(version)} ;;\n"
        f"  program) cat > /dev/null; printf '%s' {shlex.quote(program_out)} ;;\n"
        f"  list) printf '%s\\n' {shlex.quote(SNAP_ROW)} ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


def _backend(tmp_path: Path, version: str, out: object) -> tuple[CliBackend, list[Sequence[str]]]:
    ran: list[Sequence[str]] = []
    zfs = _fake_zfs(tmp_path, version, json.dumps({"return": out}))
    return CliBackend(CommandRunner(observers=[ran.append]), zfs=str(zfs)), ran


async def test_snapshots_and_their_guids_in_one_command(tmp_path: Path) -> None:
    zfs, ran = _backend(tmp_path, "zfs-2.3.2-1", {"made": {"p/a@s": 7}})
    made = await zfs.snapshot_guids(["p/a@s"], recursive=True, properties={"zfsync:sent": "1"})
    assert made == {"p/a@s": 7}
    verbs = [argv[1] for argv in ran]
    assert verbs == ["version", "program"]
    # the script on stdin, the names and values as its arguments
    assert list(ran[1][1:]) == ["program", "-j", "p", "-", "r", "1", "zfsync:sent", "1", "p/a@s"]


async def test_a_refused_program_raises_the_plain_error(tmp_path: Path) -> None:
    zfs, _ = _backend(tmp_path, "zfs-2.3.2-1", {"failed": "p/a#s", "errno": errno.EEXIST})
    with pytest.raises(e.AlreadyExistsError):
        await zfs.bookmark_many({"p/a#s": "p/a@s"})


async def test_bookmarks_one_program_a_pool(tmp_path: Path) -> None:
    zfs, ran = _backend(tmp_path, "zfs-2.3.2-1", {"made": 2})
    await zfs.bookmark_many({"p/a#s": "p/a@s", "q/b#s": "q/b@s", "p/c#s": "p/c@s"})
    programs_run = [list(argv[1:]) for argv in ran if argv[1] == "program"]
    assert programs_run == [
        ["program", "-j", "p", "-", "p/a@s", "p/a#s", "p/c@s", "p/c#s"],
        ["program", "-j", "q", "-", "q/b@s", "q/b#s"],
    ]


async def test_without_programs_the_plain_commands(tmp_path: Path) -> None:
    zfs, ran = _backend(tmp_path, "zfs-2.1.5-1", {})
    made = await zfs.snapshot_guids(["p/a@s"])
    assert made == {"p/a@s": 7}
    await zfs.bookmark_many({"p/a#s": "p/a@s"})
    assert [argv[1] for argv in ran] == ["version", "snapshot", "list", "bookmark"]


def test_what_was_reached_is_read_with_its_holds() -> None:
    # the script reads the guid and the hold count; the tags only where the count is not 0
    held = {"guid": 5, "userrefs": 2, "holds": {"b": 5, "a": 6}}
    found = {"p/a@s": held, "p/a/k@s": {"guid": -2, "userrefs": 0}}
    objects, holds = programs.reached({"found": found})
    assert [(o.name, o.guid, o.userrefs) for o in objects] == [
        ("p/a/k@s", (1 << 64) - 2, 0),  # Lua's signed 64 bits, unsigned
        ("p/a@s", 5, 2),
    ]
    assert [(h.snapshot, h.tag, h.timestamp) for h in holds] == [
        ("p/a@s", "a", 6),
        ("p/a@s", "b", 5),
    ]
    assert programs.reached({"found": {}}) == ([], [])


async def test_a_reading_is_one_read_only_program_a_pool(tmp_path: Path) -> None:
    zfs, ran = _backend(tmp_path, "zfs-2.3.2-1", {"found": {"p/a@s": ROW}})
    objects, holds = await zfs.list_reached(["p/a@s", "q/b@s"], holds=True)
    assert [o.name for o in objects] == ["p/a@s", "p/a@s"]  # the script answered both
    assert holds == []
    assert [list(argv[1:]) for argv in ran if argv[1] == "program"] == [
        ["program", "-n", "-j", "p", "-", "h", "p/a@s"],
        ["program", "-n", "-j", "q", "-", "h", "q/b@s"],
    ]
