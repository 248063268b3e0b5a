"""`Listing`: the read calls `capabilities`, `list`, `list_many`, `get` and `exists`, and
`settle` (nothing to write out in a model).

Which objects `zfs list` shows for a root, a depth and a set of types (with the real
command's quirks for `-t snapshot` and a snapshot or bookmark named as the root), and the
order it shows them in. The rows themselves come from values.py.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ALL_TYPES
from zfsyncd.zfs.capabilities import Capabilities, parse_version
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.memory.objects import Bookmark, Dataset, Object, Snapshot
from zfsyncd.zfs.memory.tree import fail
from zfsyncd.zfs.memory.values import Values
from zfsyncd.zfs.models import ObjectType, ZfsObject

_VERSION_TEXT = "zfs-2.3.2-memory\nzfs-kmod-2.3.2-memory"


class Listing(Values):
    async def capabilities(self) -> Capabilities:
        return parse_version(_VERSION_TEXT)

    async def list(
        self,
        root: str | None = None,
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        recursive: bool = True,
        depth: int | None = None,
        user_properties: Sequence[str] = (),
    ) -> builtins.list[ZfsObject]:
        for prop in user_properties:
            names.check_user_property(prop)
        if root is not None:
            names.check_any(root)
        wanted = set(types)
        argv = ["zfs", "list", "-Hp", "-t", ",".join(t.value for t in types)]
        if root is None:
            objects: builtins.list[Object] = []
            for pool in sorted(self._pools):  # `-d N` with no name: N levels below each pool
                objects += self._objects(self._datasets[pool], depth)
        else:
            objects = self._list_root(argv, root, wanted, recursive, depth)
        chosen = [o for o in objects if self._type_of(o) in wanted]
        chosen.sort(key=self._sort_key)
        return [self._row(o, user_properties) for o in chosen]

    async def list_many(
        self,
        roots: Sequence[str],
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        recursive: bool = False,
        user_properties: Sequence[str] = (),
        written: bool = False,
        encryption: bool = False,
    ) -> builtins.list[ZfsObject]:
        for prop in user_properties:
            names.check_user_property(prop)
        for root in roots:
            names.check_any(root)
        wanted = set(types)
        argv = ["zfs", "list", "-Hp", "-t", ",".join(t.value for t in types), *roots]
        found: dict[int, Object] = {}  # each object once, as zfs's sorted tree keeps it
        for root in roots:
            try:
                objects = self._list_root(argv, root, wanted, recursive, None)
            except NotFoundError:
                continue  # real zfs names it on stderr and lists the others
            found.update((id(o), o) for o in objects if self._type_of(o) in wanted)
        chosen = sorted(found.values(), key=self._sort_key)
        return [
            self._row(o, user_properties, written=written, encryption=encryption) for o in chosen
        ]

    async def list_every_pool(
        self,
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        user_properties: Sequence[str] = (),
        written: bool = False,
        encryption: bool = False,
    ) -> builtins.list[ZfsObject]:
        return await self.list_many(
            sorted(self._pools),
            types=types,
            recursive=True,
            user_properties=user_properties,
            written=written,
            encryption=encryption,
        )

    async def settle_every_pool(self) -> None:
        """As settle: a call of its own for the engine tests to count."""

    async def settle(self, pools: Sequence[str]) -> None:
        """The model counts every write at once: nothing to write out. Still a call of its
        own, so that the engine tests count it as the `zpool sync` it stands for."""
        for pool in pools:
            names.check_pool(pool)

    def _list_root(
        self,
        argv: Sequence[str],
        root: str,
        wanted: set[ObjectType],
        recursive: bool,
        depth: int | None,
    ) -> builtins.list[Object]:
        obj = self._open(argv, root)
        if not isinstance(obj, Dataset):
            if not recursive and depth is None and self._type_of(obj) not in wanted:
                delimiter = "@" if isinstance(obj, Snapshot) else "#"
                what = "snapshot" if delimiter == "@" else "bookmark"
                raise fail(
                    argv,
                    f"cannot open '{root}': {what} delimiter '{delimiter}' is not expected here",
                )
            return [obj]
        if not recursive and depth is None:
            # real quirk (zfs_main.c): `zfs list -t snapshot fs` lists the snapshots of
            # fs, as if -d 1 was given; the same for exactly `-t bookmark`
            if wanted in ({ObjectType.SNAPSHOT}, {ObjectType.BOOKMARK}):
                depth = 1
            elif obj.type not in wanted:
                raise fail(
                    argv, f"cannot open '{root}': operation not applicable to datasets of this type"
                )
            else:
                return [obj]
        if depth is not None and depth < 0:
            raise ValueError("depth must be >= 0")
        return self._objects(obj, None if depth is None else depth)

    def _objects(self, ds: Dataset, depth: int | None) -> builtins.list[Object]:
        found: builtins.list[Object] = []
        base = ds.name.count("/")
        for d in self._subtree(ds):
            level = d.name.count("/") - base
            if depth is not None and level > depth:
                continue
            found.append(d)
            if depth is None or level + 1 <= depth:
                found.extend(d.snapshots.values())
                found.extend(d.bookmarks.values())
        return found

    @staticmethod
    def _sort_key(obj: Object) -> tuple[str, int, int]:
        """zfs list's default order (zfs_main.c zfs_compare): by name with a snapshot cut
        at its '@', a dataset before its snapshots, snapshots by createtxg; bookmarks are
        plain names, so they come after the snapshots and before the children."""
        if isinstance(obj, Snapshot):
            return (obj.dataset.name, 1, obj.createtxg)
        return (obj.name, 0, 0)

    @staticmethod
    def _type_of(obj: Object) -> ObjectType:
        if isinstance(obj, Snapshot):
            return ObjectType.SNAPSHOT
        if isinstance(obj, Bookmark):
            return ObjectType.BOOKMARK
        return obj.type

    async def get(self, name: str, *, user_properties: Sequence[str] = ()) -> ZfsObject:
        found = await self.list(name, recursive=False, user_properties=user_properties)
        if len(found) != 1:
            raise NotFoundError(["zfs", "list", name], 1, f"cannot open '{name}': not listed")
        return found[0]

    async def exists(self, name: str) -> bool:
        names.check_any(name)
        return self._lookup(name) is not None
