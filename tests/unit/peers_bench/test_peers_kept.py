"""bench/peers/kept.py: which files hold a tool's kept setup of cases 2-4, where their copies
go, which way a copy runs, and whether the copies fit in the guest (the lab copies nothing
here, except the sparse copy and the stale-WAL removal, tried on files in tmp_path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.lab_zfs import ARC_MAX
from bench.peers import kept

TMP = Path("/var/tmp/b")
MIB = 1 << 20


def test_a_peers_setup_is_its_two_pool_images() -> None:
    assert kept.kept_files(TMP, "many", "bzfs") == [
        (TMP / "zbsrc.img", TMP / "setup/many-bzfs/zbsrc.img"),
        (TMP / "zbdst.img", TMP / "setup/many-bzfs/zbdst.img"),
    ]


def test_zfsyncds_setup_carries_its_database_and_wal_files() -> None:
    db = kept.engine_db(TMP, "many-own")
    assert db == TMP / "zfsyncd-many-own.db"
    files = kept.kept_files(TMP, "many-own", "zfsyncd", kept.sqlite_files(db))
    assert [kept_copy for _, kept_copy in files] == [
        TMP / "setup/many-own-zfsyncd" / name
        for name in ("zbsrc.img", "zbdst.img", "zfsyncd-many-own.db",
                     "zfsyncd-many-own.db-wal", "zfsyncd-many-own.db-shm")
    ]  # fmt: skip
    assert [work for work, _ in files][2:] == kept.sqlite_files(db)


def test_each_tool_and_group_keeps_its_own_directory_outside_the_pools_directory() -> None:
    dirs = {kept.setup_dir(TMP, group, tool)
            for group in ("many", "many-own") for tool in ("bare", "zfsyncd", "bzfs")}  # fmt: skip
    assert len(dirs) == 6
    # an import that scans TMP (case 1's evict_cache) must never find a copy there
    assert all(d.parent.parent == TMP and d.parent != TMP for d in dirs)


@pytest.mark.parametrize(
    ("keeping", "expected"),
    [
        (True, [(Path("/w/a"), Path("/k/a")), (Path("/w/b"), Path("/k/b"))]),
        (False, [(Path("/k/a"), Path("/w/a")), (Path("/k/b"), Path("/w/b"))]),
    ],
)
def test_copies_run_to_the_kept_files_or_back(keeping: bool, expected: list[kept.Pair]) -> None:
    pairs = [(Path("/w/a"), Path("/k/a")), (Path("/w/b"), Path("/k/b"))]
    assert kept.copies(pairs, keeping) == expected


def test_copy_is_sparse() -> None:
    assert kept.copy_argv(Path("/a"), Path("/b")) == ["cp", "--sparse=always", "/a", "/b"]


def test_mem_available_reads_kib() -> None:
    text = "MemTotal:        4028000 kB\nMemFree:  100 kB\nMemAvailable:    3000000 kB\n"
    assert kept.mem_available(text) == 3000000 * 1024
    with pytest.raises(ValueError, match="no MemAvailable"):
        kept.mem_available("MemTotal: 1 kB\n")


@pytest.mark.parametrize(
    ("setup_mib", "setups", "available_mib", "reserve_mib", "fits"),
    [
        (180, 5, 3000, 1024, True),  # 51 datasets, five tools: 1924 MiB of 3000
        (180, 5, 1923, 1024, False),  # one MiB short
        (180, 5, 1924, 1024, True),  # exactly enough
        (180, 1, 1300, 1024, True),  # the last tool's copy only
        (400, 5, 3000, 1024, False),
    ],
)
def test_room_short(
    setup_mib: int, setups: int, available_mib: int, reserve_mib: int, fits: bool
) -> None:
    short = kept.room_short(setup_mib * MIB, setups, available_mib * MIB, reserve_mib * MIB)
    assert (short is None) == fits
    if not fits:
        assert short is not None
        assert f"the guest has {available_mib} MiB" in short


def test_the_reserve_leaves_the_arc_its_cap() -> None:
    assert kept.RESERVE > ARC_MAX


@pytest.mark.skipif(shutil.which("cp") is None, reason="no cp")
def test_copy_keeps_holes_and_removes_a_stale_wal(tmp_path: Path) -> None:
    work, copies = tmp_path / "work", tmp_path / "kept"
    work.mkdir()
    image = work / "zbsrc.img"
    with image.open("wb") as f:  # 64 MiB long, 1 MiB written
        f.seek(32 * MIB)
        f.write(b"x" * MIB)
        f.truncate(64 * MIB)
    db = work / "z.db"
    db.write_bytes(b"db")
    pairs = [(image, copies / image.name), *((p, copies / p.name) for p in kept.sqlite_files(db))]
    kept.copy(pairs, keeping=True)
    assert (copies / "zbsrc.img").stat().st_size == 64 * MIB
    assert kept.allocated([copies / "zbsrc.img"]) < 8 * MIB
    assert (copies / "z.db").read_bytes() == b"db"
    assert not (copies / "z.db-wal").exists()
    # a run leaves a WAL beside its database; the restore must not keep it with the old db
    (work / "z.db-wal").write_bytes(b"later")
    db.write_bytes(b"changed")
    kept.copy(pairs, keeping=False)
    assert db.read_bytes() == b"db"
    assert not (work / "z.db-wal").exists()
