"""Runs one transaction against real ZFS and SIGKILLs itself right after step K finished
(its result journaled), as a daemon killed mid-transaction would die.

    python -m tests.real.crash_child DB TYPE PARAMS_JSON K
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the snapshot kind
from tests.engine.scenario import CompoundKind
from zfsyncd.store import Database, StepState
from zfsyncd.tx.kinds import TX_KINDS
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.zfs.cli import CliBackend


class KillAfter(ProgressSink):
    def __init__(self, step: int) -> None:
        self.step = step

    def step_finished(self, idx: int, state: StepState) -> None:
        if idx == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


async def main(db_path: str, tx_type: str, params: str, step: int) -> None:
    db = await Database.open(Path(db_path))
    manager = TransactionManager(
        db,
        {"local": CliBackend()},
        kinds={**TX_KINDS, "compound": CompoundKind()},
        sinks=lambda _tx: KillAfter(step),
    )
    record = await manager.submit(tx_type, json.loads(params))
    print(record.id, flush=True)
    await manager.wait(record.id)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
