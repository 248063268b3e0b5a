"""The witness client's loop, and what the bus shows of it.

One round (`cycle`), whenever something is owed or due:
1. the inventory, when a report is owed (a transaction completed since the last one, the
   daemon started) or the report interval passed: one `zfs list`, one batch request;
2. the outcomes waiting in the outbox (the daemon's database: they outlive a restart);
3. a heartbeat, when its interval passed (`serve` also sends them from a task of their
   own, so that a round running a long transfer does not look like a system gone);
4. the instructions, after each report (the witness compares on that fetch): each one a
   witness-receive transaction of the engine, run one after the other (the engine's locks
   order them against local work), its outcome queued and sent at the end of the round;
   one that failed before waits out its own backoff first (backoff.py).

A completed transaction of any kind makes a report owed (a listener on the engine): which
kinds change snapshots is the engine's business, and a report that changes nothing costs
one `zfs list` and one request. Rounds that come close together are one (the loop wakes,
runs a round, and what completed during it makes the next).

A witness that does not answer, or answers 5xx, fails the round: the failures in a row
back off the next attempt (`retry_delay`, at most the report interval) and what could not
be sent stays owed; local work does not wait for any of this. A refusal (4xx, 401 for a
bad key) is reported as such (`unauthorized`) and backs off the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from zfsyncd.api.records import WitnessConflict, WitnessStatus
from zfsyncd.ops.replication.receive import RECEIVE, AlreadyReceivedError
from zfsyncd.store import TxState
from zfsyncd.store.witness_state import HeldInstruction, WitnessBackoff, WitnessOutcomes
from zfsyncd.tx.errors import TxError, describe_error
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.manager import Caller, TransactionManager
from zfsyncd.tx.retry import Backoff
from zfsyncd.witness.backoff import DEFAULT_BACKOFF, HeldBack
from zfsyncd.witness.http import WitnessHttp
from zfsyncd.witness.instructions import as_request
from zfsyncd.witness.inventory import read_inventory
from zfsyncd.witness.outbox import Outbox, Outcome
from zfsyncd.witness.wire import Instruction, WitnessError, WitnessRefused

log = logging.getLogger(__name__)

#: who the engine's records name for the transactions the witness asked for
CALLER = Caller(None, "witness")
TAG = "witness"
#: the first retry after a failed round, in seconds; doubled each failure after it
FIRST_RETRY = 2.0
#: the witness's refusals of an outcome itself (its sync state is gone: 404; the body is
#: refused: 422), after which it is dropped; any other (401, 403) fails the round
OUTCOME_GONE = frozenset({404, 422})
#: states of the witness that mean "this system has something to receive"
PENDING_STATES = frozenset({"out_of_sync", "syncing", "error"})


def retry_delay(failures: int, cap: float) -> float:
    """Seconds to the next attempt after `failures` failed rounds in a row (0: none)."""
    return Backoff(first=FIRST_RETRY, cap=cap).delay(failures)


@dataclass(frozen=True)
class Intervals:
    report: float = 300.0
    heartbeat: float = 60.0


class WitnessClient:
    def __init__(
        self,
        manager: TransactionManager,
        http: WitnessHttp,
        *,
        labels: Mapping[str, str],
        pools: Sequence[str] = (),
        intervals: Intervals = Intervals(),
        queue_limit: int = 1000,
        backoff: Backoff = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.manager = manager
        self.http = http
        self.labels = dict(labels)
        self.pools = list(pools)
        self.intervals = intervals
        self.outbox = Outbox(WitnessOutcomes(manager.db), queue_limit)
        self.held_back = HeldBack(WitnessBackoff(manager.db), backoff)
        self.clock = clock
        self.wake = asyncio.Event()
        self.reachable = False
        self.unauthorized = False
        self.error = ""
        self.failures = 0
        self.next_attempt = 0.0
        self.last_report = 0.0
        self.last_heartbeat = 0.0
        self.last_instructions = 0.0
        self.waiting: list[Instruction] = []
        self.run_count = 0
        self.failed_count = 0
        #: instructions skipped because their backoff had not run out (this process)
        self.deferred_count = 0
        manager.listeners.append(self._on_state)

    def _on_state(self, _tx_id: str, state: TxState) -> None:
        if state is TxState.COMPLETED:
            self.outbox.owe_report()
            self.wake.set()

    # ------------------------------------------------------------------ the loop

    async def serve(self) -> None:
        """Rounds for as long as the daemon runs (cancel to stop), and the heartbeats
        beside them: a round that runs a long transfer must not make the system look
        offline to the witness."""
        beating = asyncio.create_task(self._heartbeats())
        try:
            while True:
                self.wake.clear()
                await self.cycle()
                delay = self._until_next(self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), delay)
        finally:
            beating.cancel()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.intervals.heartbeat)
            if self.failures or self.clock() < self.last_heartbeat + self.intervals.heartbeat:
                continue  # the rounds' backoff stands for the witness being down
            try:
                await self.http.heartbeat()
                self.last_heartbeat = self.clock()
            except WitnessError as exc:
                log.debug("witness: heartbeat failed: %s", exc)  # the next round says it

    def _until_next(self, now: float) -> float:
        if self.failures:
            return max(0.0, self.next_attempt - now)
        due = min(
            self.last_report + self.intervals.report,
            self.last_heartbeat + self.intervals.heartbeat,
        )
        return max(0.0, due - now)

    async def cycle(self, *, force: bool = False) -> bool:
        """One round (see the module's docstring); True when it reached the witness and
        did what was owed. Before the backoff's time (unless `force`) it does nothing."""
        now = self.clock()
        if self.failures and now < self.next_attempt and not force:
            return False
        try:
            await self._round(now)
        except WitnessError as exc:
            self._failed(exc, now)
            return False
        except Exception as exc:  # this host's side (its inventory could not be read)
            log.exception("witness: the round failed here")
            self._failed(exc, now)
            return False
        self.reachable, self.unauthorized, self.error = True, False, ""
        self.failures, self.next_attempt = 0, 0.0
        return True

    async def _round(self, now: float) -> None:
        reported = False
        if self.outbox.report_owed or now >= self.last_report + self.intervals.report:
            self.outbox.report_owed = True
            await self._report()
            reported = True
        await self._send_outcomes()
        if now >= self.last_heartbeat + self.intervals.heartbeat:
            await self.http.heartbeat()
            self.last_heartbeat = self.clock()
        if reported:
            fetched = await self.http.instructions()
            self.last_instructions = self.clock()
            self.waiting = list(fetched.instructions)
            await self._run_instructions()
            await self._send_outcomes()

    def _failed(self, exc: Exception, now: float) -> None:
        self.failures += 1
        self.error = str(exc) if isinstance(exc, WitnessError) else f"{type(exc).__name__}: {exc}"
        self.unauthorized = isinstance(exc, WitnessRefused) and exc.unauthorized
        self.reachable = isinstance(exc, WitnessRefused)  # it answered, with a no
        delay = retry_delay(self.failures, self.intervals.report)
        self.next_attempt = now + delay
        log.warning("witness: %s (attempt %d failed; next in %.0f s)", exc, self.failures, delay)

    async def _report(self) -> None:
        # cleared before the read: a transaction completing during it owes the next one
        self.outbox.report_owed = False
        try:
            snapshots = await read_inventory(self.manager.hosts[LOCAL].zfs, self.pools)
            await self.http.report(snapshots)
        except BaseException:
            self.outbox.report_owed = True
            raise
        self.last_report = self.clock()

    async def _send_outcomes(self) -> None:
        while batch := await self.outbox.oldest():
            for key, o in batch:
                try:
                    await self.http.outcome(o.group_id, o.dataset, o.ok, o.error, o.tx_id)
                except WitnessRefused as exc:
                    if exc.status not in OUTCOME_GONE:
                        raise
                    # queued across a restart, an outcome can outlive its group or
                    # membership: kept, it would block every later one for ever
                    log.warning("witness: outcome for %s dropped: %s", o.dataset, exc)
                await self.outbox.sent(key)

    # ------------------------------------------------------------------ instructions

    async def _run_instructions(self) -> None:
        await self.held_back.fetched(self.waiting)
        while self.waiting:
            instruction = self.waiting[0]
            held = self.held_back.waiting(instruction, self.clock())
            if held is not None:
                log.debug(
                    "witness instruction for %s held back until %.0f (%d failures)",
                    instruction.dataset, held.retry_at, held.failures,
                )  # fmt: skip
                self.waiting.pop(0)
                self.deferred_count += 1
                # its failure again, so that the witness shows `error`, not `syncing`
                await self.outbox.add(held_back(instruction, held))
                continue
            outcome = await self.run(instruction)
            await self.held_back.ran(instruction, outcome.ok, outcome.error, self.clock())
            self.waiting.pop(0)
            self.run_count += 1
            self.failed_count += 0 if outcome.ok else 1
            await self.outbox.add(outcome)

    async def run(self, instruction: Instruction) -> Outcome:
        """One instruction as a witness-receive transaction, waited for; its outcome."""

        def outcome(ok: bool, error: str | None = None, tx_id: str | None = None) -> Outcome:
            return Outcome(instruction.group_id, instruction.dataset, ok, error, tx_id)

        request = as_request(instruction, self.http.system_id, self.labels)
        if isinstance(request, str):
            log.warning("witness instruction for %s refused: %s", instruction.dataset, request)
            return outcome(False, request)
        params = request.model_dump(mode="json")
        try:
            record = await self.manager.submit(RECEIVE.name, params, caller=CALLER, tags=[TAG])
        except AlreadyReceivedError:
            return outcome(True)  # done before (an outcome that was lost, or another way)
        except TxError as exc:
            return outcome(False, f"refused: {describe_error(exc)}")
        except Exception as exc:  # a host that cannot be read, a bug: said, not swallowed
            log.exception("witness instruction for %s failed to start", instruction.dataset)
            return outcome(False, f"could not be started: {type(exc).__name__}: {exc}")
        ended = await self.manager.wait(record.id)
        if ended.state is TxState.COMPLETED:
            return outcome(True, tx_id=ended.id)
        why = f"transaction {ended.id} {ended.state.value.lower()}: {ended.error}"
        return outcome(False, why, ended.id)

    # ------------------------------------------------------------------ what the bus shows

    async def status(self) -> WitnessStatus:
        """The client's state, and what the witness says of this system now (one read,
        which changes nothing there)."""
        pending = 0
        reachable, error, unauthorized = self.reachable, self.error, self.unauthorized
        try:
            states = await self.http.states()
            pending = sum(1 for s in states if s.status in PENDING_STATES)
            reachable, unauthorized = True, False
        except WitnessError as exc:
            error = str(exc)
            reachable = isinstance(exc, WitnessRefused)
            unauthorized = isinstance(exc, WitnessRefused) and exc.unauthorized
        return WitnessStatus(
            configured=True,
            url=self.http.url,
            system_id=str(self.http.system_id),
            reachable=reachable,
            unauthorized=unauthorized,
            error=error,
            last_report=self.last_report,
            last_heartbeat=self.last_heartbeat,
            last_instructions=self.last_instructions,
            pending_instructions=pending,
            running_instructions=len(self.waiting),
            instructions_run=self.run_count,
            instructions_failed=self.failed_count,
            report_owed=self.outbox.report_owed,
            queued_outcomes=await self.outbox.queued(),
            failures=self.failures,
            next_attempt=self.next_attempt,
        )

    async def conflicts(self) -> list[WitnessConflict]:
        """The open conflicts of every group this system is in (a request per group)."""
        rows = []
        for group in await self.http.groups():
            for c in await self.http.conflicts(group.id):
                rows.append(
                    WitnessConflict(
                        id=str(c.id),
                        group=group.name,
                        dataset=c.dataset,
                        kind=c.kind,
                        status=c.status,
                        strategy=c.strategy or "",
                        winner_system_id=str(c.winner_system_id or ""),
                        detected=c.detected_at,
                        problems=[_problem(p) for p in c.problems],
                    )
                )
        return rows


def held_back(instruction: Instruction, held: HeldInstruction) -> Outcome:
    """The outcome of an instruction skipped by its backoff: its last failure, and when
    it is tried again."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(held.retry_at))
    why = f"{held.last_error or 'failed'} (failed {held.failures}x; tried again after {when})"
    return Outcome(instruction.group_id, instruction.dataset, False, why, None)


def _problem(p: Mapping[str, object]) -> str:
    snaps = p.get("snapshots") or []
    names = ", ".join(str(s) for s in snaps) if isinstance(snaps, list) else str(snaps)
    return f"{p.get('kind', '?')} on {p.get('system_id', '?')}: {names}"


def not_configured() -> WitnessStatus:
    """WitnessStatus of a daemon without [witness]."""
    return WitnessStatus(
        configured=False, url="", system_id="", reachable=False, unauthorized=False, error="",
        last_report=0.0, last_heartbeat=0.0, last_instructions=0.0, pending_instructions=0,
        running_instructions=0, instructions_run=0, instructions_failed=0, report_owed=False,
        queued_outcomes=0, failures=0, next_attempt=0.0,
    )  # fmt: skip
