"""zfsyncctl prune against the scripted double: the transaction with the options mapped to
the request's fields, the dry run's table and --json, the usage errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.unit.cli.daemon_double import DaemonDouble
from zfsyncctl.main import cli
from zfsyncd.api.names import ErrorName


def zfsyncctl(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv))


def last_call(double: DaemonDouble, member: str) -> tuple[list[Any], dict[str, Any]]:
    (*_, (_, body, _)) = [c for c in double.calls if c[0] == member]
    *arguments, options = body
    return arguments, {k: v.value for k, v in options.items()}


POLICY = 'grid = "1x1h(keep=all) | 24x1h", daily = 7'
CALLS: list[tuple[list[str], list[Any], dict[str, Any]]] = [
    ([], [[]], {}),
    (["tank/home", "-r"], [["tank/home"]], {"recursive": True}),
    (
        ["tank/home", "tank/db", "--policy", POLICY, "--tag", "nightly", "--fail-if-busy"],
        [["tank/home", "tank/db"]],
        {"policy": POLICY, "tags": ["nightly"], "wait_for_locks": False},
    ),
    (["tank/home", "--host", "backup"], [["tank/home"]], {"host": "backup"}),
]


@pytest.mark.parametrize(("argv", "arguments", "options"), CALLS)
def test_prune_starts_a_transaction_and_waits(
    double: DaemonDouble, argv: list[str], arguments: list[Any], options: dict[str, Any]
) -> None:
    result = zfsyncctl("prune", *argv)
    assert result.exit_code == 0, result.output
    assert last_call(double, "Prune") == (arguments, options)
    assert "COMPLETED" in result.stdout


def _row(name: str, keep: bool, why: str, reason: str) -> dict[str, Any]:
    dataset, _, short = name.partition("@")
    return {
        "name": name, "dataset": dataset, "snapshot": short, "guid": 7, "created": 1.8e9,
        "keep": keep, "why": why, "reason": reason,
    }  # fmt: skip


def test_the_dry_run_says_what_goes_and_why_each_stays(double: DaemonDouble) -> None:
    double.prune_rows = [
        _row("tank/home@zfsync_a", False, "expired", "not kept by daily=7"),
        _row("tank/home@zfsync_b", True, "rule", "daily=7: the first of day 2026-11-30"),
        _row("tank/home@zfsync_c", True, "held", "held (zfs holds)"),
    ]
    result = zfsyncctl("prune", "tank/home", "--dry-run", "--policy", "daily = 7")
    assert result.exit_code == 0, result.output
    assert last_call(double, "PrunePreview") == ([["tank/home"]], {"policy": "daily = 7"})
    assert not [c for c in double.calls if c[0] == "Prune"]  # nothing started
    lines = result.stdout.splitlines()
    assert any("zfsync_a" in line and "destroy" in line and "daily=7" in line for line in lines)
    assert any("zfsync_c" in line and "keep" in line and "held" in line for line in lines)
    assert lines[-1] == "1 of 3 snapshots would be destroyed"
    doc = json.loads(zfsyncctl("prune", "--dry-run", "--json").stdout)
    assert [(r["snapshot"], r["keep"], r["why"]) for r in doc] == [
        ("zfsync_a", False, "expired"),
        ("zfsync_b", True, "rule"),
        ("zfsync_c", True, "held"),
    ]


def test_usage_errors(double: DaemonDouble) -> None:
    assert zfsyncctl("prune", "--policy", "daily = 1").exit_code == 2  # no dataset named
    assert zfsyncctl("prune", "tank/home@x").exit_code == 2
    double.fail["PrunePreview"] = (ErrorName.INVALID_ARGUMENT, "tank/home has no retention policy")
    result = zfsyncctl("prune", "tank/home", "--dry-run")
    assert result.exit_code == 5
    assert "tank/home has no retention policy" in result.stderr
