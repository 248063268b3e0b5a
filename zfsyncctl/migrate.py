"""zfsyncctl migrate: a directory-snapshot history into ZFS (issue 12, seed 004).

    migrate run SRC DATASET [--limit N]     migrate batch CONFIG [--workers N]
    migrate status [DATASET]                migrate validate DATASET [--sample N | --full]

`run` starts one `migrate` transaction (Manager.Migrate, org.zfsync.manage) and waits for
it with progress as `snapshot create` does. `batch` reads a TOML file (`workers = N`, one
`[[repository]]` table per repository: `source`, `dataset`, optionally `limit`) and runs
one transaction per repository, N at a time: the engine's dataset locks keep two runs of
one dataset apart (no lock files), and a repository already migrated plans nothing.
`status` is ListMigrations (a read); `validate` is ValidateMigration (org.zfsync.manage:
it reads files' contents), exit 1 when a check fails. This module registers the group on
main.cli when main imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .main import cli, common, waiting

if TYPE_CHECKING:
    from dbus_fast import Variant

    from .client import ZfsyncClient
    from .command import Output
    from .models import TransactionDetail


def _dataset(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and (not value or value.startswith("-") or "@" in value or "#" in value):
        raise click.BadParameter(f"{value!r} is not a dataset name (pool/fs)")
    return value


def _source(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # the daemon reads it: an absolute path, whatever directory zfsyncctl runs in
    return str(Path(value).absolute())


def _options(**values: Any) -> dict[str, Variant]:
    from dbus_fast import Variant

    signatures = {"limit": "u", "wait_for_locks": "b", "sample": "u", "full": "b", "dataset": "s"}
    return {k: Variant(signatures[k], v) for k, v in values.items() if v is not None}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A reply's row with its values (the client may hand them over as Variants or not)."""
    return {k: getattr(v, "value", v) for k, v in row.items()}


def _status_line(r: dict[str, Any]) -> str:
    total = r["source_snapshots"]
    left = "?" if total < 0 else str(max(0, total - r["migrated"]))
    newest = f"newest {r['last_number']} ({r['last_date']})"
    return f"{r['dataset']}  from {r['source']}: {r['migrated']} migrated, {newest}, {left} left"


async def _start(zc: ZfsyncClient, source: str, dataset: str, limit: int, busy: bool) -> str:
    from .client import _started

    options = _options(limit=limit or None, wait_for_locks=False if busy else None)
    (path,) = await zc.call("Migrate", "ssa{sv}", [source, dataset, options])
    return _started(path, "Migrate").id


@cli.group()
def migrate() -> None:
    """Migrate directory-snapshot histories (snapper on BTRFS, or a directory of snapshot
    directories) into ZFS datasets, one ZFS snapshot per source snapshot.

    \b
    Each source snapshot: rsync -aHAX --delete --numeric-ids, a manifest in the dataset's
    .zfsync/manifests/, a snapshot zfsync_migrate_<number> with zfsync:source-number,
    zfsync:source-date and zfsync:source-description. A new dataset is built under a
    temporary name and renamed into place; a failed or cancelled run leaves nothing.
    """


@migrate.command("run")
@click.argument("source", metavar="SRC", callback=_source)
@click.argument("dataset", callback=_dataset)
@click.option(
    "--limit",
    type=click.IntRange(0, 1_000_000),
    default=0,
    help="Migrate the first N source snapshots in all (0: all); run again to go on.",
)
@waiting
@common
def migrate_run(source: str, dataset: str, limit: int, **kw: Any) -> None:
    """Migrate SRC's snapshots into DATASET, continuing after those it has."""
    from .command import run, started
    from .models import StartedTransaction

    async def body(zc: ZfsyncClient, out: Output) -> int:
        tx_id = await _start(zc, source, dataset, limit, kw["fail_if_busy"])
        tx = StartedTransaction(id=tx_id, path="")
        code = await started(zc, out, tx, not kw["no_wait"])
        if code == 0 and not kw["no_wait"] and not out.json:
            # the report: where the dataset stands now
            (rows,) = await zc.call("ListMigrations", "a{sv}", [_options(dataset=dataset)])
            for row in map(_plain, rows):
                click.echo(_status_line(row))
        return code

    run(kw["json_output"], kw["no_ask_password"], body)


@migrate.command("batch")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workers", type=click.IntRange(1, 64), help="At once (default: the file's).")
@common
def migrate_batch(config: Path, workers: int | None, **kw: Any) -> None:
    """Migrate every repository of CONFIG, N at a time; a table of how each ended."""
    from pydantic import ValidationError

    from zfsyncd.ops.migration.batch import BatchEntry, load_config, run_batch

    from .command import run
    from .exitcodes import ExitCode

    try:
        loaded = load_config(config)
    except (ValidationError, ValueError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="CONFIG") from None

    async def body(zc: ZfsyncClient, out: Output) -> int:
        async def one(entry: BatchEntry) -> TransactionDetail:
            tx_id = await _start(zc, entry.source, entry.dataset, entry.limit, False)
            async with zc.watch(tx_id) as watch:
                async for _event in watch.events():
                    pass
            return await zc.get_transaction(tx_id)

        outcomes = await run_batch(loaded.repository, workers or loaded.workers, one)
        rows = [{"dataset": o.entry.dataset, "source": o.entry.source,
                 "transaction": o.result.id if o.result else "",
                 "state": o.result.state if o.result else "REFUSED",
                 "error": o.error or (o.result.error or "" if o.result else "")}
                for o in outcomes]  # fmt: skip

        def table() -> None:
            for r in rows:
                click.echo(f"{r['state']:<10} {r['dataset']}  {r['transaction']}  {r['error']}")

        out.result(rows, table)
        ok = all(r["state"] == "COMPLETED" for r in rows)
        return ExitCode.OK if ok else ExitCode.TRANSACTION_FAILED

    run(kw["json_output"], kw["no_ask_password"], body)


@migrate.command("status")
@click.argument("dataset", required=False, callback=_dataset)
@common
def migrate_status(dataset: str | None, **kw: Any) -> None:
    """The migrated datasets: source, snapshots migrated, the newest, what is left."""
    from .command import run

    async def body(zc: ZfsyncClient, out: Output) -> int:
        (rows,) = await zc.call("ListMigrations", "a{sv}", [_options(dataset=dataset)])
        found = [_plain(r) for r in rows]

        def table() -> None:
            for r in found:
                click.echo(_status_line(r))

        return out.result(found, table)

    run(kw["json_output"], kw["no_ask_password"], body)


@migrate.command("validate")
@click.argument("dataset", callback=_dataset)
@click.option("--sample", type=click.IntRange(0, 1_000_000), default=100, show_default=True,
              help="Files whose contents are hashed and compared.")  # fmt: skip
@click.option("--full", is_flag=True, help="Every file, and every snapshot's tree.")
@common
def migrate_validate(dataset: str, sample: int, full: bool, **kw: Any) -> None:
    """Check DATASET against the source it was migrated from; exit 1 when a check fails."""
    from .command import run
    from .exitcodes import ExitCode

    async def body(zc: ZfsyncClient, out: Output) -> int:
        options = _options(sample=sample, full=full or None)
        (rows,) = await zc.call("ValidateMigration", "sa{sv}", [dataset, options])
        checks = [_plain(r) for r in rows]

        def table() -> None:
            for c in checks:
                click.echo(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['covered']}")
                for problem in c["problems"]:
                    click.echo(f"     {problem}")
                if c["problem_count"] > len(c["problems"]):
                    click.echo(f"     ... {c['problem_count']} in all")

        out.result(checks, table)
        ok = all(c["ok"] for c in checks)
        return ExitCode.OK if ok else ExitCode.TRANSACTION_FAILED

    run(kw["json_output"], kw["no_ask_password"], body)
