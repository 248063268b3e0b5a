"""witness-receive's decision (ops/replication/receive.py `decide`), as a table: each
target state and request -> the step kinds, or the refusal."""

from __future__ import annotations

from typing import Any

import pytest

from zfsyncd.ops.replication.inventory import DatasetState, Point
from zfsyncd.ops.replication.receive import AlreadyReceivedError, ReceiveRequest, decide
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts
from zfsyncd.zfs.models import ObjectType, ZfsObject

# guids by short name: shared ones are the same snapshot on both sides (others: by place)
GUIDS = {"s1": 11, "s2": 12, "s3": 13, "x": 99, "zfsync_trash_t1_old": 7}


def state(dataset: str, shorts: str, written: int = 0) -> DatasetState:
    points = tuple(
        Point(f"{dataset}@{s}", GUIDS.get(s, 1000 + i), createtxg=10 + i, creation=1000 + i)
        for i, s in enumerate(shorts.split())
    )
    return DatasetState(
        name=dataset, type=ObjectType.FILESYSTEM, guid=len(dataset), role=None, peer=None,
        savecount=None, paused=False, written=written, receive_resume_token=None,
        snapshots=points,
    )  # fmt: skip


def facts(target: DatasetState) -> RollbackFacts:
    """The target's pool as the swap reads it: the dataset and its snapshots, nothing
    else in the way."""
    rows = [
        ZfsObject(name=target.name, type=ObjectType.FILESYSTEM, guid=target.guid, createtxg=1,
                  creation=1, used=0, referenced=0)
    ] + [
        ZfsObject(name=p.name, type=ObjectType.SNAPSHOT, guid=p.guid, createtxg=p.createtxg,
                  creation=p.creation, used=0, referenced=0)
        for p in target.snapshots
    ]  # fmt: skip
    return RollbackFacts({o.name: o for o in rows})


SRC = "tank/data"
DST = "backup/data"


def request(newest: str, base: str | None = None, force: bool = False) -> ReceiveRequest:
    return ReceiveRequest(
        source_host="a", snapshot=f"{SRC}@{newest}", base=base, target=DST, force=force
    )


#: (source snapshots, target snapshots or None, written, request) -> step kinds or an error
CASES: list[tuple[str, str | None, int, dict[str, Any], list[str] | type[Exception]]] = [
    # a full receive: the whole history, oldest whole then -I to the newest (2 streams)
    ("s1 s2", None, 0, {"newest": "s2"}, ["send-receive", "send-receive"]),
    ("s1 s2 s3", None, 0, {"newest": "s3"}, ["send-receive", "send-receive"]),
    ("s2", None, 0, {"newest": "s2"}, ["send-receive"]),  # one snapshot: one stream
    ("s1 s2 s3", None, 0, {"newest": "s1"}, ["send-receive"]),  # the oldest asked for
    ("zfsync_trash_t1_old s2", None, 0, {"newest": "s2"}, ["send-receive"]),  # trash: not sent
    # forced with a whole history there already: done; with the newest only: replaced
    ("s1 s2", "s1 s2", 0, {"newest": "s2", "force": True}, AlreadyReceivedError),
    ("s1 s2", "s2", 0, {"newest": "s2", "force": True},
     ["destroy-dataset", "send-receive", "send-receive"]),
    ("s1 s2", "s2", 0, {"newest": "s2"}, AlreadyReceivedError),  # not forced: has the newest
    ("s1 s2", "s1", 0, {"newest": "s2", "base": "s1"}, ["send-receive"]),
    ("s1 s2", "s1 s2", 0, {"newest": "s2", "base": "s1"}, AlreadyReceivedError),
    ("s1 s2", "s1", 0, {"newest": "s2"}, PlanError),  # exists: a full receive needs force
    ("s1 s2", "s1", 0, {"newest": "s2", "force": True},
     ["destroy-dataset", "send-receive", "send-receive"]),
    ("s1 s2", None, 0, {"newest": "s2", "base": "s1"}, MissingObjectError),
    ("s1 s2", "s1 x", 0, {"newest": "s2", "base": "s1"}, PlanError),  # diverged, no force
    ("s1 s2", "s1", 4096, {"newest": "s2", "base": "s1"}, PlanError),  # written since s1
    ("s1 s2", "s1 x", 0, {"newest": "s2", "base": "s1", "force": True},
     ["rollback-dataset", "send-receive"]),
    # missing: s2 destroyed on the target, s3 there; forced from s1 it gets s2 and s3 again
    ("s1 s2 s3", "s1 s3", 0, {"newest": "s3", "base": "s1", "force": True},
     ["rollback-dataset", "send-receive"]),
    ("s1 s2 s3", "s1 s3", 0, {"newest": "s3", "base": "s1"}, AlreadyReceivedError),
    ("s1 s2", "s1", 0, {"newest": "s3", "base": "s1"}, MissingObjectError),  # not on source
    ("s1 s2", "s1", 0, {"newest": "s2", "base": "s3"}, MissingObjectError),  # no such base
]  # fmt: skip


@pytest.mark.parametrize(("src", "dst", "written", "req", "expected"), CASES)
def test_decide(
    src: str,
    dst: str | None,
    written: int,
    req: dict[str, Any],
    expected: list[str] | type[Exception],
) -> None:
    source = state(SRC, src)
    target = None if dst is None else state(DST, dst, written)
    wanted = request(**req)
    f = facts(target) if target is not None else None
    if isinstance(expected, list):
        plan = decide(wanted, source, target, f, "t1")
        assert [s.kind for s in plan.steps] == expected
        return
    with pytest.raises(expected):
        decide(wanted, source, target, f, "t1")


def test_an_incremental_sends_every_snapshot_between() -> None:
    plan = decide(request("s2", "s1"), state(SRC, "s1 s2"), state(DST, "s1"), None, "t1")
    send = plan.steps[-1].args.send  # type: ignore[attr-defined]
    assert (send.base, send.intermediates) == (f"{SRC}@s1", True)


@pytest.mark.parametrize("count", [2, 3, 50])
def test_a_full_receive_is_two_streams_whatever_the_history(count: int) -> None:
    """The oldest snapshot whole, then one -I from it to the newest: every snapshot between
    arrives, in two zfs send|recv whatever `count` is."""
    shorts = " ".join(f"h{n}" for n in range(count))
    plan = decide(request(f"h{count - 1}"), state(SRC, shorts), None, None, "t1")
    sends = [s.args.send for s in plan.steps]  # type: ignore[attr-defined]
    assert [(x.snapshot, x.base, x.intermediates) for x in sends] == [
        (f"{SRC}@h0", None, True),
        (f"{SRC}@h{count - 1}", f"{SRC}@h0", True),
    ]
    assert {s.args.recv.target for s in plan.steps} == {DST}  # type: ignore[attr-defined]
