"""zfsyncctl dataset and the cleanup queue on the bus, with real polkitd: refusals at plan
time come back with their exit code and reason and change nothing; nobody may read the
cleanup queue but not change anything. (A dataset filled for real: tests/real.)"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.system.daemon import Daemon, running_daemon
from tests.system.harness import SystemBus, User

NOT_AUTHORIZED, NOT_FOUND, INVALID = 3, 4, 5


@pytest.fixture(scope="module")
async def daemon(
    system_bus: SystemBus, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Daemon]:
    async with running_daemon(system_bus, tmp_path_factory.mktemp("daemon")) as started:
        yield started


@pytest.fixture
def tree() -> Iterator[str]:
    """A directory every user can see (zfsyncctl checks it exists, as its caller)."""
    path = tempfile.mkdtemp(prefix="zfsync-system-tree-")
    os.chmod(path, 0o755)  # noqa: S103 - an empty directory, read by nobody
    yield path
    os.rmdir(path)


def _count(daemon: Daemon) -> int:
    return len(daemon.ctl_json("transaction", "list", "--limit", "0"))


def test_refusals_at_plan_time(daemon: Daemon, tree: str) -> None:
    count = _count(daemon)
    refusals = [
        (["dataset", "init", "tank", "--from-dir", tree], INVALID, "tank exists already"),
        (["dataset", "init", "tank/no/new", "--from-dir", tree], NOT_FOUND,
         "parent dataset tank/no does not exist"),
        (["dataset", "update", "tank/none", "--from-dir", tree], NOT_FOUND,
         "tank/none does not exist"),
        (["dataset", "rollback", "tank@nope"], INVALID, "snapshot tank@nope does not exist"),
    ]  # fmt: skip
    for args, code, message in refusals:
        done = daemon.ctl(*args)
        assert done.returncode == code, (args, done.returncode, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert daemon.ctl_json("transaction", "cleanup") == {"cleanups": []}
    ran = daemon.ctl_json("transaction", "cleanup", "--run")
    assert ran == {"cleanups": [], "done": 0}
    # each refusal is a transaction that failed at its plan, having changed nothing
    listed = daemon.ctl_json("transaction", "list", "--limit", "0")
    assert len(listed) == count + len(refusals)
    assert {t["state"] for t in listed[: len(refusals)]} == {"FAILED"}


def test_nobody_reads_the_queue_and_is_refused_the_changes(
    daemon: Daemon, nobody: User, tree: str
) -> None:
    assert daemon.ctl_json("transaction", "cleanup", user=nobody) == {"cleanups": []}
    refusals = [
        (["dataset", "init", "tank/new", "--from-dir", tree], "may not administer zfsyncd"),
        (["dataset", "update", "tank", "--from-dir", tree], "may not administer zfsyncd"),
        (["dataset", "rollback", "tank@s"], "may not roll back"),
        (["transaction", "cleanup", "--run"], "may not administer zfsyncd"),
    ]
    for args, message in refusals:
        done = daemon.ctl(*args, "--no-ask-password", user=nobody)
        assert done.returncode == NOT_AUTHORIZED, (args, done.returncode, done.stderr)
        assert f"not authorized: uid {nobody.uid} {message}" in done.stderr, done.stderr
