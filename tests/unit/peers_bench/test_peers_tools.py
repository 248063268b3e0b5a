"""bench/peers' command lines for each tool and the parsing of what tools print (pure)."""

from __future__ import annotations

import time

import pytest

from bench.peers import tools
from bench.peers.tools import AUTOBACKUP, BZFS, SYNCOID, Job

ONE = Job("zbsrc/data", "zbdst/t", children=False, own_snapshots=False)
TREE = Job("zbsrc/many", "zbdst/t", children=True, own_snapshots=False)
TREE_OWN = Job("zbsrc/many", "zbdst/t", children=True, own_snapshots=True)


@pytest.mark.parametrize(
    ("tool", "job", "argv"),
    [
        (SYNCOID, ONE, "syncoid --no-sync-snap zbsrc/data zbdst/t/data"),
        (SYNCOID, TREE, "syncoid --recursive --skip-parent --no-sync-snap zbsrc/many zbdst/t"),
        (SYNCOID, TREE_OWN, "syncoid --recursive --skip-parent zbsrc/many zbdst/t"),
        # --strip-path: zbsrc/data -> zbdst/t/data, zbsrc/many/d001 -> zbdst/t/d001
        (AUTOBACKUP, ONE, "zfs-autobackup --no-progress --exclude-received --no-snapshot "
                          "--strip-path 1 bench zbdst/t"),
        (AUTOBACKUP, TREE, "zfs-autobackup --no-progress --exclude-received --no-snapshot "
                           "--strip-path 2 bench zbdst/t"),
        (AUTOBACKUP, TREE_OWN, "zfs-autobackup --no-progress --exclude-received "
                               "--strip-path 2 bench zbdst/t"),
        (BZFS, ONE, "bzfs --log-dir /w/bzfs-logs zbsrc/data zbdst/t/data"),
        (BZFS, TREE, "bzfs --recursive --skip-parent --log-dir /w/bzfs-logs zbsrc/many zbdst/t"),
        (BZFS, TREE_OWN, "bzfs --recursive --skip-parent --create-src-snapshots "
                         "--create-src-snapshots-plan {'bench':{'':{'adhoc':1}}} "
                         "--log-dir /w/bzfs-logs zbsrc/many zbdst/t"),
    ],
)  # fmt: skip
def test_peer_argv(tool: str, job: Job, argv: str) -> None:
    assert " ".join(tools.peer_argv(tool, job, "/w")) == argv


def test_no_peer_argv_for_bare_or_zfsyncd() -> None:
    for tool in ("bare", "zfsyncd"):
        with pytest.raises(ValueError, match="not a peer"):
            tools.peer_argv(tool, ONE, "/w")


def test_only_zfs_autobackup_marks_its_sources() -> None:
    datasets = ["zbsrc/many/d000", "zbsrc/many/d001"]
    assert tools.select_argv(AUTOBACKUP, datasets) == [
        "zfs", "set", "autobackup:bench=true", "zbsrc/many/d000", "zbsrc/many/d001",
    ]  # fmt: skip
    assert tools.select_argv(SYNCOID, datasets) is None
    assert tools.select_argv(BZFS, datasets) is None


def test_copy_of_keeps_the_last_name() -> None:
    assert TREE.copy_of("zbsrc/many/d007") == "zbdst/t/d007"
    assert ONE.copy_of("zbsrc/data") == "zbdst/t/data"


def test_snapshot_name_is_zfs_autobackups_format() -> None:
    at = time.mktime((2026, 11, 30, 18, 5, 9, 0, 0, -1))
    assert tools.snapshot_name(at) == "bench-20261130180509"


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("/usr/sbin/syncoid version 2.1.0\n(Getopt::Long::GetOptions version 2.52; Perl "
         "version 5.36.0)\n", "2.1.0"),
        ("zfs-autobackup v3.3 - (c)2022 E.H.Eefting (edwin@datux.nl)\n", "3.3"),
        ("bzfs-1.25.0, by Wolfgang Hoschek\n", "1.25.0"),
    ],
)  # fmt: skip
def test_parse_version(output: str, version: str) -> None:
    assert tools.parse_version(output) == version


def test_parse_version_without_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="no version"):
        tools.parse_version("command not found\n")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["send", "-c", "-I", "a@1", "a@2"], "send"),
        (["-V"], "-V"),
        (["zpool", "sync", "zbsrc"], "zpool sync"),
        ([], "?"),
    ],
)
def test_verb(argv: list[str], expected: str) -> None:
    assert tools.verb(argv) == expected
