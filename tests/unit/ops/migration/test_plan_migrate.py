"""The migrate plan (`decide`), from readings alone: tables of facts and the steps made."""

from __future__ import annotations

from pathlib import Path

import pytest

from zfsyncd.ops.migration.migrate import MigrateFacts, MigrateRequest, decide
from zfsyncd.ops.migration.sources import SourceSnapshot
from zfsyncd.tx.errors import PlanError

TX = "20261130T000000_000000Z_0123abcd"
TEMP = f"tank/zfsync_migrate_{TX}_repo"


def _facts(*, exists: bool = False, snaps: tuple[str, ...] = (), parent: bool = True,
           origin: str = "", temporary: bool = False) -> MigrateFacts:  # fmt: skip
    sources = tuple(SourceSnapshot(n, Path(f"/src/s{n}"), "", f"s{n}") for n in (1, 2, 3))
    return MigrateFacts(sources, parent, exists, snaps, origin, temporary)


def _migrated(*numbers: int) -> tuple[str, ...]:
    return tuple(f"zfsync_migrate_{n:06d}" for n in numbers)


def _request(limit: int = 0) -> MigrateRequest:
    return MigrateRequest(source="/src", dataset="tank/repo", limit=limit)


@pytest.mark.parametrize(
    ("limit", "facts", "steps"),
    [
        (0, _facts(), ["create-dataset", *["migrate-copy", "create-snapshots"] * 3,
                       "rename-and-set"]),
        (1, _facts(), ["create-dataset", "migrate-copy", "create-snapshots", "rename-and-set"]),
        (0, _facts(exists=True, snaps=(*_migrated(1), "other")),
         ["migrate-copy", "create-snapshots"] * 2),
        (2, _facts(exists=True, snaps=_migrated(1), origin="/src"),
         ["migrate-copy", "create-snapshots"]),
        (0, _facts(exists=True, snaps=_migrated(1, 2, 3)), []),
        (2, _facts(exists=True, snaps=_migrated(1, 2, 3)), []),
    ],
)  # fmt: skip
def test_steps(limit: int, facts: MigrateFacts, steps: list[str]) -> None:
    plan = decide(_request(limit), facts, TX, "/fill")
    assert [s.kind for s in plan.steps] == steps
    assert "tank/repo" in plan.datasets()


def test_a_new_dataset_is_built_under_the_temporary_name_at_the_private_mount() -> None:
    plan = decide(_request(), _facts(), TX, "/fill")
    create, copy, snap = plan.steps[:3]
    assert create.to_json()["name"] == TEMP
    assert create.to_json()["absent_in_plan"]  # read free in the plan: not read again
    assert create.to_json()["properties"] == {
        "mountpoint": f"/fill/{TX}",
        "zfsync:migrated-from": "/src",
    }
    assert copy.to_json()["mountpoint"] == f"/fill/{TX}"
    assert snap.to_json()["snapshots"] == [f"{TEMP}@zfsync_migrate_000001"]
    assert snap.to_json()["properties"]["zfsync:source-number"] == "1"
    assert plan.steps[-1].to_json() == {
        "old": TEMP, "new": "tank/repo", "properties": {"mountpoint": None}, "set_first": False
    }  # fmt: skip


def test_a_continuation_copies_after_the_last_migrated() -> None:
    plan = decide(_request(), _facts(exists=True, snaps=_migrated(1, 2)), TX, "/fill")
    copy = plan.steps[0].to_json()
    assert (copy["dataset"], copy["number"], copy["previous"]) == ("tank/repo", 3, 2)
    assert "mountpoint" not in copy or copy["mountpoint"] is None


@pytest.mark.parametrize(
    ("facts", "says"),
    [
        (_facts(parent=False), "tank does not exist"),
        (_facts(temporary=True), f"{TEMP} exists already"),
        (_facts(exists=True), "holds no migrated snapshot"),
        (_facts(exists=True, snaps=_migrated(2)), "source snapshot 1 is not in the dataset"),
        (_facts(exists=True, snaps=_migrated(1), origin="/elsewhere"), "migrated from /elsewhere"),
    ],
)
def test_refused(facts: MigrateFacts, says: str) -> None:
    with pytest.raises(PlanError, match=says):
        decide(_request(), facts, TX, "/fill")


@pytest.mark.parametrize("source", ["relative", "", "/a\nb"])
def test_the_source_must_be_absolute(source: str) -> None:
    with pytest.raises(ValueError, match="source"):
        MigrateRequest(source=source, dataset="tank/repo")
