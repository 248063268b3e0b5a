"""Weeks of a job's schedule on the model with a controllable clock: exactly the runs the
schedule says (one per slot, one for all the slots of a downtime), each a snapshot that the
target receives, a failing pre-hook leaving nothing, an unreachable target backing off
without stopping another job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.contract.world import backend_kind
from tests.engine.jobs_sim import (
    DAY,
    HOUR,
    WEEK,
    Sim,
    at,
    metric_samples,
    ram_directory,
)
from zfsyncd.jobs.config import JobConfig
from zfsyncd.jobs.due import backoff
from zfsyncd.jobs.scheduler import JobBusyError
from zfsyncd.store.ids import id_microseconds
from zfsyncd.store.jobs import JobState

pytestmark = pytest.mark.skipif(
    backend_kind() == "real",
    reason="the scheduler on the model with a clock of its own; the lab runs jobs on real "
    "pools in tests/real/test_jobs_real.py",
)

START = at("2026-11-30 10:17:00")  # a Monday


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    with ram_directory() as directory:
        s = await Sim.start(directory / "zfsyncd.db", START)
        try:
            await s.local.create("tank/data")
            await s.local.create("tank/data/child")
            await s.local.create("tank/logs")
            yield s
        finally:
            await s.close()


def times(names: list[str]) -> list[int]:
    """When each zfsync_ snapshot was made, to the second (its transaction id's time: ids
    made at the same clock reading take the next microseconds)."""
    return [id_microseconds(n.removeprefix("zfsync_")) // 1_000_000 for n in names]


async def test_two_weeks_then_a_downtime_with_replication(sim: Sim) -> None:
    job = {
        "datasets": ["tank/data"],
        "recursive": True,
        "schedule": "*-*-* 00/6:00",
        "jitter": 0,
        "targets": {"off": {"host": "backup", "destination": "bak/data"}},
    }
    await sim.configure(home=job)
    await sim.advance(2 * WEEK)
    ours = await sim.snapshots("local", "tank/data")
    # 56 slots (12:00, 18:00, 00:00, 06:00 ...) after 10:17; the first run also made the
    # pair (replica init takes a snapshot of its own, right after the job's)
    assert len(ours) == 56 + 1
    job_snaps = ours[:1] + ours[2:]
    assert times(job_snaps) == [at("2026-11-30 12:00") + i * 6 * HOUR for i in range(56)]
    assert await sim.snapshots("backup", "bak/data") == ours
    assert await sim.snapshots("local", "tank/data/child") == ours  # recursive
    assert await sim.snapshots("backup", "bak/data/child") == ours

    # down for 3 days and 2 hours: ONE run at restart for the 12 slots missed, then on
    sim = await sim.restart(3 * DAY + 2 * HOUR)
    restarted = sim.clock.t  # 12-17 12:17
    await sim.advance(DAY)
    after = (await sim.snapshots("local", "tank/data"))[len(ours) :]
    assert times(after) == [restarted] + [at("2026-12-17 18:00") + i * 6 * HOUR for i in range(4)]
    assert await sim.snapshots("backup", "bak/data") == ours + after
    row = sim.scheduler.row("home")
    assert (row.failures, row.last_error, row.targets[0].failures) == (0, "", 0)
    assert row.next_run == at("2026-12-18 18:00")
    assert row.last_success == at("2026-12-18 12:00")
    await sim.close()


async def test_retention_forms_on_both_sides(sim: Sim) -> None:
    """Eight days every 6 hours (00, 06, 12, 18 UTC), the newest at 12-08 06:00: what each
    form keeps, worked out by hand from its documented meaning (zfsyncd/retention)."""
    for name in ("a", "b", "c", "d"):
        await sim.local.create(f"tank/{name}")
    every6h = {"schedule": "every 6h", "jitter": 0}
    await sim.configure(
        last={
            **every6h, "datasets": ["tank/a"], "retention": {"last": 3},
            "targets": {"rep": {"destination": "rep/a", "retention": {"last": 5}}},
        },
        grid={
            **every6h, "datasets": ["tank/b"], "retention": {"grid": "1x1d(keep=all) | 7x1d"},
            "targets": {"rep": {"host": "backup", "destination": "bak/b",
                                "retention": {"grid": "1x1d(keep=all) | 7x1d"}}},
        },
        sanoid={
            **every6h, "datasets": ["tank/c"], "retention": {"daily": 3},
            # the snapshots' names carry their time: `keep` spares each made at noon
            "targets": {"rep": {"host": "backup", "destination": "bak/c",
                                "retention": {"daily": 3, "keep": "T12"}}},
        },
        periods={
            **every6h, "datasets": ["tank/d"], "retention": {"weekly": 2, "hourly": 2},
            "targets": {"rep": {"host": "backup", "destination": "bak/d",
                                "retention": {"monthly": 2, "yearly": 1, "last": 1}}},
        },
    )  # fmt: skip
    await sim.advance(8 * DAY)
    assert times(await sim.snapshots("local", "tank/a")) == [
        at("2026-12-07 18:00"), at("2026-12-08 00:00"), at("2026-12-08 06:00")
    ]  # fmt: skip
    assert times(await sim.snapshots("local", "rep/a")) == [
        at("2026-12-07 06:00"), at("2026-12-07 12:00"), *[at("2026-12-07 18:00"),
        at("2026-12-08 00:00"), at("2026-12-08 06:00")]
    ]  # fmt: skip
    # all of the newest day (after 12-07 06:00), then the oldest of each day before it
    assert times(await sim.snapshots("local", "tank/b")) == [
        at("2026-11-30 12:00"), *(at(f"2026-12-0{d} 12:00") for d in range(1, 7)),
        at("2026-12-07 12:00"), at("2026-12-07 18:00"), at("2026-12-08 00:00"),
        at("2026-12-08 06:00"),
    ]  # fmt: skip
    # the first of each of the 3 newest days, and the newest
    assert times(await sim.snapshots("local", "tank/c")) == [
        at("2026-12-06 00:00"), at("2026-12-07 00:00"), at("2026-12-08 00:00"),
        at("2026-12-08 06:00"),
    ]  # fmt: skip
    # the same forms on another host's replicas (replica init's snapshot in place of the
    # job's first, at the same second)
    assert times(await sim.snapshots("backup", "bak/b")) == times(
        await sim.snapshots("local", "tank/b")
    )
    noons = [at("2026-11-30 12:00")] + [at(f"2026-12-0{d} 12:00") for d in range(1, 8)]
    assert times(await sim.snapshots("backup", "bak/c")) == sorted(
        {*noons, at("2026-12-06 00:00"), at("2026-12-07 00:00"), at("2026-12-08 00:00"),
         at("2026-12-08 06:00")}
    )  # fmt: skip
    # the first of each ISO week (11-30 is a Monday) and of the 2 newest hours
    assert times(await sim.snapshots("local", "tank/d")) == [
        at("2026-11-30 12:00"), at("2026-12-07 00:00"), at("2026-12-08 00:00"),
        at("2026-12-08 06:00"),
    ]  # fmt: skip
    # the first of November and of December, and the newest (yearly = 1 keeps the year's
    # first, November's already: it adds nothing here)
    assert times(await sim.snapshots("backup", "bak/d")) == [
        at("2026-11-30 12:00"), at("2026-12-01 00:00"), at("2026-12-08 06:00"),
    ]  # fmt: skip
    for row in sim.scheduler.rows():
        assert (row.name, row.failures, row.last_error) == (row.name, 0, "")


async def test_a_remote_targets_retention_prunes_the_destination_there(sim: Sim) -> None:
    """A target on another host with a retention: after each run a prune on that host
    (PruneRequest.host) keeps the replica's 2 newest; the source keeps everything."""
    job = {
        "datasets": ["tank/data"], "schedule": "every 6h", "jitter": 0,
        "targets": {"off": {"host": "backup", "destination": "bak/data",
                            "retention": {"last": 2}}},
    }  # fmt: skip
    await sim.configure(home=job)
    await sim.advance(2 * DAY)
    ours = await sim.snapshots("local", "tank/data")
    assert len(ours) == 8 + 1  # every 6 hours, and replica init's own the first time
    assert await sim.snapshots("backup", "bak/data") == ours[-2:]
    pruned = [t for t in await sim.manager.list() if t.type == "prune"]
    assert pruned
    assert all(t.params["host"] == "backup" for t in pruned)
    row = sim.scheduler.row("home")
    assert (row.failures, row.last_error, row.targets[0].failures) == (0, "", 0)


async def test_calendar_weekdays_and_jitter(sim: Sim) -> None:
    await sim.configure(
        nightly={"datasets": ["tank/logs"], "schedule": "Mon..Fri 02:30", "jitter": "10m"}
    )
    await sim.advance(2 * WEEK)
    made = times(await sim.snapshots("local", "tank/logs"))
    offset = made[0] - at("2026-12-01 02:30")
    assert 0 <= offset < 600  # within its jitter, the same every night
    days = ["01", "02", "03", "04", "07", "08", "09", "10", "11", "14"]
    assert made == [at(f"2026-12-{d} 02:30") + offset for d in days]


async def test_a_failing_pre_hook_leaves_nothing_and_is_reported(sim: Sim, tmp_path: Path) -> None:
    marker = tmp_path / "post-ran"
    job = {
        "datasets": ["tank/data"],
        "schedule": "hourly",
        "jitter": 0,
        "pre_hooks": [{"argv": ["/bin/sh", "-c", "exit 3"]}],
        "post_hooks": [{"argv": ["/usr/bin/touch", str(marker)]}],
    }
    await sim.configure(home=job)
    await sim.advance(2 * HOUR)
    assert await sim.snapshots("local", "tank/data") == []
    assert not marker.exists()  # no snapshot was attempted, so nothing to thaw
    assert await sim.manager.list() == []  # not one transaction
    row = sim.scheduler.row("home")
    assert row.failures == 2
    assert "pre-hook /bin/sh failed" in row.last_error
    assert "nothing was done" in row.last_error


async def test_an_unreachable_target_backs_off_and_does_not_stop_another_job(sim: Sim) -> None:
    broken = sim.manager.hosts["backup"].zfs

    async def unreachable(*args: object, **kwargs: object) -> None:
        from zfsyncd.commands.errors import CommandFailedError

        raise CommandFailedError(["ssh", "backup"], 255, "ssh: connect to host backup: refused")

    for call in ("list_many", "list", "settle"):
        setattr(broken, call, unreachable)
    await sim.configure(
        home={
            "datasets": ["tank/data"], "schedule": "every 4h", "jitter": 0,
            "targets": {"off": {"host": "backup", "destination": "bak/data"}},
        },
        logs={"datasets": ["tank/logs"], "schedule": "hourly", "jitter": 0},
    )  # fmt: skip
    await sim.advance(4 * HOUR)
    home, logs = sim.scheduler.row("home"), sim.scheduler.row("logs")
    assert len(await sim.snapshots("local", "tank/logs")) == 4  # the other job ran on
    assert logs.failures == 0
    # home's snapshot was made; its target failed, and was tried again after 1, 2, 4 min...
    assert len(await sim.snapshots("local", "tank/data")) == 1
    target = home.targets[0]
    assert target.failures > 3
    assert "backup" in target.last_error
    assert target.retry_at == target.last_error_at + backoff(target.failures)
    assert "target off" in home.last_error
    metrics = await metric_samples(sim.manager, sim.db)  # and in the metrics
    assert metrics[("zfsync_job_target_failures", (("job", "home"), ("target", "off")))] == (
        target.failures
    )
    assert metrics[("zfsync_job_failures", (("job", "logs"),))] == 0
    del broken.list_many, broken.list, broken.settle  # the host is back
    await sim.advance(HOUR)
    assert sim.scheduler.row("home").targets[0].failures == 0
    # the retry made the pair: replica init sends a snapshot of its own in full; the job's
    # snapshot from before the pair existed stays on the source only
    local = await sim.snapshots("local", "tank/data")
    assert len(local) == 2
    assert await sim.snapshots("backup", "bak/data") == local[1:]


async def test_never_twice_at_once_within_the_parallel_limit_and_a_hang_times_out(
    sim: Sim,
) -> None:
    """Runs held open by a stand-in for the run: five jobs due at once, two places."""
    release, changed = asyncio.Event(), asyncio.Event()
    running: list[str] = []
    most = 0

    async def held(name: str, job: JobConfig, state: JobState, **_: object) -> JobState:
        nonlocal most
        running.append(name)
        changed.set()
        most = max(most, len(running))
        try:
            if name == "hangs":
                await asyncio.Event().wait()  # never ends: its timeout stops it
            await release.wait()
            return replace(state, last_success_at=sim.clock.now())
        finally:
            running.remove(name)
            changed.set()

    sim.scheduler.runner.run = held  # type: ignore[method-assign]
    jobs = {f"j{i}": {"datasets": [f"tank/j{i}"], "schedule": "hourly", "jitter": 0}
            for i in range(4)}  # fmt: skip
    jobs["hangs"] = {"datasets": ["tank/h"], "schedule": "hourly", "jitter": 0, "timeout": 0.05}
    await sim.configure(**jobs)
    await sim.scheduler.tick()  # first sight
    sim.clock.t = at("2026-11-30 11:00")
    assert sorted(await sim.scheduler.tick()) == ["hangs", "j0", "j1", "j2", "j3"]
    while "hangs" in running or len(running) < 2:  # its timeout stops it; another starts
        changed.clear()
        await changed.wait()
    assert len(running) == 2
    assert most == 2
    with pytest.raises(JobBusyError):
        await sim.scheduler.run_now(running[0])
    assert await sim.scheduler.tick() == []  # due again, but running: not a second run
    release.set()
    await sim.scheduler.idle()
    assert most == 2
    rows = {r.name: r for r in sim.scheduler.rows()}
    assert "timeout" in rows["hangs"].last_error
    assert rows["hangs"].failures == 1
    assert all(rows[f"j{i}"].last_success == at("2026-11-30 11:00") for i in range(4))
