"""What one reading of the metrics costs as the stored history grows, on the model.

    .venv/bin/python -m bench.metrics_read [--datasets 10] [--syncs 100] [--copies 30]

Replicates `--datasets` sources to another host (the engine tests' two models), runs
`--syncs` syncs of all of them (each with its expiry), then times a reading of the figures
and its rendering (zfsyncd/metrics/): the first after a start (which sums every stored
step once) and the median of the later ones (which read the journal since). Then it copies
the stored transactions, their steps and their journal rows `--copies` times under new ids
and times both again: the later readings should stay flat while the first grows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tests.engine.replicas import KIB, Replicas, filesystem
from zfsyncd.metrics.families import exposition
from zfsyncd.metrics.figures import STEP_BUCKETS, read_figures
from zfsyncd.metrics.totals import StepTotals

_COPY = (
    """INSERT INTO transactions SELECT id || :tag, type, state, description, created_at,
    updated_at, finished_at, uid, priority, timeout, tags, metadata, error, error_kind,
    rollback_outcome, NULL, NULL, attempts, params FROM transactions WHERE id NOT LIKE '%+%'""",
    """INSERT INTO steps SELECT tx_id || :tag, idx, kind, args, description, state, started_at,
    finished_at, error, undo_data, undo_state, undo_error, bytes_total FROM steps
    WHERE tx_id NOT LIKE '%+%'""",
    """INSERT INTO journal (at, tx_id, step_idx, phase, event, outcome, detail)
    SELECT at, tx_id || :tag, step_idx, phase, event, outcome, detail FROM journal
    WHERE tx_id NOT LIKE '%+%'""",
)


async def _time_readings(r: Replicas, times: int = 5) -> tuple[float, float, int]:
    """(the first reading's seconds, the later ones' median, the text's bytes)."""
    totals = StepTotals(STEP_BUCKETS)
    seconds, size = [], 0
    for _ in range(times):
        started = time.perf_counter()
        size = len(exposition(await read_figures(r.manager, totals)))
        seconds.append(time.perf_counter() - started)
    return seconds[0], statistics.median(seconds[1:]), size


async def _report(r: Replicas, label: str) -> None:
    first, later, size = await _time_readings(r)
    stored = await r.manager.store.count()
    print(f"{label}: {stored} transactions stored; first reading {first:.3f} s, "
          f"later ones {later:.3f} s (median); {size} bytes")  # fmt: skip


async def main(datasets: int, syncs: int, copies: int) -> None:
    r = await Replicas.start(Path(tempfile.mkdtemp()) / "zfsyncd.db")
    try:
        sources = [f"src/d{n}" for n in range(datasets)]
        for source in sources:
            await filesystem(r.local, source)
            await r.done(
                "replica-init", {"source": source, "destination": f"backup:bak/{source[4:]}"}
            )
        for _ in range(syncs):
            for source in sources:
                r.local.write(source, 4 * KIB)
            await r.done("replica-sync", {"sources": sources})
        await _report(r, "as run")
        async with r.db.transaction() as conn:
            for n in range(copies):
                for statement in _COPY:
                    await conn.execute(statement, {"tag": f"+{n}"})
        await _report(r, f"copied {copies} times")
    finally:
        await r.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=10)
    parser.add_argument("--syncs", type=int, default=100)
    parser.add_argument("--copies", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.datasets, args.syncs, args.copies))
