"""[jobs.NAME] of the configuration: what is accepted, and one clear line per problem
(`zfsyncctl config check`, no daemon); the job state's round trip through the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from zfsyncd import config
from zfsyncd.config import check_file, load
from zfsyncd.store import Database
from zfsyncd.store.jobs import JobState, JobStateStore, TargetState

GOOD = """
[hosts.backup]
address = "backup.example.org"

[jobs.home]
datasets = ["tank/home", "tank/db"]
recursive = true
schedule = "Mon..Fri 02:30"
jitter = "5m"
timeout = "2h"
retention = { grid = "1x1h(keep=all) | 24x1h | 14x1d", keep = "^manual-" }
pre_hooks = [{ argv = ["/usr/local/sbin/freeze", "--all"], timeout = "30s" }]

[jobs.home.targets.offsite]
host = "backup"
destination = "bak/home"

[jobs.logs]
datasets = ["tank/logs"]
recursive = true
exclude = ["tank/logs/*/tmp"]
schedule = "every 15m"
retention = { hourly = 24, daily = 7 }
"""


@pytest.fixture(autouse=True)
def _no_default_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "DEFAULT_PATH", tmp_path / "absent.toml")


def test_a_good_configuration(tmp_path: Path) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(GOOD)
    assert check_file(path) == []
    cfg = load(path)
    home, logs = cfg.jobs["home"], cfg.jobs["logs"]
    assert (home.jitter, home.timeout, home.pre_hooks[0].timeout) == (300, 7200, 30)
    assert home.destinations(home.targets["offsite"]) == {
        "tank/home": "bak/home/home", "tank/db": "bak/home/db",
    }  # fmt: skip
    assert logs.excluded("tank/logs/a/tmp")
    assert not logs.excluded("tank/logs/a")
    assert home.retention is not None
    assert logs.retention is not None


D = 'datasets = ["tank/a"]\nschedule = "daily"\n'


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('datasets = []\nschedule = "daily"', "jobs.j.datasets: needs at least 1 item(s)"),
        ('datasets = ["tank/a"]', "jobs.j.schedule: is required"),
        ('datasets = ["tank/a"]\nschedule = "dayly"',
         "jobs.j.schedule: 'dayly': 'dayly' is not a weekday (Mon..Sun)"),
        ('datasets = ["tank/a"]\nschedule = "2020-01-01"',
         "jobs.j.schedule: '2020-01-01' never comes again"),
        ('datasets = ["tank/a", "tank/a"]\nschedule = "daily"',
         "jobs.j.datasets: a dataset is named twice"),
        (D + 'exclude = ["x"]',
         "jobs.j: exclude: only a recursive job has datasets to exclude"),
        ('datasets = ["tank/a"]\nschedule = "hourly"\njitter = "1h"',
         "jobs.j: jitter: 3600 s is not shorter than the schedule's 3600 s"),
        ('datasets = ["tank/a", "tank/a/b"]\nschedule = "daily"\nrecursive = true',
         "jobs.j: datasets: tank/a/b is below another dataset of the job"),
        (D + 'pre_hooks = [{ argv = [] }]',
         "jobs.j.pre_hooks.0.argv: needs at least 1 item(s)"),
        (D + 'pre_hooks = [{ argv = ["x"], timeout = "soon" }]',
         "jobs.j.pre_hooks.0.timeout: 'soon' is not a duration"),
        (D + 'retention = { }',
         "jobs.j.retention"),
        (D + 'targets.t = { host = "nowhere", destination = "b/a" }',
         "config: jobs.j.targets.t.host: 'nowhere' is not a [hosts.NAME]"),
        (D + 'recursive = true\nexclude = ["x"]\ntargets.t = { destination = "b/a" }',
         "jobs.j: exclude: a job with replication targets cannot exclude datasets"),
        ('datasets = ["tank/a", "pool/a"]\nschedule = "daily"\ntargets.t = { destination = "b/a" }',
         "jobs.j: targets.t: two datasets would be replicated to b/a/a"),
        (D + 'every = "1h"', "jobs.j.every: is not a known key"),
    ],
)  # fmt: skip
def test_one_line_per_problem(tmp_path: Path, table: str, problem: str) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(f'[hosts.backup]\naddress = "b"\n[jobs.j]\n{table}\n')
    lines = check_file(path)
    assert len(lines) == 1, lines
    assert lines[0].startswith(problem), lines


def test_several_problems_each_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(
        '[jobs."bad name"]\ndatasets = ["tank/a"]\nschedule = "daily"\n'
        '[jobs.b]\ndatasets = ["tank/b"]\nschedule = "every 15m"\njitter = "20m"\nexclude = ["x"]\n'
    )
    lines = check_file(path)
    assert len(lines) == 3, lines
    assert lines[0].startswith("jobs.bad name.[key]: 'bad name': a job's name is")
    assert lines[1:] == [
        "jobs.b: exclude: only a recursive job has datasets to exclude",
        "jobs.b: jitter: 1200 s is not shorter than the schedule's 900 s",
    ]


def test_a_file_that_is_not_toml_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "zfsyncd.toml"
    path.write_text("[jobs.a\n")
    (line,) = check_file(path)
    assert "not valid TOML" in line
    (line,) = check_file(tmp_path / "absent")
    assert "does not exist" in line


async def test_job_state_round_trip(tmp_path: Path) -> None:
    async with Database.open(tmp_path / "zfsyncd.db", clock=lambda: 1000.0) as db:
        store = JobStateStore(db)
        assert await store.get("home") is None
        state = JobState("home", paused=True, covered=5.0, failures=2, last_error="x",
                         last_transactions=("t1", "t2"))  # fmt: skip
        state = state.with_target("off", TargetState(failures=3, retry_at=99.0, last_error="y"))
        stored = await store.put(state)
        assert stored.updated_at == 1000.0
        assert await store.get("home") == stored
        assert await store.all() == [stored]
