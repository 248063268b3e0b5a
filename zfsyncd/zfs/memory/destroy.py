"""`Destroying`: `zfs destroy` of a snapshot, a bookmark or a dataset, with -r and -R.

What each mode takes with it (descendants, same-named snapshots below, dependent clones),
what stops it (holds, clones, a cut receive's hidden `%recv` clone, children), and the
real command's partial destruction: it walks the tree and stops at the first held
snapshot, leaving gone what it passed.
"""

from __future__ import annotations

from collections.abc import Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode
from zfsyncd.zfs.errors import InvalidNameError, ZfsCommandError
from zfsyncd.zfs.memory.objects import Dataset, Snapshot
from zfsyncd.zfs.memory.tree import Tree, fail


def _needs_flag(
    argv: Sequence[str], name: str, why: str, flag: str, listed: Sequence[str]
) -> ZfsCommandError:
    """What zfs destroy says when only -r or -R would go on, with what they would take."""
    return fail(
        argv,
        f"cannot destroy '{name}': {why}\n"
        f"use '{flag}' to destroy the following datasets:\n" + "\n".join(listed),
    )


class Destroying(Tree):
    async def destroy(self, name: str, *, mode: DestroyMode = DestroyMode.SINGLE) -> None:
        _, kind = names.check_any(name)
        if kind is names.NameKind.DATASET and "/" not in name:
            raise InvalidNameError(name, "a pool's root dataset is destroyed by zpool destroy")
        flag = {
            DestroyMode.SINGLE: [],
            DestroyMode.RECURSIVE: ["-r"],
            DestroyMode.DEPENDENTS: ["-R"],
        }[mode]
        argv = ["zfs", "destroy", *flag, name]
        if kind is names.NameKind.SNAPSHOT:
            self._destroy_snapshots(argv, name, mode)
        elif kind is names.NameKind.BOOKMARK:
            mark = self._bookmark_of(name)
            if mark is None:
                raise fail(argv, f"bookmark '{name}' does not exist.")
            del mark.dataset.bookmarks[mark.short]
        else:
            self._destroy_dataset(argv, name, mode)

    async def destroy_snapshots(self, dataset: str, snapshots: Sequence[str]) -> None:
        """`zfs destroy DATASET@a,b,c`: every snapshot is checked before any goes (OpenZFS
        checks them all in one sync task): one held or cloned fails the call, nothing gone."""
        names.check_dataset(dataset)
        if not snapshots:
            raise ValueError("destroy_snapshots needs at least one snapshot")
        for short in snapshots:
            names.check_short_snapshot(dataset, short)
        argv = ["zfs", "destroy", f"{dataset}@{','.join(snapshots)}"]
        ds = self._open_dataset(argv, dataset)
        targets = []
        for short in snapshots:
            snap = ds.snapshots.get(short)
            if snap is None:
                raise fail(argv, f"could not find snapshot '{dataset}@{short}'")
            self._check_not_held(argv, snap)
            dependents = [d.name for d in self._clones_of(snap)]
            dependents += [f"{d.name}/%recv" for d in self._partials_on(snap)]
            if dependents:
                raise _needs_flag(
                    argv, snap.name, "snapshot has dependent clones", "-R", dependents
                )
            targets.append(snap)
        self._txg(ds.pool)
        for snap in targets:
            del ds.snapshots[snap.short]

    def _destroy_snapshots(self, argv: Sequence[str], name: str, mode: DestroyMode) -> None:
        targets = self._same_named(name, mode is not DestroyMode.SINGLE)
        if not targets:
            raise fail(argv, "could not find any snapshots to destroy; check snapshot names.")
        doomed: list[Dataset] = []
        for snap in targets:
            self._check_not_held(argv, snap)
            dependents = self._clones_of(snap)
            if mode is DestroyMode.DEPENDENTS:
                doomed += self._dependents_closure(dependents)
            elif dependents or self._partials_on(snap):
                clones = [d.name for d in dependents] + [
                    f"{d.name}/%recv" for d in self._partials_on(snap)
                ]
                raise _needs_flag(argv, snap.name, "snapshot has dependent clones", "-R", clones)
        for ds in doomed:
            for snap in ds.snapshots.values():
                self._check_not_held(argv, snap)
        self._remove_datasets(doomed)
        self._txg(targets[0].dataset.pool)
        for snap in targets:
            for ds in self._partials_on(snap):
                ds.partial = None  # -R: the hidden %recv clone goes too
            del snap.dataset.snapshots[snap.short]

    @staticmethod
    def _check_not_held(argv: Sequence[str], snap: Snapshot) -> None:
        if snap.holds:
            raise fail(
                argv,
                f"cannot destroy snapshot {snap.name}: it's being held. "
                f"Run 'zfs holds -r {snap.name}' to see holders.",
            )

    def _destroy_dataset(self, argv: Sequence[str], name: str, mode: DestroyMode) -> None:
        ds = self._open_dataset(argv, name)
        if mode is DestroyMode.SINGLE:
            kids = [c.name for c in self._children(ds)] + [s.name for s in ds.ordered_snapshots()]
            if ds.partial is not None and not ds.partial.new_fs:
                kids.insert(0, f"{name}/%recv")
            if kids:
                raise _needs_flag(argv, name, "filesystem has children", "-r", kids)
            doomed = [ds]
        elif mode is DestroyMode.RECURSIVE:
            doomed = self._subtree(ds)
            inside = {id(d) for d in doomed}
            outside = [
                c.name
                for d in doomed
                for s in d.snapshots.values()
                for c in self._clones_of(s)
                if id(c) not in inside
            ]
            if outside:
                raise _needs_flag(argv, name, "filesystem has dependent clones", "-R", outside)
        else:
            doomed = self._dependents_closure([ds])
        self._txg(ds.pool)
        # Real zfs destroys as it walks the tree, children before parents, and stops at the
        # first held snapshot: what it passed before is gone (seen in the lab). Its walk
        # follows on-disk order; the model's follows names.
        for d in self._walk_order(doomed):
            for snap in d.ordered_snapshots():
                self._check_not_held(argv, snap)
            self._remove_datasets([d])

    @staticmethod
    def _walk_order(doomed: list[Dataset]) -> list[Dataset]:
        """Children before their parent, sibling trees by name (a post-order walk): a
        name's components, then a marker that sorts after any child's component."""
        return sorted(doomed, key=lambda d: [*d.name.split("/"), "\U0010ffff"])
