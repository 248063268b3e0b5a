"""`[jobs.NAME]` of /etc/zfsync/zfsyncd.toml: what a job snapshots, when, what it keeps, where
it replicates to, and the commands around its snapshot.

    [jobs.home]
    datasets = ["tank/home"]
    recursive = true                    # the datasets below them too
    exclude = ["tank/home/tmp", "*/cache"]   # fnmatch patterns on full dataset names
    schedule = "hourly"                 # or "every 15m", "Mon..Fri 02:30" (jobs/calendar.py)
    jitter = "1m"                       # starts spread over up to this after each slot
    timeout = "6h"                      # a run still going after this is stopped
    retention = { grid = "1x1h(keep=all) | 24x1h | 14x1d", keep = "^manual-" }  # retention/
    pre_hooks = [{ argv = ["/usr/local/sbin/db-freeze"], timeout = "30s" }]
    post_hooks = [{ argv = ["/usr/local/sbin/db-thaw"] }]

    [jobs.home.targets.offsite]         # a replication target of the job
    host = "backup"                     # a [hosts.NAME], or "local"
    destination = "backup/home"         # one dataset: it; several: DESTINATION/<last part>
    retention = { grid = "24x1h | 14x1d" }   # what the destination keeps, pruned on its host

Every check here is on the configuration alone (no ZFS, no daemon): `zfsyncctl config
check FILE` runs them. One line per problem (zfsyncd/invalid.py).
"""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from zfsyncd.jobs import calendar
from zfsyncd.jobs.calendar import Schedule, ScheduleError
from zfsyncd.retention import RetentionPolicy
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.zfs import names

#: a job's name: `[jobs.NAME]`, `zfsyncctl job show NAME`, a metrics label
JOB_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
MAX_HOOKS = 16
#: the reference time a schedule's shortest gap is measured from (for the jitter's bound)
_REFERENCE = datetime(2027, 1, 4, tzinfo=UTC).timestamp()


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return calendar.parse_duration(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
    return value


#: seconds, written as a number or as `90s`, `15m`, `1h30m`, `2d`
Duration = Annotated[float, BeforeValidator(_duration)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HookConfig(_Table):
    """A command run before (pre) or after (post) the job's snapshot: an argv list, never a
    shell line. It gets ZFSYNC_JOB and ZFSYNC_HOOK (pre or post) in its environment."""

    argv: list[str] = Field(min_length=1)
    timeout: Duration = Field(default=60.0, gt=0, le=86400)

    @field_validator("argv")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("the program (argv[0]) is empty")
        if any("\0" in arg for arg in value):
            raise ValueError("an argument holds a NUL character")
        return value


class TargetConfig(_Table):
    host: str = LOCAL
    destination: str
    #: what the destination keeps: after each run, a prune on the target's host
    #: (ops/prune.py's PruneRequest.host)
    retention: RetentionPolicy | None = None

    @field_validator("destination")
    @classmethod
    def _dataset(cls, value: str) -> str:
        names.check_dataset(value)
        return value


class JobConfig(_Table):
    datasets: list[str] = Field(min_length=1, max_length=1000)
    recursive: bool = False
    exclude: list[str] = Field(default_factory=list, max_length=1000)
    schedule: str
    jitter: Duration = Field(default=60.0, ge=0, le=86400)
    timeout: Duration = Field(default=6 * 3600.0, gt=0, le=7 * 86400)
    retention: RetentionPolicy | None = None
    targets: dict[str, TargetConfig] = Field(default_factory=dict, max_length=1)
    pre_hooks: list[HookConfig] = Field(default_factory=list, max_length=MAX_HOOKS)
    post_hooks: list[HookConfig] = Field(default_factory=list, max_length=MAX_HOOKS)

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: list[str]) -> list[str]:
        for dataset in value:
            names.check_dataset(dataset)
        if len(set(value)) != len(value):
            raise ValueError("a dataset is named twice")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            parsed = calendar.parse(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        if parsed.next_after(_REFERENCE) is None:
            raise ValueError(f"{value!r} never comes again")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> JobConfig:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))  # each its own line in `config check`
        return self

    def _problems(self) -> list[str]:
        found = []
        if self.exclude and not self.recursive:
            found.append("exclude: only a recursive job has datasets to exclude")
        if self.exclude and self.targets:
            # a replica is one `zfs send -R` of the whole tree: it cannot leave a child out
            found.append("exclude: a job with replication targets cannot exclude datasets")
        nested = [d for d in self.datasets if any(d.startswith(f"{o}/") for o in self.datasets)]
        if nested and self.recursive:
            found.append(f"datasets: {nested[0]} is below another dataset of the job")
        first = self.parsed_schedule().next_after(_REFERENCE)
        second = self.parsed_schedule().next_after(first) if first is not None else None
        if first is not None and second is not None and self.jitter >= second - first:
            gap = second - first
            found.append(f"jitter: {self.jitter:g} s is not shorter than the schedule's {gap:g} s")
        for label, target in self.targets.items():
            try:
                self.destinations(target)
            except ValueError as exc:
                found.append(f"targets.{label}: {exc}")
        return found

    def parsed_schedule(self) -> Schedule:
        return calendar.parse(self.schedule)

    def excluded(self, dataset: str) -> bool:
        return any(fnmatch.fnmatchcase(dataset, pattern) for pattern in self.exclude)

    def destinations(self, target: TargetConfig) -> dict[str, str]:
        """Each dataset of the job -> its replica on the target: the destination itself for
        a job of one dataset, else DESTINATION/<the dataset's last name>."""
        if len(self.datasets) == 1:
            return {self.datasets[0]: target.destination}
        out: dict[str, str] = {}
        for dataset in self.datasets:
            dst = f"{target.destination}/{dataset.rsplit('/', 1)[-1]}"
            if dst in out.values():
                raise ValueError(f"two datasets would be replicated to {dst}")
            names.check_dataset(dst)
            out[dataset] = dst
        return out


def job_name(value: str) -> str:
    if not JOB_NAME.match(value):
        raise ValueError(
            f"{value!r}: a job's name is 1-64 letters, digits, '_', '.' or '-', starting with "
            "a letter or digit"
        )
    return value


#: a `[jobs.NAME]` key
JobName = Annotated[str, AfterValidator(job_name)]


def unknown_hosts(jobs: dict[str, JobConfig], hosts: set[str]) -> list[str]:
    """What only the whole configuration can tell: each target on a host it does not name."""
    return [
        f"jobs.{name}.targets.{label}.host: {target.host!r} is not a [hosts.NAME]"
        for name, job in jobs.items()
        for label, target in job.targets.items()
        if target.host != LOCAL and target.host not in hosts
    ]
