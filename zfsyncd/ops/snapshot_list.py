"""Reading snapshots for a person or a client: zfsyncd's own by default, newest last.

The rows are the API's records (zfsyncd.api.records.SnapshotRow), as ListSnapshots returns
them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from zfsyncd.api.limits import MAX_NAMES_PER_CALL, MAX_SNAPSHOT_PAGE
from zfsyncd.api.records import SnapshotRow
from zfsyncd.ops.snapshot import PREFIX
from zfsyncd.store.ids import is_transaction_id
from zfsyncd.tx.errors import PlanError
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ObjectType, ZfsObject


def transaction_of(short_name: str) -> str:
    """`zfsync_<transaction id>` -> the id; "" for a name zfsyncd did not give."""
    rest = short_name.removeprefix(PREFIX)
    return rest if rest != short_name and is_transaction_id(rest) else ""


def _key(obj: ZfsObject) -> tuple[str, int, str]:
    """The order of the rows: by dataset, then age. createtxg, not creation: creation has
    whole seconds, the txg orders within one."""
    return (obj.dataset, obj.createtxg, obj.name)


def cursor_of(obj: ZfsObject) -> str:
    """A row's cursor: its place in the order, so the next page starts right after it even
    when the row itself was destroyed in between."""
    return f"{obj.createtxg}/{obj.name}"


def _parse_cursor(cursor: str) -> tuple[str, int, str]:
    txg, _, name = cursor.partition("/")
    try:
        names.check_snapshot(name)
        return (names.dataset_of(name), int(txg), name)
    except ValueError:
        raise PlanError(f"after: {cursor[:80]!r} is not a cursor ListSnapshots returned") from None


def _row(obj: ZfsObject) -> SnapshotRow:
    return SnapshotRow(
        name=obj.name,
        dataset=obj.dataset,
        snapshot=obj.short_name,
        guid=obj.guid,
        created=float(obj.creation),
        used=obj.used,
        referenced=obj.referenced,
        held=obj.userrefs > 0,
        transaction=transaction_of(obj.short_name),
        cursor=cursor_of(obj),
    )


async def list_snapshots(
    zfs: ZfsBackend,
    datasets: Sequence[str] = (),
    *,
    recursive: bool = True,
    any_name: bool = False,
    after: str | None = None,
    limit: int = MAX_SNAPSHOT_PAGE,
) -> builtins.list[SnapshotRow]:
    """Snapshots of `datasets` (every pool when empty), below them too when `recursive`;
    only those named by zfsyncd unless `any_name`. Ordered by dataset, then age; one page:
    at most `limit` (0: MAX_SNAPSHOT_PAGE), those after the cursor `after` when given."""
    if len(datasets) > MAX_NAMES_PER_CALL:
        raise PlanError(f"at most {MAX_NAMES_PER_CALL} datasets, not {len(datasets)}")
    if not 0 <= limit <= MAX_SNAPSHOT_PAGE:
        raise PlanError(f"limit must be from 0 to {MAX_SNAPSHOT_PAGE}, not {limit}")
    start = None if after is None else _parse_cursor(after)
    for dataset in datasets:
        names.check_dataset(dataset)
    found: list[ZfsObject] = []
    roots: Sequence[str | None] = datasets or [None]
    for root in roots:
        if root is not None and not recursive:
            found += await zfs.list(root, types=[ObjectType.SNAPSHOT], depth=1)
        else:
            found += await zfs.list(root, types=[ObjectType.SNAPSHOT])
    unique = {obj.name: obj for obj in found}.values()  # overlapping roots list one twice
    ordered = sorted(unique, key=_key)
    rows = [_row(o) for o in ordered if start is None or _key(o) > start]
    return [r for r in rows if any_name or r.transaction][: limit or MAX_SNAPSHOT_PAGE]
