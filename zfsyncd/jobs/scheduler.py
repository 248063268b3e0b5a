"""The scheduler: starts each job's runs when they are due, one at a time per job, at most
`parallel` at once, and keeps each job's state in the store.

    scheduler = Scheduler(JobStateStore(db), JobRun(manager, clock.now), clock, parallel=2)
    await scheduler.configure(config.jobs)    # at start, and again at each reload
    task = asyncio.create_task(scheduler.serve())
    ...
    await scheduler.stop()

What is due is decided by jobs/due.py (catch-up as one run, the per-job offset, the
backoff of a failed target); what a run does, by jobs/run.py. The rules here:
- a job never runs twice at once: a due slot while it runs waits for the run to end (and
  is then one run, by the catch-up rule); `job run` of a running job is refused;
- a failing run fails alone; a run still going after the job's `timeout` is stopped (its
  transaction cancelled, so undone) and recorded as failed: a hanging job holds one of the
  `parallel` places for at most its timeout, never the scheduler;
- `covered` is stored BEFORE the run starts: a daemon that dies mid-run does not run the
  same slot again at its next start (the engine's recovery ends the transaction);
- a reload (`configure`) takes effect for the next runs; a running run goes on with the
  configuration it started with.
The clock is injected (`Clock`): tests drive weeks of schedules with `tick()` and a clock
they move, in milliseconds (tests/engine/test_jobs_weeks.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import tzinfo
from typing import Protocol

from zfsyncd.api.records import JobRow, JobTargetRow
from zfsyncd.jobs.config import JobConfig
from zfsyncd.jobs.due import decide, jitter_offset
from zfsyncd.jobs.run import JobRun
from zfsyncd.store.jobs import JobState, JobStateStore, TargetState
from zfsyncd.tx.errors import MissingObjectError

log = logging.getLogger(__name__)

#: the longest the scheduler sleeps: a clock stepped forward (or a suspend) is noticed
#: within this, even when no job is due before it
MAX_SLEEP = 300.0


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class JobNotFoundError(MissingObjectError):
    """No job of that name is configured (NotFound on the bus)."""


class JobBusyError(RuntimeError):
    """The job is running: a second run of it at once is refused (Busy on the bus)."""


class Scheduler:
    def __init__(
        self,
        store: JobStateStore,
        runner: JobRun,
        clock: Clock,
        *,
        parallel: int = 2,
        tz: tzinfo | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock
        #: the zone calendar expressions are read in (None: the host's local time)
        self.tz = tz
        self.jobs: dict[str, JobConfig] = {}
        self._states: dict[str, JobState] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(parallel)
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ configuration

    async def configure(self, jobs: Mapping[str, JobConfig]) -> None:
        """The jobs from now on (at start, and at each reload)."""
        self._states = {s.name: s for s in await self.store.all()}
        self.jobs = dict(jobs)
        self._wake.set()

    # ------------------------------------------------------------------ deciding

    async def tick(self) -> list[str]:
        """Start every run that is due now; the names of the jobs started."""
        now = self.clock.now()
        started = []
        for name, job in sorted(self.jobs.items()):
            if name in self._running:
                continue
            state = self._states.get(name) or JobState(name)
            if state.paused:
                if state.next_run_at is not None:
                    await self._put(replace(state, next_run_at=None))
                continue
            offset = jitter_offset(name, job.jitter)
            due = decide(job.parsed_schedule(), state.covered, now, offset=offset, tz=self.tz)
            planned = replace(state, covered=due.covered, next_run_at=due.next_at)
            retry = {
                label
                for label, target in state.targets.items()
                if label in job.targets and target.retry_at is not None and target.retry_at <= now
            }
            if due.run or retry:
                await self._put(planned)
                self._start(name, job, planned, None if due.run else retry)
                started.append(name)
            elif planned != state:
                await self._put(planned)
        return started

    def next_wakeup(self) -> float | None:
        """When the next run (or retry) of a job that is not running is due."""
        times = []
        for name in self.jobs:
            state = self._states.get(name)
            if name in self._running or state is None or state.paused:
                continue
            if state.next_run_at is not None:
                times.append(state.next_run_at)
            times.extend(
                t.retry_at
                for label, t in state.targets.items()
                if t.retry_at is not None and label in self.jobs[name].targets
            )
        return min(times, default=None)

    async def serve(self) -> None:
        """For as long as the daemon runs: tick, sleep until the next wakeup (or a change:
        a reload, a run ending, a resume), tick again."""
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("the scheduler could not decide; trying again later")
            wake = self.next_wakeup()
            delay = MAX_SLEEP if wake is None else min(max(wake - self.clock.now(), 0), MAX_SLEEP)
            sleeping = asyncio.ensure_future(self.clock.sleep(delay))
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait([sleeping, woken], return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeping.cancel()
                woken.cancel()

    # ------------------------------------------------------------------ running

    def _start(
        self, name: str, job: JobConfig, state: JobState, only_targets: set[str] | None
    ) -> None:
        self._running[name] = asyncio.create_task(self._run(name, job, state, only_targets))

    async def _run(
        self, name: str, job: JobConfig, state: JobState, only_targets: set[str] | None
    ) -> None:
        try:
            async with self._slots:
                what = f"targets {', '.join(sorted(only_targets))}" if only_targets else "run"
                log.info("job %s: %s starts", name, what)
                try:
                    ended = await asyncio.wait_for(
                        self.runner.run(name, job, state, only_targets=only_targets), job.timeout
                    )
                except TimeoutError:
                    ended = self._failed(state, f"stopped after its timeout of {job.timeout:g} s")
                except Exception as exc:  # a bug in a run must not stop the scheduler
                    log.exception("job %s: the run failed", name)
                    ended = self._failed(state, f"{type(exc).__name__}: {exc}")
            if ended.failures > state.failures:
                log.warning("job %s: %s", name, ended.last_error)
            # a pause (or resume) asked for while it ran is kept
            current = self._states.get(name, state)
            await self._put(replace(ended, paused=current.paused))
        finally:
            self._running.pop(name, None)
            self._wake.set()

    def _failed(self, state: JobState, error: str) -> JobState:
        return replace(
            state, last_error=error, last_error_at=self.clock.now(), failures=state.failures + 1
        )

    async def _put(self, state: JobState) -> None:
        self._states[state.name] = await self.store.put(state)

    async def idle(self) -> None:
        """Until no run is going (tests; stop)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def stop(self) -> None:
        """Stop every run (each cancels its transaction, which the engine undoes)."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    # ------------------------------------------------------------------ commands

    async def run_now(self, name: str) -> None:
        """`zfsyncctl job run NAME`: a run now, outside the schedule (which it does not
        move); JobBusyError while one runs."""
        job = self._job(name)
        if name in self._running:
            raise JobBusyError(f"job {name} is running")
        self._start(name, job, self._states.get(name) or JobState(name), None)

    async def pause(self, name: str) -> None:
        """No run starts until `resume`; a running one goes on."""
        self._job(name)
        state = self._states.get(name) or JobState(name)
        await self._put(replace(state, paused=True, next_run_at=None))

    async def resume(self, name: str) -> None:
        """Runs start again; the slots missed while paused are one run (catch-up)."""
        self._job(name)
        state = self._states.get(name) or JobState(name)
        await self._put(replace(state, paused=False))
        self._wake.set()

    def _job(self, name: str) -> JobConfig:
        job = self.jobs.get(name)
        if job is None:
            raise JobNotFoundError(f"no job {name!r} is configured")
        return job

    # ------------------------------------------------------------------ reading

    def rows(self) -> list[JobRow]:
        """Every configured job, then those whose state is stored but no longer configured."""
        names = sorted(self.jobs) + sorted(set(self._states) - set(self.jobs))
        return [self.row(n) for n in names]

    def row(self, name: str) -> JobRow:
        job = self.jobs.get(name)
        state = self._states.get(name)
        if job is None and state is None:
            raise JobNotFoundError(f"no job {name!r} is configured")
        state = state or JobState(name)
        running = name in self._running
        done = self.runner.started.get(name) if running else None
        targets = []
        for label, target in (job.targets if job else {}).items():
            t = state.targets.get(label, TargetState())
            targets.append(
                JobTargetRow(
                    name=label, host=target.host, destination=target.destination,
                    last_success=t.last_success_at or 0.0, last_error=t.last_error or "",
                    last_error_at=t.last_error_at or 0.0, failures=t.failures,
                    retry_at=t.retry_at or 0.0,
                )
            )  # fmt: skip
        return JobRow(
            name=name,
            schedule=job.schedule if job else "",
            datasets=list(job.datasets) if job else [],
            recursive=job.recursive if job else False,
            configured=job is not None,
            paused=state.paused,
            running=running,
            next_run=(state.next_run_at or 0.0) if job and not state.paused else 0.0,
            last_run=state.last_run_at or 0.0,
            last_success=state.last_success_at or 0.0,
            last_error=state.last_error or "",
            last_error_at=state.last_error_at or 0.0,
            failures=state.failures,
            last_transactions=list(done if done is not None else state.last_transactions),
            targets=targets,
        )


__all__ = ["Clock", "JobBusyError", "JobNotFoundError", "Scheduler", "SystemClock"]
