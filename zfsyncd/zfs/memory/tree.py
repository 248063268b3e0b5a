"""`Tree`: the model's state and what every part of it asks of that state.

The pools and their datasets (each holding its snapshots and bookmarks), the guids handed
out and the clock; how to find an object by name (`_open*`: one that must exist, failing
as zfs does when it does not) and walk the tree (parent, children, subtree, clones); txgs;
space accounting (`used`, `referenced`, quotas, free space, `_check_space`); and how the
model fails: `fail` composes the error real zfs gives for a message. The operations
(listing.py, properties.py, snapshots.py, datasets.py, destroy.py, send.py, receive.py)
are mixins on top of this class; `MemoryBackend` composes them.

The test-only helpers (`add_pool`, `write`, `fill_pool`, `pool_free`, `unload_key`) live
here too: they act on the state directly, never through a zfs command.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.errors import NotFoundError, PoolFullError, ZfsCommandError, classify
from zfsyncd.zfs.memory.objects import (
    EMPTY_DATASET_BYTES,
    Bookmark,
    Crypt,
    Dataset,
    Object,
    Pool,
    Snapshot,
    Write,
    content_bytes,
)
from zfsyncd.zfs.models import ObjectType

DEFAULT_POOL_SIZE = 1 << 40


def fail(argv: Sequence[str], message: str, returncode: int = 1) -> ZfsCommandError:
    """The error real zfs gives for `message`, classified the same way."""
    return classify(list(argv), returncode, message)


def not_found(argv: Sequence[str], name: str) -> ZfsCommandError:
    return fail(argv, f"cannot open '{name}': dataset does not exist")


class Tree:
    """The pools of one host. `pools` exist from the start, each with its root dataset,
    `pool_size` bytes large. `seed` makes guids reproducible; `clock` gives the creation
    times."""

    def __init__(
        self,
        pools: Sequence[str] = ("src", "dst"),
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # guids need to be unique, not unpredictable
        self._rng = random.Random(seed)  # noqa: S311
        self._clock = clock
        self._pools: dict[str, Pool] = {}
        self._datasets: dict[str, Dataset] = {}
        self._guids: set[int] = set()
        for pool in pools:
            self.add_pool(pool, size=pool_size)

    # ----------------------------------------------------------- test-only helpers

    def add_pool(self, name: str, *, size: int = DEFAULT_POOL_SIZE) -> None:
        """Test helper: a new pool (with its root dataset), as `zpool create` makes it."""
        names.check_pool(name)
        if name in self._pools:
            raise ValueError(f"pool {name} exists")
        self._pools[name] = Pool(name, size)
        self._datasets[name] = Dataset(
            name, ObjectType.FILESYSTEM, self._guid(), 1, self._now(), birth=1
        )

    def write(self, dataset: str, nbytes: int) -> None:
        """Test helper: write `nbytes` of new data into a dataset, as files written into a
        mounted filesystem would: `used`/`referenced` grow, the next stream carries them,
        and the dataset counts as modified since its latest snapshot. Like `dd`, a write
        that does not fit (in the pool, or under a quota) writes what fits and then fails
        with PoolFullError."""
        if nbytes <= 0:
            raise ValueError("write at least one byte")
        ds = self._datasets.get(dataset)
        if ds is None or ds.half_made:
            raise NotFoundError(["write", dataset], 1, f"cannot open '{dataset}': not writable")
        free = self.pool_free(ds.pool)
        room = self._quota_room(ds)
        fits = min(nbytes, free, free if room is None else room)
        if fits > 0:
            ds.content = (*ds.content, Write(fits))
            ds.birth = self._txg(ds.pool)
        if fits < nbytes:
            why = (
                "No space left on device"
                if room is None or free <= room
                else ("Disk quota exceeded")
            )
            raise PoolFullError(["write", dataset], 1, f"write: {why}")

    def fill_pool(self, dataset: str) -> None:
        """Test helper: write into `dataset` until its pool has no space left."""
        free = self.pool_free(names.pool_of(dataset))
        if free > 0:
            self.write(dataset, free)

    def pool_free(self, pool: str) -> int:
        """Test helper: bytes left in a pool."""
        return max(0, self._pools[pool].size - self._used(self._datasets[pool]))

    def unload_key(self, dataset: str) -> None:
        """Test helper: `zfs unload-key` of an encryption root."""
        crypt = self._datasets[dataset].crypt
        if crypt is None or crypt.root.name != dataset:
            raise ValueError(f"{dataset} is not an encryption root")
        crypt.loaded = False

    # ------------------------------------------------------------ small internals

    def _now(self) -> int:
        return int(self._clock())

    def _guid(self) -> int:
        while True:
            guid = self._rng.getrandbits(64)
            if guid and guid not in self._guids:
                self._guids.add(guid)
                return guid

    def _txg(self, pool: str) -> int:
        """The next txg of a pool: every change gets a new one."""
        state = self._pools[pool]
        state.txg += 1
        return state.txg

    # -------------------------------------------------------------------- lookups

    def _dataset(self, name: str) -> Dataset | None:
        return self._datasets.get(name)

    def _snapshot(self, name: str) -> Snapshot | None:
        dataset, _, short = name.partition("@")
        ds = self._datasets.get(dataset)
        return None if ds is None else ds.snapshots.get(short)

    def _bookmark_of(self, name: str) -> Bookmark | None:
        dataset, _, short = name.partition("#")
        ds = self._datasets.get(dataset)
        return None if ds is None else ds.bookmarks.get(short)

    def _lookup(self, name: str) -> Object | None:
        if "@" in name:
            return self._snapshot(name)
        if "#" in name:
            return self._bookmark_of(name)
        return self._dataset(name)

    # the same for a name that must exist: a missing one fails as real zfs does

    def _open(self, argv: Sequence[str], name: str) -> Object:
        obj = self._lookup(name)
        if obj is None:
            raise not_found(argv, name)
        return obj

    def _open_dataset(self, argv: Sequence[str], name: str) -> Dataset:
        ds = self._dataset(name)
        if ds is None:
            raise not_found(argv, name)
        return ds

    def _open_snapshot(self, argv: Sequence[str], name: str) -> Snapshot:
        snap = self._snapshot(name)
        if snap is None:
            raise not_found(argv, name)
        return snap

    def _open_base(self, argv: Sequence[str], name: str) -> Snapshot | Bookmark:
        """A snapshot or a bookmark: an incremental source, or what a bookmark copies."""
        base = self._snapshot(name) if "@" in name else self._bookmark_of(name)
        if base is None:
            raise not_found(argv, name)
        return base

    def _parent(self, ds: Dataset) -> Dataset | None:
        parent = names.parent_of(ds.name)
        return None if parent is None else self._datasets.get(parent)

    def _children(self, ds: Dataset) -> list[Dataset]:
        prefix = ds.name + "/"
        return sorted(
            (
                d
                for n, d in self._datasets.items()
                if n.startswith(prefix) and "/" not in n[len(prefix) :]
            ),
            key=lambda d: d.name,
        )

    def _subtree(self, ds: Dataset) -> list[Dataset]:
        """`ds` and everything below it, parents before children."""
        prefix = ds.name + "/"
        below = [d for n, d in self._datasets.items() if n.startswith(prefix)]
        return [ds, *sorted(below, key=lambda d: d.name)]

    def _same_named(self, name: str, recursive: bool) -> list[Snapshot]:
        """The snapshot `name` and, if recursive, the same-named ones below its dataset."""
        dataset, short = name.split("@")
        top = self._dataset(dataset)
        if top is None:
            return []
        where = self._subtree(top) if recursive else [top]
        return [d.snapshots[short] for d in where if short in d.snapshots]

    def _clones_of(self, snap: Snapshot) -> list[Dataset]:
        return [d for d in self._datasets.values() if d.origin is snap]

    def _partials_on(self, snap: Snapshot) -> list[Dataset]:
        """Datasets whose cut incremental receive builds on `snap` (real: the hidden
        `%recv` clone of it, which blocks its destruction like any clone)."""
        ds = snap.dataset
        partial = ds.partial
        if partial is not None and not partial.new_fs and partial.from_guid == snap.guid:
            return [ds]
        return []

    def _dependents_closure(self, start: Iterable[Dataset]) -> list[Dataset]:
        """Datasets to destroy with `start`: their descendants and, through every
        snapshot among them, the clones (and theirs), deepest first."""
        found: dict[int, Dataset] = {}
        queue = list(start)
        while queue:
            ds = queue.pop()
            for d in self._subtree(ds):
                if id(d) not in found:
                    found[id(d)] = d
                    for snap in d.snapshots.values():
                        queue.extend(self._clones_of(snap))
        return sorted(found.values(), key=lambda d: d.name.count("/"), reverse=True)

    # ------------------------------------------------------------ adding, removing

    def _add_dataset(self, name: str, kind: ObjectType, txg: int) -> Dataset:
        ds = Dataset(name, kind, self._guid(), txg, self._now(), birth=txg)
        parent = self._parent(ds)
        if parent is not None and parent.crypt is not None:
            # a child of an encrypted dataset is encrypted under the same root
            ds.crypt = Crypt(parent.crypt.cipher, parent.crypt.keyformat, parent.crypt.root)
        self._datasets[name] = ds
        return ds

    def _remove_datasets(self, doomed: Iterable[Dataset]) -> None:
        for ds in doomed:
            self._datasets.pop(ds.name, None)

    # -------------------------------------------------------------- space accounting

    def _referenced(self, ds: Dataset) -> int:
        extra = ds.partial.bytes_done if ds.partial is not None and ds.partial.new_fs else 0
        return EMPTY_DATASET_BYTES + content_bytes(ds.content) + extra

    def _used(self, ds: Dataset) -> int:
        """Its own blocks (head and snapshots, less what its origin holds), a cut
        receive's blocks, its children's `used`, and a volume's reservation."""
        inherited = {id(w) for w in ds.origin.content} if ds.origin is not None else set()
        own: dict[int, int] = {}
        for content in (ds.content, *(s.content for s in ds.snapshots.values())):
            for w in content:
                if id(w) not in inherited:
                    own[id(w)] = w.nbytes
        partial = ds.partial.bytes_done if ds.partial is not None else 0
        children = sum(self._used(c) for c in self._children(ds))
        return EMPTY_DATASET_BYTES + sum(own.values()) + partial + children + (ds.volsize or 0)

    def _snapshot_used(self, snap: Snapshot) -> int:
        """Blocks only this snapshot holds (what destroying it would free)."""
        others: set[int] = {id(w) for w in snap.dataset.content}
        for other in snap.dataset.snapshots.values():
            if other is not snap:
                others.update(id(w) for w in other.content)
        return sum(w.nbytes for w in snap.content if id(w) not in others)

    def _quota_room(self, ds: Dataset | None) -> int | None:
        """Bytes `ds` may still grow by under its own and its ancestors' quotas; None
        when no quota applies. (A quota stops data only: real zfs still creates datasets
        and snapshots under a full quota.)"""
        room: int | None = None
        while ds is not None:
            quota = int(ds.local.get("quota", ds.received.get("quota", "0")))
            if quota:
                left = max(0, quota - self._used(ds))
                room = left if room is None else min(room, left)
            ds = self._parent(ds)
        return room

    def _check_space(self, argv: Sequence[str], pool: str, prefix: str) -> None:
        """A new dataset, snapshot or bookmark needs some space: none left fails."""
        if self.pool_free(pool) <= 0:
            raise fail(argv, f"{prefix}: out of space")
