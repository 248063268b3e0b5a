"""Running one zfsyncctl command: connect, run its body, print its result for a person or
as JSON, and exit with its code or the code of the error it raised; waiting for a
transaction with a progress display."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from typing import IO, TYPE_CHECKING, NoReturn, TypeVar

import click

from zfsyncd.api.states import TxState

from .connection import Connection
from .errors import ClientError, DaemonUnavailableError, InternalError
from .exitcodes import ExitCode
from .render import clean, draw, dump_json, make_console, outcome_line, plain_lines, plain_width

# The typed client and the models (pydantic) are imported by the commands that use them:
# `transaction list` runs without them (listing.py).
if TYPE_CHECKING:
    from rich.console import Console

    from .client import ZfsyncClient
    from .models import StartedTransaction, TransactionDetail
    from .render import Json, Rows

C = TypeVar("C", bound=Connection)


class Output:
    """Where a command's results and errors go."""

    def __init__(self, json_output: bool) -> None:
        self.json = json_output
        self._console: Console | None = None
        self.waiting_for: str | None = None

    @property
    def console(self) -> Console:
        """The console on stdout, made when first drawn on (so rich is imported only by a
        command that draws a table)."""
        if self._console is None:
            self._console = make_console()
        return self._console

    def error(self, err: ClientError) -> None:
        click.echo(f"zfsyncctl: {clean(err.message)}", err=True)
        if self.json:
            dump_json(
                {
                    "error": {
                        "kind": type(err).__name__,
                        "dbus_name": err.dbus_name,
                        "message": err.message,
                        "exit_code": int(err.exit_code),
                    }
                }
            )

    def table(self, table: Rows) -> None:
        """Print a list command's table: off a terminal as plain text when that is exactly
        what rich would print (without importing rich), else drawn by rich."""
        width = plain_width(sys.stdout) if self._console is None else None
        lines = None if width is None else plain_lines(table, width)
        if lines is None:
            draw(self.console, table)
            return
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()

    def result(self, value: Json, for_a_person: Callable[[], object]) -> int:
        """A command's result: one JSON document of `value` with --json, else what
        `for_a_person` prints. Exit 0."""
        if self.json:
            dump_json(value)
        else:
            for_a_person()
        return ExitCode.OK


if TYPE_CHECKING:
    Body = Callable[[ZfsyncClient, Output], Awaitable[int]]


def wants_interactive(no_ask_password: bool, stdin: IO[str] | None = None) -> bool:
    """Let polkit ask for a password (ALLOW_INTERACTIVE_AUTHORIZATION) when a person can
    answer: stdin is a terminal, and --no-ask-password was not given (as systemctl does)."""
    stream = sys.stdin if stdin is None else stdin
    return not no_ask_password and stream is not None and stream.isatty()


def run(json_output: bool, no_ask_password: bool, body: Body) -> NoReturn:
    """Connect the typed client, run `body`, and exit with its code or the code of the error
    it raised."""
    from .client import ZfsyncClient

    run_on(ZfsyncClient, json_output, no_ask_password, body)


def run_on(
    client: type[C],
    json_output: bool,
    no_ask_password: bool,
    body: Callable[[C, Output], Awaitable[int]],
) -> NoReturn:
    """`run` on a connection of class `client` (a bare Connection needs no pydantic)."""
    out = Output(json_output)
    interactive = wants_interactive(no_ask_password)

    async def main() -> int:
        async with await client.connect(interactive=interactive) as zc:
            return await body(zc, out)

    try:
        with _agent(interactive):
            code = asyncio.run(main())
    except ClientError as e:
        out.error(e)
        code = e.exit_code
    except KeyboardInterrupt:
        if out.waiting_for:
            click.echo(
                f"zfsyncctl: stopped waiting; transaction {out.waiting_for} goes on "
                f"(zfsyncctl transaction cancel {out.waiting_for} stops it)",
                err=True,
            )
        code = 130
    except Exception as e:
        if os.environ.get("ZFSYNCCTL_DEBUG"):
            raise
        out.error(InternalError(f"internal error: {type(e).__name__}: {e}"))
        code = ExitCode.INTERNAL
    sys.exit(int(code))


def _agent(interactive: bool) -> contextlib.AbstractContextManager[object]:
    """polkit's text agent when a person may be asked (agent.py, imported only then)."""
    if not interactive:
        return contextlib.nullcontext()
    from .agent import tty_agent

    return tty_agent(interactive)


async def wait_for(zc: ZfsyncClient, out: Output, tx_id: str) -> TransactionDetail:
    """Watch `tx_id` with a progress display until it ends; its final state."""
    from .models import Finished
    from .progress import choose_view

    view = choose_view(json_output=out.json)
    out.waiting_for = tx_id
    try:
        async with zc.watch(tx_id) as watch:
            last = watch.state
            view.start(last)
            async for event in watch.events():
                view.update(event)
                if isinstance(event, Finished):
                    last = last.model_copy(update={"state": event.state, "error": event.error})
    finally:
        view.stop()
    out.waiting_for = None  # only once it ended: on Ctrl-C, run() names what goes on
    try:
        return await zc.get_transaction(tx_id)
    except DaemonUnavailableError:
        return last  # it ended, and we know how: that is enough


def report(out: Output, tx: TransactionDetail) -> int:
    """How a transaction ended; exit 0 if it COMPLETED, 1 if not (a failure on stderr)."""
    completed = tx.state == TxState.COMPLETED
    line = outcome_line(tx) if completed else f"zfsyncctl: {outcome_line(tx)}"
    out.result(tx, lambda: click.echo(line, err=not completed))
    return ExitCode.OK if completed else ExitCode.TRANSACTION_FAILED


async def started(zc: ZfsyncClient, out: Output, tx: StartedTransaction, wait: bool) -> int:
    if not wait:
        return out.result(tx, lambda: click.echo(tx.id))
    return report(out, await wait_for(zc, out, tx.id))
