"""`Snapshots`: taking snapshots, holding and releasing them, bookmarking them.

`snapshot` (several at once, or recursive, in one txg), `hold`, `release`, `holds`,
`holds_many` and `bookmark`, with the refusals real zfs makes for each. Destroying snapshots is in
destroy.py, renaming them in datasets.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.errors import ZfsCommandError
from zfsyncd.zfs.memory.objects import Bookmark, Dataset, Snapshot
from zfsyncd.zfs.memory.rules import checked_assignments, snapshot_problem
from zfsyncd.zfs.memory.tree import Tree, fail, not_found
from zfsyncd.zfs.models import Hold


class Snapshots(Tree):
    # ----------------------------------------------------------------- snapshot

    async def snapshot(
        self,
        snapshots: Sequence[str],
        *,
        recursive: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        if not snapshots:
            raise ValueError("snapshot needs at least one name")
        for snap in snapshots:
            names.check_snapshot(snap)
        props = checked_assignments(properties)
        argv = ["zfs", "snapshot", *(["-r"] if recursive else []), *snapshots]
        problem = snapshot_problem(props)
        if problem is not None:
            raise fail(argv, f"cannot create snapshots : {problem}")
        targets = self._snapshot_targets(argv, snapshots, recursive)
        pool = targets[0][0].pool
        self._check_space(argv, pool, "cannot create snapshots ")
        txg = self._txg(pool)  # one txg for all: `zfs snapshot a@x b@x` is atomic
        for ds, short in targets:
            ds.snapshots[short] = Snapshot(
                ds,
                short,
                self._guid(),
                txg,
                self._now(),
                ds.content,
                ds.birth,
                local=dict(props),
            )

    def _snapshot_targets(
        self, argv: Sequence[str], snapshots: Sequence[str], recursive: bool
    ) -> list[tuple[Dataset, str]]:
        targets: list[tuple[Dataset, str]] = []
        for snap in snapshots:
            dataset, short = snap.split("@")
            ds = self._dataset(dataset)
            if ds is None:
                raise fail(argv, f"cannot open '{dataset}': dataset does not exist", 2)
            for d in self._subtree(ds) if recursive else [ds]:
                targets.append((d, short))
        seen: set[int] = set()
        for ds, _ in targets:
            if id(ds) in seen or ds.pool != targets[0][0].pool:
                # real prints this for two snapshots of one dataset and, oddly, for two pools
                raise fail(
                    argv,
                    "cannot create snapshots : multiple snapshots of "
                    "same fs not allowed\nno snapshots were created",
                )
            seen.add(id(ds))
        for ds, short in targets:
            if len(f"{ds.name}@{short}".encode()) > names.MAX_NAME_BYTES:
                # a name given was checked; one below it (-r) is zfs's to refuse, whole
                raise fail(
                    argv,
                    f"cannot create snapshot '{ds.name}@{short}': dataset name is too long"
                    "\nno snapshots were created",
                )
            if ds.half_made:
                raise fail(argv, f"cannot create snapshot '{ds.name}@{short}': dataset is busy")
            if short in ds.snapshots:
                raise fail(
                    argv,
                    f"cannot create snapshot '{ds.name}@{short}': dataset "
                    "already exists\nno snapshots were created",
                )
        return targets

    # -------------------------------------------------------------------- holds

    async def hold(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        await self._each_snapshot("hold", tag, snapshots, recursive, self._hold_one)

    async def release(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        await self._each_snapshot("release", tag, snapshots, recursive, self._release_one)

    async def _each_snapshot(
        self,
        verb: str,
        tag: str,
        snapshots: Sequence[str],
        recursive: bool,
        one: Callable[[Sequence[str], str, str, bool], None],
    ) -> None:
        """Real `zfs hold/release` handles each named snapshot on its own and carries on
        past a failure: the others are held (or released) and it fails at the end."""
        names.check_hold_tag(tag)
        if not snapshots:
            raise ValueError(f"{verb} needs at least one snapshot")
        for snap in snapshots:
            names.check_snapshot(snap)
        argv = ["zfs", verb, *(["-r"] if recursive else []), tag, *snapshots]
        failures: list[ZfsCommandError] = []
        for snap in snapshots:
            try:
                one(argv, tag, snap, recursive)
            except ZfsCommandError as exc:
                failures.append(exc)
        if failures:
            raise fail(argv, "\n".join(f.stderr for f in failures))

    def _hold_one(self, argv: Sequence[str], tag: str, name: str, recursive: bool) -> None:
        targets = self._same_named(name, recursive)
        if not targets:
            raise fail(argv, f"cannot hold snapshot '{name}': dataset does not exist")
        for snap in targets:
            if tag in snap.holds:
                raise fail(
                    argv, f"cannot hold snapshot '{snap.name}': tag already exists on this dataset"
                )
        now = self._now()
        for snap in targets:
            snap.holds[tag] = now

    def _release_one(self, argv: Sequence[str], tag: str, name: str, recursive: bool) -> None:
        targets = self._same_named(name, recursive)
        if not targets:
            raise fail(argv, f"cannot release hold from snapshot '{name}': dataset does not exist")
        # -r releases where the tag is and passes over the rest (real)
        tagged = [s for s in targets if tag in s.holds]
        if not tagged or (not recursive and len(tagged) != len(targets)):
            raise fail(
                argv, f"cannot release hold from snapshot '{name}': no such tag on this dataset"
            )
        for snap in tagged:
            del snap.holds[tag]

    async def holds(self, snapshot: str, *, recursive: bool = False) -> list[Hold]:
        names.check_snapshot(snapshot)
        targets = self._same_named(snapshot, recursive)
        if not targets and not recursive:
            raise not_found(["zfs", "holds", snapshot], snapshot)
        return [
            Hold(snapshot=snap.name, tag=tag, timestamp=stamp)
            for snap in sorted(targets, key=lambda s: s.name)
            for tag, stamp in sorted(snap.holds.items())
        ]

    async def holds_many(self, snapshots: Sequence[str], *, recursive: bool = False) -> list[Hold]:
        for snapshot in snapshots:
            names.check_snapshot(snapshot)
        found = {s.name: s for snapshot in snapshots for s in self._same_named(snapshot, recursive)}
        return [
            Hold(snapshot=name, tag=tag, timestamp=stamp)
            for name in sorted(found)
            for tag, stamp in sorted(found[name].holds.items())
        ]

    # ----------------------------------------------------------------- bookmark

    async def bookmark_many(self, bookmarks: Mapping[str, str]) -> None:
        """Real zfs runs one channel program a pool that checks every bookmark before it
        makes any: here each pool's are made in turn and, on a refusal, those made are
        destroyed again before the error goes on (the same end state, and the same error)."""
        for mark, source in bookmarks.items():
            names.check_snapshot_or_bookmark(source)
            names.check_bookmark(mark)
        by_pool: dict[str, dict[str, str]] = {}
        for mark, source in bookmarks.items():
            by_pool.setdefault(names.pool_of(mark), {})[mark] = source
        for _, marks in sorted(by_pool.items()):
            made: list[str] = []
            try:
                for mark, source in marks.items():
                    await self.bookmark(source, mark)
                    made.append(mark)
            except ZfsCommandError:
                for mark in made:
                    dataset = self._dataset(names.dataset_of(mark))
                    if dataset is not None:
                        del dataset.bookmarks[names.short_name(mark)]
                raise

    async def bookmark(self, source: str, bookmark: str) -> None:
        names.check_snapshot_or_bookmark(source)
        names.check_bookmark(bookmark)
        argv = ["zfs", "bookmark", source, bookmark]
        origin = self._open_base(argv, source)
        prefix = f"cannot create bookmark '{bookmark}'"
        if names.dataset_of(bookmark) != origin.dataset.name:
            raise fail(argv, f"{prefix}: source is not an ancestor of the new bookmark's dataset")
        short = names.short_name(bookmark)
        if short in origin.dataset.bookmarks:
            raise fail(argv, f"{prefix}: bookmark exists")
        self._check_space(argv, origin.dataset.pool, prefix)
        origin.dataset.bookmarks[short] = Bookmark(
            origin.dataset,
            short,
            origin.guid,
            origin.createtxg,
            origin.creation,
            origin.content,
        )
        self._txg(origin.dataset.pool)
