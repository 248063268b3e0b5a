"""Comparison of what the systems of a sync group report: pure functions over lists.

Nothing here reads the database or the clock; the services layer loads the rows, calls
`plan_group`, and stores what it returns. That keeps every rule testable with a table of
small examples (tests/witness/test_compare.py).

Pool-agnostic: a snapshot `hqs10p1/L1S4DAT1@2025-11-26` is the logical dataset `L1S4DAT1`
and the snapshot name `2025-11-26` on whatever pool the system keeps it; the pool is kept
only to tell the system where to send from and receive into.

Identity: two reported snapshots are the same snapshot when their guids are equal (a
received snapshot keeps its guid). A report without a guid is matched by name and creation
time, and takes the guid of a guid-bearing report with the same dataset, name and time.

Per logical dataset, each system's history (its snapshots, oldest first) is compared with a
leader's. Snapshots older than the oldest one two histories share are ignored (retention
pruned them on one side: nothing to do). What remains is one of:

- same, or behind: the behind system gets an incremental transfer from the last shared
  snapshot (the base) to the leader's newest; a system without the dataset gets a full one;
- DIVERGED: both have snapshots after the last one they share (their histories split), or a
  snapshot name means a different snapshot on each;
- ORPHANED: both have snapshots and share none: no incremental base exists;
- MISSING: one lacks a snapshot that lies between two snapshots they share: an incremental
  send cannot bring it back (it is older than what the system already has).

A dataset with any of these is a conflict: no transfer is planned for it until a winner is
decided (by the group's strategy, see strategies.py, or by an administrator). With a winner,
every other system is brought to the winner's history: incrementally when it is behind,
else by a forced transfer (the target rolls back to the last snapshot shared before the
first difference, destroying what follows, then receives), or a full replacement when they
share nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum


class ConflictKind(StrEnum):
    # ordered by severity: a dataset with several is reported as its worst
    MISSING = "missing"
    DIVERGED = "diverged"
    ORPHANED = "orphaned"


SEVERITY = {ConflictKind.MISSING: 1, ConflictKind.DIVERGED: 2, ConflictKind.ORPHANED: 3}


class NameError_(ValueError):
    """A snapshot name that is not `pool[/dataset]@snapshot`."""


def split_name(full: str) -> tuple[str, str, str]:
    """`pool/a/b@snap` -> (`pool`, `a/b`, `snap`); the pool's root dataset is `""`."""
    path, at, snap = full.partition("@")
    if not at or not snap or "@" in snap or not all(path.split("/")):
        raise NameError_(f"not a snapshot name (pool[/dataset]@snapshot): {full!r}")
    pool, _, dataset = path.partition("/")
    return pool, dataset, snap


@dataclass(frozen=True, slots=True)
class Snap:
    """One reported snapshot, as the comparison needs it."""

    system: str
    pool: str
    dataset: str  # logical: the path below the pool
    name: str  # after the '@'
    created: int  # creation, epoch seconds (kept by zfs send/recv)
    guid: str | None = None
    txg: int | None = None  # createtxg: orders one system's snapshots made in one second
    size: int = 0  # bytes referenced


#: what makes two reports the same snapshot: ("g", guid) or ("n", name, created)
Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    key: Key
    snap: Snap


def keyed(snaps: Sequence[Snap]) -> list[Entry]:
    """Each report with its identity; a report without a guid adopts the guid of a report
    with the same dataset, name and creation time (when exactly one guid has them)."""
    guids: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for s in snaps:
        if s.guid is not None:
            guids[(s.dataset, s.name, s.created)].add(s.guid)
    out = []
    for s in snaps:
        guid = s.guid
        if guid is None:
            found = guids.get((s.dataset, s.name, s.created), set())
            if len(found) == 1:
                guid = next(iter(found))
        key: Key = ("g", guid) if guid is not None else ("n", s.name, str(s.created))
        out.append(Entry(key, s))
    return out


def history_order(e: Entry) -> tuple[int, int, str]:
    return (e.snap.created, e.snap.txg if e.snap.txg is not None else 0, e.snap.name)


@dataclass(frozen=True, slots=True)
class Pair:
    """How history `b` stands to history `a` (both oldest first)."""

    shared: bool  # they share at least one snapshot
    base: Entry | None  # b's newest shared snapshot (the incremental base when b is behind)
    fork: Entry | None  # the last shared snapshot before the first difference
    a_after: tuple[Entry, ...]  # a's snapshots after the last shared one
    b_after: tuple[Entry, ...]
    b_lacks: tuple[str, ...]  # names a has inside the shared range that b lacks
    a_lacks: tuple[str, ...]
    clashes: tuple[str, ...]  # names that are a different snapshot on each side

    @property
    def diverged(self) -> bool:
        return bool(self.clashes) or (bool(self.a_after) and bool(self.b_after))

    @property
    def b_behind(self) -> bool:
        """b can catch up with an incremental send: nothing of its own beyond a."""
        return self.shared and not self.problems_of_b() and not self.b_after

    @property
    def same(self) -> bool:
        return self.b_behind and not self.a_after

    def problems_of_b(self) -> list[tuple[ConflictKind, tuple[str, ...]]]:
        """The conflicts this pair shows, named from b's side."""
        if not self.shared:
            return [(ConflictKind.ORPHANED, ())]
        out: list[tuple[ConflictKind, tuple[str, ...]]] = []
        if self.diverged:
            names = self.clashes or tuple(e.snap.name for e in self.b_after)
            out.append((ConflictKind.DIVERGED, names))
        if self.b_lacks or self.a_lacks:
            out.append((ConflictKind.MISSING, self.b_lacks + self.a_lacks))
        return out


def compare_pair(a: Sequence[Entry], b: Sequence[Entry]) -> Pair:
    """Compare two non-empty histories of one logical dataset (oldest first)."""
    in_b = {e.key: i for i, e in enumerate(b)}
    in_a = {e.key: i for i, e in enumerate(a)}
    names_b = {e.snap.name: e.key for e in b}
    clashes = tuple(
        e.snap.name for e in a if e.snap.name in names_b and names_b[e.snap.name] != e.key
    )
    shared_a = [i for i, e in enumerate(a) if e.key in in_b]
    if not shared_a:
        return Pair(False, None, None, tuple(a), tuple(b), (), (), clashes)
    first_a, last_a = shared_a[0], shared_a[-1]
    first_b, last_b = in_b[a[first_a].key], in_b[a[last_a].key]
    if last_b < first_b:  # shared snapshots in another order on each side: split history
        return Pair(
            True,
            b[last_b],
            a[first_a],
            tuple(a[last_a + 1 :]),
            tuple(b[first_b + 1 :]),
            (),
            (),
            clashes,
        )
    b_lacks = tuple(e.snap.name for e in a[first_a:last_a] if e.key not in in_b)
    a_lacks = tuple(e.snap.name for e in b[first_b:last_b] if e.key not in in_a)
    # walk both from the first shared snapshot while they agree
    i, j = first_a, first_b
    while i + 1 < len(a) and j + 1 < len(b) and a[i + 1].key == b[j + 1].key:
        i, j = i + 1, j + 1
    return Pair(
        shared=True,
        base=b[last_b],
        fork=a[i],
        a_after=tuple(a[last_a + 1 :]),
        b_after=tuple(b[last_b + 1 :]),
        b_lacks=b_lacks,
        a_lacks=a_lacks,
        clashes=clashes,
    )


@dataclass(frozen=True, slots=True)
class Transfer:
    """One instruction: the target system receives from the source system."""

    dataset: str
    source: str
    source_pool: str
    target: str
    target_pool: str
    base: str | None  # incremental base (a snapshot name both have); None: a full send
    newest: str  # the newest snapshot to send (the source's newest)
    #: the target first rolls back to `base` (destroying its snapshots after it) or, with
    #: no base, has its copy of the dataset replaced
    force: bool
    snapshots: int  # how many snapshots the transfer brings


@dataclass(frozen=True, slots=True)
class Problem:
    system: str
    kind: ConflictKind
    snapshots: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DatasetPlan:
    dataset: str
    leader: str | None  # whose history the others follow (the winner, in a conflict)
    problems: tuple[Problem, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    in_sync: tuple[str, ...] = ()  # systems that hold the leader's history already
    no_pool: tuple[str, ...] = ()  # lack the dataset and have no pool to receive into

    @property
    def kind(self) -> ConflictKind | None:
        if not self.problems:
            return None
        return max((p.kind for p in self.problems), key=SEVERITY.__getitem__)


#: a decision for a conflicted dataset: the winning system, or IGNORE
IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class GroupInput:
    members: Sequence[str]
    snaps: Sequence[Snap]
    #: the pool a member receives a dataset it lacks into (its membership's pool, else the
    #: pool it reports most); a member without one gets no full transfer
    pools: Mapping[str, str] = field(default_factory=dict)


def histories(inp: GroupInput) -> dict[str, dict[str, list[Entry]]]:
    """dataset -> system -> history (oldest first). A system reporting one logical dataset
    from several pools is compared on its `pools` pool if that is one of them, else the
    first by name."""
    members = set(inp.members)
    by: dict[str, dict[str, dict[str, list[Entry]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for e in keyed([s for s in inp.snaps if s.system in members]):
        by[e.snap.dataset][e.snap.system][e.snap.pool].append(e)
    out: dict[str, dict[str, list[Entry]]] = {}
    for ds, systems in by.items():
        out[ds] = {}
        for system, pools in systems.items():
            pool = inp.pools.get(system)
            chosen = pools[pool] if pool in pools else pools[min(pools)]
            out[ds][system] = sorted(chosen, key=history_order)
    return out


def pick_leader(hist: Mapping[str, Sequence[Entry]]) -> str:
    """The system with the newest snapshot (ties: the longest history, then the first id); then,
    while another system is strictly ahead of it (same creation times), that one."""

    def rank(s: str) -> tuple[int, int]:
        return (hist[s][-1].snap.created, len(hist[s]))

    leader = max(sorted(hist), key=rank)  # max keeps the first of equals
    for _ in range(len(hist)):
        ahead = [
            s
            for s in sorted(hist)
            if s != leader
            and (p := compare_pair(hist[leader], hist[s])).shared
            and not p.problems_of_b()
            and p.b_after
            and not p.a_after
        ]
        if not ahead:
            break
        leader = ahead[0]
    return leader


def plan_from(
    dataset: str,
    leader: str,
    hist: Mapping[str, Sequence[Entry]],
    members: Sequence[str],
    pools: Mapping[str, str],
    forced: bool,
) -> DatasetPlan:
    """What every member needs to hold `leader`'s history. Without `forced`, a member that
    cannot catch up incrementally is a problem (the dataset is in conflict, and nothing is
    planned for it); with it (a decided winner), that member gets a forced transfer."""
    lead = hist[leader]
    newest = lead[-1].snap
    problems: list[Problem] = []
    transfers: list[Transfer] = []
    in_sync = [leader]
    no_pool: list[str] = []

    position = {e.key: i for i, e in enumerate(lead)}

    def transfer(target: str, pool: str, base: Entry | None, force: bool) -> Transfer:
        count = len(lead) - (position[base.key] + 1 if base is not None else 0)
        return Transfer(
            dataset,
            leader,
            newest.pool,
            target,
            pool,
            base.snap.name if base else None,
            newest.name,
            force,
            count,
        )

    for system in sorted(members):
        if system == leader:
            continue
        mine = hist.get(system)
        if not mine:
            if system in pools:
                transfers.append(transfer(system, pools[system], None, False))
            else:
                no_pool.append(system)
            continue
        pair = compare_pair(lead, mine)
        pool = mine[-1].snap.pool
        if pair.same:
            in_sync.append(system)
        elif pair.b_behind and pair.base is not None:  # b_behind: they share a base
            transfers.append(transfer(system, pool, pair.base, False))
        elif forced:
            # back to the last snapshot shared before the first difference (or replaced)
            fork = pair.fork if pair.shared else None
            transfers.append(transfer(system, pool, fork, True))
        else:
            problems.extend(Problem(system, k, names) for k, names in pair.problems_of_b())
    if problems:
        return DatasetPlan(dataset, leader, tuple(problems), (), (), ())
    return DatasetPlan(dataset, leader, (), tuple(transfers), tuple(in_sync), tuple(no_pool))


def plan_dataset(
    dataset: str,
    hist: Mapping[str, Sequence[Entry]],
    inp: GroupInput,
    decision: str | None = None,
) -> DatasetPlan:
    """The plan for one logical dataset (`hist`: from `histories`). `decision`, for a
    dataset in conflict: its winning system, or IGNORE (no transfers for it)."""
    free = plan_from(dataset, pick_leader(hist), hist, inp.members, inp.pools, False)
    if not free.problems or decision is None:
        return free
    if decision == IGNORE:
        return DatasetPlan(dataset, free.leader, free.problems)
    if decision in hist:
        won = plan_from(dataset, decision, hist, inp.members, inp.pools, True)
        # the problems stay in the plan: they say why the transfers are forced
        return replace(won, problems=free.problems)
    return free  # the winner no longer holds the dataset: undecided again


def plan_group(inp: GroupInput, decisions: Mapping[str, str] | None = None) -> list[DatasetPlan]:
    """One plan per logical dataset of the group, sorted by dataset."""
    decisions = decisions or {}
    return [
        plan_dataset(dataset, hist, inp, decisions.get(dataset))
        for dataset, hist in sorted(histories(inp).items())
    ]
