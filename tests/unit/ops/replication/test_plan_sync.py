"""replica-sync's decision for one pair (zfsyncd.ops.replication.sync.decide_pair), from
tables of examples: both sides as read -> nothing to do, the reason it is left out, or
what it sends, holds, releases and bookmarks (the expiry follows the sync as a kind of
its own). The sides are written as in test_choose.py (`s5`: a zfsync_ snapshot of guid 5,
`b5` its bookmark, `x5` another tool's snapshot, `r5` one with the base hold)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.ops.replication.test_choose import side
from zfsyncd.ops.replication.inventory import DatasetState, Side
from zfsyncd.ops.replication.props import Role
from zfsyncd.ops.replication.requests import SyncRequest
from zfsyncd.ops.replication.sync import (
    REPLICA_SYNC_KIND,
    PairPlan,
    Refused,
    SyncFacts,
    decide,
    decide_pair,
)

SHORT = "zfsync_new"


def pair(
    src: str,
    dst: str,
    *,
    written: int = 0,
    dst_written: int = 0,
    token: str | None = None,
    dst_role: Role | None = Role.DESTINATION,
    savecount: int = 100,
) -> PairPlan | Refused | None:
    source = replace(
        side("p/a", src, written=written),
        role=Role.SOURCE,
        peer="backup:q/a",
        savecount=savecount,
    )
    destination: DatasetState = replace(
        side("q/a", dst, written=dst_written),
        role=dst_role,
        receive_resume_token=token,
        savecount=savecount,
    )
    return decide_pair(
        source,
        Side("local", {"p/a": source}),
        {"backup": Side("backup", {"q/a": destination})},
        {},
        SHORT,
    )


def test_nothing_written_nothing_unsent_is_nothing_to_do() -> None:
    assert pair("r1", "r1") is None


REFUSED = [
    # source, destination, keywords -> the reason names what is wrong
    (dict(src="s1", dst="s1 s9"), "diverged: snapshots the source does not have"),
    (dict(src="s1", dst="s1", dst_written=5), "diverged: 5 bytes written"),
    (dict(src="s1", dst="s7"), "shares no snapshot"),
    (dict(src="s1", dst=""), "no snapshot to continue from"),
    (dict(src="s1", dst="s1", dst_role=None), "not a replica destination"),
]


@pytest.mark.parametrize(("case", "words"), REFUSED)
def test_left_out_with_the_reason(case: dict[str, str], words: str) -> None:
    found = pair(**case, written=1)  # type: ignore[arg-type]
    assert isinstance(found, Refused)
    assert words in found.reason


SENDS = [
    # source, destination, written -> (snapshot, base, -I?, new snapshot?)
    ("r1", "r1", 10, ("p/a@zfsync_new", "p/a@zfsync_0001", True, True)),
    ("r1 s2 x3", "r1", 0, ("p/a@other_3", "p/a@zfsync_0001", True, False)),  # unsent ones
    ("b1 s2", "r1", 10, ("p/a@zfsync_new", "p/a#zfsync_0001", False, True)),  # the bookmark
]


@pytest.mark.parametrize(("src", "dst", "written", "expected"), SENDS)
def test_what_is_sent(
    src: str, dst: str, written: int, expected: tuple[str, str, bool, bool]
) -> None:
    found = pair(src, dst, written=written)
    assert isinstance(found, PairPlan)
    send = found.stream.send
    assert (send.snapshot, send.base, send.intermediates, found.snapshot) == expected
    assert found.stream.recv.target == "q/a"
    assert not found.stream.recv.force


def test_the_base_hold_moves_to_the_new_snapshot() -> None:
    found = pair("r1", "r1", written=10)
    assert isinstance(found, PairPlan)
    assert found.hold_before == ()
    assert found.hold_after == (("local", f"p/a@{SHORT}"), ("backup", f"q/a@{SHORT}"))
    assert found.release == (("backup", "q/a@zfsync_0001"), ("local", "p/a@zfsync_0001"))
    assert found.bookmarks == {f"p/a#{SHORT}": f"p/a@{SHORT}"}


def test_a_base_without_the_hold_is_held_for_the_send_and_released_after() -> None:
    found = pair("s1", "s1", written=10)
    assert isinstance(found, PairPlan)
    assert found.hold_before == (("local", "p/a@zfsync_0001"), ("backup", "q/a@zfsync_0001"))
    assert set(found.hold_before) <= set(found.release)


def test_a_token_alone_is_worth_a_transfer() -> None:
    """Nothing written, nothing unsent, but a token: the step resumes or clears it."""
    found = pair("r1", "r1", token="1-abc")
    assert isinstance(found, PairPlan)
    assert (found.stream.send.snapshot, found.snapshot) == ("p/a@zfsync_0001", False)
    assert found.bookmarks == {}


EXPIRY_FOLLOWS = [
    # the sync's request -> the expiry's: the same sources, or every pair here
    ({"sources": ["p/a", "p/b"], "parallel": 2}, {"sources": ["p/a", "p/b"]}),
    ({}, {"sources": []}),
]


@pytest.mark.parametrize(("sync", "expiry"), EXPIRY_FOLLOWS)
def test_expiry_is_the_follow_up_of_a_sync(sync: dict[str, Any], expiry: dict[str, Any]) -> None:
    """The sync itself destroys nothing (so it can be rolled back): the engine runs the
    replica-expire transaction it declares once it completed."""
    then = REPLICA_SYNC_KIND.follow_up(sync)
    assert (then.kind, then.params) == ("replica-expire", expiry)


def test_the_plan_of_a_sync_over_its_savecount_destroys_nothing() -> None:
    source = replace(
        side("p/a", "s1 s2 r3", written=10), role=Role.SOURCE, peer="backup:q/a", savecount=2
    )
    destination = replace(side("q/a", "s1 s2 r3"), role=Role.DESTINATION, savecount=2)
    facts = SyncFacts(
        Side("local", {"p/a": source}), {"backup": Side("backup", {"q/a": destination})}
    )
    plan = decide(SyncRequest(sources=("p/a",)), facts, "new", 1)
    assert [s.kind for s in plan.steps] == [
        "create-snapshots", "bookmarks", "send-receive-many", "move-hold", "move-hold",
    ]  # fmt: skip


def test_snapshots_sent_without_the_marker_get_it() -> None:
    found = pair("r1 s2 x3", "r1", written=10)
    assert isinstance(found, PairPlan)
    assert found.mark_sent == ("p/a@zfsync_0002", "p/a@other_3")  # the new one has it
    by_bookmark = pair("b1 s2 s3", "r1")
    assert isinstance(by_bookmark, PairPlan)
    assert by_bookmark.mark_sent == ("p/a@zfsync_0003",)  # -i: only the last one goes


def test_a_token_when_the_source_keeps_only_the_bookmark_takes_a_snapshot() -> None:
    found = pair("b1", "r1", token="1-abc")
    assert isinstance(found, PairPlan)
    send = found.stream.send
    assert (send.snapshot, send.base, found.snapshot) == (f"p/a@{SHORT}", "p/a#zfsync_0001", True)
