"""Pruning on another host over the guest's real sshd (`[hosts.loop]`, 127.0.0.1: the
zloop pool on the far side, tests/real/ssh.py), every result read with zfs directly.

1. A job whose target is reached over ssh, driven by the scheduler with a clock of the
   test's (as test_jobs_real.py): by itself it snapshots, replicates and prunes both sides
   across three hourly slots; each side keeps exactly its policy's newest, the newest both
   share (held by replication on both), and one held on the destination.
   tests/engine/test_jobs_remote_prune.py runs the same job on the model, with a slot
   whose stream is cut between (too slow here: every far command is an ssh login under
   TCG).
2. `zfsyncctl prune --host loop` through the daemon (as test_replica_daemon_ssh_real.py),
   on a pair made with zfs alone: the dry run lists every snapshot of the replica with why
   it stays or goes and changes nothing; the prune destroys on the far side exactly what it
   listed. Then a prune over two pools of the far side (one hold step each) whose second
   `zfs hold` loses its ssh connection before it runs, every attempt: the first pool's
   hold, placed over ssh, is released and `zfs list -t all` (names, guids, zfsync
   properties, holds) is as before on both pools.

The connection is cut by `zfs_command` of `[hosts.loop]`: a script (CUTTER) that runs zfs
itself unless a rule file tells it to SIGKILL the sshd session serving it, as when the
network or the peer goes away.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.engine.jobs_sim import FakeClock
from tests.real.realzfs import zfs_cli
from tests.real.ssh import HOST, config_text, lab_ssh_dir
from tests.real.test_replication_real import BASE_HOLD, holds, picture
from tests.system.conftest import system_bus  # noqa: F401 - the fixture, shared
from tests.system.daemon import Daemon, start_daemon
from tests.system.harness import SystemBus
from zfsyncd.jobs.config import JobConfig
from zfsyncd.jobs.run import JobRun
from zfsyncd.jobs.scheduler import Scheduler
from zfsyncd.store import Database
from zfsyncd.store.jobs import JobStateStore
from zfsyncd.tx.hosts import LOCAL, Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.retry import RetryPolicy

FAST = RetryPolicy(attempts=3, first_delay=0.0)
HOUR = 3600.0
KEEP = "keep_me"

#: zfs for [hosts.loop]. RULE holds "WHEN VERB POOL": when the zfs subcommand is VERB (or
#: VERB is *) and an argument names POOL (or POOL is *), the sshd session serving this
#: command (its nearest sshd ancestor) is SIGKILLed, `before` running zfs or `after`: the
#: connection dies on the far side, as when the network or the peer goes away. LOG gets
#: each command, so a test knows what ran on the far side.
CUTTER = """#!/bin/sh
echo "$*" >> '{log}'
if [ -r '{rule}' ]; then
  read -r when verb pool < '{rule}'
  hit=
  case "$1" in $verb)
    if [ "$pool" = '*' ]; then hit=1; else
      case " $* " in *" $pool"[/@]*) hit=1;; esac
    fi;;
  esac
  if [ -n "$hit" ]; then
    [ "$when" = after ] && zfs "$@"
    pid=$$
    while [ "$pid" -gt 1 ]; do
      case "$(cat /proc/$pid/comm)" in sshd*) break;; esac
      pid=$(cut -d' ' -f4 /proc/$pid/stat)
    done
    [ "$pid" -gt 1 ] || {{ echo "cut $when: no sshd above $$" >> '{log}'; exit 254; }}
    echo "cut $when: $*" >> '{log}'
    kill -KILL "$pid"
    exit 255
  fi
fi
exec zfs "$@"
"""


@dataclass(frozen=True)
class Cutter:
    path: Path
    rule: Path
    log: Path

    @classmethod
    def install(cls, directory: Path) -> Cutter:
        directory.mkdir(parents=True, exist_ok=True)
        rule, log = directory / "rule", directory / "commands.log"
        path = directory / "cutting-zfs"
        path.write_text(CUTTER.format(rule=rule, log=log))
        path.chmod(0o755)
        return cls(path, rule, log)

    def cut(self, when: str, verb: str, pool: str) -> None:
        self.rule.write_text(f"{when} {verb} {pool}\n")

    def stop(self) -> None:
        self.rule.unlink(missing_ok=True)

    def ran(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def names(dataset: str) -> list[str]:
    """Its snapshots' short names, oldest first (zfs itself)."""
    out = zfs_cli(
        "zfs", "list", "-t", "snapshot", "-H", "-d", "1", "-s", "createtxg", "-o", "name", dataset
    )  # fmt: skip
    return [line.split("@", 1)[1] for line in out.splitlines() if line]


def release_every_hold(*roots: str) -> None:
    """So that the root fixtures can destroy everything."""
    for name, row in picture(*roots)["listing"].items():
        if row[0] == "snapshot" and row[3] not in ("0", "-"):
            for tag in holds(name):
                zfs_cli("zfs", "release", tag, name)


# --------------------------------------------------------------------------- 1: a job


@pytest.mark.timeout(900)
async def test_a_job_over_ssh_prunes_both_sides_keeping_the_base_and_a_held_one(
    root: str, loop_root: str, ssh_hosts: dict[str, Host], tmp_path: Path
) -> None:
    src, dst = f"{root}/src", f"{loop_root}/dst"
    zfs_cli("zfs", "create", "-o", "atime=off", src)
    # the clock starts at the real time and runs hours ahead: a snapshot's `creation` (the
    # guest's clock) is never after the time a prune decides at
    clock = FakeClock(time.time())
    first = clock.t - clock.t % HOUR + HOUR  # slot 1
    db = await Database.open(tmp_path / "zfsyncd.db", clock=clock.now)
    manager = TransactionManager(db, ssh_hosts, do_retry=FAST, undo_retry=FAST)
    scheduler = Scheduler(JobStateStore(db), JobRun(manager, clock.now), clock, parallel=2)
    job = {
        "datasets": [src], "schedule": "hourly", "jitter": 0, "retention": {"last": 1},
        "targets": {"off": {"host": HOST, "destination": dst, "retention": {"last": 1}}},
    }  # fmt: skip

    async def until(slot: int, after: float = 30) -> None:
        """Each run due up to `after` seconds past the slot, done."""
        end = first + (slot - 1) * HOUR + after
        while True:
            await scheduler.tick()
            await scheduler.idle()
            wake = scheduler.next_wakeup()
            if wake is None or wake > end:
                break
            clock.t = max(clock.t, wake)
        clock.t = end

    try:
        await scheduler.configure({"home": JobConfig(**job)})
        await until(1)  # the job's snapshot, replica init's own sent in full
        [i1] = names(src)  # the job's first snapshot, never sent, pruned (`last = 1`)
        assert names(dst) == [i1]
        zfs_cli("zfs", "hold", KEEP, f"{dst}@{i1}")
        await until(2)
        [s2] = names(src)
        assert names(dst) == [i1, s2]  # i1: held
        await until(3)
        [s3] = names(src)
        assert names(dst) == [i1, s3]
        assert holds(f"{dst}@{i1}") == [KEEP]
        # the newest both share, held by replication on both sides
        assert holds(f"{src}@{s3}") == holds(f"{dst}@{s3}") == [BASE_HOLD]
        row = scheduler.row("home")
        assert (row.failures, row.last_error, row.targets[0].failures) == (0, "", 0), row
        pruned = [t for t in await manager.list() if t.type == "prune"]
        assert {t.params["host"] for t in pruned} == {LOCAL, HOST}
        assert all(t.state.value == "COMPLETED" for t in pruned), pruned
    finally:
        await scheduler.stop()
        await manager.shutdown()
        await db.close()
        release_every_hold(root, loop_root)


# --------------------------------------------------------------------------- 2: zfsyncctl


@pytest.fixture
async def daemon(
    system_bus: SystemBus,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[tuple[Daemon, Cutter]]:
    cutter = Cutter.install(tmp_path / "cutter")
    tables = config_text(lab_ssh_dir()) + f"zfs_command = {json.dumps(str(cutter.path))}\n"
    started = await start_daemon(
        system_bus, tmp_path / "daemon", backend="cli", memory_pools=[], tables=tables,
        start_timeout=180.0,  # a Python start under TCG, with another guest on the machine
    )  # fmt: skip
    yield started, cutter
    assert started.proc.poll() is None, started.log()
    assert system_bus.stop(started.proc) == 0, started.log()


def _send(snapshot: str, target: str, base: str | None = None) -> None:
    """zfs send | zfs receive, outside the code under test."""
    incremental = ["-I", base] if base else []
    send = subprocess.Popen(["zfs", "send", *incremental, snapshot], stdout=subprocess.PIPE)
    assert send.stdout is not None
    subprocess.run(["zfs", "receive", target], stdin=send.stdout, check=True)
    send.stdout.close()
    assert send.wait() == 0


def _snapshots(dataset: str, *shorts: str) -> None:
    for short in shorts:
        zfs_cli("zfs", "snapshot", f"{dataset}@{short}")


@pytest.mark.timeout(900)
def test_zfsyncctl_prune_on_another_host_dry_run_prune_and_cut_connections(
    daemon: tuple[Daemon, Cutter], root: str, loop_root: str
) -> None:
    zfsyncd, cutter = daemon
    # a pair made with zfs alone (zfsyncd adopts it): zfsync_3 is the newest both share,
    # and no zfsync_replica hold marks it
    src, dst = f"{root}/src", f"{loop_root}/dst"
    zfs_cli("zfs", "create", "-o", "atime=off", src)
    _snapshots(src, "zfsync_1", "zfsync_2", "zfsync_3", "zfsync_4")
    _send(f"{src}@zfsync_1", dst)
    _send(f"{src}@zfsync_3", dst, base=f"{src}@zfsync_1")
    zfs_cli("zfs", "set", "zfsync:role=source", f"zfsync:peer={HOST}:{dst}", src)
    zfs_cli("zfs", "set", "zfsync:role=destination", f"zfsync:peer=local:{src}", dst)
    _snapshots(dst, "zfsync_x1", "manual-1", "zfsync_x2")
    zfs_cli("zfs", "hold", KEEP, f"{dst}@zfsync_1")
    prune = ("prune", "--host", HOST, dst, "--policy", "last = 1")
    try:
        before = picture(root, loop_root)
        rows = zfsyncd.ctl_json(*prune, "--dry-run")
        assert [(r["snapshot"], r["keep"], r["why"]) for r in rows] == [
            ("zfsync_1", True, "held"),
            ("zfsync_2", False, "expired"),
            ("zfsync_3", True, "replica-base"),
            ("zfsync_x1", False, "expired"),
            ("manual-1", True, "not-policy"),
            ("zfsync_x2", True, "newest"),
        ], rows
        assert picture(root, loop_root) == before  # a read

        done = zfsyncd.ctl(*prune, timeout=600)
        assert done.returncode == 0, done.stderr
        assert names(dst) == ["zfsync_1", "zfsync_3", "manual-1", "zfsync_x2"]
        assert holds(f"{dst}@zfsync_1") == [KEEP]
        after = picture(root, loop_root)
        assert {n: r for n, r in after["listing"].items() if n.startswith(root)} == {
            n: r for n, r in before["listing"].items() if n.startswith(root)
        }  # the source's side untouched
        assert after["holds"] == before["holds"]  # the prune's own hold released

        # two pools on the far side: one hold step each (zloop's first), the second cut
        near, far = f"{loop_root}/near", f"{root}/far"
        for dataset in (near, far):
            zfs_cli("zfs", "create", dataset)
            _snapshots(dataset, "zfsync_a", "zfsync_b", "zfsync_c")
        both = ("prune", "--host", HOST, near, far, "--policy", "last = 1")
        cutter.cut("before", "hold", far.split("/")[0])
        before = picture(root, loop_root)
        failed = zfsyncd.ctl(*both, timeout=600)
        assert failed.returncode == 1, failed.stderr
        assert picture(root, loop_root) == before
        ran = cutter.ran()
        # the first pool's hold was placed over ssh, and released by the undo
        assert any(c.startswith("hold ") and f" {near}@" in c for c in ran), ran
        assert any(c.startswith("release ") and f" {near}@" in c for c in ran), ran
        assert any(c.startswith("cut before: hold ") for c in ran), ran

        states = zfsyncd.rows(
            "SELECT state FROM transactions WHERE type = 'prune' ORDER BY created_at"
        )
        assert states == [("COMPLETED",), ("FAILED",)]
    finally:
        cutter.stop()
        release_every_hold(root, loop_root)
