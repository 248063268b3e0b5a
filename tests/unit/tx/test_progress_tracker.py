"""The progress reading: equal shares per step, bytes for a transfer, a smoothed rate."""

from __future__ import annotations

from zfsyncd.store import StepState
from zfsyncd.tx.progress import ProgressTracker
from zfsyncd.zfs.models import TransferProgress


def test_percent_bytes_rate_and_eta() -> None:
    now = [0.0]
    tracker = ProgressTracker([None, 1000, None], clock=lambda: now[0])
    assert tracker.reading().percent == 0.0
    assert tracker.reading().eta == -1.0
    tracker.step_started(0, "snapshot")
    tracker.step_finished(0, StepState.COMPLETED)
    assert round(tracker.reading().percent, 3) == 33.333
    tracker.step_started(1, "send")
    assert tracker.reading().current_step == 1
    tracker.transfer(TransferProgress(bytes_done=0, bytes_total=1000))
    now[0] = 1.0
    tracker.transfer(TransferProgress(bytes_done=500, bytes_total=1000))
    reading = tracker.reading()
    assert reading.percent == 50.0  # one step done, half of the second
    assert (reading.bytes_done, reading.bytes_total) == (500, 1000)
    assert reading.rate == 500.0
    assert reading.eta == 1.0
    tracker.step_finished(1, StepState.COMPLETED)
    tracker.step_started(2, "hold")
    tracker.step_finished(2, StepState.COMPLETED)
    final = tracker.reading()
    assert final.percent == 100.0
    assert final.bytes_done == 1000
    assert final.current_step == -1


def test_a_failed_step_does_not_count_as_done() -> None:
    tracker = ProgressTracker([None, None])
    tracker.step_started(0, "a")
    tracker.step_finished(0, StepState.FAILED)
    assert tracker.reading().percent == 0.0
