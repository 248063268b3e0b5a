"""Listings written as tables: one row per object, `name [key=value ...]`, for the pure
planners' examples.

A name with `@` is a snapshot, any other a filesystem unless `type=volume`. Keys: `txg`
(createtxg; default: the row's place, so a later row is a newer snapshot), `held` (holds
count), `origin` (a clone's snapshot), `token` (a partial receive), `type`. Every object's
guid is worked out from its name (`guid(name)`), so a test can name the one it expects.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from zfsyncd.zfs.models import ObjectType, PropertySource, PropertyValue, ZfsObject

#: the transaction id the examples plan for, and the names it gives
TX = "T1"


def guid(name: str) -> int:
    return zlib.crc32(name.encode()) + 1


def listing(*rows: str) -> dict[str, ZfsObject]:
    found: dict[str, ZfsObject] = {}
    for place, row in enumerate(rows, start=1):
        name, *pairs = row.split()
        attrs = dict(pair.split("=", 1) for pair in pairs)
        default = ObjectType.SNAPSHOT if "@" in name else ObjectType.FILESYSTEM
        found[name] = ZfsObject(
            name=name,
            type=ObjectType(attrs.get("type", default)),
            guid=guid(name),
            createtxg=int(attrs.get("txg", place)),
            creation=0,
            used=0,
            referenced=0,
            userrefs=int(attrs.get("held", 0)),
            origin=attrs.get("origin"),
            receive_resume_token=attrs.get("token"),
        )
    return found


def properties(**values: str) -> Mapping[str, PropertyValue]:
    """Property values as `zfs get` reports them: `local:legacy` is set locally, a bare
    value is inherited."""
    found = {}
    for prop, text in values.items():
        source, _, value = text.rpartition(":")
        found[prop] = PropertyValue(value=value, source=PropertySource(source or "inherited"))
    return found
