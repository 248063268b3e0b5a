"""`zfsyncctl prune` through the real daemon, bus and polkitd: the dry run is a read, open to
everyone, and changes nothing; the prune itself is org.zfsync.snapshot's (root may, nobody
is refused with nothing changed) and destroys what the dry run said would go."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import zfsyncd.ops  # noqa: F401 - registers the kinds the daemon runs (the same code)
from tests.system.daemon import Daemon, running_daemon
from tests.system.harness import SystemBus, User

NOT_AUTHORIZED = 3
POLICY = "last = 2"


@pytest.fixture(scope="module")
async def daemon(
    system_bus: SystemBus, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Daemon]:
    async with running_daemon(system_bus, tmp_path_factory.mktemp("daemon")) as started:
        yield started


def _snapshots(daemon: Daemon, user: User | None = None) -> list[str]:
    return [r["name"] for r in daemon.ctl_json("snapshot", "list", "tank", user=user)]


def test_the_dry_run_is_a_read_and_the_prune_does_what_it_said(
    daemon: Daemon, nobody: User
) -> None:
    for _ in range(4):
        made = daemon.ctl("snapshot", "create", "tank")
        assert made.returncode == 0, made.stderr
    before = _snapshots(daemon)
    assert len(before) == 4

    for user in (None, nobody):
        rows = daemon.ctl_json("prune", "tank", "--dry-run", "--policy", POLICY, user=user)
        assert [(r["name"], r["keep"]) for r in rows] == [
            (name, n >= 2) for n, name in enumerate(before)
        ], user
        assert rows[-1]["why"] == "newest"
        assert rows[0]["why"] == "expired"
        table = daemon.ctl("prune", "tank", "--dry-run", "--policy", POLICY, user=user)
        assert (table.returncode, table.stderr) == (0, ""), table.stderr
        assert table.stdout.splitlines()[-1] == "2 of 4 snapshots would be destroyed"
    assert _snapshots(daemon) == before  # a read: nothing changed

    refused = daemon.ctl("prune", "tank", "--policy", POLICY, "--no-ask-password", user=nobody)
    assert refused.returncode == NOT_AUTHORIZED, refused.stderr
    assert _snapshots(daemon) == before

    done = daemon.ctl("prune", "tank", "--policy", POLICY)
    assert done.returncode == 0, done.stderr
    assert _snapshots(daemon) == before[2:]
    (last,) = daemon.ctl_json("transaction", "list", "--limit", "1")
    assert last["type"] == "prune"


def test_a_dataset_without_a_policy_is_refused(daemon: Daemon) -> None:
    done = daemon.ctl("prune", "tank", "--dry-run")
    assert done.returncode == 5, done.stderr
    assert "tank has no retention policy" in done.stderr
