"""Reading snapshots for a person or a client: zfsyncd's own by default, newest last.

The rows are the API's records (zfsyncd.api.records.SnapshotRow), as ListSnapshots returns
them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from zfsyncd.api.records import SnapshotRow
from zfsyncd.ops.snapshot import PREFIX
from zfsyncd.store.ids import is_transaction_id
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ObjectType, ZfsObject


def transaction_of(short_name: str) -> str:
    """`zfsync_<transaction id>` -> the id; "" for a name zfsyncd did not give."""
    rest = short_name.removeprefix(PREFIX)
    return rest if rest != short_name and is_transaction_id(rest) else ""


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
    )


async def list_snapshots(
    zfs: ZfsBackend,
    datasets: Sequence[str] = (),
    *,
    recursive: bool = True,
    any_name: bool = False,
) -> builtins.list[SnapshotRow]:
    """Snapshots of `datasets` (every pool when empty), below them too when `recursive`;
    only those named by zfsyncd unless `any_name`. Ordered by dataset, then age."""
    found: list[ZfsObject] = []
    roots: Sequence[str | None] = datasets or [None]
    for root in roots:
        if root is not None and not recursive:
            found += await zfs.list(root, types=[ObjectType.SNAPSHOT], depth=1)
        else:
            found += await zfs.list(root, types=[ObjectType.SNAPSHOT])
    unique = {obj.name: obj for obj in found}.values()  # overlapping roots list one twice
    # createtxg, not creation: creation has whole seconds, the txg orders within one
    ordered = sorted(unique, key=lambda o: (o.dataset, o.createtxg, o.name))
    rows = [_row(obj) for obj in ordered]
    return [r for r in rows if any_name or r.transaction]
