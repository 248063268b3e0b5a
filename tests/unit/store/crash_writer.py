"""Run by test_store_crash.py in a child process that the test kills with SIGKILL.

crash_writer.py DB journal   -> create a transaction, then journal rows forever, printing
                                each seq once its commit has returned
crash_writer.py DB open-tx   -> inside one transaction, write a transaction, steps and
                                journal rows, print "inside", and wait to be killed
"""

from __future__ import annotations

import asyncio
import sys

from zfsyncd.store import Database, JournalEvent, JournalPhase, StepSpec, TransactionStore


async def journal_forever(path: str) -> None:
    async with Database.open(path) as db:
        store = TransactionStore(db)
        tx = await store.create_transaction("snapshot", steps=[StepSpec("a")])
        print(f"tx {tx.id}", flush=True)
        while True:
            entry = await store.journal(tx.id, 0, JournalPhase.DO, JournalEvent.INTENT)
            print(f"seq {entry.seq}", flush=True)


async def die_inside_a_transaction(path: str) -> None:
    async with Database.open(path) as db:
        store = TransactionStore(db)
        async with db.transaction():
            tx = await store.create_transaction("snapshot", steps=[StepSpec("a")] * 3)
            for _ in range(10):
                await store.journal(tx.id, 0, JournalPhase.DO, JournalEvent.INTENT)
            print("inside", flush=True)
            await asyncio.Event().wait()


if __name__ == "__main__":
    modes = {"journal": journal_forever, "open-tx": die_inside_a_transaction}
    asyncio.run(modes[sys.argv[2]](sys.argv[1]))
