"""zfsyncctl dataset against the scripted double: each command calls its Manager method with
the request's fields (DIR made absolute), waits, exits by the outcome; usage errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import zfsyncctl.dataset_client as dc
import zfsyncd.ops  # noqa: F401 - registers the kinds
from tests.unit.cli.daemon_double import DaemonDouble
from tests.unit.cli.test_cli_replica import last_call
from zfsyncctl.main import cli
from zfsyncd.bus.kind_methods import argument_signatures, option_keys
from zfsyncd.tx.kinds import TX_KINDS


def zfsyncctl(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv))


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "tree").mkdir()
    monkeypatch.chdir(tmp_path)
    return str(tmp_path / "tree")


def test_init_sends_the_directory_absolute(double: DaemonDouble, tree: str) -> None:
    result = zfsyncctl("dataset", "init", "tank/new", "--from-dir", "tree", "--mountpoint", "/m")
    assert result.exit_code == 0, result.output
    assert last_call(double, "DatasetInit") == (["tank/new", tree], {"mountpoint": "/m"})
    assert "COMPLETED" in result.stdout


def test_update_sends_the_excludes(double: DaemonDouble, tree: str) -> None:
    double.datasets.add("tank/data")
    argv = ["dataset", "update", "tank/data", "--from-dir", tree, "--exclude", "*.tmp"]
    result = zfsyncctl(*argv, "--exclude", "cache/", "--fail-if-busy")
    assert result.exit_code == 0, result.output
    assert last_call(double, "DatasetUpdate") == (
        ["tank/data", tree],
        {"excludes": ["*.tmp", "cache/"], "wait_for_locks": False},
    )


def test_rollback_and_a_missing_dataset(double: DaemonDouble) -> None:
    double.datasets.add("tank/data")
    result = zfsyncctl("dataset", "rollback", "tank/data@zfsync_t1", "--priority", "3")
    assert result.exit_code == 0, result.output
    assert last_call(double, "DatasetRollback") == (["tank/data@zfsync_t1"], {"priority": 3})
    assert zfsyncctl("dataset", "rollback", "tank/nothing@s").exit_code == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["init", "tank/new", "--from-dir", "/no/such/dir"],
        ["init", "tank/new"],
        ["init", "tank/new@s", "--from-dir", "/"],
        ["rollback", "tank/data"],
    ],
)
def test_usage_errors(double: DaemonDouble, argv: list[str]) -> None:
    result = zfsyncctl("dataset", *argv)
    assert result.exit_code == 2
    assert not [c for c in double.calls if c[0].startswith("Dataset")]


OPTIONS = {
    "DatasetInit": dc.InitOptions,
    "DatasetUpdate": dc.UpdateOptions,
    "DatasetRollback": dc.DatasetOptions,
}


@pytest.mark.parametrize("method", sorted(OPTIONS))
def test_the_clients_options_and_arguments_agree_with_the_daemon(method: str) -> None:
    [kind] = [k for k in TX_KINDS.values() if k.method is not None and k.method.name == method]
    assert kind.method is not None
    daemon: dict[str, Any] = option_keys(kind, kind.method)
    model = OPTIONS[method]
    assert sorted(model.SIGNATURES) == sorted(daemon)
    assert all(sig in daemon[key] for key, sig in model.SIGNATURES.items())
    assert sorted(model.model_fields) == sorted(model.SIGNATURES)
    assert dc.ARGUMENTS[method] == "".join(argument_signatures(kind, kind.method).values())


QUEUED = {
    "id": 7, "transaction": "t9", "kind": "finalize",
    "reason": "finalize replace the contents of tank/data: dataset is busy",
    "created": 1.0, "attempts": 2, "next_attempt": 2.0, "last_error": "dataset is busy",
}  # fmt: skip


def test_transaction_cleanup_shows_the_queue_and_runs_it(double: DaemonDouble) -> None:
    double.cleanups.append(dict(QUEUED))
    shown = zfsyncctl("transaction", "cleanup")
    assert shown.exit_code == 0, shown.output
    assert "t9\tfinalize\tattempts 2\tfinalize replace the contents" in shown.stdout
    assert "(last: dataset is busy)" in shown.stdout
    ran = zfsyncctl("transaction", "cleanup", "--run", "--json")
    assert ran.exit_code == 0, ran.output
    assert '"done": 1' in ran.stdout
    assert '"cleanups": []' in ran.stdout
    assert "no cleanup waiting" in zfsyncctl("transaction", "cleanup").stdout
