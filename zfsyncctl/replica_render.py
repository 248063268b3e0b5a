"""`zfsyncctl replica status` for a person: one row per pair, as render.py draws the other
lists (daemon-given text through `safe`, rich imported only to draw)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .render import fmt_bytes, fmt_seconds, safe, show

if TYPE_CHECKING:
    from rich.console import Console

    from .models import ReplicaRow


def other_side(row: ReplicaRow) -> str:
    """The side that is not the row's dataset, with an arrow for the direction."""
    if row.role == "source":
        return f"-> {row.destination or row.peer}"
    return f"<- {row.source or row.peer}"


def short_name(name: str) -> str:
    """`zfsync_1` of pool/fs@zfsync_1, `#zfsync_1` of a bookmark pool/fs#zfsync_1."""
    if "@" in name:
        return name.partition("@")[2]
    return "#" + name.partition("#")[2] if "#" in name else name


def lag_text(row: ReplicaRow) -> str:
    """How far behind the destination is: "-" in sync, "never sent", or time and bytes."""
    if row.lag_seconds < 0:
        return "never sent"
    if row.lag_seconds == 0 and row.lag_bytes == 0 and row.unsent == 0:
        return "-"
    parts = [fmt_seconds(row.lag_seconds)]
    if row.lag_bytes:
        parts.append(fmt_bytes(row.lag_bytes))
    if row.unsent:
        parts.append(f"{row.unsent} unsent")
    return ", ".join(parts)


def state_text(row: ReplicaRow) -> str:
    """What needs a person's eye: unreadable side, pause, partial receive, last failure."""
    words = []
    if row.error:
        words.append(f"error: {row.error}")
    if row.paused:
        words.append("paused")
    if row.resume_token:
        words.append("partial receive (resumes)")
    if row.last_error:
        words.append(f"last failure {row.last_error_transaction}: {row.last_error}")
    return "; ".join(words) or "ok"


def render_replicas(console: Console, rows: list[ReplicaRow]) -> None:
    if not rows:
        console.print("no replica pairs")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("DATASET", "ROLE", "PEER", "LAST SENT", "AGE", "LAG", "KEEP", "STATE"):
        table.add_column(col, no_wrap=col != "STATE")
    for row in rows:
        sent = short_name(row.last_sent)
        table.add_row(
            safe(row.dataset),
            safe(row.role),
            safe(other_side(row)),
            safe(sent or "-"),
            fmt_seconds(row.age) if row.age >= 0 else "-",
            lag_text(row),
            f"{row.source_savecount or '-'}/{row.destination_savecount or '-'}",
            safe(state_text(row), "" if state_text(row) == "ok" else "yellow"),
        )
    show(console, table)
