"""ListSnapshots one page at a time: a cursor per row, the next page after it, even when the
row it names was destroyed in between; bad cursors and too many names refused. And a missing
dataset or snapshot is NotFound on the bus, as for ListSnapshots."""

from __future__ import annotations

import pytest

from zfsyncd.api.names import ErrorName
from zfsyncd.bus.errors import as_bus_error
from zfsyncd.ops.snapshot_list import list_snapshots
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.zfs.memory import MemoryBackend


async def _zfs() -> MemoryBackend:
    zfs = MemoryBackend(pools=("tank",))
    await zfs.create("tank/a")
    for n in range(5):
        await zfs.snapshot([f"tank@s{n}", f"tank/a@s{n}"])
    return zfs


async def test_pages_follow_each_other_by_cursor() -> None:
    zfs = await _zfs()
    everything = await list_snapshots(zfs, any_name=True)
    assert len(everything) == 10
    seen, after = [], None
    while True:
        page = await list_snapshots(zfs, any_name=True, limit=3, after=after)
        seen += page
        if len(page) < 3:
            break
        after = page[-1].cursor
    assert seen == everything


async def test_the_next_page_starts_after_a_row_destroyed_in_between() -> None:
    zfs = await _zfs()
    original = [r.name for r in await list_snapshots(zfs, any_name=True)]
    first = await list_snapshots(zfs, any_name=True, limit=3)
    await zfs.destroy(first[-1].name)
    rest = await list_snapshots(zfs, any_name=True, after=first[-1].cursor)
    assert [r.name for r in first + rest] == original


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"after": "nonsense"}, "not a cursor ListSnapshots returned"),
        ({"after": "12/tank"}, "not a cursor ListSnapshots returned"),
        ({"limit": 1001}, "limit must be from 0 to 1000"),
        ({"datasets": ["tank"] * 1001}, "at most 1000 datasets"),
    ],
)
async def test_bad_paging_is_refused(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(PlanError, match=words):
        await list_snapshots(await _zfs(), **kwargs)  # type: ignore[arg-type]


def test_a_missing_object_is_not_found_on_the_bus() -> None:
    error = as_bus_error(MissingObjectError("dataset tank/nope does not exist"))
    assert error.type == ErrorName.NOT_FOUND
    assert error.text == "dataset tank/nope does not exist"
