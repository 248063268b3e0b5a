"""zfsyncctl witness status|conflicts against the scripted double: the fields shown, the
--json documents, a daemon without [witness], a witness that cannot be reached."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from tests.unit.cli.daemon_double import DaemonDouble
from zfsyncctl.main import cli
from zfsyncd.api.names import ErrorName

STATUS: dict[str, Any] = {
    "configured": True, "url": "https://w.lan:8470", "system_id": "6f1c", "reachable": False,
    "unauthorized": False, "error": "ConnectError: refused", "last_report": 1.8e9,
    "last_heartbeat": 1.8e9, "last_instructions": 1.8e9, "pending_instructions": 2,
    "running_instructions": 1, "instructions_run": 5, "instructions_failed": 1,
    "report_owed": True, "queued_outcomes": 3, "failures": 2, "next_attempt": 1.8e9 + 4,
}  # fmt: skip
CONFLICT: dict[str, Any] = {
    "id": "c1", "group": "home", "dataset": "data", "kind": "diverged", "status": "open",
    "strategy": "", "winner_system_id": "", "detected": "2026-12-01T02:00:00Z",
    "problems": ["diverged on 6f1c: a2"],
}  # fmt: skip


def zfsyncctl(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv))


def test_status_shows_reachability_reports_and_instructions(double: DaemonDouble) -> None:
    double.witness_status = STATUS
    result = zfsyncctl("witness", "status")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "reachable:" in text
    assert "2 pending at the witness, 1 running here" in text
    assert "(one is owed)" in text
    assert "3 outcome(s) to send" in text
    assert "failing:" in text
    assert "ConnectError: refused" in text
    doc = json.loads(zfsyncctl("witness", "status", "--json").stdout)
    assert doc == STATUS


def test_status_without_a_witness_says_so(double: DaemonDouble) -> None:
    double.witness_status = STATUS | {"configured": False, "url": "", "error": ""}
    result = zfsyncctl("witness", "status")
    assert result.exit_code == 0, result.output
    assert "no witness configured" in result.stdout


def test_conflicts_table_and_json(double: DaemonDouble) -> None:
    double.witness_conflicts = [CONFLICT]
    result = zfsyncctl("witness", "conflicts")
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if "data" in line]
    assert "home" in row
    assert "diverged" in row
    assert "open" in row
    assert json.loads(zfsyncctl("witness", "conflicts", "--json").stdout) == [CONFLICT]
    double.witness_conflicts = []
    assert "no conflicts" in zfsyncctl("witness", "conflicts").stdout


def test_conflicts_exit_codes(double: DaemonDouble) -> None:
    double.fail["WitnessConflicts"] = (ErrorName.REFUSED, "no [witness] configured")
    result = zfsyncctl("witness", "conflicts")
    assert result.exit_code == 5
    assert "no [witness] configured" in result.stderr
    double.fail["WitnessConflicts"] = (ErrorName.FAILED, "the witness refused: 401")
    assert zfsyncctl("witness", "conflicts").exit_code == 8
