"""zfsyncctl replica: replication (issue 10, seed 003's zrep workflows) from the command line.

    replica init SRC [HOST:]DST [-R] [--savecount N] [--destination-savecount N]
    replica sync SRC... | all [-P N]      replica sync SRC@SNAP --yes
    replica status [DATASET]              replica expire [SRC...]
    replica failover SRC [-L]             replica takeover DST [-L] [--snapshot SNAP]
    replica pause SRC                     replica resume SRC
    replica clear SRC [--destroy-snapshots]
    replica reconfigure SRC [HOST:]DST

Each command but `status` starts one transaction (Manager.Replica*, org.zfsync.replicate;
failover, takeover and reconfigure org.zfsync.manage) and waits for it with progress as
`snapshot create` does; the options map one to one to the request's fields
(zfsyncd/ops/replication/requests.py). This module registers the group on main.cli when
main imports it; what a command needs beyond click (the client, pydantic, rich) is imported
when it runs, so `zfsyncctl --help` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .main import cli, common, waiting

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from .client import ZfsyncClient, _Options
    from .command import Output
    from .models import StartedTransaction

    #: calls a method that starts a transaction: (client, method, arguments, options)
    Starter = Callable[[ZfsyncClient, str, Sequence[object], Any], Awaitable[StartedTransaction]]


def _dataset(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A dataset name (no @, no leading -); each of a tuple."""
    for name in value if isinstance(value, tuple) else [value]:
        if name is None:
            continue
        if not name or name.startswith("-") or "@" in name or "#" in name:
            raise click.BadParameter(f"{name!r} is not a dataset name (pool/fs)")
    return value


def _peer(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """[HOST:]pool/fs; the daemon checks the host against its configuration."""
    dataset = value.partition(":")[2] if ":" in value else value
    if not dataset or value.startswith("-") or "@" in value or "#" in value:
        raise click.BadParameter(f"{value!r} is not [HOST:]pool/fs")
    return value


def transaction_options(f: Any) -> Any:
    """--priority, --timeout and --tag, as `snapshot create` takes them."""
    from .params import DURATION

    f = click.option("--tag", "tags", multiple=True, help="Tag the transaction (repeatable).")(f)
    f = click.option(
        "--timeout",
        type=DURATION,
        metavar="SECONDS",
        help="Give up (and undo) after this long (seconds, or 10m, 1h).",
    )(f)
    f = click.option(
        "--priority", type=click.IntRange(-(2**31), 2**31 - 1), help="Queue priority."
    )(f)
    return f


def _common_fields(kw: dict[str, Any]) -> dict[str, Any]:
    """The transaction options every Replica* method takes, from the command's keywords."""
    return {
        "priority": kw.pop("priority"),
        "timeout": kw.pop("timeout"),
        "tags": list(kw.pop("tags")),
        "wait_for_locks": False if kw.pop("fail_if_busy") else None,
    }


def _start(
    method: str,
    arguments: list[Any],
    options: _Options,
    kw: dict[str, Any],
    start: Starter | None = None,
) -> None:
    """Start a Replica* transaction (or another kind's, through `start`: the dataset
    commands) and wait for it (unless --no-wait), exit by its end."""
    from .command import run, started
    from .replica_client import start as replica_start

    call: Starter = start or replica_start

    async def body(zc: ZfsyncClient, out: Output) -> int:
        tx = await call(zc, method, arguments, options)
        return await started(zc, out, tx, not kw["no_wait"])

    run(kw["json_output"], kw["no_ask_password"], body)


@cli.group()
def replica() -> None:
    """Replicate datasets to another pool or host, and manage the pairs.

    \b
    A pair is a source, written by users, and a read-only destination that receives its
    snapshots (zfsync_<id>), incrementally from the newest snapshot both share (by guid).
    Both remember the pair in user properties: zfsync:role, zfsync:peer, zfsync:savecount,
    zfsync:paused. HOST is a [hosts.NAME] of zfsyncd's configuration; none (or `local`)
    is this machine.
    """


@replica.command("init")
@click.argument("source", metavar="SRC", callback=_dataset)
@click.argument("destination", metavar="[HOST:]DST", callback=_peer)
@click.option("-R", "--recursive", is_flag=True, help="The descendants of SRC too.")
@click.option(
    "--savecount",
    type=click.IntRange(1, 10000),
    help="zfsync_ snapshots SRC keeps (zfsync:savecount; default 5).",
)
@click.option(
    "--destination-savecount",
    type=click.IntRange(1, 10000),
    help="Snapshots DST keeps (default: as SRC).",
)
@transaction_options
@waiting
@common
def replica_init(source: str, destination: str, **kw: Any) -> None:
    """Make SRC a source replicated to DST: properties on both, first snapshot, full send.

    DST must not exist or be empty of data; it is read-only from the start.
    """
    from .replica_client import InitOptions

    options = InitOptions(
        recursive=kw.pop("recursive") or None,
        savecount=kw.pop("savecount"),
        destination_savecount=kw.pop("destination_savecount"),
        **_common_fields(kw),
    )
    _start("ReplicaInit", [source, destination], options, kw)


@replica.command("sync")
@click.argument("targets", metavar="SRC... | all | SRC@SNAP", nargs=-1, required=True)
@click.option(
    "-P",
    "--parallel",
    type=click.IntRange(1, 16),
    help="Transfers at once (default 1).",
)
@click.option(
    "--yes", is_flag=True, help="SRC@SNAP: yes, roll the destination back (destroys data)."
)
@transaction_options
@waiting
@common
def replica_sync(targets: tuple[str, ...], parallel: int | None, yes: bool, **kw: Any) -> None:
    """Send SRC's new snapshots and data to its destination (`all`: every unpaused pair).

    \b
    One transaction: a snapshot per pool of the sources written since their last one,
    then incremental sends, -P at a time. A source with nothing new is skipped.
    SRC@SNAP instead rolls SRC's destination back to SNAP (a snapshot both have): the
    destination's newer snapshots are destroyed, SRC's newer ones marked unsent; asks
    for --yes.
    """
    from .replica_client import ReplicaOptions, SyncOptions

    common_fields = _common_fields(kw)
    if any("@" in t for t in targets):
        if len(targets) != 1:
            raise click.UsageError("sync SRC@SNAP takes that one snapshot, nothing else")
        if parallel is not None:
            raise click.UsageError("-P is for sync SRC... and sync all, not SRC@SNAP")
        (snapshot,) = targets
        dataset, _, short = snapshot.partition("@")
        _dataset(click.get_current_context(), click.Argument(["snapshot"]), dataset)
        if not short:
            raise click.BadParameter(f"{snapshot!r} is not pool/fs@snapshot")
        if not yes:  # with --yes a script said it knows: it prints only its output
            click.echo(
                f"zfsyncctl: sync {snapshot} rolls the destination of {dataset} back to "
                f"{short}: its newer snapshots and any data written since are destroyed, and "
                f"the newer snapshots of {dataset} will be sent again.",
                err=True,
            )
            raise click.UsageError("give --yes to roll the destination back")
        _start("ReplicaSyncTo", [snapshot], ReplicaOptions(**common_fields), kw)
        return
    if yes:
        raise click.UsageError("--yes is for sync SRC@SNAP only")
    if "all" in targets:
        if len(targets) != 1:
            raise click.UsageError("sync all takes no dataset besides (a dataset named 'all' "
                                   "is written with its pool: pool/all)")  # fmt: skip
        sources: list[str] = []
    else:
        _dataset(click.get_current_context(), click.Argument(["sources"]), targets)
        sources = list(targets)
    _start("ReplicaSync", [sources], SyncOptions(parallel=parallel, **common_fields), kw)


@replica.command("status")
@click.argument("dataset", metavar="[DATASET]", required=False, callback=_dataset)
@common
def replica_status(dataset: str | None, json_output: bool, no_ask_password: bool) -> None:
    """Show the pairs of this host's pools (or DATASET's pair): last sent snapshot and its
    age, lag in bytes and time, paused, savecounts, resume token, last error."""
    from .command import run
    from .errors import NotFoundError
    from .replica_client import all_replicas
    from .replica_render import render_replicas

    async def body(zc: ZfsyncClient, out: Output) -> int:
        rows = await all_replicas(zc, dataset)
        if dataset is not None and not rows:
            raise NotFoundError(f"{dataset} is not a side of a replica pair on this host")
        return out.result(rows, lambda: render_replicas(out.console, rows))

    run(json_output, no_ask_password, body)


@replica.command("expire")
@click.argument("sources", metavar="[SRC...]", nargs=-1, callback=_dataset)
@transaction_options
@waiting
@common
def replica_expire(sources: tuple[str, ...], **kw: Any) -> None:
    """Keep each side's zfsync:savecount snapshots of SRC... (default: every pair).

    Never the newest snapshot both sides share, never a held one.
    """
    from .replica_client import ReplicaOptions

    _start("ReplicaExpire", [list(sources)], ReplicaOptions(**_common_fields(kw)), kw)


def _local_only(f: Any) -> Any:
    return click.option(
        "-L",
        "--local-only",
        is_flag=True,
        help="Change only this side, no final sync (the peer cannot be reached).",
    )(f)


@replica.command("failover")
@click.argument("source", metavar="SRC", callback=_dataset)
@_local_only
@transaction_options
@waiting
@common
def replica_failover(source: str, local_only: bool, **kw: Any) -> None:
    """SRC becomes the read-only destination, its peer the source (a final sync first)."""
    from .replica_client import FailoverOptions

    options = FailoverOptions(local_only=local_only or None, **_common_fields(kw))
    _start("ReplicaFailover", [source], options, kw)


@replica.command("takeover")
@click.argument("destination", metavar="DST", callback=_dataset)
@_local_only
@click.option(
    "--snapshot",
    metavar="SNAP",
    help="Roll DST back to this snapshot of its own first (its short name, zfsync_...).",
)
@transaction_options
@waiting
@common
def replica_takeover(destination: str, local_only: bool, snapshot: str | None, **kw: Any) -> None:
    """DST becomes the writable source, its peer the destination (a final sync first)."""
    from .replica_client import TakeoverOptions

    if snapshot is not None and ("@" in snapshot or "/" in snapshot or not snapshot):
        raise click.BadParameter(
            f"{snapshot!r}: give the snapshot's short name, after the @", param_hint="--snapshot"
        )
    options = TakeoverOptions(
        local_only=local_only or None, snapshot=snapshot, **_common_fields(kw)
    )
    _start("ReplicaTakeover", [destination], options, kw)


@replica.command("pause")
@click.argument("source", metavar="SRC", callback=_dataset)
@transaction_options
@waiting
@common
def replica_pause(source: str, **kw: Any) -> None:
    """Leave SRC out of `sync all` until resumed (zfsync:paused=on)."""
    from .replica_client import ReplicaOptions

    _start("ReplicaPause", [source], ReplicaOptions(**_common_fields(kw)), kw)


@replica.command("resume")
@click.argument("source", metavar="SRC", callback=_dataset)
@transaction_options
@waiting
@common
def replica_resume(source: str, **kw: Any) -> None:
    """Let `sync all` include SRC again."""
    from .replica_client import ReplicaOptions

    _start("ReplicaResume", [source], ReplicaOptions(**_common_fields(kw)), kw)


@replica.command("clear")
@click.argument("source", metavar="SRC", callback=_dataset)
@click.option(
    "--destroy-snapshots",
    is_flag=True,
    help="Also destroy the zfsync_ snapshots and bookmarks on both sides.",
)
@transaction_options
@waiting
@common
def replica_clear(source: str, destroy_snapshots: bool, **kw: Any) -> None:
    """Forget SRC's pair: the zfsync:* properties and holds on both sides.

    The snapshots stay (both datasets stay plain ZFS datasets) unless --destroy-snapshots.
    """
    from .replica_client import ClearOptions

    options = ClearOptions(destroy_snapshots=destroy_snapshots or None, **_common_fields(kw))
    _start("ReplicaClear", [source], options, kw)


@replica.command("reconfigure")
@click.argument("source", metavar="SRC", callback=_dataset)
@click.argument("destination", metavar="[HOST:]DST", callback=_peer)
@transaction_options
@waiting
@common
def replica_reconfigure(source: str, destination: str, **kw: Any) -> None:
    """Give SRC a new destination: DST must hold a snapshot SRC has (by guid), or be empty."""
    from .replica_client import ReplicaOptions

    _start("ReplicaReconfigure", [source, destination], ReplicaOptions(**_common_fields(kw)), kw)
