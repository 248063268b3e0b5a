"""zfsyncd's engine doing real work on real pools, with its progress on the terminal.

Runs inside the OpenZFS lab guest (demo/run.sh). Until the daemon and its D-Bus API exist
(issue 4) this drives the transaction manager directly; what it shows is what the daemon
will do: transactions, their journal, a send|recv with byte progress, a rollback of a
completed transaction, and a failure undone in reverse order, with `zfs list -t all`
compared before and after.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

import zfsyncd.ops  # noqa: F401 - registers the snapshot transaction
from zfsyncd.store import Database, StepState, TransactionRecord, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.kinds import TX_KINDS, Plan
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.tx.steps import Step, StepContext
from zfsyncd.tx.steps.base import JsonDict
from zfsyncd.tx.steps.datasets import BookmarkArgs, CreateBookmark
from zfsyncd.tx.steps.properties import SetProperties, SetPropertiesArgs
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs
from zfsyncd.tx.steps.transfer import SendReceive, SendReceiveArgs
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress

console = Console(highlight=False)
SRC, DST = "demosrc", "demodst"


class Shown(ProgressSink):
    """Prints steps as they start and end, and a byte progress bar for transfers."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task: Any = None

    def step_started(self, idx: int, description: str) -> None:
        console.print(f"  [cyan]step {idx}[/] {description} ...")

    def step_finished(self, idx: int, state: StepState) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        colour = "green" if state is StepState.COMPLETED else "red"
        console.print(f"  [cyan]step {idx}[/] [{colour}]{state.value}[/]")

    def transfer(self, progress: TransferProgress) -> None:
        if self.bar is None:
            self.bar = Progress(
                BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console
            )
            self.task = self.bar.add_task("send|recv", total=progress.bytes_total)
            self.bar.start()
        self.bar.update(self.task, completed=progress.bytes_done)

    def message(self, text: str) -> None:
        console.print(f"  [yellow]{text}[/]")


class ReplicateOnce:
    """A replication-shaped transaction until the replication kind exists (issue 5):
    snapshot, send it, bookmark it, mark the target."""

    name = "replicate-once"

    def describe(self, params: JsonDict) -> str:
        return f"replicate {params['source']} to {params['target']}"

    def datasets(self, params: JsonDict) -> set[str]:
        return {params["source"], params["target"]}

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        source, target = params["source"], params["target"]
        snap = f"{source}@zfsync_{ctx.tx_id}"
        steps: list[Step[Any]] = [
            CreateSnapshots(CreateSnapshotsArgs(snapshots=(snap,))),
            SendReceive(
                SendReceiveArgs(send=SendSpec(snapshot=snap), recv=RecvSpec(target=target))
            ),
            CreateBookmark(BookmarkArgs(source=snap, bookmark=f"{source}#zfsync_{ctx.tx_id}")),
            SetProperties(SetPropertiesArgs(name=target, properties=params["properties"])),
        ]
        return Plan(steps=steps, description=self.describe(params))


def zfs_list() -> str:
    return subprocess.run(
        ["zfs", "list", "-Hp", "-t", "all", "-o", "name,guid,userrefs,zfsync:role", "-r", SRC, DST],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def show(record: TransactionRecord) -> None:
    colour = {TxState.COMPLETED: "green", TxState.FAILED: "red"}.get(record.state, "yellow")
    console.print(f"[bold]{record.id}[/] {record.type}: [{colour}]{record.state.value}[/]"
                  + (f" - {record.error}" if record.error else ""))  # fmt: skip
    if record.rollback_outcome:
        console.print(f"  rollback: {record.rollback_outcome}")


async def run(manager: TransactionManager, type_: str, params: JsonDict) -> TransactionRecord:
    record = await manager.submit(type_, params)
    done = await manager.wait(record.id)
    show(done)
    return done


def make_pools() -> Path:
    """Two file-backed pools in the guest's RAM, and 96 MiB of data to move."""
    images = Path(tempfile.mkdtemp(dir="/var/tmp"))
    for pool in (SRC, DST):
        subprocess.run(["truncate", "-s", "512M", str(images / f"{pool}.img")], check=True)
        subprocess.run(["zpool", "create", "-f", "-O", f"mountpoint=/mnt/{pool}", pool,
                        str(images / f"{pool}.img")], check=True)  # fmt: skip
    subprocess.run(["zfs", "create", "-p", f"{SRC}/data/home"], check=True)
    subprocess.run(["dd", "if=/dev/urandom", f"of=/mnt/{SRC}/data/home/blob", "bs=1M",
                    "count=96", "status=none"], check=True)  # fmt: skip
    return images


async def main(images: Path) -> None:
    zfs = CliBackend()
    db = await Database.open(images / "zfsyncd.db")
    manager = TransactionManager(
        db, local_hosts(zfs), kinds={**TX_KINDS, "replicate-once": ReplicateOnce()},
        sinks=lambda _tx: Shown(),
    )  # fmt: skip
    console.rule("1. a snapshot transaction (recursive, held)")
    await run(manager, "snapshot", {"datasets": [f"{SRC}/data"], "recursive": True, "hold": True})

    console.rule("2. a replication-shaped transaction: snapshot, send|recv, bookmark, mark")
    before = zfs_list()
    repl = await run(manager, "replicate-once",
                     {"source": f"{SRC}/data/home", "target": f"{DST}/home",
                      "properties": {"zfsync:role": "replica"}})  # fmt: skip
    console.print(zfs_list())

    console.rule("3. roll the replication back (a new transaction, linked to it)")
    undo = await manager.rollback(repl.id)
    await manager.prepare(undo.id)
    await manager.execute(undo.id)
    show(await manager.wait(undo.id))
    console.print(
        f"zfs list -t all equal to before the replication: [bold]{zfs_list() == before}[/]"
    )

    console.rule("4. ZFS refuses the last step: everything before it is undone, in reverse")
    before = zfs_list()
    await run(manager, "replicate-once",
              {"source": f"{SRC}/data/home", "target": f"{DST}/home",
               "properties": {"compression": "bogus"}})  # fmt: skip
    console.print(f"zfs list -t all equal to before: [bold]{zfs_list() == before}[/]")

    console.rule("the journal and the audit log")
    table = Table("transaction", "type", "state", "steps", "rollback")
    for record in reversed(await manager.list()):
        table.add_row(record.id, record.type, record.state.value, str(len(record.steps)),
                      record.rollback_outcome or "")  # fmt: skip
    console.print(table)
    for entry in reversed(await manager.audit.list(limit=12)):
        console.print(f"  audit: {entry.action:<10} {entry.outcome:<40} {entry.tx_id or ''}")
    await db.close()


if __name__ == "__main__":
    asyncio.run(main(make_pools()))
