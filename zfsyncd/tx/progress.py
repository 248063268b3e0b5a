"""Where a running transaction reports what it is doing.

The engine calls these; the default does nothing. The bus layer (issue 4) subclasses it to
keep properties current and emit throttled D-Bus signals; tests subclass it to record.
"""

from __future__ import annotations

from zfsyncd.store.records import StepState
from zfsyncd.zfs.models import TransferProgress


class ProgressSink:
    def step_started(self, idx: int, description: str) -> None:
        """A step's `do` begins."""

    def step_finished(self, idx: int, state: StepState) -> None:
        """A step's `do` ended (COMPLETED or FAILED)."""

    def transfer(self, progress: TransferProgress) -> None:
        """Bytes moved by the running transfer step."""

    def message(self, text: str) -> None:
        """Something a person watching should read (a retry, an undo)."""
