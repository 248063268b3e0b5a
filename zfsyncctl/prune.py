"""zfsyncctl prune: destroy what a retention policy does not keep (Manager.Prune,
org.zfsync.snapshot), or with --dry-run say what would go and why each snapshot stays
(Manager.PrunePreview, a read).

    zfsyncctl prune [DATASET...] [-r] [--policy TEXT] [--host NAME] [--dry-run] [--json]

The policy is each dataset's `zfsync:retention` user property unless --policy gives one
(the same one-line text: `grid = "1x1h(keep=all) | 24x1h | 14x1d", daily = 7`); with no
DATASET, every dataset that has the property. --host prunes the datasets of one
`[hosts.NAME]` of zfsyncd's configuration instead of this host's. This module registers
the command on main.cli when main imports it (main.LAZY).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from .main import cli, common, waiting
from .replica import _common_fields, transaction_options  # --priority, --timeout, --tag

if TYPE_CHECKING:
    from zfsyncd.api.records import PruneRow

    from .client import ZfsyncClient
    from .command import Output
    from .render import Rows


def _dataset(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    for name in value:
        if not name or name.startswith("-") or "@" in name or "#" in name:
            raise click.BadParameter(f"{name!r} is not a dataset name (pool/fs)")
    return value


def prune_table(rows: Sequence[PruneRow]) -> Rows:
    from .render import Column, Rows, clean, fmt_time

    columns = ("NAME", "CREATED", "ACTION", "WHY", "REASON")
    return Rows(
        columns=tuple(Column(c) for c in columns),
        rows=[
            (
                (clean(row.name), ""),
                (fmt_time(row.created), ""),
                ("keep" if row.keep else "destroy", ""),
                (clean(row.why), ""),
                (clean(row.reason), ""),
            )
            for row in rows
        ],
        empty="no snapshot a policy applies to",
    )


@cli.command("prune")
@click.argument("datasets", metavar="[DATASET...]", nargs=-1, callback=_dataset)
@click.option("-r", "--recursive", is_flag=True, help="The datasets below DATASET too.")
@click.option(
    "--policy",
    metavar="TEXT",
    help="The policy instead of zfsync:retention, e.g. 'grid = \"24x1h | 14x1d\", daily = 7'.",
)
@click.option(
    "--host",
    metavar="NAME",
    help="Prune the datasets on this [hosts.NAME] of zfsyncd's configuration (default: here).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would be destroyed and why each stays; change nothing.",
)
@transaction_options
@waiting
@common
def prune(
    datasets: tuple[str, ...],
    recursive: bool,
    policy: str | None,
    host: str | None,
    dry_run: bool,
    json_output: bool,
    no_ask_password: bool,
    no_wait: bool,
    **kw: Any,
) -> None:
    """Destroy the snapshots of DATASET... (default: every dataset with zfsync:retention)
    that the retention policy does not keep, in one transaction.

    Never a held or cloned snapshot, one a running transaction uses, the newest one a
    replica pair shares, or the newest the policy applies to.
    """
    from .command import run, started
    from .prune_client import PreviewOptions, PruneOptions, prune_preview, start_prune

    if policy is not None and not datasets:
        raise click.BadParameter("name the datasets a --policy applies to", param_hint="'--policy'")

    if dry_run:
        preview = PreviewOptions(recursive=recursive or None, policy=policy, host=host)

        async def look(zc: ZfsyncClient, out: Output) -> int:
            rows = await prune_preview(zc, datasets, preview)
            return out.result(rows, lambda: _print_preview(out, rows))

        run(json_output, no_ask_password, look)
        return
    options = PruneOptions(
        recursive=recursive or None, policy=policy, host=host, **_common_fields(kw)
    )

    async def body(zc: ZfsyncClient, out: Output) -> int:
        return await started(zc, out, await start_prune(zc, datasets, options), not no_wait)

    run(json_output, no_ask_password, body)


def _print_preview(out: Output, rows: Sequence[PruneRow]) -> None:
    out.table(prune_table(rows))
    going = sum(1 for r in rows if not r.keep)
    click.echo(f"{going} of {len(rows)} snapshots would be destroyed")
