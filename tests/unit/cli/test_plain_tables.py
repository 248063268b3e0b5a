"""A list's table printed without rich (render.plain_lines, off a terminal) is character for
character what rich prints there, and plain_width calls a stream a terminal exactly when
rich does."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console

from zfsyncctl.render import Column, Rows, draw, plain_lines, plain_width


def table(rows: list[tuple[str, ...]], *, last_wraps: bool = True) -> Rows:
    headers = ("ID", "STATE", "SIZE", "DESCRIPTION")
    columns = tuple(
        Column(h, wrap=last_wraps and h == "DESCRIPTION", right=h == "SIZE") for h in headers
    )
    return Rows(
        columns=columns,
        rows=[
            tuple((text, "bold red" if i == 1 else "") for i, text in enumerate(r)) for r in rows
        ],
        empty="no rows",
    )


def by_rich(rows: Rows, width: int) -> str:
    """What zfsyncctl printed before plain_lines: rich off a terminal `width` wide."""
    buf = io.StringIO()
    draw(Console(file=buf, width=width, highlight=False, soft_wrap=False), rows)
    return buf.getvalue()


def plain(rows: Rows, width: int) -> str | None:
    lines = plain_lines(rows, width)
    return None if lines is None else "".join(line + "\n" for line in lines)


ROW = ("t1", "COMPLETED", "1.5 KiB", "snapshot tank/home")
CASES: list[tuple[str, Rows, int]] = [
    ("one row", table([ROW]), 200),
    ("no rows", table([]), 200),
    ("empty cells", table([("t1", "", "", ""), ROW]), 200),
    ("spaces kept inside a cell", table([("t 1 ", "A  B", "  7  ", "  two  spaces  ")]), 200),
    ("exactly as wide as the console", table([("a" * 10, "b", "c", "d" * 175)]), 200),
    ("narrow console", table([ROW, ("t22", "FAILED", "12 B", "x")]), 43),
]


@pytest.mark.parametrize(("what", "rows", "width"), CASES, ids=[c[0] for c in CASES])
def test_plain_is_what_rich_prints(what: str, rows: Rows, width: int) -> None:
    assert plain(rows, width) == by_rich(rows, width)


@pytest.mark.parametrize(
    ("what", "rows", "width"),
    [
        ("one character wider than the console", table([("a" * 10, "b", "c", "d" * 176)]), 200),
        ("a row wider, no column wraps", table([ROW], last_wraps=True), 30),
        ("a wide character", table([("t1", "OK", "1", "日本")]), 200),
        ("a combining character", table([("t1", "OK", "1", "e\u0301")]), 200),
        ("the empty text wider than the console", table([]), 5),
    ],
)
def test_rich_draws_what_plain_cannot_draw_the_same(what: str, rows: Rows, width: int) -> None:
    assert plain_lines(rows, width) is None
    assert by_rich(rows, width)  # rich shrinks, wraps or measures it otherwise


def test_random_tables_fitting_or_not() -> None:
    rand = random.Random(9)
    alphabet = "abc xyz-_/:.[]@%0123456789 "
    checked = 0
    for _ in range(300):
        rows = [
            tuple(
                "".join(rand.choice(alphabet) for _ in range(rand.randrange(0, 40)))
                for _ in range(4)
            )
            for _ in range(rand.randrange(0, 6))
        ]
        width = rand.randrange(10, 160)
        got = plain(table(rows), width)
        if got is not None:
            assert got == by_rich(table(rows), width), (rows, width)
            checked += 1
    assert checked > 100  # most fit: the comparison is not vacuous


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


ENVIRONMENTS = [
    {},
    {"TTY_COMPATIBLE": "0"},
    {"TTY_COMPATIBLE": "1"},
    {"FORCE_COLOR": ""},
    {"FORCE_COLOR": "1"},
    {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
    {"TTY_COMPATIBLE": "x", "FORCE_COLOR": "1"},
]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stream", [io.StringIO, Tty])
def test_plain_only_where_rich_sees_no_terminal(
    env: dict[str, str], stream: type[io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("TTY_COMPATIBLE", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = stream()
    if plain_width(out) is not None:
        assert not Console(file=out).is_terminal


@pytest.mark.parametrize(("columns", "width"), [(None, 200), ("", 200), ("90", 90), ("x", None)])
def test_the_width_is_make_consoles(
    columns: str | None, width: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zfsyncctl.render import make_console

    for key in ("TTY_COMPATIBLE", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(key, raising=False)
    if columns is not None:
        monkeypatch.setenv("COLUMNS", columns)
    out = io.StringIO()
    assert plain_width(out) == width
    if width is not None:
        assert make_console(out).width == width


def test_the_lists_of_zfsyncctl_print_the_same_both_ways() -> None:
    from tests.unit.cli.test_rows import raw
    from zfsyncctl.render import snapshots_table, transactions_table
    from zfsyncctl.rows import summary_row
    from zfsyncd.api.records import SnapshotRow

    transactions = transactions_table(
        [
            summary_row(raw()),
            summary_row(raw(id="t2", state="EXECUTING", percent=42.4, uid=2**32 - 1)),
        ]
    )
    snapshots = snapshots_table(
        [
            SnapshotRow(name="tank@zfsync_1", dataset="tank", snapshot="zfsync_1", guid=1,
                        created=0, used=2048, referenced=3 * 1024**3, held=True,
                        transaction="t1"),
            SnapshotRow(name="tank/a@b", dataset="tank/a", snapshot="b", guid=2, created=1e9,
                        used=0, referenced=100, held=False, transaction=""),
        ]
    )  # fmt: skip
    for rows in (transactions, snapshots):
        assert plain(rows, 200) == by_rich(rows, 200)
