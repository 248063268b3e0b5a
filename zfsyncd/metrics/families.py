"""The metric families of one reading (`Figures`), in Prometheus' text format.

A custom collector (`FiguresCollector`) over a reading made just before: nothing is kept
between scrapes but that reading. Names follow Prometheus' conventions: the `zfsync_`
prefix, base units in the name (`_seconds`, `_bytes`, `_timestamp_seconds` for Unix times),
`_total` on counters. Labels: a pair by its two ends as `replica status` names them
(`source`, `destination`: HOST:DATASET); a transaction by `type` and `state` (or
`outcome`, its final state); a step by `kind`.

A figure that does not exist is left out, not shown as 0 or -1 (a pair that shares no
snapshot yet has no lag in seconds; a side that could not be read has no snapshot count):
a 0 would read as "up to date" and a -1 break every `max`; `zfsync_replica_up` says
whether both sides were read.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric

from zfsyncd.metrics.figures import Figures
from zfsyncd.metrics.jobs import job_families
from zfsyncd.store import ACTIVE_STATES, TERMINAL_STATES, TxState
from zfsyncd.tx.hosts import LOCAL

PAIR = ["source", "destination"]


def pair_families(figures: Figures) -> list[Metric]:
    up = GaugeMetricFamily(
        "zfsync_replica_up", "1 when both sides of the pair were read, else 0.", labels=PAIR
    )
    last_sent = GaugeMetricFamily(
        "zfsync_replica_last_sent_timestamp_seconds",
        "When the newest snapshot both sides share (the last one sent) was taken.",
        labels=PAIR,
    )
    last_success = GaugeMetricFamily(
        "zfsync_replica_last_success_timestamp_seconds",
        "When the newest completed sync (or init) of the pair's source finished.",
        labels=PAIR,
    )
    lag_seconds = GaugeMetricFamily(
        "zfsync_replica_lag_seconds",
        "Age of the last sent snapshot when the source changed since, else 0.",
        labels=PAIR,
    )
    lag_bytes = GaugeMetricFamily(
        "zfsync_replica_lag_bytes",
        "Bytes written on the source (its -R children included) since the last sent snapshot.",
        labels=PAIR,
    )
    unsent = GaugeMetricFamily(
        "zfsync_replica_unsent_snapshots",
        "Source snapshots newer than the last sent one.",
        labels=PAIR,
    )
    snapshots = GaugeMetricFamily(
        "zfsync_replica_snapshots",
        "Snapshots each side of the pair holds (its root dataset).",
        labels=[*PAIR, "side"],
    )
    paused = GaugeMetricFamily("zfsync_replica_paused", "1 when the pair is paused.", labels=PAIR)
    partial = GaugeMetricFamily(
        "zfsync_replica_partial_receive",
        "1 when the destination holds a partial receive (a resume token).",
        labels=PAIR,
    )
    for pair in figures.pairs:
        s = pair.status
        labels = [s.source, s.destination]
        up.add_metric(labels, 0.0 if s.error else 1.0)
        if s.last_sent:
            last_sent.add_metric(labels, s.last_sent_created)
            lag_seconds.add_metric(labels, s.lag_seconds)
        if pair.last_success is not None:
            last_success.add_metric(labels, pair.last_success)
        lag_bytes.add_metric(labels, s.lag_bytes)
        unsent.add_metric(labels, s.unsent)
        for side, count in (
            ("source", pair.source_snapshots),
            ("destination", pair.destination_snapshots),
        ):
            if count is not None:
                snapshots.add_metric([*labels, side], count)
        paused.add_metric(labels, 1.0 if s.paused else 0.0)
        partial.add_metric(labels, 1.0 if s.resume_token else 0.0)
    read_ok = GaugeMetricFamily(
        "zfsync_replicas_read_ok", "1 when the local pools' replica pairs could be read, else 0."
    )
    read_ok.add_metric([], 0.0 if figures.replicas_error else 1.0)
    return [
        up, last_sent, last_success, lag_seconds, lag_bytes, unsent, snapshots, paused, partial,
        read_ok,
    ]  # fmt: skip


def engine_families(figures: Figures) -> list[Metric]:
    ended = CounterMetricFamily(
        "zfsync_transactions",
        "Transactions that ended, by type and outcome (COMPLETED, FAILED, CANCELLED), as stored.",
        labels=["type", "outcome"],
    )
    active = GaugeMetricFamily(
        "zfsync_transactions_active",
        "Transactions not ended yet, by type and state (CREATED, PREPARED, EXECUTING).",
        labels=["type", "state"],
    )
    queued = GaugeMetricFamily(
        "zfsync_queued_transactions", "Transactions waiting to run (CREATED or PREPARED)."
    )
    running = GaugeMetricFamily("zfsync_running_transactions", "Transactions executing now.")
    waiting = 0
    executing = 0
    for (type_, state), count in sorted(figures.transactions.items()):
        if state in TERMINAL_STATES:
            ended.add_metric([type_, state.value], count)
        elif state in ACTIVE_STATES:
            active.add_metric([type_, state.value], count)
            if state is TxState.EXECUTING:
                executing += count
            else:
                waiting += count
    queued.add_metric([], waiting)
    running.add_metric([], executing)
    durations = HistogramMetricFamily(
        "zfsync_step_duration_seconds",
        "How long completed steps took (their do), by step kind, as stored.",
        labels=["kind"],
    )
    for steps in figures.steps:
        buckets = [(_bound(b), float(n)) for b, n in steps.buckets]
        durations.add_metric(
            [steps.kind], [*buckets, ("+Inf", float(steps.count))], steps.total_seconds
        )
    sent = CounterMetricFamily(
        "zfsync_sent_bytes",
        "Bytes sent by completed transfer steps, by source dataset and target, as stored.",
        labels=PAIR,
    )
    for s in figures.sent:
        source, target = s.source_host or LOCAL, s.host or LOCAL
        sent.add_metric([f"{source}:{s.dataset}", f"{target}:{s.target}"], s.bytes)
    cleanups = GaugeMetricFamily(
        "zfsync_pending_cleanups",
        "Deferred cleanups not done yet (retried until they are), by kind.",
        labels=["kind"],
    )
    for kind, count in sorted(figures.pending_cleanups.items()):
        cleanups.add_metric([kind], count)
    read_at = GaugeMetricFamily(
        "zfsync_metrics_read_timestamp_seconds",
        "When these figures were read (scrapes within the configured age share one reading).",
    )
    read_at.add_metric([], figures.read_at)
    read_for = GaugeMetricFamily(
        "zfsync_metrics_read_duration_seconds", "How long reading these figures took."
    )
    read_for.add_metric([], figures.read_seconds)
    return [ended, active, queued, running, durations, sent, cleanups, read_at, read_for]


def _bound(seconds: float) -> str:
    """A bucket's `le` as prometheus_client's own histograms write it (0.5, 1.0, 60.0):
    Python's repr of a float, which its floatToGoString (untyped) gives below 1e16."""
    return repr(float(seconds))


class FiguresCollector:
    """A prometheus_client collector over one reading."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def describe(self) -> Iterable[Metric]:
        return ()  # nothing to check at registration: the names are fixed here

    def collect(self) -> Iterable[Metric]:
        yield from pair_families(self.figures)
        yield from engine_families(self.figures)
        yield from job_families(self.figures.jobs)


def exposition(figures: Figures) -> bytes:
    """The text format (version 0.0.4, what Prometheus and node-exporter read)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(figures))
    return generate_latest(registry)
