"""What a policy keeps (zfsyncd.retention.decide_retention): tables of snapshots (hours
before "now") -> the names kept, for each rule form; then the protections, the reasons, and
hypothesis's properties (never a protected one destroyed, a prune of what a prune kept
destroys nothing, the newest always kept)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zfsyncd.retention import Candidate, RetentionPolicy, decide_retention, parse_policy_text
from zfsyncd.retention.decide import PROTECTED, Why

H, D = 3600, 86400
#: 2026-11-30 12:00 UTC: "now" in every table
NOW = int(datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp())


def snaps(*hours_ago: float, dataset: str = "p/a", **flags: set[float]) -> list[Candidate]:
    """zfsync_<hours ago> snapshots made that many hours before NOW; `held={2}` etc. mark
    some."""
    return [
        Candidate(
            name=f"{dataset}@zfsync_{h:g}",
            creation=NOW - int(h * H),
            guid=1000 + i,
            createtxg=i,
            **{flag: h in which for flag, which in flags.items()},
        )
        for i, h in enumerate(sorted(hours_ago, reverse=True))
    ]


def kept(policy: str, snapshots: list[Candidate], now: int = NOW) -> list[str]:
    decision = decide_retention(snapshots, parse_policy_text(policy), now)
    return sorted((v.snapshot.short_name for v in decision.kept), key=_age)


def _age(short: str) -> float:
    return float(short.removeprefix("zfsync_")) if short.startswith("zfsync_") else -1


def names(*hours_ago: float) -> list[str]:
    return sorted((f"zfsync_{h:g}" for h in hours_ago), key=_age)


HOURLY_FOR_3_DAYS = [h for h in range(72)]  # one an hour, 0 to 71 hours ago


@pytest.mark.parametrize(
    ("policy", "hours_ago", "expected"),
    [
        # the grid's anchor is the newest snapshot; each interval keeps its oldest
        (
            'grid = "1x1h(keep=all) | 2x1h"',
            [0, 0.5, 0.9, 1, 1.5, 2, 2.5, 3, 4],
            [0, 0.5, 0.9, 1.5, 2.5],
        ),
        ('grid = "3x1h"', [0, 0.5, 1, 1.5, 2, 2.5, 3], [0, 0.5, 1.5, 2.5]),
        # keep=2: the two oldest of each interval
        ('grid = "2x2h(keep=2)"', [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5], [0, 1, 1.5, 3, 3.5]),
        # an age equal to an interval's edge belongs to the older interval (zrepl's bucket)
        ('grid = "1x1h | 1x1h"', [0, 1, 2], [0, 1]),
        # the anchor is the newest snapshot, not the clock: a dataset that stopped getting
        # snapshots a week ago keeps its grid
        ('grid = "1x1h(keep=all) | 24x1h"', [168, 168.5, 170, 200], [168, 168.5, 170]),
        ('grid = "1x1h(keep=all) | 24x1h | 2x1d"', HOURLY_FOR_3_DAYS, [*range(0, 25), 48, 71]),
        # sanoid's counts: the first of each period, the N newest periods
        ("hourly = 3", [0, 0.25, 0.5, 1.25, 1.5, 2.5, 5], [0, 1.5, 2.5, 0.5]),
        ("daily = 2", HOURLY_FOR_3_DAYS, [0, 12, 36]),
        # sanoid's age rule: younger than N periods is kept even beyond the N newest
        ("hourly = 2", [0, 0.2, 0.4, 0.6], [0, 0.6]),
        # sparse snapshots: the N newest periods that have one, however old
        ("daily = 2", [0, 240, 480, 720], [0, 240]),
        # NOW is a Monday: the week before's first is its Monday, 168 hours ago
        ("weekly = 2", [h * 24 for h in range(21)], [0, 168]),
        ("last = 2", [0, 1, 2, 3], [0, 1]),
        # rules together: kept when any keeps it
        ('last = 1, grid = "1x1h | 1x1h"', [0, 0.5, 1, 1.5, 3], [0, 0.5, 1.5]),
    ],
)
def test_rules_keep(policy: str, hours_ago: list[float], expected: list[float]) -> None:
    assert kept(policy, snaps(*hours_ago)) == names(*expected)


def test_weekly_and_monthly_follow_the_calendar() -> None:
    """ISO weeks (from Monday) and calendar months, in the policy's zone."""
    # NOW is Monday 2026-11-30 12:00: 11 hours ago is this week's first, 12.5 hours ago
    # was Sunday, the week before, whose first is 30 hours ago
    assert kept("weekly = 2", snaps(0, 11, 12.5, 30)) == names(0, 11, 30)
    # 2026-11-01 00:30 UTC is still October in New York
    november_first = (NOW - int(datetime(2026, 11, 1, 0, 30, tzinfo=UTC).timestamp())) / H
    three = snaps(0, november_first, 800)
    assert kept("monthly = 1", three) == names(0, november_first)  # November's first
    # in New York it was October 31st, and October is beyond monthly=1 (800 h > 31 days)
    assert kept('monthly = 1, timezone = "America/New_York"', three) == names(0)


def test_frequently_uses_its_period() -> None:
    # 12:00-12:30: 0; 11:30-12:00: first 0.45 (11:33); 11:00-11:30: first 0.8 (11:12),
    # younger than 2 periods of 30 minutes
    assert kept("frequently = 2, frequent_period = 30", snaps(0, 0.1, 0.3, 0.45, 0.6, 0.8)) == (
        names(0, 0.45, 0.8)
    )


def test_snapshots_not_the_policys_are_kept() -> None:
    foreign = [
        Candidate("p/a@manual-1", NOW - 9 * D, 1),
        Candidate("p/a@autosnap_x", NOW - 9 * D, 2),
        Candidate("p/a@zfsync_keepme", NOW - 9 * D, 3),
    ]
    decision = decide_retention(
        [*snaps(0, 50), *foreign], parse_policy_text('last = 1, keep = "keepme$"'), NOW
    )
    why = {v.snapshot.short_name: v.why for v in decision.kept}
    assert why == {
        "manual-1": Why.NOT_POLICY,
        "autosnap_x": Why.NOT_POLICY,
        "zfsync_keepme": Why.KEEP_REGEX,
        "zfsync_0": Why.NEWEST,
    }
    assert [v.snapshot.short_name for v in decision.destroyed] == ["zfsync_50"]


def test_another_prefix_is_what_the_policy_applies_to() -> None:
    snapshots = [Candidate(f"p/a@autosnap_{i}", NOW - i * D, i) for i in range(4)]
    snapshots.append(Candidate("p/a@zfsync_1", NOW - 10 * D, 9))
    decision = decide_retention(snapshots, parse_policy_text('last = 2, prefix = "autosnap_"'), NOW)
    assert sorted(v.snapshot.short_name for v in decision.destroyed) == [
        "autosnap_2",
        "autosnap_3",
    ]


@pytest.mark.parametrize(
    ("flag", "why"),
    [("held", Why.HELD), ("in_use", Why.IN_USE), ("replica_base", Why.REPLICA_BASE)],
)
def test_protected_snapshots_are_kept(flag: str, why: Why) -> None:
    decision = decide_retention(
        snaps(0, 10, 20, 30, **{flag: {20}}), parse_policy_text("last = 1"), NOW
    )
    assert {v.snapshot.short_name: v.why for v in decision.kept} == {
        "zfsync_0": Why.NEWEST,
        "zfsync_20": why,
    }


def test_snapshots_from_the_future_are_kept() -> None:
    decision = decide_retention(snaps(0, 5, 10), parse_policy_text("last = 1"), NOW - 7 * H)
    assert {v.snapshot.short_name: v.why for v in decision.kept} == {
        "zfsync_0": Why.NEWEST,
        "zfsync_5": Why.FUTURE,
    }


def test_datasets_are_decided_apart() -> None:
    decision = decide_retention(
        [*snaps(0, 1, 2, dataset="p/a"), *snaps(5, 6, dataset="p/b")],
        parse_policy_text("last = 1"),
        NOW,
    )
    assert [v.snapshot.name for v in decision.kept] == ["p/a@zfsync_0", "p/b@zfsync_5"]
    assert [v.snapshot.name for v in decision.destroyed] == [
        "p/a@zfsync_2",
        "p/a@zfsync_1",
        "p/b@zfsync_6",
    ]


def test_reasons_name_the_rule_and_the_period() -> None:
    decision = decide_retention(
        snaps(0, 1, 30, 50), parse_policy_text('daily = 2, grid = "1x1h | 1x1h"'), NOW
    )
    reasons = {v.snapshot.short_name: v.reason for v in (*decision.kept, *decision.destroyed)}
    assert reasons["zfsync_1"] == (
        "grid interval 2 (1x1h); daily=2: the first of day 2026-11-30, one of the 2 newest such"
    )
    assert reasons["zfsync_30"] == (
        "daily=2: the first of day 2026-11-29, one of the 2 newest such"
    )
    assert reasons["zfsync_50"] == ("older than the grid's last interval; not kept by daily=2")


def test_nothing_to_decide() -> None:
    decision = decide_retention([], RetentionPolicy(last=1), NOW)
    assert decision.kept == decision.destroyed == ()


# -- properties --------------------------------------------------------------------------


def _counts(*values: int) -> str:
    keys = ("hourly", "daily", "weekly", "monthly", "yearly", "last")
    return ", ".join(f"{k} = {v}" for k, v in zip(keys, values, strict=True) if v) or "last = 1"


#: grid parts by length (a grid's lengths grow)
GRID_PARTS = ["1x1h(keep=all)", "2x1h", "3x2h(keep=2)", "4x1d", "2x1w"]
POLICIES = st.one_of(
    st.builds(
        lambda parts: " | ".join(parts),
        st.lists(
            st.sampled_from(GRID_PARTS),
            min_size=1,
            max_size=4,
        ).map(lambda p: sorted(p, key=GRID_PARTS.index)),
    ).map(lambda g: f'grid = "{g}"'),
    st.builds(_counts, *(st.integers(0, 5) for _ in range(6))),
)
SNAPSHOTS = st.lists(
    st.tuples(
        st.sampled_from(["p/a", "p/b"]),
        st.integers(0, 60 * D),  # seconds before NOW
        st.sampled_from(["zfsync_", "zfsync_", "zfsync_", "manual_"]),
        st.booleans(),  # held
        st.booleans(),  # in use
        st.booleans(),  # replica base
    ),
    max_size=60,
).map(
    lambda rows: [
        Candidate(
            name=f"{ds}@{prefix}{i}",
            creation=NOW - age,
            guid=i,
            createtxg=-age,  # the txg follows the time
            held=held and i % 5 == 0,
            in_use=used and i % 7 == 0,
            replica_base=base and i % 11 == 0,
        )
        for i, (ds, age, prefix, held, used, base) in enumerate(rows)
    ]
)


@settings(max_examples=300, deadline=None)
@given(POLICIES, SNAPSHOTS)
def test_properties(policy_text: str, snapshots: list[Candidate]) -> None:
    policy = parse_policy_text(policy_text)
    decision = decide_retention(snapshots, policy, NOW)
    destroyed = {v.snapshot.name for v in decision.destroyed}
    # every snapshot decided once
    assert len(decision.kept) + len(decision.destroyed) == len(snapshots)
    # never a protected one, nor one the policy does not apply to
    for snapshot in snapshots:
        if snapshot.held or snapshot.in_use or snapshot.replica_base:
            assert snapshot.name not in destroyed
        if not snapshot.short_name.startswith(policy.prefix):
            assert snapshot.name not in destroyed
    # the newest of each dataset is kept
    for dataset in {s.dataset for s in snapshots}:
        newest = max(
            (s for s in snapshots if s.dataset == dataset),
            key=lambda s: (s.creation, s.createtxg, s.name),
        )
        assert newest.name not in destroyed
    # a prune of what a prune kept destroys nothing
    again = decide_retention([v.snapshot for v in decision.kept], policy, NOW)
    assert again.destroyed == ()
    # a protected reason is only given to a protected snapshot
    for verdict in decision.kept:
        if verdict.why in PROTECTED - {Why.NEWEST}:
            assert verdict.snapshot.held or verdict.snapshot.in_use or verdict.snapshot.replica_base
