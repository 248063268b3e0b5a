"""The bookmark step right after a snapshot step: the guids the snapshot answered stand for
its reading (lookup.take_made_guids, a table), only when they cover every snapshot marked
and each mark has its snapshot's name; otherwise it reads first, as alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.steps import StepContext
from zfsyncd.tx.steps.bookmarks import BookmarksArgs, CreateBookmarks
from zfsyncd.tx.steps.lookup import hand_on_guids, take_made_guids
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import ZfsObject

MADE = {"tank/a@t1": 11, "tank/b@t1": 12}

TAKE_CASES = [
    # what the snapshot step made, what the next step asks for -> what it gets (None: read)
    (MADE, ["tank/a@t1"], MADE),
    (MADE, ["tank/a@t1", "tank/b@t1"], MADE),
    (MADE, ["tank/a@t1", "tank/c@t1"], None),  # one it did not make
    (MADE, ["tank/a@old"], None),
    (None, ["tank/a@t1"], None),  # no snapshot step right before
]


@pytest.mark.parametrize(("made", "asked", "expected"), TAKE_CASES)
def test_take_made_guids(
    made: dict[str, int] | None, asked: list[str], expected: dict[str, int] | None
) -> None:
    zfs = MemoryBackend(["tank"])
    handed: dict[object, Any] = {}
    if made is not None:
        hand_on_guids(handed, zfs, made)
    assert take_made_guids(handed, zfs, asked) == expected
    assert take_made_guids(handed, zfs, asked) is None  # taken once


def test_guids_of_another_backend_are_not_taken() -> None:
    zfs, other = MemoryBackend(["tank"]), MemoryBackend(["tank"])
    handed: dict[object, Any] = {}
    hand_on_guids(handed, other, MADE)
    assert take_made_guids(handed, zfs, ["tank/a@t1"]) is None


class _Listing(MemoryBackend):
    """The model, counting its `zfs list` readings."""

    lists = 0

    async def list_many(self, roots: Sequence[str], **kwargs: Any) -> list[ZfsObject]:
        self.lists += 1
        return await super().list_many(roots, **kwargs)


STEP_CASES = [
    # the marks, whether the snapshot step handed its guids on -> readings before the change
    ({"tank/a#t1": "tank/a@t1", "tank/b#t1": "tank/b@t1"}, True, 0),
    ({"tank/a#t1": "tank/a@t1"}, False, 1),  # alone: it reads
    ({"tank/a#other": "tank/a@t1"}, True, 1),  # a mark of another name may exist already
    ({"tank/a#t0": "tank/a@t0"}, True, 1),  # a snapshot the step before did not make
]


@pytest.mark.parametrize(("marks", "handed", "readings"), STEP_CASES)
async def test_the_bookmark_step_reads_only_what_it_was_not_handed(
    marks: dict[str, str], handed: bool, readings: int
) -> None:
    zfs = _Listing(["tank"])
    for name in ("tank/a", "tank/b"):
        await zfs.create(name)
    await zfs.snapshot(["tank/a@t0"])
    made = await zfs.snapshot_guids(["tank/a@t1", "tank/b@t1"])
    ctx = StepContext(tx_id="t1", hosts=local_hosts(zfs))
    if handed:
        hand_on_guids(ctx.handed, zfs, made)
    step = CreateBookmarks(BookmarksArgs(bookmarks=marks))
    zfs.lists = 0
    done = await step.do(ctx, await step.capture(ctx))
    assert zfs.lists == readings
    assert await step.check(ctx)
    # each bookmark has its snapshot's guid, whether read or handed
    guids = {o.name: o.guid for o in await zfs.list_many([*marks, *marks.values()])}
    assert done["made"] == {m: guids[s] for m, s in marks.items()}
