"""zfsyncctl witness: the multi-host witness as this daemon sees it ([witness] of its
configuration; zfsyncd/witness/).

    witness status        reachable, last report, pending instructions, the backoff
    witness conflicts     the open conflicts of the sync groups this system is in

Both read (org.zfsync.read). `status` of a daemon without [witness] says so (exit 0);
`conflicts` then exits 5, and 8 when the witness cannot be reached (its words on stderr).
This module registers the group on main.cli when main imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .main import cli, common

if TYPE_CHECKING:
    from rich.console import Console

    from zfsyncd.api.records import WitnessConflict, WitnessStatus

    from .client import ZfsyncClient
    from .command import Output


@cli.group()
def witness() -> None:
    """The multi-host witness this daemon reports to and takes instructions from."""


def _when(epoch: float) -> str:
    from .render import fmt_time

    return fmt_time(epoch) if epoch else "never"


def _render_status(console: Console, s: WitnessStatus) -> None:
    from .render import safe

    if not s.configured:
        console.print("no witness configured ([witness] in zfsyncd.toml)")
        return
    reach = "yes" if s.reachable else "no"
    if s.unauthorized:
        reach = "yes, but it refuses this system's key (401)"
    lines = [
        ("witness", s.url),
        ("system", s.system_id),
        ("reachable", reach),
        ("last report", _when(s.last_report) + (" (one is owed)" if s.report_owed else "")),
        ("last heartbeat", _when(s.last_heartbeat)),
        ("instructions", f"{s.pending_instructions} pending at the witness, "
                         f"{s.running_instructions} running here; "
                         f"{s.instructions_run} run, {s.instructions_failed} failed"),
        ("waiting", f"{s.queued_outcomes} outcome(s) to send"),
    ]  # fmt: skip
    if s.failures:
        lines.append(("failing", f"{s.failures}x, next attempt {_when(s.next_attempt)}"))
    if s.error:
        lines.append(("error", s.error))
    for key, value in lines:
        console.print(f"{key + ':':<16}", safe(value))


def _render_conflicts(console: Console, rows: list[WitnessConflict]) -> None:
    if not rows:
        console.print("no conflicts")
        return
    from rich.table import Table

    from .render import safe, show

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("GROUP", "DATASET", "KIND", "STATUS", "STRATEGY", "PROBLEMS"):
        table.add_column(col, no_wrap=col != "PROBLEMS")
    for r in rows:
        table.add_row(
            safe(r.group), safe(r.dataset), safe(r.kind), safe(r.status),
            safe(r.strategy or "-"), safe("; ".join(r.problems)),
        )  # fmt: skip
    show(console, table)


@witness.command("status")
@common
def witness_status(json_output: bool, no_ask_password: bool) -> None:
    """Reachable, last report, instructions pending at the witness and running here."""
    from zfsyncd.api.records import WitnessStatus

    from .client import _parse
    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        (raw,) = await zc.call("WitnessStatus")
        status = _parse(WitnessStatus, raw, "WitnessStatus")
        return out.result(status, lambda: _render_status(out.console, status))

    run(json_output, no_ask_password, body)


@witness.command("conflicts")
@common
def witness_conflicts(json_output: bool, no_ask_password: bool) -> None:
    """The open conflicts (diverged, orphaned, missing) of this system's sync groups."""
    from zfsyncd.api.records import WitnessConflict

    from .client import _parse
    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        (raw,) = await zc.call("WitnessConflicts")
        rows = [_parse(WitnessConflict, r, "WitnessConflicts") for r in raw]
        return out.result(rows, lambda: _render_conflicts(out.console, rows))

    run(json_output, no_ask_password, body)
