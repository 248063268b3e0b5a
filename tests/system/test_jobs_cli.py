"""Jobs through the daemon, the bus, polkitd and zfsyncctl: list, show, a run on demand
that snapshots, pause and resume, `nobody` refused the changes; SIGHUP rereads the
configuration (a new job appears, a running transaction goes on), and a bad file reloaded
through the bus changes nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.system.daemon import start_daemon, write_config
from tests.system.harness import SystemBus, User

JOB = """
[jobs.nightly]
datasets = ["tank"]
schedule = "daily"
jitter = 0
"""
SECOND = """
[jobs.hourly]
datasets = ["backup"]
schedule = "hourly"
"""


def _until(check: object, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


async def test_jobs_on_the_bus_and_reload(
    system_bus: SystemBus, nobody: User, tmp_path: Path
) -> None:
    daemon = await start_daemon(system_bus, tmp_path, tables=JOB)
    try:
        (row,) = daemon.ctl_json("job", "list")
        assert (row["name"], row["schedule"], row["running"], row["paused"]) == (
            "nightly", "daily", False, False,
        )  # fmt: skip
        assert row["next_run"] > 0
        assert row["last_run"] == 0

        refused = daemon.ctl("job", "run", "nightly", user=nobody)
        assert refused.returncode == 3, refused.stderr
        assert daemon.ctl_json("job", "show", "nightly")["last_run"] == 0

        ran = daemon.ctl_json("job", "run", "nightly", "--wait")
        assert ran["last_error"] == "", ran
        assert ran["last_success"] > 0
        (tx_id,) = ran["last_transactions"]
        assert daemon.ctl_json("transaction", "show", tx_id)["tags"] == ["job:nightly"]
        snaps = daemon.ctl_json("snapshot", "list", "tank")
        assert [s["snapshot"] for s in snaps] == [f"zfsync_{tx_id}"]

        assert daemon.ctl("job", "pause", "nightly").returncode == 0
        paused = daemon.ctl_json("job", "show", "nightly")
        assert (paused["paused"], paused["next_run"]) == (True, 0)
        assert daemon.ctl("job", "resume", "nightly").returncode == 0
        _until(lambda: daemon.ctl_json("job", "show", "nightly")["next_run"] > 0, "no next run")
        missing = daemon.ctl("job", "show", "nope")
        assert missing.returncode == 4, missing.stderr

        # SIGHUP while a transaction runs (held at its first zfs call): the file read again,
        # the new job scheduled, the transaction untouched (it completes once let go)
        daemon.gate.hold_after(0)
        held = daemon.ctl_json("snapshot", "create", "backup", "--no-wait")
        daemon.gate.wait_held()
        write_config(tmp_path, tables=JOB + SECOND)
        daemon.proc.send_signal(signal.SIGHUP)
        _until(lambda: len(daemon.ctl_json("job", "list")) == 2, "SIGHUP did not reload")
        assert daemon.ctl_json("transaction", "show", held["id"])["state"] == "EXECUTING"
        daemon.gate.release()
        waited = daemon.ctl("transaction", "watch", held["id"])
        assert waited.returncode == 0, waited.stderr
        assert daemon.ctl_json("transaction", "show", held["id"])["state"] == "COMPLETED"

        # a bad file through the bus: refused with each problem, the jobs as they were
        write_config(
            tmp_path, tables=JOB + '[jobs.bad]\ndatasets = ["tank"]\nschedule = "Mon..Fry"\n'
        )
        bad = daemon.ctl("config", "reload")
        assert bad.returncode == 5, (bad.returncode, bad.stderr)
        assert "'Fry' is not a weekday" in bad.stderr
        assert [r["name"] for r in daemon.ctl_json("job", "list")] == ["hourly", "nightly"]
        refused = daemon.ctl("config", "reload", user=nobody)
        assert refused.returncode == 3, refused.stderr
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=60) == 0, daemon.log()
