"""Rendering for people (rich tables on stdout) and for programs (one JSON document).

Nothing here talks to the bus: each function takes the models of models.py (or rows.py's
rows). Text that came from the daemon (names, descriptions, tags, errors) reaches a terminal
only through `clean` (control characters as visible escapes: an ESC sequence in a stored
field must not drive the terminal) and as rich `Text` (so "[red]" in a description is shown,
not read as markup). --json output is exact: json.dumps escapes control characters itself.

rich is imported by the functions that draw with it, not by this module: a command that
prints JSON, a line, or its --help does without rich's import (tens of ms of zfsyncctl's
start). A list's table (`Rows`) off a terminal is printed without rich too, when the plain
text is character for character what rich would print (`plain_lines`); tests/unit/cli/
test_plain_tables.py compares the two."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from .rows import SummaryRow

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console, RenderableType
    from rich.text import Text

    from .models import DaemonStatus, SnapshotRow, TransactionDetail

    #: what a command prints with --json
    Json = BaseModel | SummaryRow | list[Any] | dict[str, Any]

STATE_STYLES = {
    "COMPLETED": "green",
    "FAILED": "bold red",
    "CANCELLED": "yellow",
    "EXECUTING": "cyan",
    "PREPARED": "blue",
    "CREATED": "blue",
    "RUNNING": "cyan",
    "PENDING": "dim",
    "SKIPPED": "dim",
}


#: the width of a console that is not a terminal, unless COLUMNS says otherwise
PIPE_WIDTH = 200


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A console on stdout (or stderr); when it is not a terminal, wide enough that a table
    piped to a file or `grep` keeps one row per line (COLUMNS still wins)."""
    from rich.console import Console

    stream = file or (sys.stderr if stderr else sys.stdout)
    width = None if _isatty(stream) or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _isatty(stream: IO[str]) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def plain_width(stream: IO[str]) -> int | None:
    """The width make_console(stream) lays tables out in when rich would print to it without
    styles, as it does off a terminal; None when rich would draw for a terminal (rich's
    rules: a tty, or TTY_COMPATIBLE=1 or FORCE_COLOR set) or finds the width by asking one."""
    env = os.environ
    tty_compatible = env.get("TTY_COMPATIBLE", "")
    forced = tty_compatible == "1" or (tty_compatible != "0" and env.get("FORCE_COLOR", "") != "")
    if forced or _isatty(stream):
        return None
    columns = env.get("COLUMNS")
    if not columns:
        return PIPE_WIDTH
    return int(columns) if columns.isdigit() else None


def show(console: Console, renderable: RenderableType) -> None:
    """Print; off a terminal without the padding rich leaves at line ends."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as cap:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in cap.get().splitlines())
    console.file.write(text + "\n")
    console.file.flush()


# --- values ------------------------------------------------------------------------------


def fmt_time(epoch: float) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fmt_bytes(n: float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_seconds(seconds: float) -> str:
    if seconds < 0:
        return "?"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """`text` with every control or other non-printable character (ESC, newline, NUL,
    bidi overrides...) shown as an escape (\\x1b, \\n), so it reads as what it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def safe(text: str, style: str = "") -> Text:
    """Daemon-given text for a table cell: cleaned, and never read as rich markup."""
    from rich.text import Text

    return Text(clean(text), style=style)


def state_text(state: str) -> Text:
    return safe(state, STATE_STYLES.get(state, ""))


# --- JSON --------------------------------------------------------------------------------


def as_json(value: Any) -> Any:
    """A JSON-ready value of a pydantic model, a SummaryRow, or a list or dict of them."""
    if isinstance(value, SummaryRow):
        return value.to_json()
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value.model_dump(mode="json") if _is_model(value) else value


def _is_model(value: object) -> bool:
    # pydantic is not imported to ask: when nothing has loaded it, nothing is a model
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def dump_json(value: Json, file: IO[str] | None = None) -> None:
    """One JSON document on stdout (or `file`)."""
    import json  # here: a table for a person does without it

    out = file or sys.stdout
    out.write(json.dumps(as_json(value), indent=2, ensure_ascii=False) + "\n")
    out.flush()


# --- tables ------------------------------------------------------------------------------


def render_status(console: Console, status: DaemonStatus) -> None:
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("version", safe(status.version))
    table.add_row("backend", safe(status.backend))
    table.add_row("started", fmt_time(status.started))
    table.add_row("pools", safe(", ".join(status.pools) or "-"))
    table.add_row("active", f"{status.active} (at most {status.max_parallel} in parallel)")
    table.add_row("queued", str(status.queued))
    table.add_row("pending cleanups", str(status.pending_cleanups))
    table.add_row("stored transactions", str(status.transactions))
    show(console, table)


# --- tables of rows: drawn by rich, or the same characters without it ---------------------


@dataclass(frozen=True)
class Column:
    header: str
    #: free text (a description) may wrap when the table is wider than the console
    wrap: bool = False
    right: bool = False


#: a cell: its text (cleaned, never markup) and its rich style
Cell = tuple[str, str]


@dataclass(frozen=True)
class Rows:
    """A table of rows with a header (a list command's output), before it is drawn."""

    columns: tuple[Column, ...]
    rows: list[tuple[Cell, ...]]
    #: what is printed instead of a table without rows
    empty: str


def draw(console: Console, table: Rows) -> None:
    """`table` drawn by rich."""
    if not table.rows:
        console.print(table.empty)
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, pad_edge=False, header_style="bold")
    for col in table.columns:
        grid.add_column(col.header, no_wrap=not col.wrap, justify="right" if col.right else "left")
    for row in table.rows:
        grid.add_row(*(Text(text, style=style) for text, style in row))
    show(console, grid)


def plain_lines(table: Rows, width: int) -> list[str] | None:
    """The lines `draw` prints on a console `width` wide that is not a terminal (so without
    styles), made without rich (its import and its layout of each cell are most of what
    `transaction list` draws in); None when rich would lay the table out otherwise than
    columns as wide as their widest cell: when it is wider than the console (rich shrinks
    and wraps columns) or a character may not be one cell wide."""
    texts = [[c.header for c in table.columns], *([text for text, _ in row] for row in table.rows)]
    if not table.rows:
        texts = [[table.empty]]
    if not all(t.isascii() and t.isprintable() for line in texts for t in line):
        return None
    widths = [max(len(line[i]) for line in texts) for i in range(len(texts[0]))]
    if sum(widths) + 2 * (len(widths) - 1) > width:
        return None
    if not table.rows:
        return [table.empty]
    rights = [c.right for c in table.columns]
    return [
        "  ".join(
            # rich strips the end of a right-justified cell (not of a left-justified one)
            t.rstrip().rjust(w) if right else t.ljust(w)
            for t, w, right in zip(line, widths, rights, strict=True)
        ).rstrip()
        for line in texts
    ]


def transactions_table(rows: Sequence[SummaryRow]) -> Rows:
    columns = ("ID", "TYPE", "STATE", "CREATED", "UID", "PROGRESS", "DESCRIPTION")
    return Rows(
        columns=tuple(Column(c, wrap=c == "DESCRIPTION") for c in columns),
        rows=[
            (
                (clean(tx.id), ""),
                (clean(tx.type), ""),
                (clean(tx.state), STATE_STYLES.get(tx.state, "")),
                (fmt_time(tx.created), ""),
                (tx.uid_text, ""),
                ("" if tx.terminal else f"{tx.percent:.0f}%", ""),
                (clean(tx.description), ""),
            )
            for tx in rows
        ],
        empty="no transactions",
    )


def render_transactions(console: Console, rows: Sequence[SummaryRow]) -> None:
    draw(console, transactions_table(rows))


def render_transaction(console: Console, tx: TransactionDetail) -> None:
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("id", safe(tx.id))
    head.add_row("type", safe(tx.type))
    head.add_row("state", state_text(tx.state))
    head.add_row("description", safe(tx.description))
    head.add_row("datasets", safe(_datasets(tx)))
    head.add_row("uid", tx.uid_text)
    head.add_row("priority", str(tx.priority))
    head.add_row("created", fmt_time(tx.created))
    head.add_row("updated", fmt_time(tx.updated))
    head.add_row("finished", fmt_time(tx.finished))
    if tx.tags:
        head.add_row("tags", safe(", ".join(tx.tags)))
    if tx.rolls_back:
        head.add_row("rolls back", safe(tx.rolls_back))
    if tx.retry_of:
        head.add_row("retry of", safe(tx.retry_of))
    if not tx.terminal or tx.bytes_total:
        head.add_row(
            "progress",
            f"{tx.percent:.1f}% ({fmt_bytes(tx.bytes_done)} of {fmt_bytes(tx.bytes_total)})",
        )
    if tx.error:
        kind = f" [{tx.error_kind}]" if tx.error_kind else ""
        head.add_row("error", safe(tx.error + kind, "red"))
    if tx.rollback_outcome:
        head.add_row("rollback", safe(tx.rollback_outcome))
    show(console, head)
    if not tx.steps:
        return
    console.print()
    steps = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("#", "KIND", "STATE", "STARTED", "FINISHED", "DESCRIPTION"):
        steps.add_column(col, no_wrap=col != "DESCRIPTION")
    for step in tx.steps:
        desc = safe(step.description)
        if step.error:
            desc.append("\n" + clean(step.error), style="red")
        steps.add_row(
            str(step.index),
            safe(step.kind),
            state_text(step.state),
            fmt_time(step.started),
            fmt_time(step.finished),
            desc,
        )
    show(console, steps)


def snapshots_table(rows: Sequence[SnapshotRow]) -> Rows:
    columns = ("NAME", "CREATED", "USED", "REFER", "HELD", "TRANSACTION")
    return Rows(
        columns=tuple(Column(c, right=c in ("USED", "REFER")) for c in columns),
        rows=[
            (
                (clean(row.name), ""),
                (fmt_time(row.created), ""),
                (fmt_bytes(row.used), ""),
                (fmt_bytes(row.referenced), ""),
                ("yes" if row.held else "no", ""),
                (clean(row.transaction or "-"), ""),
            )
            for row in rows
        ],
        empty="no snapshots",
    )


def render_snapshots(console: Console, rows: Sequence[SnapshotRow]) -> None:
    draw(console, snapshots_table(rows))


def outcome_line(tx: TransactionDetail) -> str:
    """One line on how a transaction ended, for a person."""
    line = f"transaction {tx.id} {tx.state}"
    if tx.description:
        line += f": {tx.description}"
    if tx.error:
        line += f"; error: {tx.error}"
    if tx.rollback_outcome:
        line += f"; rollback: {tx.rollback_outcome}"
    return clean(line)


def _datasets(tx: TransactionDetail) -> str:
    """The datasets, and how many more there are than the reply names."""
    text = ", ".join(tx.datasets) or "-"
    more = tx.datasets_count - len(tx.datasets)
    return f"{text} (and {more} more)" if more > 0 else text
