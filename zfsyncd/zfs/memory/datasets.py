"""`Datasets`: making and reshaping datasets: create, rename, clone, promote, rollback.

`create` (with -p, -o, volumes and new encryption roots), `rename` (of a dataset and its
subtree, or of snapshots, -r for the same-named ones below), `clone`, `promote` (which
moves the origin's older snapshots and bookmarks to the clone, as real zfs does) and
`rollback` (which with -r destroys the newer snapshots it can and fails on a held one).
Destroying is in destroy.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.errors import InvalidNameError
from zfsyncd.zfs.memory.objects import Crypt, Dataset
from zfsyncd.zfs.memory.rules import checked_assignments, validated
from zfsyncd.zfs.memory.tree import Tree, fail, not_found
from zfsyncd.zfs.models import ObjectType


class Datasets(Tree):
    # ------------------------------------------------------------------- create

    async def create(
        self,
        name: str,
        *,
        properties: Mapping[str, str] | None = None,
        parents: bool = False,
        volume_size: int | None = None,
    ) -> None:
        names.check_dataset(name)
        if "/" not in name:
            raise InvalidNameError(name, "a pool's root dataset is made by zpool create")
        props = checked_assignments(properties)
        argv = ["zfs", "create", *(["-p"] if parents else []), name]
        if self._dataset(name) is not None:
            if parents:
                return  # real `zfs create -p` of an existing dataset succeeds quietly
            raise fail(argv, f"cannot create '{name}': dataset already exists")
        prefix = f"cannot create '{name}'"
        ancestor, missing = self._existing_ancestor(name)
        if missing and not parents:
            raise fail(argv, f"{prefix}: parent does not exist")
        if ancestor is None or ancestor.pool not in self._pools:
            raise not_found(argv, name)
        if ancestor.type is not ObjectType.FILESYSTEM:
            raise fail(argv, f"{prefix}: parent is not a filesystem")
        clean = validated(argv, prefix, props, creating=True)
        if volume_size is not None and volume_size <= 0:
            raise fail(argv, f"{prefix}: volume size must be a positive number")
        crypt_spec = self._new_crypt(argv, prefix, clean, ancestor)
        self._check_space(argv, ancestor.pool, prefix)
        txg = self._txg(ancestor.pool)
        for parent_name in missing:
            self._add_dataset(parent_name, ObjectType.FILESYSTEM, txg)
        kind = ObjectType.FILESYSTEM if volume_size is None else ObjectType.VOLUME
        ds = self._add_dataset(name, kind, txg)
        ds.volsize = volume_size
        ds.local = {
            p: v for p, v in clean.items() if p not in ("encryption", "keyformat", "keylocation")
        }
        if crypt_spec is not None:
            cipher, keyformat, keylocation = crypt_spec
            ds.crypt = Crypt(cipher, keyformat, ds, loaded=True)
            ds.local["keylocation"] = keylocation

    def _existing_ancestor(self, name: str) -> tuple[Dataset | None, list[str]]:
        """The nearest existing ancestor of `name` and the missing ones in between."""
        missing: list[str] = []
        parent = names.parent_of(name)
        while parent is not None and parent not in self._datasets:
            missing.insert(0, parent)
            parent = names.parent_of(parent)
        return (None if parent is None else self._datasets[parent]), missing

    @staticmethod
    def _new_crypt(
        argv: Sequence[str], prefix: str, props: Mapping[str, str], parent: Dataset
    ) -> tuple[str, str, str] | None:
        """(cipher, keyformat, keylocation) for a new encryption root, or None."""
        cipher = props.get("encryption", "off")
        keyformat = props.get("keyformat")
        if cipher == "off":
            if keyformat is not None or "keylocation" in props:
                raise fail(
                    argv, f"{prefix}: Encryption must be turned on to set encryption properties"
                )
            return None
        if keyformat is None:
            if parent.crypt is not None:
                return None  # a child of an encrypted parent inherits its root
            raise fail(argv, f"{prefix}: Keyformat required for new encryption root.")
        return cipher, keyformat, props.get("keylocation", "prompt")

    def _check_parent(self, argv: Sequence[str], name: str, prefix: str) -> None:
        """The parent of a clone or a renamed dataset must exist and be a filesystem
        (`create` checks its own way, as -p makes missing parents)."""
        parent = self._dataset(names.parent_of(name) or "")
        if parent is None:
            raise fail(argv, f"cannot create '{name}': parent does not exist")
        if parent.type is not ObjectType.FILESYSTEM:
            raise fail(argv, f"{prefix}: parent is not a filesystem")

    # ------------------------------------------------------------------- rename

    async def rename(self, old: str, new: str, *, recursive: bool = False) -> None:
        _, old_kind = names.check_any(old)
        _, new_kind = names.check_any(new)
        if old_kind is not new_kind:
            raise InvalidNameError(new, f"cannot rename a {old_kind} to a {new_kind} name")
        if recursive and old_kind is not names.NameKind.SNAPSHOT:
            raise InvalidNameError(old, "a recursive rename is for snapshots only")
        argv = ["zfs", "rename", *(["-r"] if recursive else []), old, new]
        if old_kind is names.NameKind.SNAPSHOT:
            self._rename_snapshot(argv, old, new, recursive)
        elif old_kind is names.NameKind.DATASET:
            self._rename_dataset(argv, old, new)
        else:
            raise fail(argv, f"cannot open '{old}': bookmark delimiter '#' is not expected here")

    def _rename_snapshot(self, argv: Sequence[str], old: str, new: str, recursive: bool) -> None:
        dataset, short = old.split("@")
        new_dataset, new_short = new.split("@")
        if new_dataset != dataset:
            raise fail(argv, f"cannot rename to '{new}': snapshots must be part of same dataset")
        self._open_snapshot(argv, old)
        if old == new:
            return
        targets = self._same_named(old, recursive)
        for snap in targets:
            if new_short in snap.dataset.snapshots:
                raise fail(argv, f"cannot rename '{snap.name}': dataset already exists")
        for snap in targets:
            del snap.dataset.snapshots[short]
            snap.short = new_short
            snap.dataset.snapshots[new_short] = snap
        self._txg(targets[0].dataset.pool)

    def _rename_dataset(self, argv: Sequence[str], old: str, new: str) -> None:
        ds = self._open_dataset(argv, old)
        if "/" not in old:
            raise fail(argv, f"cannot rename '{old}': operation does not apply to pools")
        if names.pool_of(new) != ds.pool:
            raise fail(argv, f"cannot rename to '{new}': datasets must be within same pool")
        if new == old:
            return
        if new.startswith(old + "/"):
            raise fail(
                argv,
                f"cannot rename to '{new}': New dataset name cannot be a "
                "descendant of current dataset name",
            )
        if self._dataset(new) is not None:
            raise fail(argv, f"cannot rename '{old}': dataset already exists")
        self._check_parent(argv, new, f"cannot rename to '{new}'")
        for d in self._subtree(ds):
            del self._datasets[d.name]
            d.name = new + d.name[len(old) :]
            self._datasets[d.name] = d
        self._txg(ds.pool)

    # ------------------------------------------------------------ clone, promote

    async def clone(
        self, snapshot: str, target: str, *, properties: Mapping[str, str] | None = None
    ) -> None:
        names.check_snapshot(snapshot)
        names.check_dataset(target)
        props = checked_assignments(properties)
        argv = ["zfs", "clone", snapshot, target]
        snap = self._open_snapshot(argv, snapshot)
        prefix = f"cannot create '{target}'"
        if names.pool_of(target) != snap.dataset.pool:
            raise fail(argv, f"{prefix}: source and target pools differ")
        if self._dataset(target) is not None:
            raise fail(argv, f"{prefix}: dataset already exists")
        self._check_parent(argv, target, prefix)
        clean = validated(argv, prefix, props, creating=False)
        self._check_space(argv, snap.dataset.pool, prefix)
        ds = self._add_dataset(target, snap.dataset.type, self._txg(snap.dataset.pool))
        ds.origin = snap
        ds.content = snap.content
        ds.birth = snap.head_birth
        ds.volsize = snap.dataset.volsize
        ds.crypt = snap.dataset.crypt
        ds.local = clean

    async def promote(self, clone: str) -> None:
        names.check_dataset(clone)
        argv = ["zfs", "promote", clone]
        ds = self._open_dataset(argv, clone)
        origin = ds.origin
        if origin is None:
            raise fail(argv, f"cannot promote '{clone}': not a cloned filesystem")
        parent = origin.dataset
        # the origin and every snapshot before it move to the clone, with the bookmarks
        # of that stretch (real, checked in the lab)
        moving = [s for s in parent.ordered_snapshots() if s.createtxg <= origin.createtxg]
        marks = [b for b in parent.bookmarks.values() if b.createtxg <= origin.createtxg]
        for snap in moving:
            if snap.short in ds.snapshots:
                raise fail(
                    argv,
                    f"cannot promote '{clone}': conflicting snapshot "
                    f"'{snap.short}' from parent '{snap.name}'",
                )
        for snap in moving:
            del parent.snapshots[snap.short]
            snap.dataset = ds
        ds.snapshots = {
            s.short: s for s in sorted([*moving, *ds.snapshots.values()], key=lambda s: s.createtxg)
        }
        for mark in marks:
            if mark.short not in ds.bookmarks:
                del parent.bookmarks[mark.short]
                mark.dataset = ds
                ds.bookmarks[mark.short] = mark
        ds.origin, parent.origin = parent.origin, origin
        self._txg(ds.pool)

    # ----------------------------------------------------------------- rollback

    async def rollback(self, snapshot: str, *, destroy_newer: bool = False) -> None:
        names.check_snapshot(snapshot)
        argv = ["zfs", "rollback", *(["-r"] if destroy_newer else []), snapshot]
        snap = self._open_snapshot(argv, snapshot)
        ds = snap.dataset
        # bookmarks count as "more recent" too (real message and behaviour)
        newer_snaps = [s for s in ds.ordered_snapshots() if s.createtxg > snap.createtxg]
        newer_marks = [b for b in ds.bookmarks.values() if b.createtxg > snap.createtxg]
        if (newer_snaps or newer_marks) and not destroy_newer:
            listed = "\n".join([s.name for s in newer_snaps] + [b.name for b in newer_marks])
            raise fail(
                argv,
                f"cannot rollback to '{snapshot}': more recent snapshots "
                "or bookmarks exist\nuse '-r' to force deletion of the following "
                f"snapshots and bookmarks:\n{listed}",
            )
        clones = [c.name for s in newer_snaps for c in self._clones_of(s)]
        if clones:
            raise fail(
                argv,
                f"cannot rollback to '{snapshot}': clones of previous "
                "snapshots exist\nuse '-R' to force deletion of the following "
                "clones and dependents:\n" + "\n".join(clones),
            )
        # real -r destroys each newer snapshot it can, then fails (without rolling back)
        # if a held one stayed
        held = [s for s in newer_snaps if s.holds]
        for s in newer_snaps:
            if not s.holds:
                del ds.snapshots[s.short]
        for mark in newer_marks:
            del ds.bookmarks[mark.short]
        if held:
            raise fail(argv, f"cannot destroy '{held[0].name}': dataset is busy")
        ds.content = snap.content
        ds.birth = snap.head_birth
        self._txg(ds.pool)
