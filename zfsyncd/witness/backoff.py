"""Instructions that keep failing are held back, each on its own backoff.

The witness hands an instruction out at every fetch until it is done; one that fails
(a source host not configured here, a receive that fails each time) would otherwise be
tried, and fail, after every report. After its n-th failure in a row it is not run again
for `delay(n)` (exponential from `first`, at most `cap`); a fetch before then skips it
and sends its last failure again as its outcome, with when it is tried next (the witness
shows it as `error`, not as `syncing`: nothing runs). Success forgets it; so does a
fetch that no longer hands it out (fixed another way, or another instruction now), which
bounds what is kept by the instructions handed out. Kept in the daemon's database (table
`witness_backoff`): a restart does not retry everything at once.

An instruction's key is what it asks for: the group, dataset, source system, base, newest
snapshot and force (the witness gives instructions no id of their own). A new snapshot
on the source makes a new instruction, tried at once.
"""

from __future__ import annotations

from zfsyncd.store.witness_state import HeldInstruction, WitnessBackoff
from zfsyncd.tx.retry import Backoff
from zfsyncd.witness.wire import Instruction

#: an instruction waits 5 minutes after its first failure, at most 6 hours
DEFAULT_BACKOFF = Backoff(first=300.0, cap=6 * 3600.0)


def instruction_key(i: Instruction) -> str:
    base = i.base if i.base is not None else "-"
    return f"{i.group_id}/{i.dataset}/{i.source_system_id}/{base}/{i.newest}/{int(i.force)}"


class HeldBack:
    """The instructions held back, read once per fetch, written after each run."""

    def __init__(self, store: WitnessBackoff, backoff: Backoff) -> None:
        self.store = store
        self.backoff = backoff
        self.held: dict[str, HeldInstruction] = {}

    async def fetched(self, instructions: list[Instruction]) -> None:
        """The witness handed these out: forget the others, read what is held."""
        await self.store.keep_only({instruction_key(i) for i in instructions})
        self.held = await self.store.all()

    def waiting(self, instruction: Instruction, now: float) -> HeldInstruction | None:
        """Its record when it must not run yet (None: it may)."""
        held = self.held.get(instruction_key(instruction))
        return held if held is not None and now < held.retry_at else None

    async def ran(self, instruction: Instruction, ok: bool, error: str | None, now: float) -> None:
        key = instruction_key(instruction)
        before = self.held.pop(key, None)
        if ok:
            if before is not None:
                await self.store.forget(key)
            return
        failures = (before.failures if before else 0) + 1
        held = HeldInstruction(key, failures, now + self.backoff.delay(failures), error)
        self.held[key] = held
        await self.store.failed(held)
