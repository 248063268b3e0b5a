"""Rolling one dataset of a pair back to one of its snapshots, for `sync SRC@SNAP` (the
destination) and `takeover --snapshot` (the new source): the reversible swap step
(tx/steps/zfs_rollback.py RollbackDataset) with the pair's base hold moved first.

The base hold (`zfsync_replica`) sits on the newest snapshot both sides shared, which is
newer than the target here, and `zfs rollback -r` (so the swap, which refuses what the
rollback could not do) cannot pass a held snapshot. So the hold moves to the target before
the swap: hold the target, release the newer ones, roll back; undone in reverse, each step
by its own inverse. The target then is the newest snapshot the pair may share, as the hold
says.

The swap's refusals (rollback_refusal.refusal_of: children, clones, encryption, ...) are
asked at plan time over the pool as it will be when the swap runs, that is, without the
base holds the earlier steps release; the step asks again, over the real pool, when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from zfsyncd.ops.replication.inventory import DatasetState, Point
from zfsyncd.ops.replication.marks import move_base
from zfsyncd.ops.replication.props import BASE_HOLD
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.steps import Step
from zfsyncd.tx.steps.zfs_rollback import RollbackArgs, RollbackDataset
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts, refusal_of
from zfsyncd.zfs.models import ZfsObject


def without_base_holds(facts: RollbackFacts, released: Mapping[str, int]) -> RollbackFacts:
    """`facts` as they will be once the base hold is released from `released` (snapshot ->
    how many holds it has besides the base hold)."""
    listing: dict[str, ZfsObject] = dict(facts.listing)
    for name, others in released.items():
        found = listing.get(name)
        if found is not None:
            listing[name] = found.model_copy(update={"userrefs": others})
    return replace(facts, listing=listing)


def rewind_steps(
    host: str, state: DatasetState, target: Point, facts: RollbackFacts, tx_id: str
) -> list[Step[Any]]:
    """The steps that roll `state`'s dataset (on `host`) back to `target`, moving the base
    hold onto it; PlanError when the swap is refused. No steps when `target` is the newest
    snapshot and nothing was written after it (there is nothing to roll back)."""
    newer = [p for p in state.snapshots if p.createtxg > target.createtxg]
    if not newer and not state.written:
        return []
    based = [p for p in newer if BASE_HOLD in p.holds]
    released = {p.name: len(p.holds) - 1 for p in based}
    problem = refusal_of(target.name, without_base_holds(facts, released), tx_id)
    if problem is not None:
        raise PlanError(problem)
    steps = move_base(host, newer, target) if based else []
    # the step acts only on the dataset seen now, not on one made under its name later
    steps.append(RollbackDataset(RollbackArgs(host=host, snapshot=target.name, guid=state.guid)))
    return steps
