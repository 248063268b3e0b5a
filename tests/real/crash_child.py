"""Runs one transaction against real ZFS and SIGKILLs itself right after step K finished
(its result journaled), as a daemon killed mid-transaction would die; with `call:N` instead
of K, right after its N-th changing zfs command (from 0) returned, inside a step.

    python -m tests.real.crash_child DB TYPE PARAMS_JSON K|call:N
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import zfsyncd.ops  # noqa: F401 - registers the snapshot kind
from tests.engine.scenario import CompoundKind
from tests.faults import MUTATING
from zfsyncd.store import Database, StepState
from zfsyncd.tx.hosts import local_hosts
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


class KillAfterCall:
    """A CliBackend that dies right after its `last`-th changing call returned: the command
    ran, the daemon never learned that it did."""

    def __init__(self, inner: CliBackend, last: int) -> None:
        self.inner, self.last, self.count = inner, last, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in MUTATING:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = await attr(*args, **kwargs)
            if self.count == self.last:
                os.kill(os.getpid(), signal.SIGKILL)
            self.count += 1
            return result

        return call


async def main(db_path: str, tx_type: str, params: str, when: str) -> None:
    db = await Database.open(Path(db_path))
    zfs: Any = CliBackend()
    step = -1
    if when.startswith("call:"):
        zfs = KillAfterCall(zfs, int(when.removeprefix("call:")))
    else:
        step = int(when)
    manager = TransactionManager(
        db,
        local_hosts(zfs),
        kinds={**TX_KINDS, "compound": CompoundKind()},
        sinks=lambda _tx: KillAfter(step),
    )
    record = await manager.submit(tx_type, json.loads(params))
    print(record.id, flush=True)
    await manager.wait(record.id)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]))
