"""The progress reading: equal shares per step, bytes for a transfer, a smoothed rate; per
running stream its bytes, estimate, rate and ETA."""

from __future__ import annotations

import pytest

from zfsyncd.store import StepState
from zfsyncd.tx.progress import ProgressTracker, eta, smoothed
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


# ------------------------------------------------------------------ per stream


@pytest.mark.parametrize(
    ("rate", "instant", "expected"),
    [
        (0.0, 100.0, 100.0),  # the first measure, as it is
        (100.0, 200.0, 130.0),  # then 0.3 of the difference
        (100.0, 0.0, 70.0),  # a stall slows it gradually
        (100.0, 100.0, 100.0),
    ],
)
def test_smoothed(rate: float, instant: float, expected: float) -> None:
    assert smoothed(rate, instant, 0.3) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("done", "total", "rate", "expected"),
    [
        (0, 1000, 100.0, 10.0),
        (500, 1000, 250.0, 2.0),
        (0, 1000, 0.0, -1.0),  # no rate yet
        (0, 0, 100.0, -1.0),  # no estimate
        (1200, 1000, 100.0, -1.0),  # past a short estimate: no guess
        (1000, 1000, 100.0, -1.0),
    ],
)
def test_eta(done: int, total: int, rate: float, expected: float) -> None:
    assert eta(done, total, rate) == expected


Event = tuple[object, ...]


def _run(events: list[Event], max_streams: int = 16) -> ProgressTracker:
    """Feed the tracker: ("at", t) moves the clock; ("s", name, done, total) a stream's
    report (total None: no estimate yet); ("end", name); ("step", idx) a step starts;
    ("done", idx) it finishes."""
    now = [0.0]
    tracker = ProgressTracker([None, 3000], clock=lambda: now[0], max_streams=max_streams)
    for event in events:
        match event:
            case ("at", float() as t):
                now[0] = t
            case ("s", str() as name, int() as done, total):
                assert total is None or isinstance(total, int)
                tracker.stream(name, TransferProgress(bytes_done=done, bytes_total=total))
            case ("end", str() as name):
                tracker.stream_ended(name)
            case ("step", int() as idx):
                tracker.step_started(idx, "send")
            case ("done", int() as idx):
                tracker.step_finished(idx, StepState.COMPLETED)
            case _:
                raise AssertionError(event)
    return tracker


Row = tuple[str, int, int, float, float]

STREAM_CASES: list[tuple[str, list[Event], list[Row]]] = [
    ("none: a transaction without streams", [("step", 1)], []),
    (
        "started, no estimate yet: no rate, no ETA",
        [("step", 1), ("s", "tank/a", 0, None)],
        [("tank/a", 0, 0, 0.0, -1.0)],
    ),
    (
        "bytes, estimate, rate and ETA of each, in the order they started",
        [
            ("step", 1),
            ("s", "tank/b", 0, None),
            ("s", "tank/a", 0, 2000),
            ("at", 1.0),
            ("s", "tank/a", 1000, 2000),
            ("s", "tank/b", 100, 1000),
        ],
        [("tank/b", 100, 1000, 100.0, 9.0), ("tank/a", 1000, 2000, 1000.0, 1.0)],
    ),
    (
        "an ended stream is no longer listed; the others go on",
        [("step", 1), ("s", "tank/a", 0, 10), ("s", "tank/b", 0, 10), ("end", "tank/a")],
        [("tank/b", 0, 10, 0.0, -1.0)],
    ),
    (
        "the end of the step ends every stream (one that never said so too)",
        [("step", 1), ("s", "tank/a", 0, 10), ("done", 1)],
        [],
    ),
    (
        "a stream sent again from 0 (resumed, then rebased): no negative rate",
        [
            ("step", 1),
            ("s", "tank/a", 0, 1000),
            ("at", 1.0),
            ("s", "tank/a", 500, 1000),
            ("at", 2.0),
            ("s", "tank/a", 100, 400),
        ],
        [("tank/a", 100, 400, 500.0, 0.6)],
    ),
    (
        "more bytes than estimated: the estimate grows to what moved",
        [("step", 1), ("s", "tank/a", 1500, 1000)],
        [("tank/a", 1500, 1500, 0.0, -1.0)],
    ),
]


@pytest.mark.parametrize(("events", "expected"), [c[1:] for c in STREAM_CASES],
                         ids=[c[0] for c in STREAM_CASES])  # fmt: skip
def test_streams(events: list[Event], expected: list[Row]) -> None:
    got = [(s.name, s.bytes_done, s.bytes_total, s.rate, s.eta) for s in _run(events).streams()]
    assert got == [(n, d, t, pytest.approx(r), pytest.approx(e)) for n, d, t, r, e in expected]


def test_the_list_is_bounded_to_the_first_started() -> None:
    tracker = _run([("step", 1), *[("s", f"tank/{i}", 0, None) for i in range(5)]], max_streams=2)
    assert [s.name for s in tracker.streams()] == ["tank/0", "tank/1"]
    tracker.stream_ended("tank/0")
    assert [s.name for s in tracker.streams()] == ["tank/1", "tank/2"]
    assert len(ProgressTracker([]).streams()) == 0


def test_the_total_still_comes_from_the_step() -> None:
    """Per-stream reports do not move the total: the step reports that itself."""
    tracker = _run([("step", 1), ("s", "tank/a", 500, 1000)])
    assert tracker.reading().bytes_done == 0
    tracker.transfer(TransferProgress(bytes_done=500, bytes_total=1000))
    assert tracker.reading().bytes_done == 500


#: (the send step's plan estimate, what it reported: (done, total)) -> (percent, bytes_total,
#: eta) with the first of two steps done and a rate of 100 B/s
TOTAL_CASES: list[tuple[int | None, list[tuple[int, int | None]], tuple[float, int, float]]] = [
    # several streams, not all started: bytes move, the size is unknown (not done/done)
    (None, [(0, None), (100, None)], (50.0, 0, -1.0)),
    # every stream started: the step's own total serves as its estimate
    (None, [(0, None), (100, 1000)], (55.0, 1000, 9.0)),
    (None, [(0, 1000), (100, None)], (55.0, 1000, 9.0)),  # once known, kept
    # planned with an estimate (a single send): the plan's
    (2000, [(0, None), (100, 1000)], (52.5, 2000, 19.0)),
    # nothing moved yet, size unknown: the steps' estimates (none): 0
    (None, [(0, None)], (50.0, 0, -1.0)),
]


@pytest.mark.parametrize(("planned", "reports", "expected"), TOTAL_CASES)
def test_the_total_of_a_step_planned_without_an_estimate(
    planned: int | None, reports: list[tuple[int, int | None]], expected: tuple[float, int, float]
) -> None:
    now = [0.0]
    tracker = ProgressTracker([None, planned], clock=lambda: now[0])
    tracker.step_started(0, "snapshot")
    tracker.step_finished(0, StepState.COMPLETED)
    tracker.step_started(1, "send")
    for t, (done, total) in enumerate(reports):
        now[0] = float(t)
        tracker.transfer(TransferProgress(bytes_done=done, bytes_total=total))
    r = tracker.reading()
    assert (r.percent, r.bytes_total, r.eta) == (pytest.approx(expected[0]), *expected[1:])
    tracker.step_finished(1, StepState.COMPLETED)
    assert tracker.reading().bytes_total == max(reports[-1][0], planned or 0)
