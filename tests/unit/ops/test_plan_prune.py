"""The prune's plan (`zfsyncd.ops.prune.decide`, `outcome`) from tables: datasets with their
zfsync:* properties and snapshots as read -> what goes, what is left out, or the refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.ops.listing import guid as guid_of
from zfsyncd.ops.prune import RETENTION, PruneFacts, PruneRequest, decide, outcome
from zfsyncd.ops.replication.inventory import Side, build_side
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.store.records import StepRecord
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.steps.held_destroy import DestroyThroughHold
from zfsyncd.zfs.models import ObjectType, ZfsObject

NOW = 2_000_000_000
TX = "T1"


def _obj(name: str, txg: int, guid: int | None = None, **props: str) -> ZfsObject:
    snapshot = "@" in name
    return ZfsObject(
        name=name,
        type=ObjectType.SNAPSHOT if snapshot else ObjectType.FILESYSTEM,
        guid=guid if guid is not None else guid_of(name),
        createtxg=txg,
        creation=NOW - 3600 * (100 - txg),
        used=0,
        referenced=0,
        user_properties=props,
    )


def side(*datasets: tuple[str, dict[str, str], int]) -> Side:
    """(dataset, its zfsync:* properties, how many zfsync_ snapshots)."""
    objects = []
    for name, props, count in datasets:
        objects.append(_obj(name, 1, **props))
        objects += [_obj(f"{name}@zfsync_{n}", 10 + n, **props) for n in range(count)]
    return Side(LOCAL, build_side(objects, {}))


def going(request: dict[str, Any], facts: PruneFacts) -> list[str]:
    result = outcome(PruneRequest.model_validate(request), facts, NOW)
    return [v.snapshot.name for v in result.decision.destroyed]


POLICY = {RETENTION: "last = 1"}


def test_named_datasets_and_their_policies() -> None:
    here = side(("p/a", POLICY, 3), ("p/a/c", POLICY, 2), ("p/b", {}, 3))
    facts = PruneFacts(here)
    assert going({"datasets": ["p/a"]}, facts) == ["p/a@zfsync_0", "p/a@zfsync_1"]
    assert going({"datasets": ["p/a"], "recursive": True}, facts) == [
        "p/a@zfsync_0", "p/a@zfsync_1", "p/a/c@zfsync_0",
    ]  # fmt: skip
    # nothing named: every dataset with a policy; p/b has none and is not the prune's
    assert going({}, facts) == ["p/a@zfsync_0", "p/a@zfsync_1", "p/a/c@zfsync_0"]
    # a policy given: the datasets named, whatever their property
    assert going({"datasets": ["p/b"], "policy": "last = 2"}, facts) == ["p/b@zfsync_0"]


@pytest.mark.parametrize(
    ("request_", "error", "text"),
    [
        ({"datasets": ["p/b"]}, PlanError, "p/b has no retention policy"),
        ({"datasets": ["p/bad"]}, PlanError, "p/bad zfsync:retention: not of the form"),
        ({"datasets": ["p/far"]}, PlanError, "its peer far:q/x cannot be read: down"),
        ({"datasets": ["p/gone"]}, MissingObjectError, "dataset p/gone does not exist"),
    ],
)
def test_a_named_dataset_that_cannot_be_decided_refuses(
    request_: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        outcome(PruneRequest.model_validate(request_), _troubled(), NOW)


def _troubled() -> PruneFacts:
    far = {**POLICY, "zfsync:role": "source", "zfsync:peer": "far:q/x"}
    here = side(
        ("p/a", POLICY, 2), ("p/b", {}, 1), ("p/bad", {RETENTION: "daily ="}, 2), ("p/far", far, 2)
    )
    return PruneFacts(here, unreachable={"far": "down"})


def test_found_by_looking_they_are_left_out_and_named() -> None:
    result = outcome(PruneRequest(), _troubled(), NOW)
    assert [v.snapshot.name for v in result.decision.destroyed] == ["p/a@zfsync_0"]
    assert len(result.left_out) == 2
    assert "p/bad zfsync:retention" in result.left_out[0]
    assert "p/far: its peer far:q/x cannot be read: down" in result.left_out[1]
    plan = decide(PruneRequest(), _troubled(), NOW, TX)
    assert "left out: p/bad" in plan.description


def test_the_newest_snapshot_a_pair_shares_is_kept() -> None:
    source = {**POLICY, "zfsync:role": "source", "zfsync:peer": "local:q/d"}
    back = {**POLICY, "zfsync:role": "destination", "zfsync:peer": "local:p/s"}
    objects = [_obj("p/s", 1, **source), _obj("q/d", 1, **back)]
    objects += [_obj(f"p/s@zfsync_{n}", 10 + n, guid=100 + n, **source) for n in range(5)]
    objects += [_obj(f"q/d@zfsync_{n}", 10 + n, guid=100 + n, **back) for n in range(3)]
    here = Side(LOCAL, build_side(objects, {}))
    facts = PruneFacts(here, there={LOCAL: here})
    assert going({}, facts) == [
        "p/s@zfsync_0",
        "p/s@zfsync_1",
        "p/s@zfsync_3",
        "q/d@zfsync_0",
        "q/d@zfsync_1",
    ]  # fmt: skip  (zfsync_2 is the newest both share; zfsync_4 and q/d@zfsync_2 the newest)


def _active(**fields: Any) -> TransactionRecord:
    return TransactionRecord(
        id="T0", type="x", state=TxState.EXECUTING, created_at=0, updated_at=0, **fields
    )


@pytest.mark.parametrize(
    ("record", "kept"),
    [
        (_active(params={"snapshots": ["p/a@zfsync_1"]}), "p/a@zfsync_1"),
        (
            _active(steps=[StepRecord(tx_id="T0", idx=0, kind="k", args={"base": "p/a@zfsync_2"})]),
            "p/a@zfsync_2",
        ),
    ],
)
def test_what_a_running_transaction_names_is_kept(record: TransactionRecord, kept: str) -> None:
    facts = PruneFacts(side(("p/a", POLICY, 4)), active=[record])
    assert kept not in going({"datasets": ["p/a"]}, facts)
    assert len(going({"datasets": ["p/a"]}, facts)) == 2


def test_its_own_snapshot_and_a_trash_are_in_use() -> None:
    objects = [_obj("p/a", 1, **POLICY)]
    for n, short in enumerate(["zfsync_T0", "zfsync_trash_T9_zfsync_x", "zfsync_1", "zfsync_2"]):
        objects.append(_obj(f"p/a@{short}", 10 + n, **POLICY))
    facts = PruneFacts(Side(LOCAL, build_side(objects, {})), active=[_active()])
    assert going({"datasets": ["p/a"]}, facts) == ["p/a@zfsync_1"]


def test_one_step_per_pool_holding_with_the_transactions_tag() -> None:
    here = side(("p/a", POLICY, 3), ("p/b", POLICY, 2), ("q/c", POLICY, 2))
    plan = decide(PruneRequest(), PruneFacts(here), NOW, TX)
    assert [type(s) for s in plan.steps] == [DestroyThroughHold, DestroyThroughHold]
    first, second = (s.args for s in plan.steps)  # type: ignore[attr-defined]
    assert first.tag == second.tag == f"zfsync_prune_{TX}"
    assert list(first.snapshots) == ["p/a@zfsync_0", "p/a@zfsync_1", "p/b@zfsync_0"]
    assert list(second.snapshots) == ["q/c@zfsync_0"]
    assert first.guids == {s: guid_of(s) for s in first.snapshots}
    assert (
        plan.description
        == "prune every dataset with zfsync:retention: 4 of 7 snapshots on 3 datasets"
    )


@pytest.mark.parametrize(
    ("host", "description"),
    [
        (LOCAL, "prune p/a: 1 of 2 snapshots on 1 datasets"),
        ("backup", "prune p/a on backup: 1 of 2 snapshots on 1 datasets"),
    ],
)
def test_the_steps_act_on_the_pruned_host(host: str, description: str) -> None:
    here = side(("p/a", POLICY, 2))
    plan = decide(PruneRequest(datasets=("p/a",), host=host), PruneFacts(here), NOW, TX)
    assert [s.args.host for s in plan.steps] == [host]  # type: ignore[attr-defined]
    assert plan.description == description


def test_a_pair_whose_other_side_is_this_host_seen_from_another() -> None:
    """Pruned on `backup`, a destination whose peer (`local:p/s`, as this daemon names it)
    is read here: the newest snapshot both share is kept on backup."""
    back = {**POLICY, "zfsync:role": "destination", "zfsync:peer": "local:p/s"}
    source = {"zfsync:role": "source", "zfsync:peer": "backup:q/d"}
    remote = [_obj("q/d", 1, **back)]
    remote += [_obj(f"q/d@zfsync_{n}", 10 + n, guid=100 + n, **back) for n in range(4)]
    local = [_obj("p/s", 1, **source)]
    local += [_obj(f"p/s@zfsync_{n}", 10 + n, guid=100 + n, **source) for n in range(2)]
    facts = PruneFacts(
        Side("backup", build_side(remote, {})), there={LOCAL: Side(LOCAL, build_side(local, {}))}
    )
    # zfsync_1 is the newest both share, zfsync_3 the newest
    assert going({"host": "backup"}, facts) == ["q/d@zfsync_0", "q/d@zfsync_2"]
