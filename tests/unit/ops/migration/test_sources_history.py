"""Sources (snapper's info.xml, a plain directory's order) and the history's continuation."""

from __future__ import annotations

from pathlib import Path

import pytest

from zfsyncd.ops.migration import history
from zfsyncd.ops.migration.exclusions import excluded, rsync_excludes
from zfsyncd.ops.migration.sources import (
    SourceError,
    SourceKind,
    SourceSnapshot,
    detect,
    parse_info,
    plain_order,
    read_source,
)

INFO = """<?xml version="1.0"?>
<snapshot>
  <type>single</type>
  <num>{num}</num>
  <date>2025-05-29 10:00:00</date>
  {rest}
</snapshot>"""


@pytest.mark.parametrize(
    ("num", "rest", "expected"),
    [
        ("1", "<description>first</description>", (1, "2025-05-29 10:00:00", "first")),
        ("42", "", (42, "2025-05-29 10:00:00", "")),
        ("7", "<description>  two\n lines </description>", (7, "2025-05-29 10:00:00", "two lines")),
        (
            "3",
            "<description>caf&#233; &amp; tea</description>",
            (3, "2025-05-29 10:00:00", "café & tea"),
        ),
    ],
)
def test_info_xml(num: str, rest: str, expected: tuple[int, str, str]) -> None:
    assert parse_info(INFO.format(num=num, rest=rest)) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not xml", "not XML"),
        ("<other><num>1</num></other>", "<other>"),
        ("<snapshot><num>x</num></snapshot>", "no number"),
        ("<snapshot></snapshot>", "no number"),
        ('<!DOCTYPE s [<!ENTITY a "aaaa">]><snapshot><num>1</num></snapshot>', "DOCTYPE"),
    ],
)
def test_info_xml_refused(text: str, says: str) -> None:
    with pytest.raises(SourceError, match=says):
        parse_info(text)


@pytest.mark.parametrize(
    ("names", "order"),
    [
        (["s10", "s2", "s1"], [(1, "s1"), (2, "s2"), (10, "s10")]),
        (["3", "1", "20"], [(1, "1"), (3, "3"), (20, "20")]),
        (["snap-003", "snap-001"], [(1, "snap-001"), (3, "snap-003")]),
        (["b", "a", "c1"], [(1, "a"), (2, "b"), (3, "c1")]),  # not all numbered: by name
        (["s1", "t1"], [(1, "s1"), (2, "t1")]),  # a number twice: by name
        ([], []),
    ],
)
def test_plain_order(names: list[str], order: list[tuple[int, str]]) -> None:
    assert plain_order(names) == order


def test_read_snapper_and_plain(tmp_path: Path) -> None:
    snapper = tmp_path / "subvol"
    for num in (2, 1, 10):
        d = snapper / ".snapshots" / str(num)
        (d / "snapshot").mkdir(parents=True)
        (d / "info.xml").write_text(INFO.format(num=num, rest=f"<description>n{num}</description>"))
    assert detect(snapper) is SourceKind.SNAPPER
    found = read_source(snapper)
    assert [(s.number, s.description) for s in found] == [(1, "n1"), (2, "n2"), (10, "n10")]
    assert found[0].path == snapper / ".snapshots" / "1" / "snapshot"

    plain = tmp_path / "plain"
    for name in ("s2", "s1"):
        (plain / name).mkdir(parents=True)
    (plain / "notes.txt").write_text("not a snapshot")
    assert detect(plain) is SourceKind.PLAIN
    assert [s.path.name for s in read_source(plain)] == ["s1", "s2"]
    with pytest.raises(SourceError, match="no snapshot"):
        read_source(tmp_path / "plain" / "s1")
    with pytest.raises(SourceError, match="absolute"):
        read_source(Path("relative"))


@pytest.mark.parametrize(
    ("path", "out"),
    [
        (".zfsync", True),
        (".zfsync/manifests/000001.json", True),
        (".zfs/snapshot", True),
        (".Trash-1000", True),
        ("lost+found", True),
        ("data/.zfs", False),  # below the root a name is the user's
        ("data/.zfsync", False),
        (".zfsyncx", False),
        ("a", False),
    ],
)
def test_one_exclusion_list(path: str, out: bool) -> None:
    assert excluded(path) is out


def test_rsync_patterns_are_anchored() -> None:
    assert all(p.startswith("/") for p in rsync_excludes())
    assert "/.zfsync" in rsync_excludes()


def _src(*numbers: int) -> list[SourceSnapshot]:
    return [SourceSnapshot(n, Path(f"/s/{n}")) for n in numbers]


@pytest.mark.parametrize(
    ("numbers", "migrated", "limit", "left"),
    [
        ((1, 2, 3), (), None, [1, 2, 3]),
        ((1, 2, 3), (1,), None, [2, 3]),
        ((1, 2, 3), (1, 2, 3), None, []),
        ((1, 2, 3), (), 2, [1, 2]),
        ((1, 2, 3), (1,), 2, [2]),  # --limit counts what is there already
        ((1, 2, 3), (1, 2), 1, []),
        ((5, 9, 12), (5,), None, [9, 12]),
    ],
)
def test_remaining(
    numbers: tuple[int, ...], migrated: tuple[int, ...], limit: int | None, left: list[int]
) -> None:
    assert [s.number for s in history.remaining(_src(*numbers), migrated, limit)] == left


@pytest.mark.parametrize(
    ("numbers", "migrated", "says"),
    [
        ((1, 2, 3), (2,), "source snapshot 1 is not in the dataset"),
        ((1, 2, 3), (1, 3), "source snapshot 2 is not in the dataset"),
        ((1, 2), (1, 4), "the dataset has source snapshot 4"),
    ],
)
def test_remaining_refuses_another_history(
    numbers: tuple[int, ...], migrated: tuple[int, ...], says: str
) -> None:
    with pytest.raises(history.HistoryError, match=says):
        history.remaining(_src(*numbers), migrated)


@pytest.mark.parametrize(
    ("short", "number"),
    [("zfsync_migrate_000001", 1), ("zfsync_migrate_123456", 123456), ("zfsync_x", None),
     ("migrate_000001", None), ("zfsync_migrate_", None)],
)  # fmt: skip
def test_snapshot_names(short: str, number: int | None) -> None:
    assert history.number_of(short) == number
    if number is not None:
        assert history.snapshot_short(number) == short


def test_snapshot_properties() -> None:
    props = history.properties(SourceSnapshot(3, Path("/x"), "2025-01-01 00:00:00", "a\tb"))
    assert props == {
        "zfsync:source-number": "3",
        "zfsync:source-date": "2025-01-01 00:00:00",
        "zfsync:source-description": "a b",
    }
    assert history.properties(SourceSnapshot(4, Path("/x")))["zfsync:source-date"] == "-"
