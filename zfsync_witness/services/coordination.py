"""The sync check: load a group's reports, compare them (compare.py, strategies.py), and
store what follows: conflicts, per-member sync states, and the transfers each member is to
receive.

A check runs when a system fetches its instructions, when conflicts are listed, and on
`POST /sync/{group_id}/check`. A conflict the group's strategy decides is resolved at once
(its winner stored); one it does not decide (manual, a tie) stays open until an
administrator resolves it. A resolution holds until the histories agree again, when the
conflict is marked cleared.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zfsync_witness.compare import (
    IGNORE,
    DatasetPlan,
    Entry,
    GroupInput,
    Snap,
    Transfer,
    histories,
    plan_dataset,
)
from zfsync_witness.db.models import Conflict, GroupMember, Snapshot, SyncGroup, SyncState, now
from zfsync_witness.services.errors import Invalid, Taken
from zfsync_witness.strategies import Strategy, choose_winner

ACTIVE = ("open", "resolved", "ignored")


@dataclass(frozen=True, slots=True)
class CheckResult:
    group: SyncGroup
    plans: list[DatasetPlan]
    conflicts: list[Conflict]  # active ones, by dataset


async def load_input(session: AsyncSession, group: SyncGroup) -> GroupInput:
    members = list(
        await session.scalars(select(GroupMember).where(GroupMember.group_id == group.id))
    )
    ids = [m.system_id for m in members]
    # one query per member, without its id in the rows: converting a million ids back into
    # UUIDs was most of the time of a large group's load (bench/witness.py)
    columns = (
        Snapshot.pool,
        Snapshot.dataset,
        Snapshot.name,
        Snapshot.created,
        Snapshot.guid,
        Snapshot.txg,
        Snapshot.size,
    )
    snaps: list[Snap] = []
    for system_id in ids:
        live = select(*columns).where(
            Snapshot.system_id == system_id, Snapshot.removed_at.is_(None)
        )
        sid = str(system_id)
        snaps += [Snap(sid, *row) for row in await session.execute(live)]
    # a member without a configured pool receives into the pool it reports most
    used: dict[str, Counter[str]] = defaultdict(Counter)
    for s in snaps:
        used[s.system][s.pool] += 1
    pools = {}
    for m in members:
        sid = str(m.system_id)
        if m.pool:
            pools[sid] = m.pool
        elif used[sid]:
            pools[sid] = used[sid].most_common(1)[0][0]
    return GroupInput([str(i) for i in ids], snaps, pools)


def _problems(plan: DatasetPlan) -> list[dict[str, Any]]:
    return [
        {"system_id": p.system, "kind": p.kind.value, "snapshots": list(p.snapshots)}
        for p in plan.problems
    ]


def _decision(conflict: Conflict | None) -> str | None:
    if conflict is None:
        return None
    if conflict.status == "ignored":
        return IGNORE
    if conflict.status == "resolved" and conflict.winner_system_id is not None:
        return str(conflict.winner_system_id)
    return None


def decide(strategy: Strategy, hist: dict[str, list[Entry]]) -> str | None:
    """A strategy's decision for a conflicted dataset: a winner, IGNORE, or None."""
    if strategy is Strategy.IGNORE:
        return IGNORE
    return choose_winner(strategy, hist)


def _apply(conflict: Conflict, decision: str, strategy: str, note: str | None = None) -> None:
    when = now()
    conflict.strategy = strategy
    conflict.note = note
    conflict.resolved_at = when
    if decision == IGNORE:
        conflict.status, conflict.winner_system_id = "ignored", None
    else:
        conflict.status, conflict.winner_system_id = "resolved", uuid.UUID(decision)


#: one check of a group at a time in this process: two systems fetching their instructions
#: at once would otherwise both insert the group's new states and conflicts. (Several
#: server processes on one database would need a database lock instead: the witness runs
#: one uvicorn worker.)
_group_locks: dict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)


async def check_group(session: AsyncSession, group: SyncGroup) -> CheckResult:
    """Compare the group's reports and store conflicts and sync states (one commit)."""
    async with _group_locks[group.id]:
        return await _check(session, group)


async def _check(session: AsyncSession, group: SyncGroup) -> CheckResult:
    inp = await load_input(session, group)
    by_dataset = histories(inp)
    active = {
        c.dataset: c
        for c in await session.scalars(
            select(Conflict).where(Conflict.group_id == group.id, Conflict.status.in_(ACTIVE))
        )
    }
    strategy = Strategy(group.strategy)
    plans: list[DatasetPlan] = []
    when = now()
    for dataset, hist in sorted(by_dataset.items()):
        conflict = active.get(dataset)
        plan = plan_dataset(dataset, hist, inp, _decision(conflict))
        if not plan.problems:
            if conflict is not None:  # the histories agree again
                conflict.status, conflict.updated_at = "cleared", when
                del active[dataset]
            plans.append(plan)
            continue
        if conflict is None:
            conflict = Conflict(
                id=uuid.uuid4(), group_id=group.id, dataset=dataset, status="open", detected_at=when
            )
            session.add(conflict)
            active[dataset] = conflict
        kind = plan.kind
        conflict.kind = kind.value if kind else ""
        conflict.problems = _problems(plan)
        conflict.updated_at = when
        if _decision(conflict) is None:
            decision = decide(strategy, hist)
            if decision is not None:
                _apply(conflict, decision, strategy.value)
                plan = plan_dataset(dataset, hist, inp, decision)
        plans.append(plan)
    for dataset, conflict in list(active.items()):
        if dataset not in by_dataset:  # nobody holds the dataset any more
            conflict.status, conflict.updated_at = "cleared", when
            del active[dataset]
    await _store_states(session, group, inp, plans, active)
    await session.commit()
    return CheckResult(group, plans, [active[d] for d in sorted(active)])


def _states(
    inp: GroupInput, plan: DatasetPlan, conflict: Conflict | None
) -> dict[str, tuple[str, Transfer | None]]:
    out: dict[str, tuple[str, Transfer | None]] = {}
    for t in plan.transfers:
        out[t.target] = ("out_of_sync", t)
    for s in plan.in_sync:
        out[s] = ("in_sync", None)
    for s in plan.no_pool:
        out[s] = ("no_pool", None)
    if plan.problems and not plan.transfers:
        status = "ignored" if conflict is not None and conflict.status == "ignored" else "conflict"
        for s in inp.members:
            out.setdefault(s, (status, None))
    return out


async def _store_states(
    session: AsyncSession,
    group: SyncGroup,
    inp: GroupInput,
    plans: Sequence[DatasetPlan],
    active: dict[str, Conflict],
) -> None:
    stored = {
        (str(s.system_id), s.dataset): s
        for s in await session.scalars(select(SyncState).where(SyncState.group_id == group.id))
    }
    when = now()
    for plan in plans:
        for system, (status, transfer) in _states(inp, plan, active.get(plan.dataset)).items():
            state = stored.get((system, plan.dataset))
            if state is None:
                state = SyncState(
                    group_id=group.id,
                    system_id=uuid.UUID(system),
                    dataset=plan.dataset,
                    status="",
                    force=False,
                )
                session.add(state)
            same_job = transfer is not None and (
                str(state.source_system_id),
                state.base,
                state.newest,
                state.force,
            ) == (transfer.source, transfer.base, transfer.newest, transfer.force)
            if status == "out_of_sync" and state.status == "syncing" and same_job:
                status = "syncing"  # handed out already, not done yet
            if status == "out_of_sync" and state.status == "error" and same_job:
                status = "error"  # its member failed at it: shown until it is fetched again
            if status == "in_sync" and state.status != "in_sync":
                state.last_sync = when
            if status == "in_sync":
                state.error = None  # what failed before is done now
            state.status = status
            state.source_system_id = uuid.UUID(transfer.source) if transfer else None
            state.base = transfer.base if transfer else None
            state.newest = transfer.newest if transfer else None
            state.force = transfer.force if transfer else False
            state.last_check = when


async def instructions(
    session: AsyncSession, system_id: uuid.UUID
) -> list[tuple[SyncGroup, Transfer]]:
    """The transfers the system is to receive, in every enabled group it is in (each group
    checked now); their sync states become `syncing`."""
    groups = await session.scalars(
        select(SyncGroup)
        .join(GroupMember)
        .where(GroupMember.system_id == system_id, SyncGroup.enabled.is_(True))
        .order_by(SyncGroup.name)
    )
    out = []
    me = str(system_id)
    for group in list(groups):
        result = await check_group(session, group)
        out += [(group, t) for p in result.plans for t in p.transfers if t.target == me]
    if out:
        states = await session.scalars(select(SyncState).where(SyncState.system_id == system_id))
        handed = {(g.id, t.dataset) for g, t in out}
        for state in states:
            if (state.group_id, state.dataset) in handed:
                state.status = "syncing"
        await session.commit()
    return out


async def resolve(
    session: AsyncSession,
    conflict: Conflict,
    strategy: Strategy | None,
    winner: uuid.UUID | None,
    note: str | None,
) -> Conflict:
    """An administrator's resolution: a named winner, or a strategy applied now."""
    if conflict.status == "cleared":
        raise Taken("the conflict is cleared: the histories agree")
    group = await session.get(SyncGroup, conflict.group_id)
    if group is None:
        raise Taken("the conflict's group is gone")
    hist = histories(await load_input(session, group)).get(conflict.dataset, {})
    if winner is not None:
        if str(winner) not in hist:
            raise Invalid(f"system {winner} holds no snapshot of {conflict.dataset!r}")
        _apply(conflict, str(winner), Strategy.MANUAL.value, note)
    elif strategy is None or strategy is Strategy.MANUAL:
        raise Invalid("name the winner (winner_system_id), or a strategy that decides")
    else:
        decision = decide(strategy, hist)
        if decision is None:
            raise Taken(f"{strategy.value} decides nothing here (a tie, or no majority)")
        _apply(conflict, decision, strategy.value, note)
    await session.commit()
    await check_group(session, group)
    return conflict
