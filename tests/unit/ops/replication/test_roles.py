"""failover and takeover's decisions (zfsyncd.ops.replication.roles), from tables: both ends
as read (their own zfsync values and readonly, their snapshots written as in test_choose:
`s5` a snapshot of guid 5, `r5` one with the base hold) -> the steps, or the refusal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.ops.listing import listing
from tests.unit.ops.replication.test_choose import side
from zfsyncd.ops.replication.ends import End, PairReading
from zfsyncd.ops.replication.inventory import DatasetState
from zfsyncd.ops.replication.props import Role
from zfsyncd.ops.replication.requests import FailoverRequest, TakeoverRequest
from zfsyncd.ops.replication.roles import decide_failover, decide_takeover
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts

SOURCE = {"zfsync:role": "source", "zfsync:peer": "b:q/a"}
DESTINATION = {"zfsync:role": "destination", "zfsync:peer": "local:p/a"}


def pair(
    src: str = "s1 r2",
    dst: str = "s1 r2",
    *,
    src_local: dict[str, str] | None = None,
    dst_local: dict[str, str] | None = None,
    src_ro: bool = False,
    dst_ro: bool = True,
    src_written: int = 0,
    dst_written: int = 0,
    missing: bool = False,
) -> tuple[End, Any, End | None, Any]:
    """(source end, its state, destination end, its state): the source p/a on this host,
    the destination q/a on host b."""
    source = End("local", "p/a", src_local or SOURCE, readonly=src_ro)
    destination = End("b", "q/a", dst_local or DESTINATION, readonly=dst_ro)
    src_state = as_read(side("p/a", src, written=src_written), source)
    dst_state = as_read(side("q/a", dst, written=dst_written), destination)
    if missing:
        return source, src_state, None, None
    return source, src_state, destination, dst_state


def as_read(state: DatasetState, end: End) -> DatasetState:
    """The inventory's state with the end's pair properties (as `zfs list` shows them)."""
    role = end.local.get("zfsync:role")
    return replace(state, role=Role(role) if role else None, peer=end.local.get("zfsync:peer"))


def steps(plan: Any) -> list[tuple[str, Any]]:
    return [(s.kind, s.to_json()) for s in plan.steps]


def setp(host: str, name: str, **props: str | None) -> tuple[str, Any]:
    args: dict[str, Any] = {
        "name": name,
        "properties": dict(props),
    }
    if host != "local":
        args = {"host": host, **args}
    return "set-properties", args


DEMOTE_SRC = setp("local", "p/a", readonly="on", **{"zfsync:role": "destination"})
PROMOTE_DST = setp("b", "q/a", readonly="off", **{"zfsync:role": "source"})


def failover(local_only: bool = False, **kw: Any) -> list[tuple[str, Any]]:
    source, src, destination, dst = pair(**kw)
    reading = PairReading(source, src, destination, dst)
    request = FailoverRequest(source="p/a", local_only=local_only)
    return steps(decide_failover(request, reading, "T1", 1700))


def test_failover_demotes_the_source_first_then_promotes_its_peer() -> None:
    assert failover() == [DEMOTE_SRC, PROMOTE_DST]


def test_failover_local_only_changes_this_side_alone() -> None:
    assert failover(local_only=True, missing=True) == [DEMOTE_SRC]
    # whatever the peer looks like: it is not read
    assert failover(local_only=True, dst="s9") == [DEMOTE_SRC]


def test_a_paused_pair_stays_paused_on_its_new_source() -> None:
    paused = {**SOURCE, "zfsync:paused": "on"}
    assert failover(src_local=paused) == [
        setp(
            "local", "p/a", readonly="on", **{"zfsync:role": "destination", "zfsync:paused": None}
        ),
        setp("b", "q/a", readonly="off", **{"zfsync:role": "source", "zfsync:paused": "on"}),
    ]


FREEZE_SRC = setp("local", "p/a", readonly="on")


@pytest.mark.parametrize(
    ("kw", "snapshot"),
    [
        pytest.param({"src_written": 10}, True, id="written since the newest snapshot"),
        pytest.param({"src": "s1 r2 s3"}, False, id="a snapshot not sent"),
    ],
)
def test_failover_with_something_unsent_freezes_syncs_then_swaps(
    kw: dict[str, Any], snapshot: bool
) -> None:
    """The sync's own steps (replica-sync's decide) between the freeze and the swap."""
    found = failover(**kw)
    assert found[0] == FREEZE_SRC
    synced = [kind for kind, _ in found[1:-2]]
    assert ("create-snapshots" in synced) is snapshot
    assert "send-receive-many" in synced
    assert found[-2:] == [
        setp("local", "p/a", **{"zfsync:role": "destination"}),
        PROMOTE_DST,
    ]


FAILOVER_REFUSALS = [
    pytest.param({"dst_ro": False}, "both local:p/a and b:q/a are writable", id="both writable"),
    pytest.param({"dst": "s7"}, "share no snapshot", id="no common snapshot"),
    pytest.param(
        {"dst": "s1 r2 s3"},
        r"destination q/a has diverged: snapshots the source does not have after "
        r"q/a@zfsync_0002: q/a@zfsync_0003", id="destination has snapshots the source lacks",
    ),
    pytest.param(
        {"dst_written": 4096}, "4096 bytes written since its newest snapshot",
        id="destination written to",
    ),
    pytest.param(
        {"dst_local": {**DESTINATION, "zfsync:peer": "local:p/other"}},
        "b:q/a is paired with local:p/other, not with local:p/a", id="peer paired elsewhere",
    ),
    pytest.param(
        {"dst_local": SOURCE}, "b:q/a is not the destination of p/a: its zfsync:role is source",
        id="peer is a source too",
    ),
    pytest.param({"missing": True}, r"b:q/a \(the peer of p/a\) does not exist", id="no peer"),
    pytest.param(
        {"src_local": DESTINATION}, "p/a is the destination of a replica pair",
        id="not a source",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kw", "why"), FAILOVER_REFUSALS)
def test_failover_refuses_what_could_split_the_brain(kw: dict[str, Any], why: str) -> None:
    with pytest.raises(PlanError, match=why):
        failover(**kw)


# ---------------------------------------------------------------- takeover
# here the destination p/d is on this host and its source q/s on host b

T_DST = {"zfsync:role": "destination", "zfsync:peer": "b:q/s"}
T_SRC = {"zfsync:role": "source", "zfsync:peer": "local:p/d"}
DEMOTE_PEER = setp("b", "q/s", readonly="on", **{"zfsync:role": "destination"})
PROMOTE_HERE = setp("local", "p/d", readonly="off", **{"zfsync:role": "source"})
POOL = listing("p", "p/d", "p/d@zfsync_0001", "p/d@zfsync_0002 held=1", "p/d@zfsync_0003")


def takeover(
    src: str = "s1 r2",
    dst: str = "s1 r2",
    *,
    local_only: bool = False,
    snapshot: str | None = None,
    src_local: dict[str, str] | None = None,
    dst_local: dict[str, str] | None = None,
    src_ro: bool = False,
    dst_ro: bool = True,
    dst_written: int = 0,
    facts: RollbackFacts | None = None,
) -> list[tuple[str, Any]]:
    here = End("local", "p/d", dst_local or T_DST, readonly=dst_ro)
    there = End("b", "q/s", src_local or T_SRC, readonly=src_ro)
    reading = PairReading(here, side("p/d", dst, written=dst_written), there, side("q/s", src))
    request = TakeoverRequest(destination="p/d", local_only=local_only, snapshot=snapshot)
    return steps(decide_takeover(request, reading, facts, "T1", 1700))


def test_takeover_demotes_the_peer_first_then_promotes_this_side() -> None:
    assert takeover() == [DEMOTE_PEER, PROMOTE_HERE]


def test_takeover_local_only_changes_this_side_alone() -> None:
    assert takeover(local_only=True, src="s9", src_ro=True) == [PROMOTE_HERE]


def test_takeover_of_a_snapshot_moves_the_base_hold_and_rolls_back_first() -> None:
    facts = RollbackFacts(POOL)
    rewind = [
        ("hold", {"tag": "zfsync_replica", "snapshots": ["p/d@zfsync_0001"]}),
        ("release", {"tag": "zfsync_replica", "snapshots": ["p/d@zfsync_0002"]}),
        ("rollback-dataset", {"snapshot": "p/d@zfsync_0001", "guid": 1}),
    ]
    # the destination went past the common snapshot: given up on purpose, so no refusal
    got = takeover(dst="s1 r2 s3", snapshot="zfsync_0001", facts=facts)
    assert got == [DEMOTE_PEER, *rewind, PROMOTE_HERE]
    got = takeover(dst="s1 r2 s3", snapshot="zfsync_0001", facts=facts, local_only=True)
    assert got == [*rewind, PROMOTE_HERE]


def test_takeover_of_the_newest_snapshot_with_nothing_written_rolls_nothing_back() -> None:
    facts = RollbackFacts(POOL)
    assert takeover(snapshot="zfsync_0002", facts=facts) == [DEMOTE_PEER, PROMOTE_HERE]


TAKEOVER_REFUSALS = [
    pytest.param({"dst_ro": False}, "both b:q/s and local:p/d are writable", id="both writable"),
    pytest.param({"dst": "s1 r2 s3"}, "destination p/d has diverged", id="diverged"),
    pytest.param({"dst_written": 1}, "1 bytes written since", id="written to"),
    pytest.param({"src": "s1 r2 s4"}, r"b:q/s has snapshots not sent \(zfsync_0004\).*on its "
                 "host first", id="unsent on a source on another host"),
    pytest.param({"dst": "s8"}, "share no snapshot", id="no common snapshot"),
    pytest.param(
        {"dst_local": T_SRC}, "p/d is the source of a replica pair", id="not a destination"
    ),
    pytest.param(
        {"src_local": {**T_SRC, "zfsync:peer": "local:p/x"}}, "is paired with local:p/x",
        id="peer paired elsewhere",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kw", "why"), TAKEOVER_REFUSALS)
def test_takeover_refuses_what_could_split_the_brain(kw: dict[str, Any], why: str) -> None:
    with pytest.raises(PlanError, match=why):
        takeover(**kw)


def test_takeover_of_a_missing_snapshot_is_not_found() -> None:
    with pytest.raises(MissingObjectError, match="snapshot p/d@nope does not exist"):
        takeover(snapshot="nope")


def test_takeover_of_a_snapshot_the_swap_refuses_says_why() -> None:
    busy = listing("p", "p/d", "p/d@zfsync_0001", "p/d@zfsync_0002 held=1", "p/d/child")
    with pytest.raises(PlanError, match="p/d has child datasets"):
        takeover(dst="s1 r2 s3", snapshot="zfsync_0001", facts=RollbackFacts(busy))
