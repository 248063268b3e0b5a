"""ZFS channel programs (`zfs program`, zfs-program(8)) that stand for several zfs commands.

Under the OpenZFS lab's emulation every zfs command costs about a second and a recursive
one some 60 ms a dataset; a channel program runs in the kernel, in one sync task, so it
makes many changes in one txg and reads back what it made without a second command
(bench/zfs_program.py, 51 filesystems: `zfs snapshot -r` 4.5 s plus the `zfs list -r` that
read its guids back 4.5 s, against 4.4 s for one program doing both; ten `zfs bookmark`
5.6 s, one program 0.6 s).

The scripts are constant text; names and values reach them only as arguments (argv), never
spliced into the Lua. The script goes on the program's stdin (`zfs program POOL -`), so it
works through an ssh transport as well as locally. Each script checks every change first
(zfs.check.*) and makes none when one would fail: all or nothing within its pool, as `zfs
snapshot` is. A refusal comes back as `{"failed": NAME, "errno": N}`, which `refusal` turns
into the stderr zfs itself prints for that case, so errors.classify gives it the same class
(AlreadyExistsError, NotFoundError, ...) as the plain command's.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from zfsyncd.zfs import names
from zfsyncd.zfs.models import Hold, ObjectType, ReachedSnapshot, ZfsObject

_UINT64 = (1 << 64) - 1

#: argv: "r" (recursive) or "-", the number of properties, each name and value, then the
#: snapshots; returns {made = {name = guid}} or {failed = name, errno = n}. Only the guid
#: is read back: the program runs in syncing context, where each property read costs (six
#: a snapshot made it slower than `zfs snapshot -r` and `zfs list -r` together in the lab)
SNAPSHOT = """
local argv = (...)["argv"]
local recursive = argv[1] == "r"
local nprops = tonumber(argv[2])
local props, at = {}, 3
for _ = 1, nprops do
  props[#props + 1] = {argv[at], argv[at + 1]}
  at = at + 2
end
local snaps, seen = {}, {}
local function add(ds, short)
  if seen[ds] then return false end
  seen[ds] = true
  snaps[#snaps + 1] = ds .. "@" .. short
  return true
end
local function walk(ds, short)
  if not add(ds, short) then return false end
  for child in zfs.list.children(ds) do
    if not walk(child, short) then return false end
  end
  return true
end
for i = at, #argv do
  local name = argv[i]
  local sep = string.find(name, "@", 1, true)
  local ds, short = string.sub(name, 1, sep - 1), string.sub(name, sep + 1)
  if not zfs.exists(ds) then return {failed = ds, errno = ENOENT} end
  local fresh = recursive and walk(ds, short) or (not recursive and add(ds, short))
  if not fresh then return {failed = name, errno = "same-fs"} end
end
for _, snap in ipairs(snaps) do
  local err = zfs.check.snapshot(snap)
  if err ~= 0 then return {failed = snap, errno = err} end
end
for _, snap in ipairs(snaps) do
  local err = zfs.sync.snapshot(snap)
  if err ~= 0 then return {failed = snap, errno = err, partly = true} end
  for _, p in ipairs(props) do
    err = zfs.sync.set_prop(snap, p[1], p[2])
    if err ~= 0 then return {failed = snap, errno = err, partly = true} end
  end
end
local made = {}
for _, snap in ipairs(snaps) do made[snap] = zfs.get_prop(snap, "guid") end
return {made = made}
"""

#: argv: source, bookmark, source, bookmark, ...; returns {made = n} or {failed = ...}
BOOKMARKS = """
local argv = (...)["argv"]
for i = 1, #argv, 2 do
  local err = zfs.check.bookmark(argv[i], argv[i + 1])
  if err ~= 0 then return {failed = argv[i + 1], errno = err} end
end
for i = 1, #argv, 2 do
  local err = zfs.sync.bookmark(argv[i], argv[i + 1])
  if err ~= 0 then return {failed = argv[i + 1], errno = err, partly = true} end
end
return {made = #argv / 2}
"""

#: read-only (-n). argv: "h" (with holds) or "-", then snapshots; returns {found = {name =
#: {guid = ..., userrefs = ..., holds = {tag = time}}}}: each snapshot a recursive command on
#: them would reach (the name itself, and that short name on every dataset below). One walk
#: of each tree for all the short names asked for there (a trash reading asks for two: the
#: targets' and their trash names), from each dataset named that no other named one lies
#: above; the guid and the hold count only (each property read costs), the tags only where
#: the count says there are holds
READ_REACHED = """
local argv = (...)["argv"]
local want_holds = argv[1] == "h"
local asked = {}
for i = 2, #argv do
  local name = argv[i]
  local sep = string.find(name, "@", 1, true)
  local ds, short = string.sub(name, 1, sep - 1), string.sub(name, sep + 1)
  asked[ds] = asked[ds] or {}
  asked[ds][short] = true
end
local found = {}
local function row(snap)
  local r = {guid = zfs.get_prop(snap, "guid"), userrefs = zfs.get_prop(snap, "userrefs")}
  if want_holds and r.userrefs > 0 then
    local h = {}
    for tag, when in zfs.list.holds(snap) do h[tag] = when end
    r.holds = h
  end
  return r
end
local function walk(ds, shorts)
  if asked[ds] then
    local here = {}
    for short in pairs(shorts) do here[short] = true end
    for short in pairs(asked[ds]) do here[short] = true end
    shorts = here
  end
  for short in pairs(shorts) do
    local snap = ds .. "@" .. short
    if zfs.exists(snap) then found[snap] = row(snap) end
  end
  for child in zfs.list.children(ds) do walk(child, shorts) end
end
local function below_another(ds)
  local at = 1
  while true do
    local slash = string.find(ds, "/", at, true)
    if slash == nil then return false end
    if asked[string.sub(ds, 1, slash - 1)] then return true end
    at = slash + 1
  end
end
for ds in pairs(asked) do
  if not below_another(ds) and zfs.exists(ds) then walk(ds, {}) end
end
return {found = found}
"""


def argv(pool: str, *, read_only: bool = False) -> list[str]:
    """`zfs program` of the script on stdin, its answer as JSON (the arguments follow)."""
    names.check_pool(pool)
    return ["program", *(["-n"] if read_only else []), "-j", pool, "-"]


def snapshot_args(
    snapshots: Sequence[str], recursive: bool, properties: Mapping[str, str]
) -> list[str]:
    props = [word for prop, value in properties.items() for word in (prop, value)]
    return ["r" if recursive else "-", str(len(properties)), *props, *snapshots]


def answer(stdout: str) -> dict[str, Any]:
    """The table the script returned (`zfs program -j` prints {"return": ...})."""
    returned = json.loads(stdout)["return"]
    if not isinstance(returned, dict):
        raise ValueError(f"a channel program returned {returned!r}, not a table")
    return returned


def made_guids(returned: Mapping[str, Any]) -> dict[str, int]:
    """The snapshots a SNAPSHOT program made, by name, with their guids (Lua's numbers are
    signed 64-bit: a guid past 2**63 comes back negative)."""
    made: Mapping[str, int] = returned["made"]
    return {name: int(guid) & _UINT64 for name, guid in sorted(made.items())}


def reached(returned: Mapping[str, Any]) -> tuple[list[ReachedSnapshot], list[Hold]]:
    """What a READ_REACHED program found, by name, and (when asked) their holds as `zfs
    holds -Hp` lists them, sorted by snapshot and tag (Lua's numbers are signed 64-bit: a
    guid past 2**63 comes back negative)."""
    found: Mapping[str, Mapping[str, Any]] = returned["found"]
    holds = [
        Hold(snapshot=name, tag=tag, timestamp=int(when))
        for name, row in found.items()
        for tag, when in (row.get("holds") or {}).items()
    ]
    snapshots = [
        ReachedSnapshot(name=name, guid=int(row["guid"]) & _UINT64, userrefs=int(row["userrefs"]))
        for name, row in sorted(found.items())
    ]
    return snapshots, sorted(holds, key=lambda h: (h.snapshot, h.tag))


#: what zfs prints after "cannot create snapshot 'NAME': " (or bookmark) for each errno,
#: worded as libzfs words it, so that errors.classify picks the plain command's class
_REASONS = {
    errno.EEXIST: "dataset already exists",
    errno.ENOENT: "dataset does not exist",
    errno.EBUSY: "dataset is busy",
    errno.ENOSPC: "out of space",
    errno.EDQUOT: "quota exceeded",
    errno.ENAMETOOLONG: "dataset name is too long",
}


def refusal(verb: str, returned: Mapping[str, Any]) -> str | None:
    """The stderr zfs would print for the change the program refused, or None when it made
    everything. `verb` is "snapshot" or "bookmark"."""
    if "failed" not in returned:
        return None
    name, code = str(returned["failed"]), returned.get("errno")
    if code == "same-fs":
        return "cannot create snapshots : multiple snapshots of same fs not allowed"
    if verb == "bookmark" and code == errno.EEXIST:
        reason = "bookmark exists"
    elif verb == "bookmark" and code in (errno.EINVAL, errno.EXDEV):
        reason = "source is not an ancestor of the new bookmark's dataset"
    elif isinstance(code, int):
        reason = _REASONS.get(code) or os.strerror(code)
    else:
        reason = str(code)
    partly = " (after some changes were made)" if returned.get("partly") else ""
    return f"cannot create {verb} '{name}': {reason}{partly}"


class _Reader(Protocol):
    async def list_many(
        self, roots: Sequence[str], *, types: Sequence[ObjectType] = ..., recursive: bool = ...
    ) -> list[ZfsObject]: ...

    async def holds_many(
        self, snapshots: Sequence[str], *, recursive: bool = ...
    ) -> list[Hold]: ...


async def reached_by_listing(
    zfs: _Reader, snapshots: Sequence[str], *, holds: bool = False
) -> tuple[list[ReachedSnapshot], list[Hold]]:
    """`list_reached` without a channel program (the model's answer, and an older
    OpenZFS's): one `zfs list -r -t snapshot` of their datasets, kept to the snapshots of
    the names given at or below each; with `holds`, one `zfs holds` of those held."""
    found = await _listed_reached(zfs, snapshots)
    held = [o.name for o in found if o.userrefs]
    light = [ReachedSnapshot(name=o.name, guid=o.guid, userrefs=o.userrefs) for o in found]
    return light, (await zfs.holds_many(held) if holds and held else [])


async def _listed_reached(zfs: _Reader, snapshots: Sequence[str]) -> list[ZfsObject]:
    """The snapshots a recursive command on `snapshots` reaches, as `zfs list` rows, by
    name: one `zfs list -r -t snapshot` of their datasets."""
    given = {(names.dataset_of(s), names.short_name(s)) for s in snapshots}
    listed = await zfs.list_many(
        sorted({d for d, _ in given}), types=[ObjectType.SNAPSHOT], recursive=True
    )
    return sorted(
        (
            o
            for o in listed
            if any(
                o.short_name == short and names.is_descendant(o.dataset, dataset)
                for dataset, short in given
            )
        ),
        key=lambda o: o.name,
    )


async def listed_after(zfs: _Reader, snapshots: Sequence[str], recursive: bool) -> list[ZfsObject]:
    """What a successful `zfs snapshot` of `snapshots` made, read back with one `zfs list`:
    the answer without a channel program (the model's, and an older OpenZFS's). With -r,
    every snapshot of a given name at or below its dataset: the snapshot call refuses one
    that exists, so after it these are all its own."""
    if not recursive:
        return await zfs.list_many(sorted(set(snapshots)), types=[ObjectType.SNAPSHOT])
    return await _listed_reached(zfs, snapshots)
