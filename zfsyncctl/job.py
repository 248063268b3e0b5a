"""zfsyncctl job and zfsyncctl config: the scheduled jobs of zfsyncd's configuration.

    job list                  job show NAME
    job run NAME [--wait]     job pause NAME     job resume NAME
    config check FILE         config reload

`job list|show` read (org.zfsync.read); run, pause, resume and `config reload`
(Manager.Reload, as `systemctl reload zfsyncd`) need org.zfsync.manage. `config check`
validates a configuration file here, with no daemon: one line per problem, exit 5 if any.
This module registers both groups on main.cli when main imports it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from .main import cli, common

if TYPE_CHECKING:
    from rich.console import Console

    from zfsyncd.api.records import JobRow

    from .client import ZfsyncClient
    from .command import Output


@cli.group()
def job() -> None:
    """Show, run, pause and resume the scheduled jobs ([jobs.NAME] of the configuration)."""


def _when(epoch: float) -> str:
    from .render import fmt_time

    return fmt_time(epoch) if epoch else "-"


async def _rows(zc: ZfsyncClient) -> list[JobRow]:
    from zfsyncd.api.records import JobRow

    from .client import _parse

    (rows,) = await zc.call("ListJobs")
    return [_parse(JobRow, r, "ListJobs") for r in rows]


async def _row(zc: ZfsyncClient, name: str) -> JobRow:
    from zfsyncd.api.records import JobRow

    from .client import _parse

    (row,) = await zc.call("GetJob", "s", [name])
    return _parse(JobRow, row, "GetJob")


def _state(row: JobRow) -> str:
    words = []
    if not row.configured:
        words.append("not configured")
    if row.running:
        words.append("running")
    if row.paused:
        words.append("paused")
    if row.last_error:
        words.append(f"failing ({row.failures}x): {row.last_error}")
    words += [f"target {t.name}: {t.last_error}" for t in row.targets if t.failures]
    return "; ".join(words) or "ok"


def _render_list(console: Console, rows: list[JobRow]) -> None:
    if not rows:
        console.print("no jobs configured")
        return
    from rich.table import Table

    from .render import safe, show

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("JOB", "SCHEDULE", "LAST RUN", "LAST SUCCESS", "NEXT RUN", "STATE"):
        table.add_column(col, no_wrap=col != "STATE")
    for row in rows:
        state = _state(row)
        table.add_row(
            safe(row.name), safe(row.schedule or "-"), _when(row.last_run),
            _when(row.last_success), _when(row.next_run),
            safe(state, "" if state == "ok" else "yellow"),
        )  # fmt: skip
    show(console, table)


def _render_one(console: Console, row: JobRow) -> None:
    from .render import safe

    lines: list[tuple[str, str]] = [
        ("job", row.name),
        ("schedule", row.schedule or "-"),
        ("datasets", ", ".join(row.datasets) + (" (recursive)" if row.recursive else "")),
        ("state", _state(row)),
        ("last run", _when(row.last_run)),
        ("last success", _when(row.last_success)),
        ("last error", f"{row.last_error} ({_when(row.last_error_at)})" if row.last_error else "-"),
        ("next run", _when(row.next_run)),
        ("transactions", ", ".join(row.last_transactions) or "-"),
    ]
    for t in row.targets:
        text = f"{t.host}:{t.destination}, last success {_when(t.last_success)}"
        if t.failures:
            text += f"; failed {t.failures}x: {t.last_error}; retry at {_when(t.retry_at)}"
        lines.append((f"target {t.name}", text))
    for key, value in lines:
        console.print(f"{key + ':':<14}", safe(value))


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value or value.startswith("-"):
        raise click.BadParameter(f"{value!r} is not a job name")
    return value


@job.command("list")
@common
def job_list(json_output: bool, no_ask_password: bool) -> None:
    """One row per job: schedule, last run, last success, next run, failures."""
    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        rows = await _rows(zc)
        return out.result(rows, lambda: _render_list(out.console, rows))

    run(json_output, no_ask_password, body)


@job.command("show")
@click.argument("name", callback=_name)
@common
def job_show(name: str, json_output: bool, no_ask_password: bool) -> None:
    """A job: its state, last run and error, next run, its targets and their backoff."""
    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        row = await _row(zc, name)
        return out.result(row, lambda: _render_one(out.console, row))

    run(json_output, no_ask_password, body)


@job.command("run")
@click.argument("name", callback=_name)
@click.option("--wait", is_flag=True, help="Wait for the run to end; exit 1 if it failed.")
@common
def job_run(name: str, wait: bool, json_output: bool, no_ask_password: bool) -> None:
    """Run a job now, outside its schedule (busy, exit 6, while it runs)."""
    import asyncio

    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        started = time.time()
        await zc.call("RunJob", "s", [name])
        row = await _row(zc, name)
        while wait and (row.running or row.last_run < started - 1):
            await asyncio.sleep(0.5)  # a run has no object to watch: its row says
            row = await _row(zc, name)
        if not wait:
            return out.result({"job": name, "started": True}, lambda: print(f"job {name} started"))
        out.result(row, lambda: _render_one(out.console, row))
        return 1 if row.last_error and row.last_error_at >= row.last_run else 0

    run(json_output, no_ask_password, body)


def _change(method: str, name: str, json_output: bool, no_ask_password: bool, done: str) -> None:
    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        await zc.call(method, "s", [name])
        return out.result({"job": name, "done": done}, lambda: print(f"job {name} {done}"))

    run(json_output, no_ask_password, body)


@job.command("pause")
@click.argument("name", callback=_name)
@common
def job_pause(name: str, **kw: Any) -> None:
    """No run of the job starts until `job resume` (a running one goes on)."""
    _change("PauseJob", name, kw["json_output"], kw["no_ask_password"], "paused")


@job.command("resume")
@click.argument("name", callback=_name)
@common
def job_resume(name: str, **kw: Any) -> None:
    """Runs start again; the slots missed while paused are one run."""
    _change("ResumeJob", name, kw["json_output"], kw["no_ask_password"], "resumed")


@cli.group()
def config() -> None:
    """Check a configuration file; make the daemon read its own again."""


@config.command("check")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--json", "json_output", is_flag=True, help="Print one JSON document on stdout.")
def config_check(path: str, json_output: bool) -> None:
    """Validate FILE as zfsyncd would (ZFSYNC_* variables included), without a daemon:
    one line per problem on stderr, exit 5 if there is any."""
    from pathlib import Path

    from zfsyncd.config import check_file

    from .exitcodes import ExitCode
    from .render import dump_json

    lines = check_file(Path(path))
    if json_output:
        dump_json({"file": path, "valid": not lines, "problems": lines})
    elif not lines:
        click.echo(f"{path}: valid")
    for line in lines if not json_output else []:
        click.echo(f"zfsyncctl: {path}: {line}", err=True)
    raise SystemExit(ExitCode.INVALID if lines else ExitCode.OK)


@config.command("reload")
@common
def config_reload(json_output: bool, no_ask_password: bool) -> None:
    """Make the daemon read its configuration again (as SIGHUP does): its jobs apply at
    once, running transactions go on. A bad file changes nothing (exit 5, each problem)."""
    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        (names,) = await zc.call("Reload")
        text = f"reloaded: {len(names)} job(s)" + (f": {', '.join(names)}" if names else "")
        return out.result({"jobs": names}, lambda: print(text))

    run(json_output, no_ask_password, body)
