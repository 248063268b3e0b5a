"""zfsyncctl migrate against the scripted double: run calls Migrate with its options and
waits; batch runs every repository of a TOML file and says how each ended; status; validate
exits 1 when a check fails; usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tests.unit.cli.daemon_double import DaemonDouble
from zfsyncctl.main import cli


def zfsyncctl(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv))


def _calls(double: DaemonDouble, member: str) -> list[tuple[list[Any], dict[str, Any]]]:
    found = []
    for name, body, _ in double.calls:
        if name == member:
            *arguments, options = body
            found.append((arguments, {k: v.value for k, v in options.items()}))
    return found


def test_run_passes_the_source_as_an_absolute_path_and_the_limit(double: DaemonDouble) -> None:
    result = zfsyncctl("migrate", "run", "/srv/repo", "tank/repo", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert _calls(double, "Migrate") == [(["/srv/repo", "tank/repo"], {"limit": 5})]
    assert _calls(double, "ListMigrations") == [([], {"dataset": "tank/repo"})]  # the report
    zfsyncctl("migrate", "run", "relative", "tank/repo", "--fail-if-busy")
    (arguments, options) = _calls(double, "Migrate")[-1]
    assert arguments[0] == str(Path("relative").absolute())
    assert options == {"wait_for_locks": False}


def test_run_refuses_a_snapshot_name(double: DaemonDouble) -> None:
    assert zfsyncctl("migrate", "run", "/srv", "tank/repo@x").exit_code == 2
    assert _calls(double, "Migrate") == []


def test_batch_runs_each_repository(double: DaemonDouble, tmp_path: Path) -> None:
    config = tmp_path / "batch.toml"
    repos = "".join(
        f'[[repository]]\nsource = "/srv/r{i}"\ndataset = "tank/r{i}"\n' for i in range(6)
    )
    config.write_text(f"workers = 3\n{repos}")
    result = zfsyncctl("migrate", "batch", str(config), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["dataset"], r["state"]) for r in rows] == [
        (f"tank/r{i}", "COMPLETED") for i in range(6)
    ]
    assert sorted(a[1] for a, _ in _calls(double, "Migrate")) == [f"tank/r{i}" for i in range(6)]


def test_batch_refuses_a_dataset_named_twice(double: DaemonDouble, tmp_path: Path) -> None:
    config = tmp_path / "batch.toml"
    config.write_text('[[repository]]\nsource = "/a"\ndataset = "tank/r"\n' * 2)
    result = zfsyncctl("migrate", "batch", str(config))
    assert result.exit_code == 2
    assert "named twice" in result.output


def test_status_and_validate(double: DaemonDouble) -> None:
    row = {"dataset": "tank/repo", "source": "/srv/repo", "migrated": 2, "last_number": 2}
    double.migrations.append({**row, "last_date": "-", "source_snapshots": 3})
    result = zfsyncctl("migrate", "status")
    assert result.exit_code == 0, result.output
    assert "tank/repo  from /srv/repo: 2 migrated, newest 2 (-), 1 left" in result.output
    double.datasets.add("tank/repo")
    result = zfsyncctl("migrate", "validate", "tank/repo", "--full")
    assert result.exit_code == 0, result.output
    assert _calls(double, "ValidateMigration")[-1] == (["tank/repo"], {"sample": 100, "full": True})
    double.corrupted.add("tank/repo")
    result = zfsyncctl("migrate", "validate", "tank/repo", "--sample", "7")
    assert result.exit_code == 1
    assert "FAIL contents" in result.output
    assert "contents differ: 'a'" in result.output
    assert zfsyncctl("migrate", "validate", "tank/other").exit_code == 4
