"""zfsyncctl replica against the scripted double: each command calls its Manager method with
the options mapped to the request's fields, waits with progress, exits by the outcome;
`status` as a table and --json; the usage errors (sync SRC@SNAP without --yes, mixing
`all`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.unit.cli.daemon_double import DaemonDouble, Tx
from zfsyncctl.main import cli
from zfsyncd.api.names import ErrorName

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _destinations(double: DaemonDouble) -> None:
    double.datasets.add("backup/home")  # a destination that takeover names


def zfsyncctl(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv))


def doc(result: Result) -> Any:
    return json.loads(result.stdout)


def last_call(double: DaemonDouble, member: str) -> tuple[list[Any], dict[str, Any]]:
    """The positional arguments and the options (unpacked) of the last call of `member`."""
    (*_, (_, body, _)) = [c for c in double.calls if c[0] == member]
    *arguments, options = body
    return arguments, {k: v.value for k, v in options.items()}


#: (command line, method, its positional arguments, its options)
CALLS: list[tuple[list[str], str, list[Any], dict[str, Any]]] = [
    (["init", "tank/home", "far:vault/home"], "ReplicaInit", ["tank/home", "far:vault/home"], {}),
    (
        ["init", "tank/home", "backup/home", "-R", "--savecount", "10",
         "--destination-savecount", "30", "--priority", "5", "--tag", "nightly"],
        "ReplicaInit", ["tank/home", "backup/home"],
        {"recursive": True, "savecount": 10, "destination_savecount": 30, "priority": 5,
         "tags": ["nightly"]},
    ),
    (["sync", "tank/home", "tank/db", "-P", "4"], "ReplicaSync", [["tank/home", "tank/db"]],
     {"parallel": 4}),
    (["sync", "all"], "ReplicaSync", [[]], {}),
    (["sync", "tank/home@zfsync_t1", "--yes"], "ReplicaSyncTo", ["tank/home@zfsync_t1"], {}),
    (["expire"], "ReplicaExpire", [[]], {}),
    (["expire", "tank/home", "--fail-if-busy"], "ReplicaExpire", [["tank/home"]],
     {"wait_for_locks": False}),
    (["failover", "tank/home"], "ReplicaFailover", ["tank/home"], {}),
    (["failover", "tank/home", "-L"], "ReplicaFailover", ["tank/home"], {"local_only": True}),
    (["takeover", "backup/home", "-L", "--snapshot", "zfsync_t1"], "ReplicaTakeover",
     ["backup/home"], {"local_only": True, "snapshot": "zfsync_t1"}),
    (["pause", "tank/home"], "ReplicaPause", ["tank/home"], {}),
    (["resume", "tank/home", "--timeout", "10m"], "ReplicaResume", ["tank/home"],
     {"timeout": 600.0}),
    (["clear", "tank/home"], "ReplicaClear", ["tank/home"], {}),
    (["clear", "tank/home", "--destroy-snapshots"], "ReplicaClear", ["tank/home"],
     {"destroy_snapshots": True}),
    (["reconfigure", "tank/home", "far:vault/home2"], "ReplicaReconfigure",
     ["tank/home", "far:vault/home2"], {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "method", "arguments", "options"), CALLS, ids=[" ".join(c[0]) for c in CALLS]
)
def test_each_command_calls_its_method_with_the_request_fields(
    double: DaemonDouble,
    argv: list[str],
    method: str,
    arguments: list[Any],
    options: dict[str, Any],
) -> None:
    result = zfsyncctl("replica", *argv)
    assert result.exit_code == 0, result.output
    assert last_call(double, method) == (arguments, options)
    assert "COMPLETED" in result.stdout  # it waited for the transaction


def test_sync_waits_with_progress_and_json_is_one_document(double: DaemonDouble) -> None:
    result = zfsyncctl("replica", "sync", "tank/home")
    assert result.exit_code == 0, result.output
    err = result.stderr.splitlines()
    assert any("100%" in line for line in err)
    assert "replica-sync" in result.stdout
    quiet = zfsyncctl("replica", "sync", "all", "--json")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert doc(quiet)["type"] == "replica-sync"


def test_no_wait_prints_the_id(double: DaemonDouble) -> None:
    result = zfsyncctl("replica", "pause", "tank/home", "--no-wait")
    assert result.exit_code == 0
    assert result.stdout.strip() in double.txs


def test_a_failed_sync_exits_1_with_the_error(double: DaemonDouble) -> None:
    async def fail(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        d.finish(tx, "FAILED", "destination backup/home was modified since zfsync_t1")

    double.script = fail
    result = zfsyncctl("replica", "sync", "tank/home")
    assert result.exit_code == 1
    assert "was modified since zfsync_t1" in result.stderr


def test_the_daemons_refusal_is_exit_5(double: DaemonDouble) -> None:
    double.fail["ReplicaInit"] = (ErrorName.REFUSED, "tank/home is already a replica source")
    result = zfsyncctl("replica", "init", "tank/home", "backup/home")
    assert result.exit_code == 5
    assert "zfsyncctl: tank/home is already a replica source" in result.stderr
    assert zfsyncctl("replica", "init", "tank/nothing", "backup/x").exit_code == 4


def test_sync_to_a_snapshot_warns_and_wants_yes(double: DaemonDouble) -> None:
    result = zfsyncctl("replica", "sync", "tank/home@zfsync_t1")
    assert result.exit_code == 2
    assert "rolls the destination of tank/home back to zfsync_t1" in result.stderr
    assert "--yes" in result.stderr
    assert not [c for c in double.calls if c[0] == "ReplicaSyncTo"]
    done = zfsyncctl("replica", "sync", "tank/home@zfsync_t1", "--yes")
    assert done.exit_code == 0, done.output
    assert "rolls the destination" not in done.stderr  # --yes: a script's own choice


USAGE: list[tuple[list[str], str]] = [
    (["sync", "all", "tank/home"], "sync all takes no dataset"),
    (["sync", "tank/home@a", "tank/db"], "takes that one snapshot"),
    (["sync", "tank/home@a", "-P", "2", "--yes"], "-P is for sync SRC"),
    (["sync", "tank/home", "--yes"], "--yes is for sync SRC@SNAP only"),
    (["sync", "tank/home", "-P", "17"], "17"),
    (["init", "tank/home@x", "backup/home"], "not a dataset name"),
    (["init", "tank/home", "far:"], "not [HOST:]pool/fs"),
    (["takeover", "backup/home", "--snapshot", "backup/home@zfsync_t1"], "short name"),
    (["status", "tank/home@x"], "not a dataset name"),
]


@pytest.mark.parametrize(("argv", "why"), USAGE, ids=[" ".join(u[0]) for u in USAGE])
def test_usage_errors_call_nothing(double: DaemonDouble, argv: list[str], why: str) -> None:
    result = zfsyncctl("replica", *argv)
    assert result.exit_code == 2
    assert why in result.stderr
    assert not [c for c in double.calls if c[0].startswith("Replica")]


def test_status_as_a_table(double: DaemonDouble) -> None:
    double.add_replica("tank/home", "local:backup/home")
    double.add_replica(
        "tank/db", "far:vault/db", lag_bytes=3 * 1024 * 1024, lag_seconds=7200.0, unsent=2,
        paused=True, last_error="recv: connection lost", last_error_transaction="tx0009",
    )  # fmt: skip
    double.add_replica("backup/x", "local:backup/x", role="destination", source="far:tank/x",
                       error="host far: ssh: connect to host far: No route to host")  # fmt: skip
    result = zfsyncctl("replica", "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["DATASET", "ROLE", "PEER", "LAST", "SENT", "AGE", "LAG", "KEEP",
                                "STATE"]  # fmt: skip
    by_dataset = {line.split()[0]: line for line in lines[1:]}
    assert by_dataset.keys() == {"backup/x", "tank/db", "tank/home"}
    assert "-> local:backup/home" in by_dataset["tank/home"]
    assert by_dataset["tank/home"].rstrip().endswith("ok")
    assert "2:00:00, 3.0 MiB, 2 unsent" in by_dataset["tank/db"]
    assert "paused; last failure tx0009: recv: connection lost" in by_dataset["tank/db"]
    assert "<- far:tank/x" in by_dataset["backup/x"]
    assert "error: host far: ssh" in by_dataset["backup/x"]


def test_status_json_and_one_dataset(double: DaemonDouble) -> None:
    double.add_replica("tank/home", "local:backup/home")
    double.add_replica("tank/db", "local:backup/db")
    rows = doc(zfsyncctl("replica", "status", "--json"))
    assert [r["dataset"] for r in rows] == ["tank/db", "tank/home"]
    assert rows[0]["destination"] == "local:backup/db"
    one = doc(zfsyncctl("replica", "status", "backup/home", "--json"))
    assert [r["dataset"] for r in one] == ["tank/home"]
    assert last_call(double, "ListReplicas")[1] == {"dataset": "backup/home", "limit": 1000}
    missing = zfsyncctl("replica", "status", "tank/other")
    assert missing.exit_code == 4
    assert "tank/other is not a side of a replica pair" in missing.stderr
    assert zfsyncctl("replica", "status").exit_code == 0


def test_status_reads_page_by_page(double: DaemonDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("zfsyncctl.replica_client.MAX_REPLICA_PAGE", 2)
    for name in ("tank/a", "tank/b", "tank/c"):
        double.add_replica(name, f"local:backup/{name[5:]}")
    rows = doc(zfsyncctl("replica", "status", "--json"))
    assert [r["dataset"] for r in rows] == ["tank/a", "tank/b", "tank/c"]
    pages = [body[0] for member, body, _ in double.calls if member == "ListReplicas"]
    assert [p["after"].value if "after" in p else None for p in pages] == [None, "tank/b"]


def test_status_without_pairs(double: DaemonDouble) -> None:
    result = zfsyncctl("replica", "status")
    assert (result.exit_code, result.stdout.strip()) == (0, "no replica pairs")


@pytest.mark.parametrize(
    "argv",
    [
        ["init", "tank/a", "backup/a"],
        ["sync", "all"],
        ["sync", "tank/a@zfsync_1", "--yes"],
        ["status"],
        ["expire"],
        ["failover", "tank/a"],
        ["takeover", "backup/a"],
        ["pause", "tank/a"],
        ["resume", "tank/a"],
        ["clear", "tank/a"],
        ["reconfigure", "tank/a", "far:vault/a"],
    ],
)
def test_every_replica_command_takes_json_and_says_so_on_error(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    result = CliRunner().invoke(cli, ["replica", *argv, "--json", "--no-ask-password"])
    assert result.exit_code == 7
    assert '"kind": "DaemonUnavailableError"' in result.stdout


def test_replica_help_imports_neither_the_client_nor_pydantic() -> None:
    """Start-up: the group registers with click alone; the rest comes when a command runs."""
    code = (
        "import sys\n"
        "from zfsyncctl.main import cli\n"
        "try:\n"
        "    cli(['replica', 'sync', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('pydantic', 'dbus_fast', 'rich', 'asyncio') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
        timeout=60,
    )  # fmt: skip
    assert "Transfers at once" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
