"""zfsyncctl: the command line of zfsyncd (click -> command.py, client.py -> render.py).

Commands
    status
    transaction list [--state S]... [--type T] [--since 2h|1d|ISO-8601] [--limit N] [--active]
    transaction show|watch|cancel|retry ID
    transaction rollback ID | --last-failed
    transaction cleanup --older-than 30d
    snapshot create DATASET... [-r] [--hold] [-o key=value]... [--priority N] [--timeout S]
                               [--tag T]... [--fail-if-busy]
    snapshot list [DATASET...] [--all] [--no-recursive]
    snapshot destroy SNAPSHOT... [--any-name] [--fail-if-busy]
    job list|show|run|pause|resume NAME; config check FILE; config reload   (job.py)
    snapshot ... (snapshot.py), replica, dataset, migrate, prune: a module each
    witness status|conflicts                                              (witness.py)
Every command takes --json (one JSON document on stdout) and --no-ask-password. Commands
that start a transaction wait for it with a progress display on stderr and exit by its
outcome; --no-wait prints the new transaction's id and returns at once.

Exit codes (exitcodes.py; scripts may rely on them)

| code | meaning |
| --- | --- |
| 0 | success (a transaction it waited for ended COMPLETED) |
| 1 | the transaction ended FAILED or CANCELLED |
| 2 | usage error (bad command line; click's own) |
| 3 | not authorized (polkit said no) |
| 4 | not found (no such transaction, dataset or snapshot) |
| 5 | invalid request, or refused by the daemon |
| 6 | busy: a dataset is in another transaction (--fail-if-busy), or polkit cannot be asked now |
| 7 | the daemon cannot be reached (no bus, zfsyncd not on it, or it left mid-call) |
| 8 | internal error (the daemon failed, or its reply made no sense) |
| 130 | interrupted (Ctrl-C); a transaction being waited for goes on in the daemon |

Errors are one line on stderr, `zfsyncctl: <the daemon's message>`; with --json also a
document {"error": {...}} on stdout. ZFSYNCCTL_DEBUG=1 shows tracebacks of internal errors.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

from zfsyncd.api.limits import DEFAULT_TRANSACTION_PAGE
from zfsyncd.api.states import TxState

from .errors import ClientError, NotFoundError
from .exitcodes import EXIT_CODE_HELP
from .params import DURATION, SINCE

# The client (dbus-fast, asyncio, pydantic) and the rendering are imported by the commands
# that run, not here: `zfsyncctl --help`, a usage error and shell completion's start do
# without them (about half of zfsyncctl's start-up).
if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from .client import ZfsyncClient
    from .command import Output

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = (
    "\b\nExit codes:\n"
    + "\n".join(f"  {int(code):>3}  {text}" for code, text in EXIT_CODE_HELP.items())
    + "\n  130  interrupted (a transaction being waited for goes on)"
)


# --- shared options ----------------------------------------------------------------------


def common(f: F) -> F:
    """--json and --no-ask-password on every command."""
    f = click.option(
        "--no-ask-password",
        is_flag=True,
        help="Never let polkit ask for a password (the default when stdin is not a terminal).",
    )(f)
    f = click.option(
        "--json", "json_output", is_flag=True, help="Print one JSON document on stdout."
    )(f)
    return f


def waiting(f: F) -> F:
    """--no-wait and --fail-if-busy on every command that starts a transaction."""
    f = click.option(
        "--fail-if-busy",
        is_flag=True,
        help="Fail at once (exit 6) when a dataset is in another transaction, instead of queueing.",
    )(f)
    f = click.option(
        "--no-wait", is_flag=True, help="Print the new transaction's id and return at once."
    )(f)
    return f


def complete_transaction_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion of transaction ids, from the daemon; nothing when it is away."""
    import asyncio

    from click.shell_completion import CompletionItem

    from .connection import Connection
    from .listing import TransactionFilter, list_transactions

    async def ids() -> list[CompletionItem]:
        async with await Connection.connect() as bus:
            rows = await list_transactions(bus, TransactionFilter(limit=200))
        return [
            CompletionItem(tx.id, help=f"{tx.state} {tx.description}")
            for tx in rows
            if tx.id.startswith(incomplete)
        ]

    async def bounded() -> list[CompletionItem]:
        async with asyncio.timeout(2):
            return await ids()

    try:
        return asyncio.run(bounded())
    except (ClientError, TimeoutError, OSError):
        return []


# --- commands ----------------------------------------------------------------------------


class _Commands(click.Group):
    """The top-level group. A command group of a module of its own is imported when it is
    named, listed (--help) or completed: `transaction list` does without `replica`'s
    declarations (about 7 ms of its start-up; issue 9's goal is 150 ms in all)."""

    LAZY: ClassVar[Mapping[str, str]] = {
        "snapshot": "zfsyncctl.snapshot",
        "replica": "zfsyncctl.replica",
        "dataset": "zfsyncctl.dataset",
        "migrate": "zfsyncctl.migrate",
        "prune": "zfsyncctl.prune",
        "job": "zfsyncctl.job",
        "config": "zfsyncctl.job",
        "witness": "zfsyncctl.witness",
    }  # the module registers the group (or command) on `cli`

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            importlib.import_module(self.LAZY[cmd_name])
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_Commands,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="zfsyncd", prog_name="zfsyncctl")
def cli() -> None:
    """Control zfsyncd: ZFS work as persistent, reversible transactions."""


@cli.command()
@common
def status(json_output: bool, no_ask_password: bool) -> None:
    """Show the daemon's version, backend, pools and queue."""
    from .command import run
    from .render import render_status

    async def body(zc: ZfsyncClient, out: Output) -> int:
        st = await zc.get_status()
        return out.result(st, lambda: render_status(out.console, st))

    run(json_output, no_ask_password, body)


@cli.group()
def transaction() -> None:
    """List, inspect, watch, roll back, cancel, retry and clean up transactions."""


@transaction.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in TxState], case_sensitive=False),
    help="Only transactions in this state (repeatable).",
)
@click.option("--type", "tx_type", metavar="TYPE", help="Only transactions of this type.")
@click.option("--since", type=SINCE, help="Only those created since: 2h, 1d (ago) or ISO-8601.")
@click.option(
    "--limit",
    type=click.IntRange(0, 0xFFFFFFFF),
    help="At most N, newest first (default 100; 0 = all: read page by page).",
)
@click.option("--active", is_flag=True, help="Only CREATED, PREPARED and EXECUTING ones.")
@common
def transaction_list(
    states: tuple[str, ...],
    tx_type: str | None,
    since: float | None,
    limit: int | None,
    active: bool,
    json_output: bool,
    no_ask_password: bool,
) -> None:
    """List transactions, newest first."""
    # on a bare connection: no pydantic (listing.py), and no rich off a terminal (render.py)
    from .command import run_on
    from .connection import Connection
    from .listing import TransactionFilter, all_transactions
    from .render import transactions_table

    tx_filter = TransactionFilter(
        states=[s.upper() for s in states],
        type=tx_type,
        since=since,
        active=active or None,
    )
    at_most = DEFAULT_TRANSACTION_PAGE if limit is None else (limit or None)

    async def body(bus: Connection, out: Output) -> int:
        rows = await all_transactions(bus, tx_filter, at_most)
        return out.result(rows, lambda: out.table(transactions_table(rows)))

    run_on(Connection, json_output, no_ask_password, body)


TX_ID = click.argument("tx_id", metavar="ID", shell_complete=complete_transaction_id)


@transaction.command("show")
@TX_ID
@common
def transaction_show(tx_id: str, json_output: bool, no_ask_password: bool) -> None:
    """Show one transaction and its steps."""
    from .command import run
    from .render import render_transaction

    async def body(zc: ZfsyncClient, out: Output) -> int:
        tx = await zc.get_transaction(tx_id)
        return out.result(tx, lambda: render_transaction(out.console, tx))

    run(json_output, no_ask_password, body)


@transaction.command("watch")
@TX_ID
@common
def transaction_watch(tx_id: str, json_output: bool, no_ask_password: bool) -> None:
    """Follow a transaction until it ends; exit by its outcome (0 COMPLETED, 1 otherwise)."""
    from .command import report, run, wait_for

    async def body(zc: ZfsyncClient, out: Output) -> int:
        return report(out, await wait_for(zc, out, tx_id))

    run(json_output, no_ask_password, body)


@transaction.command("rollback")
@click.argument("tx_id", metavar="[ID]", required=False, shell_complete=complete_transaction_id)
@click.option(
    "--last-failed",
    is_flag=True,
    help="Finish the undo of the newest failed transaction whose undo could not finish "
    "(else report how the newest FAILED one was undone).",
)
@waiting
@common
def transaction_rollback(
    tx_id: str | None,
    last_failed: bool,
    no_wait: bool,
    fail_if_busy: bool,
    json_output: bool,
    no_ask_password: bool,
) -> None:
    """Undo a transaction.

    \b
    COMPLETED: undone by a new, linked transaction (waited for, like any other).
    FAILED or CANCELLED: it was undone when it ended; when that undo could not
    finish (it waits in the cleanup queue), finish it now and print the outcome.
    """
    from .client import LockOptions, TransactionFilter
    from .command import run, started
    from .render import clean

    if (tx_id is None) == (not last_failed):
        raise click.UsageError("give either a transaction ID or --last-failed")

    async def finish(zc: ZfsyncClient, out: Output, target: str) -> int:
        outcome = await zc.finish_rollback(target)
        return out.result(
            {"id": target, "outcome": outcome},
            lambda: click.echo(clean(f"transaction {target}: {outcome}")),
        )

    async def body(zc: ZfsyncClient, out: Output) -> int:
        if tx_id is None:
            # first the newest one whose undo still waits; failing that the newest FAILED
            # one (its undo finished when it ended: finish() says so)
            rows = await zc.list_transactions(TransactionFilter(rollback_pending=True, limit=1))
            if not rows:
                rows = await zc.list_transactions(
                    TransactionFilter(states=[TxState.FAILED], limit=1)
                )
            if not rows:
                raise NotFoundError("there is no FAILED transaction")
            return await finish(zc, out, rows[0].id)
        tx = await zc.get_transaction(tx_id)
        if tx.state in (TxState.FAILED, TxState.CANCELLED):
            return await finish(zc, out, tx_id)
        new = await zc.rollback(tx_id, LockOptions(wait_for_locks=not fail_if_busy))
        return await started(zc, out, new, not no_wait)

    run(json_output, no_ask_password, body)


@transaction.command("cancel")
@TX_ID
@common
def transaction_cancel(tx_id: str, json_output: bool, no_ask_password: bool) -> None:
    """Cancel a transaction before or while it runs; what it did is undone."""
    from .command import run, wait_for
    from .render import outcome_line

    async def body(zc: ZfsyncClient, out: Output) -> int:
        await zc.cancel(tx_id)
        tx = await wait_for(zc, out, tx_id)  # the daemon returns before the undo is done
        return out.result(tx, lambda: click.echo(outcome_line(tx)))

    run(json_output, no_ask_password, body)


@transaction.command("retry")
@TX_ID
@waiting
@common
def transaction_retry(
    tx_id: str, no_wait: bool, fail_if_busy: bool, json_output: bool, no_ask_password: bool
) -> None:
    """Run the request of a FAILED or CANCELLED transaction again, as a new one."""
    from .client import LockOptions
    from .command import run, started

    async def body(zc: ZfsyncClient, out: Output) -> int:
        new = await zc.retry(tx_id, LockOptions(wait_for_locks=not fail_if_busy))
        return await started(zc, out, new, not no_wait)

    run(json_output, no_ask_password, body)


@transaction.command("cleanup")
@click.option(
    "--older-than",
    type=DURATION,
    help="Forget finished transactions older than this (30d, 12h, ...).",
)
@click.option("--run", "run_now", is_flag=True, help="Try every queued cleanup now.")
@common
def transaction_cleanup(
    older_than: float | None, run_now: bool, json_output: bool, no_ask_password: bool
) -> None:
    """Show the deferred-cleanup queue (--run: try it now), or forget finished transactions.

    \b
    The queue holds what ZFS refused when a transaction ended (destroying the old dataset
    of a dataset update while a reader holds it, the rest of an undo); the daemon retries
    each with a growing delay by itself.
    """
    from .command import run

    if older_than is not None and run_now:
        raise click.UsageError("--older-than forgets transactions; --run is for the queue")

    async def forget(zc: ZfsyncClient, out: Output) -> int:
        removed = await zc.cleanup(older_than or 0.0)
        return out.result(
            {"removed": removed, "older_than": older_than},
            lambda: click.echo(f"removed {removed} finished transaction{'s' * (removed != 1)}"),
        )

    async def queue(zc: ZfsyncClient, out: Output) -> int:
        done = await zc.run_cleanups() if run_now else None
        rows = await zc.list_cleanups()

        def show() -> None:
            if done is not None:
                click.echo(f"{done} cleanup{'s' * (done != 1)} done")
            if not rows:
                click.echo("no cleanup waiting")
            for row in rows:
                click.echo(
                    f"{row.id}\t{row.transaction or '-'}\t{row.kind}\t"
                    f"attempts {row.attempts}\t{row.reason}"
                    + (f"\t(last: {row.last_error})" if row.last_error else "")
                )

        document = {"cleanups": [r.model_dump() for r in rows]}
        if done is not None:
            document["done"] = done  # type: ignore[assignment]
        # waiting work is not a failure of this command; what stays is shown
        return out.result(document, show)

    run(json_output, no_ask_password, forget if older_than is not None else queue)
