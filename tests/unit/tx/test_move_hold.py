"""move-hold: the tag onto some snapshots and off others in one step. A table of
(where the tag is before, which change fails) -> where it is after the step and after its
undo; the arguments it refuses; its inverse."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.steps import StepContext
from zfsyncd.tx.steps.move_hold import MoveHold, MoveHoldArgs
from zfsyncd.zfs.errors import ZfsCommandError
from zfsyncd.zfs.memory import MemoryBackend

TAG = "zfsync_replica"
OLD, NEW = "tank/a@old", "tank/a@new"


class _Failing(MemoryBackend):
    """The model, with `zfs hold` or `zfs release` failing when asked to."""

    failing: str | None = None

    async def hold(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        if self.failing == "hold":
            raise ZfsCommandError(["zfs", "hold"], 1, "injected")
        await super().hold(tag, snapshots, recursive=recursive)

    async def release(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        if self.failing == "release":
            raise ZfsCommandError(["zfs", "release"], 1, "injected")
        await super().release(tag, snapshots, recursive=recursive)


async def _tagged(zfs: MemoryBackend) -> set[str]:
    return {s for s in (OLD, NEW) if TAG in [h.tag for h in await zfs.holds(s)]}


CASES = [
    # tagged before, the change that fails -> tagged after the step (None: it failed)
    ({OLD}, None, {NEW}),
    ({OLD, NEW}, None, {NEW}),  # the new one had it already: kept, not ours
    (set(), None, {NEW}),
    ({OLD}, "hold", None),  # the release ran beside it: the undo holds the old one again
    ({OLD}, "release", None),  # the hold ran beside it: the undo releases the new one
]


@pytest.mark.parametrize(("before", "failing", "after"), CASES)
async def test_the_hold_moves_or_nothing_changes(
    before: set[str], failing: str | None, after: set[str] | None
) -> None:
    zfs = _Failing(["tank"])
    await zfs.create("tank/a")
    await zfs.snapshot([OLD])
    await zfs.snapshot([NEW])
    if before:
        await zfs.hold(TAG, sorted(before))
    ctx = StepContext(tx_id="t1", hosts=local_hosts(zfs))
    step = MoveHold(MoveHoldArgs(tag=TAG, hold=(NEW,), release=(OLD,)))
    undo_data = await step.capture(ctx)
    zfs.failing = failing
    if after is not None:
        undo_data |= await step.do(ctx, undo_data)
        assert await _tagged(zfs) == after
        assert await step.check(ctx)
    else:
        with pytest.raises(ZfsCommandError, match="injected"):
            await step.do(ctx, undo_data)
        assert not await step.check(ctx)
    zfs.failing = None
    await step.undo(ctx, undo_data)
    assert await _tagged(zfs) == before


INVERSES = [
    # what capture found -> the inverse's (hold, release); None: nothing to take back
    ({"held_before": [], "had": [OLD]}, ((OLD,), (NEW,))),
    ({"held_before": [NEW], "had": [OLD]}, ((OLD,), ())),
    ({"held_before": [], "had": []}, ((), (NEW,))),
    ({"held_before": [NEW], "had": []}, None),
]


@pytest.mark.parametrize(("found", "inverse"), INVERSES)
def test_its_inverse_moves_the_hold_back(
    found: dict[str, list[str]], inverse: tuple[tuple[str, ...], tuple[str, ...]] | None
) -> None:
    step = MoveHold(MoveHoldArgs(tag=TAG, hold=(NEW,), release=(OLD,)))
    back = step.inverse(found)
    if inverse is None:
        assert back is None
    else:
        assert isinstance(back, MoveHold)
        assert (back.args.hold, back.args.release) == inverse


@pytest.mark.parametrize(
    ("hold", "release", "words"),
    [((), (), "at least one"), ((NEW,), (NEW,), "get and lose")],
)
def test_arguments_it_refuses(hold: tuple[str, ...], release: tuple[str, ...], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        MoveHoldArgs(tag=TAG, hold=hold, release=release)
