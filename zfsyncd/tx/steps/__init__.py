"""The kinds of step a transaction is made of. Importing this package registers them all."""

from zfsyncd.tx.steps import (
    bookmarks,
    datasets,
    fill,
    held_destroy,
    holds,
    move_hold,
    properties,
    received,
    snapshots,
    transfer,
    transfers,
    trash,
    user_properties,
    zfs_rollback,
)
from zfsyncd.tx.steps.base import STEP_KINDS, OnHost, Step, StepArgs, StepContext, build_step

__all__ = [
    "STEP_KINDS",
    "OnHost",
    "Step",
    "StepArgs",
    "StepContext",
    "bookmarks",
    "build_step",
    "datasets",
    "fill",
    "held_destroy",
    "holds",
    "move_hold",
    "properties",
    "received",
    "snapshots",
    "transfer",
    "transfers",
    "trash",
    "user_properties",
    "zfs_rollback",
]
