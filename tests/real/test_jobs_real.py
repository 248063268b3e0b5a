"""Jobs on real pools (the lab guest), driven by the scheduler with a clock of the test's:
four hourly slots in which, by itself, a job snapshots, replicates and prunes on both sides;
a job whose pre-hook fails leaves no snapshot; a job whose target cannot be reached (its
"ssh" refuses every connection) makes its snapshots, backs off its target and reports it
(the job's state `job show` reads, and the metrics as the daemon serves them), while the
other jobs run on. One test function: one pool setup, each check reading ZFS
directly."""

from __future__ import annotations

import time
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.engine.jobs_sim import FakeClock, metric_samples
from tests.real.realzfs import zfs_cli
from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.jobs.config import JobConfig
from zfsyncd.jobs.run import JobRun
from zfsyncd.jobs.scheduler import Scheduler
from zfsyncd.store import Database
from zfsyncd.store.jobs import JobStateStore
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.zfs.cli import CliBackend

FAST = RetryPolicy(attempts=3, first_delay=0.0)
REFUSED = 'echo "ssh: connect to host gone port 22: Connection refused" >&2; exit 255'


def snapshots(dataset: str) -> list[str]:
    out = zfs_cli(
        "zfs", "list", "-t", "snapshot", "-H", "-d", "1", "-s", "createtxg", "-o", "name", dataset
    )  # fmt: skip
    return [line.split("@", 1)[1] for line in out.splitlines() if line]


async def test_jobs_snapshot_replicate_prune_hooks_and_an_unreachable_target(
    root: str, tmp_path: Path
) -> None:
    src, dst = f"{root}/src", f"{root}/dst"
    for dataset in (src, dst, f"{src}/data", f"{src}/logs", f"{src}/other"):
        zfs_cli("zfs", "create", dataset)
    # the test's clock starts at the real time and runs hours ahead in seconds: the
    # snapshots' `creation` (real ZFS: the guest's clock) is never after the time a prune
    # decides at, as in the daemon (a snapshot "from the future" is not the policy's to judge)
    clock = FakeClock(time.time())
    first = clock.t - clock.t % 3600 + 3600  # the first hourly slot
    db = await Database.open(tmp_path / "zfsyncd.db", clock=clock.now)
    gone = CommandRunner(transport=Transport(prefix=("sh", "-c", REFUSED, "ssh"), label="gone"))
    hosts = {"local": Host("local", CliBackend()), "gone": Host("gone", CliBackend(gone), gone)}
    manager = TransactionManager(db, hosts, do_retry=FAST, undo_retry=FAST)
    scheduler = Scheduler(JobStateStore(db), JobRun(manager, clock.now), clock, parallel=2)
    hourly = {"schedule": "hourly", "jitter": 0}
    jobs = {
        "data": {
            **hourly, "datasets": [f"{src}/data"], "retention": {"last": 2},
            "targets": {"rep": {"destination": f"{dst}/data", "retention": {"last": 3}}},
        },
        "hooked": {
            **hourly, "datasets": [f"{src}/logs"],
            "pre_hooks": [{"argv": ["sh", "-c", "exit 7"]}],
        },
        "offsite": {
            **hourly, "datasets": [f"{src}/other"],
            "targets": {"off": {"host": "gone", "destination": "bak/other"}},
        },
    }  # fmt: skip
    try:
        await scheduler.configure({n: JobConfig(**j) for n, j in jobs.items()})
        await scheduler.tick()  # first sight: the first runs at the next full hour
        until = first + 3.5 * 3600
        while (wake := scheduler.next_wakeup()) is not None and wake <= until:
            clock.t = wake
            await scheduler.tick()
            await scheduler.idle()
        rows = {r.name: r for r in scheduler.rows()}

        # by itself: 4 runs of `data`, its snapshot sent each time, each side pruned
        data = rows["data"]
        assert (data.failures, data.last_error) == (0, ""), data
        assert data.last_success == first + 3 * 3600
        source, replica = snapshots(f"{src}/data"), snapshots(f"{dst}/data")
        assert len(replica) == 3, replica  # its `last = 3`
        assert source == replica[-2:], (source, replica)  # `last = 2`, the newest sent
        assert all(name.startswith("zfsync_") for name in replica)

        # a failing pre-hook: no snapshot, no transaction, the failure reported
        hooked = rows["hooked"]
        assert snapshots(f"{src}/logs") == []
        assert hooked.failures == 4
        assert "pre-hook sh failed" in hooked.last_error
        assert hooked.last_transactions == []

        # an unreachable target: the job's snapshots made, the target backing off
        offsite = rows["offsite"]
        assert len(snapshots(f"{src}/other")) == 4
        (target,) = offsite.targets
        assert target.failures >= 4
        assert "Connection refused" in target.last_error, target
        assert target.retry_at > target.last_error_at
        assert "target off" in offsite.last_error
        # and in the metrics, as the daemon serves them
        metrics = await metric_samples(manager, db)
        off = ("zfsync_job_target_failures", (("job", "offsite"), ("target", "off")))
        assert metrics[off] == target.failures
        assert metrics[("zfsync_job_failures", (("job", "data"),))] == 0
        assert metrics[("zfsync_job_failures", (("job", "hooked"),))] == 4
    finally:
        await scheduler.stop()
        await manager.shutdown()
        await db.close()
