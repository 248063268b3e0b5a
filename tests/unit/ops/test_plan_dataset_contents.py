"""The dataset-init and dataset-update plans (`decide`), from tables of examples: the names
listed and the source -> the steps, or the reason the request is refused."""

from __future__ import annotations

import pytest

from tests.unit.ops.listing import TX, guid, listing, properties
from zfsyncd.ops.dataset_init import InitFacts, InitRequest
from zfsyncd.ops.dataset_init import decide as decide_init
from zfsyncd.ops.dataset_update import UpdateFacts, UpdateRequest
from zfsyncd.ops.dataset_update import decide as decide_update
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.steps.fill import fill_mountpoint
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts

SRC = "/srv/tree"
MNT = fill_mountpoint(TX)


def init(*rows: str, is_dir: bool = True) -> InitFacts:
    return InitFacts(listing(*rows), is_dir)


def test_init_steps() -> None:
    plan = decide_init(InitRequest(dataset="p/a/new", source=SRC), init("p", "p/a"), TX)
    temp = "p/a/zfsync_init_T1_new"
    assert [(s.kind, s.to_json()) for s in plan.steps] == [
        ("create-dataset", {"name": temp, "properties": {"mountpoint": MNT},
                            "absent_in_plan": True}),
        ("fill-from-directory", {"dataset": temp, "source": SRC, "mountpoint": MNT,
                                 "excludes": []}),
        ("create-snapshots", {"snapshots": [f"{temp}@zfsync_T1"], "recursive": False,
                              "properties": {}}),
        ("rename-and-set", {"old": temp, "new": "p/a/new", "properties": {"mountpoint": None},
                            "set_first": False}),
    ]  # fmt: skip
    given = InitRequest(dataset="p/a/new", source=SRC, mountpoint="/srv/new")
    last = decide_init(given, init("p", "p/a"), TX).steps[-1]
    assert last.to_json()["properties"] == {"mountpoint": "/srv/new"}


INIT_REFUSALS = [
    pytest.param("p/a/new", init("p", "p/a", "p/a/new"), PlanError,
                 "p/a/new exists already: `dataset update` replaces the contents of one",
                 id="exists"),
    pytest.param("p/a/new", init("p"), MissingObjectError,
                 "parent dataset p/a does not exist", id="no parent"),
    pytest.param("p/v/new", init("p", "p/v type=volume"), PlanError,
                 "p/v is a volume: only a filesystem has children", id="parent a volume"),
    pytest.param("p/a/new", init("p", "p/a", "p/a/zfsync_init_T1_new"), PlanError,
                 "p/a/zfsync_init_T1_new exists already", id="temporary name taken"),
    pytest.param("p/a/new", init("p", "p/a", is_dir=False), MissingObjectError,
                 f"{SRC} is not a directory", id="no source"),
    pytest.param("p/a/" + "n" * 240, init("p", "p/a"), PlanError,
                 "bytes long, over 255", id="no room for the prefix"),
]  # fmt: skip


@pytest.mark.parametrize(("dataset", "facts", "error", "message"), INIT_REFUSALS)
def test_init_refusals(
    dataset: str, facts: InitFacts, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        decide_init(InitRequest(dataset=dataset, source=SRC), facts, TX)
    assert message in str(info.value)


PLAIN = properties(encryption="off", mountpoint="/p/fs")


def update(*rows: str, is_dir: bool = True, **local: str) -> UpdateFacts:
    return UpdateFacts(RollbackFacts(listing("p", *rows), PLAIN), dict(local), is_dir)


def test_update_steps_reuse_the_swap_of_rollback_dataset() -> None:
    request = UpdateRequest(dataset="p/fs", source=SRC, excludes=("*.tmp",))
    facts = update("p/fs", "p/fs@s1", compression="off", mountpoint="/srv/fs")
    plan = decide_update(request, facts, TX)
    base, clone = "p/fs@zfsync_T1", "p/zfsync_rollback_T1_fs"
    assert [(s.kind, s.to_json()) for s in plan.steps] == [
        ("create-snapshots", {"snapshots": [base], "recursive": False, "properties": {}}),
        # the clone gets the dataset's local properties, mounted at the private place
        ("clone", {"snapshot": base, "target": clone,
                   "properties": {"compression": "off", "mountpoint": MNT}}),
        ("fill-from-directory", {"dataset": clone, "source": SRC, "mountpoint": MNT,
                                 "excludes": ["*.tmp"]}),
        ("rollback-dataset", {"snapshot": base, "guid": guid("p/fs"), "clone_made": True}),
    ]  # fmt: skip


UPDATE_REFUSALS = [
    pytest.param(update(), MissingObjectError,
                 "p/fs does not exist: `dataset init` makes one", id="missing"),
    pytest.param(update("p/fs", "p/fs/child"), PlanError,
                 "p/fs has child datasets (p/fs/child)", id="children"),
    pytest.param(update("p/fs type=volume"), PlanError, "p/fs is a volume", id="a volume"),
    pytest.param(update("p/fs", "p/zfsync_rollback_T1_fs"), PlanError,
                 "p/zfsync_rollback_T1_fs exists already", id="clone name taken"),
    pytest.param(update("p/fs", "p/fs@zfsync_T1"), PlanError,
                 "snapshot p/fs@zfsync_T1 already exists", id="baseline taken"),
    pytest.param(update("p/fs", is_dir=False), MissingObjectError,
                 f"{SRC} is not a directory", id="no source"),
    pytest.param(update("p/fs", canmount="noauto"), PlanError,
                 "p/fs has canmount=noauto: its clone could not be mounted", id="canmount"),
]  # fmt: skip


@pytest.mark.parametrize(("facts", "error", "message"), UPDATE_REFUSALS)
def test_update_refusals(facts: UpdateFacts, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        decide_update(UpdateRequest(dataset="p/fs", source=SRC), facts, TX)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [
        {"source": "relative/dir"},
        {"excludes": [""]},
        {"dataset": "p/fs", "source": SRC, "extra": 1},
    ],
)
def test_update_requests_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        UpdateRequest.model_validate({"dataset": "p/fs", "source": SRC, **bad})
