"""One run of a job: its hooks and its transactions, in order, each waited for.

    pre-hooks -> snapshot -> post-hooks -> per target: replica init (first run) / sync
              -> prune (source, then each target that synced, on the target's host)

Everything that changes ZFS is a transaction of the engine (ops/snapshot.py,
ops/replication/, the retention's prune), tagged `job:NAME`, so `transaction list` shows
it, a failure in it is undone by the engine, and it can be rolled back like any other.
- A pre-hook that fails (exit status, timeout, cannot start) ends the run before anything
  is made: no snapshot, no hook after it.
- The post-hooks run once the snapshot transaction has ended, whatever its outcome (a
  pre-hook that froze something expects its post-hook to thaw it); one that fails is the
  run's error, the snapshot stays.
- A target that fails (unreachable host, refused plan, failed sync) is that target's
  failure only: the other targets and the source's pruning go on, and the scheduler tries
  it again after its backoff (jobs/due.py). A target run by a retry alone syncs what is
  unsent; it makes no new snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from zfsyncd.commands.errors import CommandError
from zfsyncd.commands.runner import CommandRunner
from zfsyncd.jobs.config import HookConfig, JobConfig, TargetConfig
from zfsyncd.jobs.due import backoff
from zfsyncd.ops.prune import PRUNE, PruneRequest
from zfsyncd.ops.replication.props import MAX_SAVECOUNT, PEER, ROLE, Role, parse_peer
from zfsyncd.ops.snapshot import SNAPSHOT
from zfsyncd.retention import RetentionPolicy
from zfsyncd.store.jobs import JobState, TargetState
from zfsyncd.store.records import TxState
from zfsyncd.tx.core import Caller
from zfsyncd.tx.errors import TxError, describe_error
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.steps.pools import DATASET_TYPES

log = logging.getLogger(__name__)


class RunFailed(Exception):
    """What ended a run early (a pre-hook, the snapshot)."""


@dataclass
class JobRun:
    """The context one run needs: the engine, the hooks' runner, the clock."""

    manager: TransactionManager
    clock: Callable[[], float]
    hooks: CommandRunner = field(default_factory=CommandRunner)
    #: job -> the transaction its run waits for now (cancelled with the run: a run stopped
    #: for its timeout leaves nothing running behind it)
    current: dict[str, str] = field(default_factory=dict)
    #: job -> the transactions of its running run so far
    started: dict[str, list[str]] = field(default_factory=dict)

    async def run(
        self, name: str, job: JobConfig, state: JobState, *, only_targets: set[str] | None = None
    ) -> JobState:
        """Run the job (or, with `only_targets`, retry those targets); the job's new state."""
        started = self.clock()
        errors: list[str] = []
        done = self.started[name] = []
        state = replace(state, last_run_at=started)
        try:
            if only_targets is None:
                await self._snapshot(name, job, done)
            for label, target in job.targets.items():
                if only_targets is None or label in only_targets:
                    state = await self._target(name, job, label, target, state, done)
                    error = state.targets[label].last_error
                    if state.targets[label].failures and error:
                        errors.append(f"target {label}: {error}")
            if only_targets is None:
                await self._prune(name, job.datasets, job.recursive, job.retention, done)
        except RunFailed as exc:
            errors.insert(0, str(exc))
        except asyncio.CancelledError:
            running = self.current.pop(name, None)
            if running is not None:
                with contextlib.suppress(TxError):  # it may have ended meanwhile
                    await self.manager.cancel(running, caller=_caller(name), wait=True)
            raise
        finally:
            self.started.pop(name, None)
        now = self.clock()
        state = replace(state, last_transactions=tuple(done))
        if errors:
            return replace(
                state, last_error="; ".join(errors), last_error_at=now, failures=state.failures + 1
            )
        if only_targets is not None:
            return state
        return replace(state, last_success_at=now, last_error=None, failures=0)

    # ------------------------------------------------------------------ the parts

    async def _snapshot(self, name: str, job: JobConfig, done: list[str]) -> None:
        for hook in job.pre_hooks:
            await self._hook(name, "pre", hook)
        try:
            datasets, recursive = await self._datasets(job)
            params = {"datasets": datasets, "recursive": recursive}
            await self._transaction(name, SNAPSHOT.name, params, job.timeout, done)
        finally:
            for hook in job.post_hooks:
                await self._hook(name, "post", hook)

    async def _datasets(self, job: JobConfig) -> tuple[list[str], bool]:
        """The datasets the snapshot names: the job's, recursively; with exclusions, every
        dataset of the trees but the excluded ones, each named (one listing)."""
        if not job.exclude:
            return list(job.datasets), job.recursive
        zfs = self.manager.hosts[LOCAL].zfs
        found = await zfs.list_many(job.datasets, types=DATASET_TYPES, recursive=True)
        kept = [o.name for o in found if not job.excluded(o.name)]
        if not kept:
            raise RunFailed("every dataset of the job is excluded or missing")
        return kept, False

    async def _hook(self, name: str, phase: str, hook: HookConfig) -> None:
        try:
            await self.hooks.run(hook.argv, timeout=hook.timeout)
        except CommandError as exc:
            what = f"{phase}-hook {hook.argv[0]} failed: {exc}"
            if phase == "pre":
                raise RunFailed(f"{what}; nothing was done") from None
            raise RunFailed(what) from None

    async def _target(
        self,
        name: str,
        job: JobConfig,
        label: str,
        target: TargetConfig,
        state: JobState,
        done: list[str],
    ) -> JobState:
        before = state.targets.get(label, TargetState())
        try:
            synced = await self._replicate(name, job, target, done)
            # the destinations' prune on the target's host (this one or a [hosts.NAME])
            await self._prune(name, synced, job.recursive, target.retention, done, host=target.host)
        except (RunFailed, TxError, CommandError) as exc:
            now = self.clock()
            failures = before.failures + 1
            failed = replace(
                before, last_error=str(exc), last_error_at=now, failures=failures,
                retry_at=now + backoff(failures),
            )  # fmt: skip
            log.warning("job %s, target %s: %s (retry in %.0f s)", name, label, exc,
                        backoff(failures))  # fmt: skip
            return state.with_target(label, failed)
        ok = TargetState(last_success_at=self.clock())
        return state.with_target(label, ok)

    async def _replicate(
        self, name: str, job: JobConfig, target: TargetConfig, done: list[str]
    ) -> list[str]:
        """Each dataset paired with its replica (`replica init` the first time), then one
        sync of them all; the destinations synced."""
        pairs = job.destinations(target)
        zfs = self.manager.hosts[LOCAL].zfs
        found = await zfs.list_many(list(pairs), types=DATASET_TYPES, user_properties=[ROLE, PEER])
        props = {o.name: o.user_properties for o in found}
        to_sync = []
        for source, destination in pairs.items():
            if source not in props:
                raise RunFailed(f"dataset {source} does not exist")
            role, peer = props[source].get(ROLE), props[source].get(PEER)
            address = destination if target.host == LOCAL else f"{target.host}:{destination}"
            if role is None or role == "-":
                params = {
                    "source": source, "destination": address, "recursive": job.recursive,
                    # the job's retention prunes; the pair's own expiry must not
                    "savecount": MAX_SAVECOUNT,
                }  # fmt: skip
                await self._transaction(name, "replica-init", params, job.timeout, done)
                continue
            if role != Role.SOURCE or peer is None or parse_peer(peer) != parse_peer(address):
                raise RunFailed(
                    f"{source} is already a replica pair ({role}, peer {peer}), not one to "
                    f"{address}: `zfsyncctl replica clear` or `reconfigure` it first"
                )
            to_sync.append(source)
        if to_sync:
            params = {"sources": to_sync}
            await self._transaction(name, "replica-sync", params, job.timeout, done)
        return list(pairs.values())

    async def _prune(
        self,
        name: str,
        datasets: Sequence[str],
        recursive: bool,
        policy: RetentionPolicy | None,
        done: list[str],
        *,
        host: str = LOCAL,
    ) -> None:
        """The retention's prune transaction (ops/prune.py) of `datasets` on `host`,
        deciding as at now: it never destroys a held snapshot, one in use, a pair's newest
        common one, or the newest."""
        if policy is None:
            return
        request = PruneRequest.of(
            datasets, policy, recursive=recursive, now=self.clock(), host=host
        )
        await self._transaction(name, PRUNE.name, request.model_dump(mode="json"), None, done)

    async def _transaction(
        self, name: str, kind: str, params: dict[str, Any], timeout: float | None, done: list[str]
    ) -> None:
        """Submit, wait for it to end; RunFailed with its error unless it COMPLETED."""
        caller = _caller(name)
        try:
            record = await self.manager.submit(
                kind, params, caller=caller, tags=[f"job:{name}"], timeout=timeout
            )
        except TxError as exc:
            raise RunFailed(f"{kind} refused: {describe_error(exc)}") from None
        done.append(record.id)
        self.current[name] = record.id
        ended = await self.manager.wait(record.id)
        self.current.pop(name, None)
        if ended.state is not TxState.COMPLETED:
            raise RunFailed(f"{kind} {ended.id} {ended.state.value.lower()}: {ended.error}")


def _caller(name: str) -> Caller:
    return Caller(None, f"job {name}")
