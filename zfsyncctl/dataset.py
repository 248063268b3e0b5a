"""zfsyncctl dataset: a dataset's contents from a directory, atomically (issue 12, seed 000).

    dataset init DATASET --from-dir DIR [--mountpoint PATH]
    dataset update DATASET --from-dir DIR [--exclude PATTERN...]
    dataset rollback DATASET@SNAP

Each starts one transaction (Manager.DatasetInit and DatasetUpdate: org.zfsync.manage;
DatasetRollback: org.zfsync.rollback) and waits for it with progress as `snapshot create`
does. DIR is read by the daemon, on its machine: it is made absolute here, from zfsyncctl's
working directory. This module registers the group on main.cli when main imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .main import cli, common, waiting
from .replica import _common_fields, _dataset, transaction_options
from .replica import _start as _start_transaction

if TYPE_CHECKING:
    from .dataset_client import DatasetOptions


F = TypeVar("F", bound=Callable[..., Any])


def _directory(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An existing directory, made absolute (the daemon has another working directory)."""
    if not os.path.isdir(value):
        raise click.BadParameter(f"{value!r} is not a directory")
    return os.path.abspath(value)


def _snapshot(ctx: click.Context, param: click.Parameter, value: str) -> str:
    dataset, at, short = value.partition("@")
    if not dataset or not at or not short or value.startswith("-") or "#" in value:
        raise click.BadParameter(f"{value!r} is not pool/fs@snapshot")
    return value


def _start(method: str, arguments: list[Any], options: DatasetOptions, kw: dict[str, Any]) -> None:
    from .dataset_client import start

    _start_transaction(method, arguments, options, kw, start)


def _from_dir(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--from-dir", "source", required=True, metavar="DIR", callback=_directory, help=help_text
    )


@cli.group()
def dataset() -> None:
    """Give a dataset a directory's contents, whole or not at all.

    \b
    Readers of the dataset see its old contents or the new, never a half-copied tree: the
    copy (rsync -aHAX --numeric-ids) goes into a dataset of the transaction's own, mounted
    under /run/zfsync/fill, which then takes the dataset's place.
    """


@dataset.command("init")
@click.argument("name", metavar="DATASET", callback=_dataset)
@_from_dir("The directory whose contents the new dataset gets.")
@click.option(
    "--mountpoint", metavar="PATH", help="Where it mounts (default: inherited, by its name)."
)
@transaction_options
@waiting
@common
def dataset_init(name: str, source: str, mountpoint: str | None, **kw: Any) -> None:
    """Make DATASET (it must not exist) with the contents of DIR.

    A temporary dataset named after the transaction is filled, snapshotted (zfsync_<id>)
    and renamed to DATASET; `transaction rollback` destroys it again.
    """
    from .dataset_client import InitOptions

    options = InitOptions(mountpoint=mountpoint, **_common_fields(kw))
    _start("DatasetInit", [name, source], options, kw)


@dataset.command("update")
@click.argument("name", metavar="DATASET", callback=_dataset)
@_from_dir("The directory whose contents DATASET gets.")
@click.option(
    "--exclude", "excludes", multiple=True, metavar="PATTERN",
    help="An rsync pattern neither copied nor deleted (repeatable).",
)  # fmt: skip
@transaction_options
@waiting
@common
def dataset_update(name: str, source: str, excludes: tuple[str, ...], **kw: Any) -> None:
    """Replace the contents of DATASET (it must exist) by those of DIR.

    A snapshot zfsync_<id> keeps the old contents (`dataset rollback DATASET@zfsync_<id>`
    brings them back); its clone is filled and swapped in; the old dataset is destroyed
    once the update completed (later, from the cleanup queue, while it is busy).
    """
    from .dataset_client import UpdateOptions

    options = UpdateOptions(excludes=list(excludes), **_common_fields(kw))
    _start("DatasetUpdate", [name, source], options, kw)


@dataset.command("rollback")
@click.argument("snapshot", metavar="DATASET@SNAP", callback=_snapshot)
@transaction_options
@waiting
@common
def dataset_rollback(snapshot: str, **kw: Any) -> None:
    """Roll DATASET back to SNAP, destroying the newer snapshots and data (zfs rollback -r).

    Until it completes it can be undone: a failure leaves the dataset as it was.
    """
    from .dataset_client import DatasetOptions

    _start("DatasetRollback", [snapshot], DatasetOptions(**_common_fields(kw)), kw)
