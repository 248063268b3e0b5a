"""The hook for the scheduler's job metrics: `job_families(states)`.

The scheduler (branch `jobs`: zfsyncd/jobs/, its states in zfsyncd/store/jobs.py) keeps a
state per job (last run, last success, last error, failures in a row) and per replication
target. These protocols say what the metrics read of them, so its `JobState` fits as it
is; at the merge the daemon passes `JobStateStore(db).all` as `read_figures`' `jobs`
(zfsyncd/metrics/service.py's `MetricsService(jobs=...)`), and nothing here changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric


class TargetStateLike(Protocol):
    """A job's replication target (store/jobs.py's TargetState)."""

    @property
    def last_success_at(self) -> float | None: ...
    @property
    def last_error_at(self) -> float | None: ...
    @property
    def failures(self) -> int: ...


class JobStateLike(TargetStateLike, Protocol):
    """A job as the scheduler keeps it (store/jobs.py's JobState): its last success,
    last error and failures in a row as a target's, and more."""

    @property
    def name(self) -> str: ...
    @property
    def paused(self) -> bool: ...
    @property
    def next_run_at(self) -> float | None: ...
    @property
    def last_run_at(self) -> float | None: ...
    @property
    def targets(self) -> Mapping[str, TargetStateLike]: ...


def job_families(states: Iterable[JobStateLike]) -> list[Metric]:
    """The job metrics: per job its times (Unix seconds; a time that never was is left
    out, not shown as 0, so `time() - x` alerts do not fire on a job that never ran),
    failures in a row, paused; per job and target its last success and failures."""
    job = ["job"]
    last_run = GaugeMetricFamily(
        "zfsync_job_last_run_timestamp_seconds", "When the job's last run started.", labels=job
    )
    last_success = GaugeMetricFamily(
        "zfsync_job_last_success_timestamp_seconds",
        "When the job's last successful run ended.",
        labels=job,
    )
    last_error = GaugeMetricFamily(
        "zfsync_job_last_error_timestamp_seconds", "When the job last failed.", labels=job
    )
    next_run = GaugeMetricFamily(
        "zfsync_job_next_run_timestamp_seconds", "When the job runs next.", labels=job
    )
    failures = GaugeMetricFamily(
        "zfsync_job_failures",
        "Runs of the job in a row that failed (0 after a success).",
        labels=job,
    )
    paused = GaugeMetricFamily("zfsync_job_paused", "1 when the job is paused.", labels=job)
    target = ["job", "target"]
    target_success = GaugeMetricFamily(
        "zfsync_job_target_last_success_timestamp_seconds",
        "When the job last replicated to the target.",
        labels=target,
    )
    target_failures = GaugeMetricFamily(
        "zfsync_job_target_failures",
        "Attempts in a row to replicate to the target that failed.",
        labels=target,
    )
    for state in states:
        name = [state.name]
        for family, value in (
            (last_run, state.last_run_at),
            (last_success, state.last_success_at),
            (last_error, state.last_error_at),
            (next_run, state.next_run_at),
        ):
            if value is not None:
                family.add_metric(name, value)
        failures.add_metric(name, state.failures)
        paused.add_metric(name, 1.0 if state.paused else 0.0)
        for label, t in sorted(state.targets.items()):
            if t.last_success_at is not None:
                target_success.add_metric([state.name, label], t.last_success_at)
            target_failures.add_metric([state.name, label], t.failures)
    return [
        last_run, last_success, last_error, next_run, failures, paused, target_success,
        target_failures,
    ]  # fmt: skip
