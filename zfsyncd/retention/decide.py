"""The decision: given a dataset's snapshots, a policy and the time, which go and why each
stays. Pure (no ZFS, no clock), like zettarepl's retention/calculate.py, and tested with
tables of examples and properties (tests/unit/retention/).

For each snapshot, in this order, the first that holds decides:

1. protected, never destroyed whatever the policy: held (`zfs holds`: ZFS would refuse
   anyway), cloned (the same), used by a running transaction (the engine would be undone
   under it), the newest
   snapshot shared with a replication target (the base of the next incremental: the caller
   knows it from replication's inventory), the newest snapshot the policy applies to on its
   dataset (the grid's anchor: keeping it makes a prune of what a prune kept destroy nothing);
2. not the policy's: its name does not begin with the policy's prefix, or `keep` finds it;
3. created after `now` (a clock set back): kept, as zrepl does;
4. kept by a rule (the grid, last, a count), each naming the interval or period;
5. else destroyed, with what each rule said.

The rules see every snapshot the policy applies to, protected or not (zrepl's grid does the
same): a held snapshot in an interval fills it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from zfsyncd.retention.grid import fit_grid
from zfsyncd.retention.periods import fit_counts
from zfsyncd.retention.policy import RetentionPolicy


@dataclass(frozen=True, slots=True)
class Candidate:
    """A snapshot as the decision sees it."""

    #: the full name, DATASET@SNAP
    name: str
    #: seconds since the epoch
    creation: int
    guid: int
    #: orders snapshots made in the same second (zfs list's createtxg)
    createtxg: int = 0
    #: it has a hold (any tag)
    held: bool = False
    #: a dataset is a clone of it (zfs destroy would refuse it)
    cloned: bool = False
    #: a running transaction uses it
    in_use: bool = False
    #: the newest snapshot its dataset shares with a replication target
    replica_base: bool = False
    #: the parts of `name` (computed once: the decision reads them for every snapshot)
    dataset: str = field(init=False, compare=False, repr=False)
    short_name: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        dataset, _, short = self.name.partition("@")
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "short_name", short)


class Why(StrEnum):
    """Why a snapshot is kept or goes, as a word a script can match (--json's `why`)."""

    HELD = "held"
    CLONED = "cloned"
    IN_USE = "in-use"
    REPLICA_BASE = "replica-base"
    NEWEST = "newest"
    NOT_POLICY = "not-policy"
    KEEP_REGEX = "keep-regex"
    FUTURE = "future"
    RULE = "rule"
    EXPIRED = "expired"


#: the reasons that keep a snapshot whatever the policy says
PROTECTED = frozenset({Why.HELD, Why.CLONED, Why.IN_USE, Why.REPLICA_BASE, Why.NEWEST})


@dataclass(frozen=True, slots=True)
class Verdict:
    snapshot: Candidate
    keep: bool
    why: Why
    #: the reason in words: which rule, interval or period
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Each dataset's snapshots oldest first, datasets by name."""

    kept: tuple[Verdict, ...]
    destroyed: tuple[Verdict, ...]


def _order(snapshot: Candidate) -> tuple[int, int, str]:
    return (snapshot.creation, snapshot.createtxg, snapshot.name)


def _protection(snapshot: Candidate) -> Verdict | None:
    if snapshot.held:
        return Verdict(snapshot, True, Why.HELD, "held (zfs holds)")
    if snapshot.cloned:
        return Verdict(snapshot, True, Why.CLONED, "a dataset is a clone of it")
    if snapshot.in_use:
        return Verdict(snapshot, True, Why.IN_USE, "used by a running transaction")
    if snapshot.replica_base:
        return Verdict(
            snapshot, True, Why.REPLICA_BASE, "the newest snapshot shared with its replica"
        )
    return None


def _decide_dataset(
    snapshots: Sequence[Candidate], policy: RetentionPolicy, now: int
) -> list[Verdict]:
    """One dataset's snapshots, oldest first."""
    keep_pattern = policy.keep_pattern()
    verdicts: dict[int, Verdict] = {}
    subject: list[int] = []  # indexes into snapshots, oldest first
    for index, snapshot in enumerate(snapshots):
        short = snapshot.short_name
        if not policy.applies_to(short):
            verdicts[index] = Verdict(
                snapshot, True, Why.NOT_POLICY, f"its name does not begin with {policy.prefix!r}"
            )
        elif keep_pattern is not None and keep_pattern.search(short):
            verdicts[index] = Verdict(
                snapshot, True, Why.KEEP_REGEX, f"its name matches keep {policy.keep!r}"
            )
        else:
            subject.append(index)
    if not subject:
        return [verdicts[i] for i in range(len(snapshots))]
    creations = [snapshots[i].creation for i in subject]
    rule_keeps: dict[int, list[str]] = {}  # position in subject -> reasons
    rule_drops: list[str] = []
    grid_drops: dict[int, str] = {}
    if policy.grid is not None:
        fit = fit_grid(policy.grid, creations)
        texts = {interval: str(interval) for interval in policy.grid}
        for position, (number, interval) in fit.kept.items():
            rule_keeps.setdefault(position, []).append(
                f"grid interval {number} ({texts[interval]})"
            )
        grid_drops = fit.dropped
    if policy.last is not None:
        for position in range(max(0, len(subject) - policy.last), len(subject)):
            rule_keeps.setdefault(position, []).append(f"last={policy.last}")
        rule_drops.append(f"not among the {policy.last} newest (last={policy.last})")
    counts = policy.count_rules()
    zone = policy.zone()
    moments = [datetime.fromtimestamp(c, zone) for c in creations] if counts else []
    for rule in counts:
        kept = fit_counts(rule, creations, moments, now, policy.frequent_period)
        for position, reason in kept.items():
            rule_keeps.setdefault(position, []).append(reason)
        rule_drops.append(f"not kept by {rule}")
    newest = len(subject) - 1
    for position, index in enumerate(subject):
        snapshot = snapshots[index]
        verdict = _protection(snapshot)
        if verdict is None and position == newest:
            verdict = Verdict(snapshot, True, Why.NEWEST, "the newest of its dataset's policy")
        if verdict is None and snapshot.creation > now:
            verdict = Verdict(snapshot, True, Why.FUTURE, "created after now (a clock set back?)")
        if verdict is None and position in rule_keeps:
            verdict = Verdict(snapshot, True, Why.RULE, "; ".join(rule_keeps[position]))
        if verdict is None:
            said = ([grid_drops[position]] if position in grid_drops else []) + rule_drops
            verdict = Verdict(snapshot, False, Why.EXPIRED, "; ".join(said))
        verdicts[index] = verdict
    return [verdicts[i] for i in range(len(snapshots))]


def decide_retention(snapshots: Iterable[Candidate], policy: RetentionPolicy, now: int) -> Decision:
    """What `policy` keeps of `snapshots` (any number of datasets) at `now` (seconds since
    the epoch), each with why; see the module's docstring for the order of the reasons."""
    by_dataset: dict[str, list[Candidate]] = {}
    for snapshot in snapshots:
        by_dataset.setdefault(snapshot.dataset, []).append(snapshot)
    kept: list[Verdict] = []
    destroyed: list[Verdict] = []
    for dataset in sorted(by_dataset):
        ordered = sorted(by_dataset[dataset], key=_order)
        for verdict in _decide_dataset(ordered, policy, now):
            (kept if verdict.keep else destroyed).append(verdict)
    return Decision(tuple(kept), tuple(destroyed))
