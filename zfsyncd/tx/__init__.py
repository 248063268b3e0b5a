"""The transaction engine: state machine, steps with inverses, executor, recovery, locks.

Glossary: one name per idea.

- *undo*: the executor's reverse pass over the steps a transaction has done, when it fails,
  is cancelled or was cut off by a crash (`Executor.undo`, `UndoOutcome`, a step's `undo`).
  The stored and shown field `rollback_outcome` is the outcome of that undo (its name is
  older than this glossary and is part of the bus API and the database), as are
  `rollback_pending` (an undo waits in the cleanup queue) and `finish_rollback` (finish it).
- *rollback transaction*: a transaction of type "rollback" that undoes a COMPLETED one,
  linked to it by `rolls_back` (`Manager.Rollback`, `zfsyncctl transaction rollback`,
  `TransactionManager.rollback`, zfsyncd/tx/rollback.py).
- *zfs rollback*: the ZFS operation (`zfs rollback -r`), done by the "rollback-dataset"
  transaction type and its step of the same name (`ZfsBackend.rollback`).
- *finalize*: making a completed transaction's steps permanent (destroying what a step
  moved to the trash); after it, a step may no longer be taken back.
- *cleanup*: work deferred to the cleanup queue (a failed finalize, an unfinished undo;
  `CleanupKind`), tried again until it succeeds.
"""
