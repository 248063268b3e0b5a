"""zfsyncctl commands (click's CliRunner) against the scripted double on a private bus:
output for people and --json, waiting with progress, and exit codes by outcome and error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.unit.cli.daemon_double import DaemonDouble, Tx
from zfsyncctl.main import cli
from zfsyncd.api.names import ErrorName


def zfsyncctl(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv))


def doc(result: Result) -> Any:
    return json.loads(result.stdout)


def test_status(double: DaemonDouble) -> None:
    result = zfsyncctl("status")
    assert result.exit_code == 0, result.output
    assert "0.1.0-double" in result.stdout
    assert doc(zfsyncctl("status", "--json"))["pools"] == ["tank", "backup"]


def test_transaction_list(double: DaemonDouble) -> None:
    double.add_transaction("COMPLETED", id="tA")
    double.add_transaction("FAILED", id="tB", error="boom")
    result = zfsyncctl("transaction", "list")
    assert result.exit_code == 0
    assert result.stdout.index("tB") < result.stdout.index("tA")  # newest first
    rows = doc(zfsyncctl("transaction", "list", "--json", "--state", "failed", "--limit", "5"))
    assert [r["id"] for r in rows] == ["tB"]
    assert "steps" not in rows[0]
    _, body, _ = double.calls[-1]
    assert {k: v.value for k, v in body[0].items()} == {"states": ["FAILED"], "limit": 5}


def test_transaction_list_since_and_active(double: DaemonDouble) -> None:
    assert (
        zfsyncctl("transaction", "list", "--since", "2h", "--active", "--type", "x").exit_code == 0
    )
    _, body, _ = double.calls[-1]
    assert set(body[0]) == {"since", "active", "type", "limit"}
    assert body[0]["since"].signature == "d"
    assert body[0]["limit"].value == 100  # the default: one page


def test_transaction_list_reads_page_by_page(
    double: DaemonDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("zfsyncctl.listing.MAX_TRANSACTION_PAGE", 2)
    for n in range(5):
        double.add_transaction("COMPLETED", id=f"t{n}", created=float(n + 1))
    rows = doc(zfsyncctl("transaction", "list", "--json", "--limit", "0"))
    assert [r["id"] for r in rows] == ["t4", "t3", "t2", "t1", "t0"]
    pages = [body[0] for member, body, _ in double.calls if member == "ListTransactions"]
    assert [p.get("after") and p["after"].value for p in pages] == [None, "t3", "t1"]
    rows = doc(zfsyncctl("transaction", "list", "--json", "--limit", "3"))
    assert [r["id"] for r in rows] == ["t4", "t3", "t2"]


def test_transaction_show(double: DaemonDouble) -> None:
    double.add_transaction("COMPLETED", id="tA")
    result = zfsyncctl("transaction", "show", "tA")
    assert result.exit_code == 0
    assert "zfs snapshot tank@zfsync_x" in result.stdout
    detail = doc(zfsyncctl("transaction", "show", "tA", "--json"))
    assert detail["id"] == "tA"
    assert detail["steps"][0]["state"] == "COMPLETED"


def test_snapshot_create_waits_with_progress(double: DaemonDouble) -> None:
    result = zfsyncctl("snapshot", "create", "tank/home", "-r", "-o", "com.example:who=me")
    assert result.exit_code == 0, result.output
    assert "COMPLETED" in result.stdout
    err = result.stderr.splitlines()
    assert any("step 0 started: zfs snapshot tank/home" in ln for ln in err)
    assert any("100%" in ln for ln in err)
    assert any("zfsync_20260101T000000 created" in ln for ln in err)


def test_snapshot_create_json_is_one_document(double: DaemonDouble) -> None:
    result = zfsyncctl("snapshot", "create", "tank", "--json")
    assert result.exit_code == 0
    final = doc(result)
    assert final["state"] == "COMPLETED"
    assert final["datasets"] == ["tank"]
    assert result.stderr == ""  # no progress lines in a pipe with --json


def test_no_wait_prints_the_id(double: DaemonDouble) -> None:
    result = zfsyncctl("snapshot", "create", "tank", "--no-wait")
    assert result.exit_code == 0
    tx_id = result.stdout.strip()
    assert tx_id in double.txs
    assert doc(zfsyncctl("snapshot", "create", "tank", "--no-wait", "--json"))["path"].startswith(
        "/org/zfsync/Daemon1/Transaction/"
    )


@pytest.mark.parametrize(("state", "code"), [("FAILED", 1), ("CANCELLED", 1), ("COMPLETED", 0)])
def test_exit_by_the_outcome(double: DaemonDouble, state: str, code: int) -> None:
    async def end(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        d.finish(tx, state, "" if state == "COMPLETED" else "it went wrong")

    double.script = end
    result = zfsyncctl("snapshot", "create", "tank")
    assert result.exit_code == code
    if code:
        assert f"zfsyncctl: transaction tx0001 {state}" in result.stderr
        assert "it went wrong" in result.stderr


def test_watch_of_ended_transactions(double: DaemonDouble) -> None:
    double.add_transaction("COMPLETED", id="ok")
    double.add_transaction("FAILED", id="bad", error="pool is full")
    assert zfsyncctl("transaction", "watch", "ok").exit_code == 0
    result = zfsyncctl("transaction", "watch", "bad")
    assert result.exit_code == 1
    assert "pool is full" in result.stderr


@pytest.mark.parametrize(
    ("name", "code"),
    [
        (ErrorName.NOT_AUTHORIZED, 3),
        (ErrorName.NOT_FOUND, 4),
        (ErrorName.INVALID_ARGUMENT, 5),
        (ErrorName.REFUSED, 5),
        (ErrorName.BUSY, 6),
        (ErrorName.FAILED, 8),
    ],
)
def test_daemon_errors_exit_codes(double: DaemonDouble, name: str, code: int) -> None:
    double.fail["Snapshot"] = (name, "the daemon's own words")
    result = zfsyncctl("snapshot", "create", "tank")
    assert result.exit_code == code
    assert result.stderr == "zfsyncctl: the daemon's own words\n"


def test_busy_with_fail_if_busy(double: DaemonDouble) -> None:
    double.busy.add("tank")
    result = zfsyncctl("snapshot", "create", "tank", "--fail-if-busy")
    assert result.exit_code == 6
    assert "tank is in transaction" in result.stderr


def test_not_found_and_refused_from_the_double(double: DaemonDouble) -> None:
    assert zfsyncctl("snapshot", "create", "nope").exit_code == 4
    result = zfsyncctl("snapshot", "destroy", "tank@manual")
    assert result.exit_code == 5
    assert "was not made by zfsyncd" in result.stderr
    assert zfsyncctl("snapshot", "destroy", "tank@manual", "--any-name").exit_code == 0
    assert zfsyncctl("transaction", "show", "nope").exit_code == 4


def test_error_as_json(double: DaemonDouble) -> None:
    double.fail["GetTransaction"] = (ErrorName.NOT_AUTHORIZED, "polkit said no")
    result = zfsyncctl("transaction", "show", "x", "--json")
    assert result.exit_code == 3
    assert doc(result) == {
        "error": {
            "kind": "NotAuthorizedError",
            "dbus_name": ErrorName.NOT_AUTHORIZED,
            "message": "polkit said no",
            "exit_code": 3,
        }
    }


def test_rollback_of_a_completed_transaction_is_a_new_one(double: DaemonDouble) -> None:
    double.add_transaction("COMPLETED", id="done")
    result = zfsyncctl("transaction", "rollback", "done", "--json")
    assert result.exit_code == 0
    final = doc(result)
    assert final["type"] == "rollback"
    assert final["rolls_back"] == "done"


def test_rollback_of_a_failed_transaction_finishes_its_rollback(double: DaemonDouble) -> None:
    double.add_transaction("FAILED", id="bad")
    result = zfsyncctl("transaction", "rollback", "bad")
    assert result.exit_code == 0
    assert result.stdout == "transaction bad: nothing left to undo for bad\n"
    assert "Rollback" not in [c[0] for c in double.calls]


def test_rollback_last_failed(double: DaemonDouble) -> None:
    assert zfsyncctl("transaction", "rollback", "--last-failed").exit_code == 4
    double.add_transaction("FAILED", id="old")
    double.add_transaction("COMPLETED", id="ok")
    double.add_transaction("FAILED", id="new")
    result = zfsyncctl("transaction", "rollback", "--last-failed", "--json")
    assert result.exit_code == 0
    assert doc(result) == {"id": "new", "outcome": "nothing left to undo for new"}
    # one whose undo still waits comes first, even when it is older
    double.txs["old"].data["rollback_pending"] = True
    result = zfsyncctl("transaction", "rollback", "--last-failed", "--json")
    assert doc(result)["id"] == "old"


def test_cancel(double: DaemonDouble) -> None:
    double.add_transaction("EXECUTING", id="run")
    result = zfsyncctl("transaction", "cancel", "run")
    assert result.exit_code == 0
    assert "transaction run CANCELLED" in result.stdout
    refused = zfsyncctl("transaction", "cancel", "run")
    assert refused.exit_code == 5
    assert "already ended" in refused.stderr


def test_retry(double: DaemonDouble) -> None:
    double.add_transaction("FAILED", id="bad")
    result = zfsyncctl("transaction", "retry", "bad", "--json", "--fail-if-busy")
    assert result.exit_code == 0
    assert doc(result)["retry_of"] == "bad"
    retry_call = next(c for c in double.calls if c[0] == "Retry")
    assert retry_call[1][1]["wait_for_locks"].value is False


def test_cleanup(double: DaemonDouble) -> None:
    result = zfsyncctl("transaction", "cleanup", "--older-than", "30d")
    assert result.exit_code == 0
    assert result.stdout == "removed 3 finished transactions\n"
    assert double.cleanup_calls == [30 * 86400.0]


def test_snapshot_list(double: DaemonDouble) -> None:
    double.snapshots.append({
        "name": "tank@zfsync_1", "dataset": "tank", "snapshot": "zfsync_1", "guid": 7,
        "created": 1.0, "used": 0, "referenced": 1024, "held": False, "transaction": "t1",
    })  # fmt: skip
    result = zfsyncctl("snapshot", "list", "tank", "--all", "--no-recursive")
    assert result.exit_code == 0
    assert "tank@zfsync_1" in result.stdout
    _, body, _ = double.calls[-1]
    assert body[0] == ["tank"]
    assert {k: v.value for k, v in body[1].items()} == {
        "any_name": True,
        "recursive": False,
        "limit": 1000,  # a page; the next is asked for after a full one
    }
    assert doc(zfsyncctl("snapshot", "list", "--json"))[0]["name"] == "tank@zfsync_1"


def test_no_daemon_on_the_bus(private_bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus)
    result = zfsyncctl("status")
    assert result.exit_code == 7
    assert result.stderr.startswith("zfsyncctl: zfsyncd is not running or cannot be reached")


def test_completion_of_ids_from_the_daemon(double: DaemonDouble) -> None:
    double.add_transaction("COMPLETED", id="abc1")
    double.add_transaction("COMPLETED", id="xyz2")
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="zfsyncctl",
        env={
            "_ZFSYNCCTL_COMPLETE": "bash_complete",
            "COMP_WORDS": "zfsyncctl transaction show ab",
            "COMP_CWORD": "3",
        },
    )
    assert result.stdout.split() == ["plain,abc1"]
