"""The main job: zfsyncd as a service doing real work on real pools, watched via zfsyncctl.

Runs inside the OpenZFS lab guest (demo/run.sh). It starts what a machine would have: a
system bus (private here, on a socket of its own), real polkitd with zfsyncd's actions, and
the daemon itself (`python -m zfsyncd`, the real zfs command). Then it drives everything the
way an administrator would, with zfsyncctl, printing each command and what it shows:

1. `zfsyncctl status`
2. a recursive, held snapshot transaction, its progress shown while zfsyncctl waits;
3. the transaction list, the snapshots it made, and `zfs holds`;
4. nobody (an unprivileged user) tries to roll it back: polkit refuses, nothing changes;
5. `zfsyncctl transaction rollback`: a new, linked transaction undoes it; `zfs list -t all`
   (names, guids, holds) is compared with before the snapshot: identical;
6. a request ZFS cannot do (a dataset that does not exist) is refused with the reason;
7. replication to a second pool: `zfsyncctl replica init`, new data, `replica sync` with its
   progress, `replica status`; the sync rolled back (the backup pool exactly as before it),
   and synced again;
8. the audit of who did what, from the daemon's database.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.system.daemon import Daemon, start_daemon
from tests.system.harness import (
    Processes,
    User,
    make_bus_dir,
    remove_dir,
    start_bus,
    start_polkitd,
)

POOL = "demo"
ROOT = f"{POOL}/data"
BACKUP = "backup"
REPLICA = f"{BACKUP}/data"


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def sh(*argv: str) -> str:
    """A zfs command of the demo's own (setting up and checking, not zfsyncd's work)."""
    print(f"# {shlex.join(argv)}", flush=True)
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def ctl(daemon: Daemon, *args: str, user: User | None = None, expect: int = 0) -> str:
    who = f"(as {user.name}) " if user else ""
    print(f"$ {who}zfsyncctl {shlex.join(args)}", flush=True)
    done = daemon.ctl(*args, user=user, timeout=600)
    sys.stdout.write(done.stderr)  # progress lines and errors: what the user saw first
    sys.stdout.write(done.stdout)
    if done.returncode != expect:
        raise SystemExit(f"zfsyncctl exited {done.returncode}, expected {expect}")
    return done.stdout


def zfs_state(pool: str = POOL) -> str:
    return subprocess.run(
        ["zfs", "list", "-Hp", "-r", "-t", "all", "-o", "name,guid,userrefs", pool],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def make_pool(images: Path, pool: str = POOL) -> None:
    image = images / f"{pool}.img"
    sh("truncate", "-s", "512M", str(image))
    sh("zpool", "create", "-f", "-O", f"mountpoint=/mnt/{pool}", pool, str(image))
    if pool != POOL:
        return
    for dataset in ("home", "home/alice", "home/bob", "srv"):
        sh("zfs", "create", "-p", f"{ROOT}/{dataset}")
    sh("dd", "if=/dev/urandom", f"of=/mnt/{ROOT}/home/alice/blob", "bs=1M", "count=32",
       "status=none")  # fmt: skip


async def main() -> None:
    images = Path(tempfile.mkdtemp(dir="/var/tmp"))
    directory = make_bus_dir()
    processes = Processes(directory)
    try:
        banner("a pool to work on")
        make_pool(images)
        banner("a system bus, polkitd, and zfsyncd (backend: the zfs command)")
        bus = start_bus(directory, processes)
        await start_polkitd(bus)
        daemon = await start_daemon(bus, images / "state", backend="cli", memory_pools=[])
        print(f"bus {bus.address}\nzfsyncd pid {daemon.proc.pid}", flush=True)
        nobody = User.lookup("nobody")

        banner("1. status")
        ctl(daemon, "status")
        before = zfs_state()

        banner("2. a recursive, held snapshot, watched while it runs")
        ctl(daemon, "snapshot", "create", "--recursive", "--hold", ROOT)
        tx = json.loads(ctl(daemon, "transaction", "list", "--limit", "1", "--json"))[0]

        banner("3. what it did")
        ctl(daemon, "transaction", "show", tx["id"])
        ctl(daemon, "snapshot", "list", ROOT)
        print(sh("zfs", "holds", "-r", f"{ROOT}@zfsync_{tx['id']}"), flush=True)

        banner("4. an unprivileged user may look, but not change")
        ctl(daemon, "transaction", "list", "--limit", "3", user=nobody)
        during = zfs_state()
        ctl(daemon, "transaction", "rollback", tx["id"], "--no-ask-password", user=nobody,
            expect=3)  # fmt: skip
        print(f"zfs list -t all unchanged: {zfs_state() == during}", flush=True)

        banner("5. roll the snapshot transaction back")
        ctl(daemon, "transaction", "rollback", tx["id"])
        same = zfs_state() == before
        print(f"zfs list -t all (names, guids, holds) identical to before step 2: {same}")
        if not same:
            raise SystemExit("the rollback did not restore ZFS exactly")

        banner("6. a request that cannot be done is refused, and changes nothing")
        ctl(daemon, "snapshot", "create", f"{ROOT}/nope", expect=4)  # NotFound
        print(f"zfs list -t all unchanged: {zfs_state() == before}", flush=True)
        ctl(daemon, "transaction", "list", "--limit", "5")

        banner("7. replication to a second pool")
        make_pool(images, BACKUP)
        ctl(daemon, "replica", "init", "--recursive", ROOT, REPLICA)
        sh("dd", "if=/dev/urandom", f"of=/mnt/{ROOT}/srv/new", "bs=1M", "count=64",
           "status=none")  # fmt: skip
        ctl(daemon, "replica", "status")
        backup_before = zfs_state(BACKUP)
        ctl(daemon, "replica", "sync", ROOT)
        ctl(daemon, "replica", "status")
        ctl(daemon, "transaction", "list", "--limit", "3")
        sync = json.loads(
            ctl(daemon, "transaction", "list", "--type", "replica-sync", "--limit", "1", "--json")
        )[0]
        ctl(daemon, "transaction", "rollback", sync["id"])
        same = zfs_state(BACKUP) == backup_before
        print(f"the backup pool (names, guids, holds) identical to before the sync: {same}")
        if not same:
            raise SystemExit("the rollback of the sync did not restore the backup pool")
        ctl(daemon, "replica", "sync", ROOT)
        ctl(daemon, "replica", "status")

        banner("8. the audit log: who asked for what, and how it ended")
        with sqlite3.connect(f"file:{daemon.database}?mode=ro", uri=True) as conn:
            for uid, caller, action, tx_id, outcome in conn.execute(
                "SELECT uid, caller, action, tx_id, outcome FROM audit ORDER BY seq"
            ):
                print(f"  uid={uid} {caller or '-':8} {action:16} {tx_id or '-':34} {outcome}")
        bus.stop(daemon.proc)
        banner("done: zfsyncd stopped cleanly")
    finally:
        processes.stop_all()
        remove_dir(directory)
        for pool in (BACKUP, POOL):
            subprocess.run(["zpool", "destroy", "-f", pool], check=False)


if __name__ == "__main__":
    asyncio.run(main())
