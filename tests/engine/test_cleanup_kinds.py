"""The kinds of deferred cleanup are declared once (CleanupKind), with the values the
cleanup queue stores; a kind the engine does not know is put off, never dropped."""

from __future__ import annotations

from tests.engine.conftest import Engine
from zfsyncd.store import TxState
from zfsyncd.tx.cleanup import CleanupKind


def test_the_stored_values_of_the_cleanup_kinds() -> None:
    assert {k.name: k.value for k in CleanupKind} == {
        "FINALIZE": "finalize",
        "FINISH_UNDO": "finish-rollback",
    }


async def test_a_queued_kind_reads_back_as_the_declared_one(engine: Engine) -> None:
    src = engine.world.src
    done = await engine.manager.wait(
        (await engine.manager.submit("snapshot", {"datasets": [src]})).id
    )
    assert done.state is TxState.COMPLETED
    item = await engine.manager.cleanups.add(
        CleanupKind.FINISH_UNDO, {"tx_id": done.id}, "test", tx_id=done.id
    )
    assert item.kind == CleanupKind.FINISH_UNDO
    assert CleanupKind(item.kind) is CleanupKind.FINISH_UNDO


async def test_an_unknown_cleanup_kind_is_put_off_with_the_reason(engine: Engine) -> None:
    done = await engine.manager.wait(
        (await engine.manager.submit("snapshot", {"datasets": [engine.world.src]})).id
    )
    item = await engine.manager.cleanups.add("frobnicate", {"tx_id": done.id}, "test")
    assert await engine.manager.run_cleanups(now=1e12) == 0
    [pending] = await engine.manager.cleanups.pending()
    assert (pending.id, pending.attempts) == (item.id, 1)
    assert pending.last_error == "unknown cleanup kind 'frobnicate'"
