"""Rendering: tables, JSON shape and the two progress displays (no bus here)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from rich.console import Console

from zfsyncctl.models import (
    DaemonStatus,
    Finished,
    MessageEvent,
    Progress,
    SnapshotRow,
    StepFinished,
    StepStarted,
    TransactionDetail,
    TransactionSummary,
    WatchEvent,
)
from zfsyncctl.progress import NoProgress, PlainProgress, RichProgress, choose_view
from zfsyncctl.render import (
    dump_json,
    fmt_bytes,
    fmt_seconds,
    outcome_line,
    render_snapshots,
    render_status,
    render_transaction,
    render_transactions,
)
from zfsyncd.api.names import NO_UID


def tx_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "t1", "path": "/org/zfsync/Daemon1/Transaction/t1", "type": "snapshot",
        "state": "EXECUTING", "description": "snapshot tank/home", "uid": 1000, "priority": 0,
        "created": time.time(), "updated": time.time(), "finished": 0.0, "error": "",
        "error_kind": "", "rollback_outcome": "", "rolls_back": "", "retry_of": "",
        "tags": ["nightly"], "datasets": ["tank/home"], "percent": 42.0, "bytes_done": 42,
        "bytes_total": 100,
        "steps": [{"index": 0, "kind": "snapshot", "description": "zfs snapshot tank/home@zfsync_1",
                   "state": "RUNNING", "error": "", "started": time.time(), "finished": 0.0,
                   "estimate": 0}],
    }  # fmt: skip
    data.update(over)
    return data


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=160, color_system=None), buf


def test_values() -> None:
    assert fmt_bytes(0) == "0 B"
    assert fmt_bytes(1536) == "1.5 KiB"
    assert fmt_bytes(3 * 1024**3) == "3.0 GiB"
    assert fmt_seconds(-1) == "?"
    assert fmt_seconds(75) == "1:15"
    assert fmt_seconds(3725) == "1:02:05"


def test_status_table() -> None:
    c, buf = console()
    render_status(c, DaemonStatus(
        version="1", backend="cli", started=0, pools=["tank"], active=2, queued=1,
        max_parallel=4, pending_cleanups=0, transactions=9,
    ))  # fmt: skip
    out = buf.getvalue()
    assert "cli" in out
    assert "2 (at most 4 in parallel)" in out


def test_transaction_tables() -> None:
    c, buf = console()
    detail = TransactionDetail.model_validate(tx_data())
    render_transactions(c, [TransactionSummary.model_validate(tx_data()), detail])
    render_transaction(c, detail)
    out = buf.getvalue()
    assert "ID" in out
    assert "snapshot tank/home" in out
    assert "42%" in out
    assert "zfs snapshot tank/home@zfsync_1" in out
    assert "RUNNING" in out


def test_unrecorded_uid_and_failure_lines() -> None:
    tx = TransactionDetail.model_validate(tx_data(
        uid=NO_UID, state="FAILED", error="out of space", error_kind="NoSpace",
        rollback_outcome="all 1 step undone",
    ))  # fmt: skip
    assert tx.uid_text == "-"
    c, buf = console()
    render_transaction(c, tx)
    assert "out of space [NoSpace]" in buf.getvalue()
    assert outcome_line(tx) == (
        "transaction t1 FAILED: snapshot tank/home; error: out of space; "
        "rollback: all 1 step undone"
    )


def test_empty_lists() -> None:
    c, buf = console()
    render_transactions(c, [])
    render_snapshots(c, [])
    assert buf.getvalue().split("\n")[:2] == ["no transactions", "no snapshots"]


def test_json_keeps_keys_the_daemon_adds() -> None:
    tx = TransactionDetail.model_validate(tx_data(new_key="x"))
    buf = io.StringIO()
    dump_json([tx], buf)
    doc = json.loads(buf.getvalue())
    assert doc[0]["new_key"] == "x"
    assert doc[0]["steps"][0]["index"] == 0
    assert set(tx_data()) <= set(doc[0])


def test_snapshot_rows() -> None:
    row = SnapshotRow(
        name="tank@zfsync_1", dataset="tank", snapshot="zfsync_1", guid=2**63, created=0,
        used=2048, referenced=4096, held=True, transaction="t1",
    )  # fmt: skip
    c, buf = console()
    render_snapshots(c, [row])
    assert "tank@zfsync_1" in buf.getvalue()
    assert "2.0 KiB" in buf.getvalue()
    out = io.StringIO()
    dump_json([row], out)
    assert json.loads(out.getvalue())[0]["guid"] == 2**63


EVENTS: list[WatchEvent] = [
    StepStarted(index=0, description="zfs snapshot tank@zfsync_1"),
    *[Progress(percent=p, bytes_done=p, bytes_total=100, rate=10.0, eta=5.0) for p in range(101)],
    StepFinished(index=0, state="COMPLETED"),
    MessageEvent(text="1 snapshot created"),
    Finished(state="COMPLETED", error=""),
]


def test_plain_progress_lines_are_few() -> None:
    buf = io.StringIO()
    view = PlainProgress(buf, every=3600)
    view.start(TransactionDetail.model_validate(tx_data(percent=0.0)))
    for e in EVENTS:
        view.update(e)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "t1: EXECUTING snapshot tank/home"
    assert "t1: step 0 started: zfs snapshot tank@zfsync_1" in lines
    progress = [ln for ln in lines if "%" in ln]
    assert len(progress) == 11  # 0%, 10%, ... 100%: not 101 lines
    assert progress[-1] == "t1: 100% 100 B of 100 B, 10 B/s, ETA 0:05"
    assert lines[-3:] == [
        "t1: step 0 COMPLETED: zfs snapshot tank@zfsync_1",
        "t1: 1 snapshot created",
        "t1: COMPLETED",
    ]


def test_rich_progress_draws_a_bar() -> None:
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=True, width=120, color_system=None)
    view = RichProgress(term)
    view.start(TransactionDetail.model_validate(tx_data()))
    for e in EVENTS:
        view.update(e)
    view.stop()
    out = buf.getvalue()
    assert "t1" in out
    assert "100%" in out
    assert "1 snapshot created" in out
    assert "━" in out  # the bar


def test_choice_of_view() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(choose_view(json_output=False, stderr=io.StringIO()), PlainProgress)
    assert isinstance(choose_view(json_output=True, stderr=io.StringIO()), NoProgress)
    assert isinstance(choose_view(json_output=True, stderr=Tty()), RichProgress)


ESC = "\x1b]0;owned\x07\x1b[2J"  # sets the terminal's title, clears the screen


def test_control_characters_from_the_daemon_never_reach_the_terminal() -> None:
    tx = TransactionDetail.model_validate(
        tx_data(
            tags=[f"nightly{ESC}"],
            description=f"snapshot\ntank [red]x[/red]{ESC}",
            error=f"boom\r{ESC}",
            state="FAILED",
            steps=[{"index": 0, "kind": "snapshot", "description": f"zfs{ESC}",
                    "state": "FAILED", "error": f"no\x00{ESC}"}],
        )
    )  # fmt: skip
    con, buf = console()
    render_transaction(con, tx)
    render_transactions(con, [TransactionSummary.model_validate(tx_data(description=ESC))])
    text = buf.getvalue() + outcome_line(tx)
    assert not any(c in text for c in "\x1b\x07\x00\r")
    assert "nightly\\x1b]0;owned\\x07\\x1b[2J" in text
    assert "snapshot\\ntank [red]x[/red]" in text  # shown as written: neither a newline nor markup
    assert "no\\x00" in text


def test_json_output_stays_exact_json() -> None:
    tx = TransactionDetail.model_validate(tx_data(tags=[ESC]))
    buf = io.StringIO()
    dump_json(tx, file=buf)
    assert "\x1b" not in buf.getvalue()  # json escapes it (\u001b) ...
    assert json.loads(buf.getvalue())["tags"] == [ESC]  # ... and reads back exactly


def test_a_detail_says_how_many_datasets_it_left_out() -> None:
    tx = TransactionDetail.model_validate(tx_data(datasets=["tank/a"], datasets_count=3))
    con, buf = console()
    render_transaction(con, tx)
    assert "tank/a (and 2 more)" in buf.getvalue()
