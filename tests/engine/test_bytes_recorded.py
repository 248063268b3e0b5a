"""A completed transaction keeps the bytes its transfers moved: a replica sync's transfer
step is planned without an estimate (each stream is estimated as it starts), and what it
moved is stored with the step when it completes, so that the transaction's record, the
bus's reply (GetTransaction, ListTransactions, the BytesDone property once it ended) and
`zfsyncctl transaction show [--json]` say what was sent, not 0. On the model, whose
send|recv reports bytes as a real one does."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from dbus_fast import Variant
from rich.console import Console

from tests.engine.conftest import FAST
from tests.engine.replicas import KIB, MODEL_ONLY, Replicas, filesystem
from zfsyncctl.models import TransactionDetail
from zfsyncctl.render import as_json, render_transaction
from zfsyncd.bus import payloads
from zfsyncd.store import StepState, TransactionRecord, TxState
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.progress import ProgressTracker

pytestmark = MODEL_ONLY


def _plain(value: Any) -> Any:
    """An a{sv} as the client reads it (dbus-fast's variants unwrapped)."""
    if isinstance(value, Variant):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


async def _synced(tmp_path: Path) -> tuple[TransactionRecord, int]:
    """A sync that sent 512 KiB written since init, and the bytes its progress reported
    last (what the live reading ends with)."""
    r = await Replicas.start(tmp_path / "zfsyncd.db")
    trackers: dict[str, ProgressTracker] = {}

    def sink(record: TransactionRecord) -> ProgressTracker:
        return trackers.setdefault(
            record.id, ProgressTracker([s.bytes_total for s in record.steps])
        )

    try:
        hosts = {name: Host(name, f) for name, f in r.faults.items()}  # type: ignore[arg-type]
        manager = TransactionManager(r.db, hosts, do_retry=FAST, undo_retry=FAST, sinks=sink)
    except BaseException:
        await r.close()
        raise
    try:
        await filesystem(r.local, "src/a")
        await r.done("replica-init", {"source": "src/a", "destination": "dst/a"})
        r.local.write("src/a", 512 * KIB)
        started = await manager.submit("replica-sync", {"sources": ["src/a"]})
        done = await manager.wait(started.id)
        assert done.state is TxState.COMPLETED, done.error
        return done, trackers[done.id].reading().bytes_done
    finally:
        await manager.shutdown()
        await r.close()


async def test_a_completed_sync_keeps_the_bytes_it_sent(tmp_path: Path) -> None:
    done, live = await _synced(tmp_path)
    assert live >= 512 * KIB
    moved = [s.bytes_total for s in done.steps if s.kind == "send-receive-many"]
    assert moved == [live]
    assert all(s.state is StepState.COMPLETED for s in done.steps)
    # the bus: what a transaction no tracker follows any more replies with
    detail = _plain(payloads.details(done))
    listed = _plain(payloads.summary(done))
    assert (detail["bytes_done"], detail["bytes_total"], detail["percent"]) == (live, live, 100.0)
    assert (listed["bytes_done"], listed["bytes_total"]) == (live, live)
    # zfsyncctl: transaction show --json, and for a person
    tx = TransactionDetail.model_validate(detail)
    assert as_json(tx)["bytes_done"] == live
    buf = io.StringIO()
    render_transaction(Console(file=buf, width=160, color_system=None), tx)
    assert "100.0% (" in buf.getvalue()
    assert "0 B of" not in buf.getvalue()
