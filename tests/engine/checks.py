"""Checks the engine tests share."""

from __future__ import annotations

from tests.engine.conftest import Engine
from zfsyncd.store import JournalEvent, JournalPhase, StepState


async def check_journal(engine: Engine, tx_id: str, where: str = "") -> None:
    """Every step that ran has an intent before its result; undos run in reverse order of
    the steps that began (the one a crash or failure stopped included), each journaled."""
    record = await engine.manager.get(tx_id)
    journal = await engine.manager.store.journal_for(tx_id)
    for step in record.steps:
        rows = [j for j in journal if j.step_idx == step.idx and j.phase is JournalPhase.DO]
        if step.state is StepState.PENDING:
            assert rows == [], where
            continue
        assert rows[0].event is JournalEvent.INTENT, where
        if step.state is not StepState.RUNNING:
            assert rows[-1].event is JournalEvent.RESULT, where
    began = [j.step_idx for j in journal if j.phase is JournalPhase.DO
             and j.event is JournalEvent.INTENT]  # fmt: skip
    undone = [j.step_idx for j in journal if j.phase is JournalPhase.UNDO
              and j.event is JournalEvent.INTENT]  # fmt: skip
    assert undone == list(reversed(began))[: len(undone)], where
