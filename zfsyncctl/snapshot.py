"""zfsyncctl snapshot create|list|destroy: zfsyncd's own snapshots of datasets.

`snapshot list` reads (org.zfsync.read); create and destroy start a transaction
(org.zfsync.snapshot) and wait for it unless --no-wait. This module registers the group on
main.cli when main imports it (main.LAZY).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .main import cli, common, waiting
from .params import DURATION, USER_PROPERTY

if TYPE_CHECKING:
    from .client import ZfsyncClient
    from .command import Output


def _check_names(kind: str, want_at: bool) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def check(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
        for name in value:
            if not name or name.startswith("-") or ("@" in name) != want_at:
                shape = "pool/fs@snapshot" if want_at else "pool/fs (no @)"
                raise click.BadParameter(f"{name!r} is not a {kind} name ({shape})")
        return value

    return check


@cli.group()
def snapshot() -> None:
    """Create, list and destroy snapshots."""


@snapshot.command("create")
@click.argument(
    "datasets",
    metavar="DATASET...",
    nargs=-1,
    required=True,
    callback=_check_names("dataset", want_at=False),
)
@click.option("-r", "--recursive", is_flag=True, help="Snapshot the descendants too.")
@click.option("--hold", is_flag=True, help="Place a zfsync hold on each snapshot.")
@click.option(
    "-o",
    "properties",
    multiple=True,
    type=USER_PROPERTY,
    help="Set a user property on the snapshots (key=value, key with a colon; repeatable).",
)
@click.option("--priority", type=click.IntRange(-(2**31), 2**31 - 1), help="Queue priority.")
@click.option(
    "--timeout",
    type=DURATION,
    metavar="SECONDS",
    help="Give up (and undo) after this long (seconds, or 10m, 1h).",
)
@click.option("--tag", "tags", multiple=True, help="Tag the transaction (repeatable).")
@waiting
@common
def snapshot_create(
    datasets: tuple[str, ...],
    recursive: bool,
    hold: bool,
    properties: tuple[tuple[str, str], ...],
    priority: int | None,
    timeout: float | None,
    tags: tuple[str, ...],
    no_wait: bool,
    fail_if_busy: bool,
    json_output: bool,
    no_ask_password: bool,
) -> None:
    """Snapshot DATASET... in one transaction (names zfsync_<time>)."""
    from .client import SnapshotOptions
    from .command import run, started

    props: dict[str, str] = {}
    for key, value in properties:
        if key in props:
            raise click.BadParameter(f"{key!r} is given twice", param_hint="'-o'")
        props[key] = value
    options = SnapshotOptions(
        recursive=recursive or None,
        hold=hold or None,
        properties=props,
        priority=priority,
        timeout=timeout,
        tags=list(tags),
        wait_for_locks=False if fail_if_busy else None,
    )

    async def body(zc: ZfsyncClient, out: Output) -> int:
        return await started(zc, out, await zc.snapshot(datasets, options), not no_wait)

    run(json_output, no_ask_password, body)


@snapshot.command("list")
@click.argument(
    "datasets", metavar="[DATASET...]", nargs=-1, callback=_check_names("dataset", want_at=False)
)
@click.option("--all", "any_name", is_flag=True, help="Also snapshots zfsyncd did not make.")
@click.option("--no-recursive", is_flag=True, help="Not the descendants of DATASET.")
@common
def snapshot_list(
    datasets: tuple[str, ...],
    any_name: bool,
    no_recursive: bool,
    json_output: bool,
    no_ask_password: bool,
) -> None:
    """List snapshots (zfsync_ ones unless --all) of DATASET... or of every pool."""
    from .client import ListSnapshotsOptions
    from .command import run
    from .render import snapshots_table

    options = ListSnapshotsOptions(
        recursive=False if no_recursive else None, any_name=any_name or None
    )

    async def body(zc: ZfsyncClient, out: Output) -> int:
        rows = await zc.all_snapshots(datasets, options)
        return out.result(rows, lambda: out.table(snapshots_table(rows)))

    run(json_output, no_ask_password, body)


@snapshot.command("destroy")
@click.argument(
    "snapshots",
    metavar="SNAPSHOT...",
    nargs=-1,
    required=True,
    callback=_check_names("snapshot", want_at=True),
)
@click.option(
    "--any-name", is_flag=True, help="Allow snapshots whose name does not start with zfsync_."
)
@waiting
@common
def snapshot_destroy(
    snapshots: tuple[str, ...],
    any_name: bool,
    no_wait: bool,
    fail_if_busy: bool,
    json_output: bool,
    no_ask_password: bool,
) -> None:
    """Destroy SNAPSHOT... (pool/fs@name) in one transaction."""
    from .client import DestroyOptions
    from .command import run, started

    options = DestroyOptions(
        any_name=any_name or None, wait_for_locks=False if fail_if_busy else None
    )

    async def body(zc: ZfsyncClient, out: Output) -> int:
        return await started(zc, out, await zc.destroy_snapshots(snapshots, options), not no_wait)

    run(json_output, no_ask_password, body)
